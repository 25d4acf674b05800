"""The RPCs through which CARLA 0.9.16's client fetches the pedestrian navmesh.

Walker AI runs in the client: the first navigation call or tick asks
``get_required_files("Nav")``, downloads each listed name it does not have in its cache with
``request_file(name)`` (the bytes as msgpack bin) and loads the first with Detour.
``get_navigation_mesh`` (still bound, no longer called by 0.9.16) answers the same bytes.
Every answer follows the current map, so after ``load_world`` the client's next request
gets the new map's file (whose name differs: it carries a hash of the content).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from carla_lite.maps import RoadMap
from carla_lite.navigation import NAV_FOLDER, NavMeshFile, NavMeshStore
from carla_lite.protocol import wire_types as wt
from carla_lite.protocol.arguments import string

__all__ = ["NavigationHandlers"]

log = logging.getLogger(__name__)


class _HasMap(Protocol):
    """What the handlers need of the world (``World`` is one)."""

    @property
    def road_map(self) -> RoadMap: ...


class NavigationHandlers:
    """``get_required_files``, ``request_file`` and ``get_navigation_mesh``.

    Args:
        world: Returns the current world (called per request, so map changes are seen).
        store: Where navmeshes are built and kept; a private one by default.
        lock: The simulator's lock, held around every handler call: released while a mesh
            is built (about 1 s for a town), so ticks and the Traffic Manager's calls go on.
    """

    def __init__(
        self,
        world: Callable[[], _HasMap],
        store: NavMeshStore | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self._world = world
        self.store = store if store is not None else NavMeshStore()
        self._lock = lock

    def table(self) -> dict[str, Callable[..., Any]]:
        """Map of RPC name to handler."""
        return {
            "get_required_files": self.get_required_files,
            "request_file": self.request_file,
            "get_navigation_mesh": self.get_navigation_mesh,
        }

    def current(self) -> NavMeshFile | None:
        """The current map's navmesh (built on first use), or None if it has none."""
        road_map = self._world().road_map
        decided, nav = self.store.cached(road_map)
        if decided:
            return nav
        with self._released():
            return self.store.get(road_map)  # reads only the immutable road map

    @contextlib.contextmanager
    def _released(self) -> Iterator[None]:
        lock = self._lock
        if lock is None:
            yield
            return
        try:
            lock.release()
        except RuntimeError:  # not held by this thread (a direct call)
            yield
            return
        try:
            yield
        finally:
            lock.acquire()

    def prefetch(self) -> None:
        """Start building the current map's navmesh in the background."""
        self.store.prefetch(self._world().road_map)

    def get_required_files(self, folder: Any = "", download: Any = True) -> Any:
        """``Response<vector<string>>``: the navmesh's name for ``"Nav"``, else nothing."""
        if string(folder, "folder").strip("/") != NAV_FOLDER:
            return wt.ok([])
        nav = self.current()
        return wt.ok([nav.name] if nav is not None else [])

    def request_file(self, name: Any) -> Any:
        """``Response<vector<uint8_t>>``: a file listed by ``get_required_files``."""
        wanted = string(name, "file name")
        nav = self.store.by_name(wanted)
        if nav is None:
            current = self.current()
            nav = current if current is not None and current.name == wanted else None
        if nav is None:
            return wt.error(f"carla_lite serves no file '{wanted}'")
        return wt.ok(nav.data)

    def get_navigation_mesh(self) -> Any:
        """``Response<vector<uint8_t>>``: the current map's navmesh (empty without one)."""
        nav = self.current()
        return wt.ok(nav.data if nav is not None else b"")
