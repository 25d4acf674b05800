"""The navmesh files the server hands to clients: built per map, validated, cached.

A client caches downloaded files by name forever (``$CARLA_CACHE_DIR/0.9.16/<name>``), so
each file's name carries a hash of its content, and never a real CARLA server's name.
A file is only ever served after the wheel's own Detour loaded and queried it
(``check.validate_file``); a map whose mesh fails that check gets no navigation (the
client's walkers stay still, which is what CARLA does without a navmesh) and an error in
the log, instead of a crashed client.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import shapely

from carla_lite.maps.road_map import RoadMap
from carla_lite.navigation.builder import build_polygons
from carla_lite.navigation.check import validate_file
from carla_lite.navigation.detour_format import NavMeshFormatError, read_navmesh, write_navmesh

__all__ = ["NAV_FOLDER", "NavMeshFile", "NavMeshStore", "default_cache_dir"]

log = logging.getLogger(__name__)

NAV_FOLDER = "Nav"  # what the client asks get_required_files for
CACHE_ENV = "CARLA_LITE_CACHE_DIR"
FILE_PREFIX = "CarlaLite/Nav/"
_MAX_MAPS = 8  # built meshes kept in memory


@dataclass(frozen=True, slots=True)
class NavMeshFile:
    """One validated navmesh file.

    Attributes:
        name: What ``get_required_files("Nav")`` lists and ``request_file`` is asked for.
        data: The file's bytes.
        map_name: The map it was built from.
        polygons: Polygon count.
        build_seconds: Time to build, write and validate it [s] (0 when read from disk).
    """

    name: str
    data: bytes
    map_name: str
    polygons: int
    build_seconds: float


def _code_version() -> str:
    """Hash of the code that shapes the file: a change of it invalidates disk caches."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for name in ("builder.py", "detour_format.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


_CODE_VERSION = _code_version()


def default_cache_dir() -> Path:
    """``$CARLA_LITE_CACHE_DIR/navmesh``, else ``$XDG_CACHE_HOME/carla_lite/navmesh``.

    ``XDG_CACHE_HOME`` defaults to ``~/.cache``.
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / "navmesh"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "carla_lite" / "navmesh"


def _map_key(road_map: RoadMap) -> str:
    text = road_map.xodr.encode("utf-8", "surrogatepass")
    return f"{road_map.name}:{hashlib.sha1(text).hexdigest()}:{_CODE_VERSION}"


def _file_name(map_name: str, data: bytes) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", map_name.rsplit("/", 1)[-1]) or "map"
    return f"{FILE_PREFIX}{stem}_{hashlib.sha1(data).hexdigest()[:12]}.bin"


class NavMeshStore:
    """Builds and keeps the navmesh of each map; safe to use from several threads.

    Args:
        cache_dir: Folder for validated files (``<hash of map and code>.bin``), read before
            building: files there were validated before being written, so a new server
            process skips the build (about 1 s for a town). ``default_cache_dir()`` by
            default; None keeps meshes in memory only.
    """

    def __init__(self, cache_dir: Path | Literal["default"] | None = "default") -> None:
        self.cache_dir = default_cache_dir() if isinstance(cache_dir, str) else cache_dir
        self._lock = threading.Lock()
        self._by_map: dict[str, NavMeshFile | None] = {}
        self._by_name: dict[str, NavMeshFile] = {}
        self._building: dict[str, threading.Event] = {}

    def get(self, road_map: RoadMap) -> NavMeshFile | None:
        """The map's validated navmesh, built now if needed; None if it has none."""
        key = _map_key(road_map)
        while True:
            with self._lock:
                if key in self._by_map:
                    return self._by_map[key]
                event = self._building.get(key)
                if event is None:
                    event = self._building[key] = threading.Event()
                    break
            event.wait()
        loaded = False
        nav: NavMeshFile | None = None
        try:
            nav = self._load(road_map, key)
            loaded = True
        finally:
            with self._lock:
                if loaded:  # after an exception, the next caller tries again
                    self._remember(key, nav)
                self._building.pop(key).set()
        return nav

    def _remember(self, key: str, nav: NavMeshFile | None) -> None:
        if len(self._by_map) >= _MAX_MAPS:
            old = self._by_map.pop(next(iter(self._by_map)))
            if old is not None:
                self._by_name.pop(old.name, None)
        self._by_map[key] = nav
        if nav is not None:
            self._by_name[nav.name] = nav

    def cached(self, road_map: RoadMap) -> tuple[bool, NavMeshFile | None]:
        """``(True, file or None)`` if the map's mesh is decided already, else ``(False, None)``."""
        key = _map_key(road_map)
        with self._lock:
            if key in self._by_map:
                return True, self._by_map[key]
        return False, None

    def prefetch(self, road_map: RoadMap) -> None:
        """Start building a map's navmesh in the background (e.g. when a map loads)."""
        threading.Thread(
            target=self._quiet_get, args=(road_map,), name="navmesh-build", daemon=True
        ).start()

    def _quiet_get(self, road_map: RoadMap) -> None:
        try:
            self.get(road_map)
        except Exception:  # a background build must not kill the thread silently
            log.exception("navmesh build for %s failed", road_map.name)

    def by_name(self, name: str) -> NavMeshFile | None:
        """A file served before (any map still in memory), by its served name."""
        with self._lock:
            return self._by_name.get(name)

    def _load(self, road_map: RoadMap, key: str) -> NavMeshFile | None:
        cached = self._read_cache(road_map, key)
        if cached is not None:
            log.info(
                "navmesh for %s: %d polygons, read from %s",
                road_map.name, cached.polygons, self._cache_path(key),
            )  # fmt: skip
            return cached
        start = time.perf_counter()
        try:
            polygons = build_polygons(road_map)
        except ValueError as exc:
            log.info("no pedestrian navigation for %s: %s", road_map.name, exc)
            return None
        except shapely.errors.GEOSException as exc:  # geometry the map's lanes made
            log.error("navmesh for %s could not be built: %s", road_map.name, exc)
            return None
        try:
            data = write_navmesh(polygons.verts, polygons.polys, polygons.areas)
        except NavMeshFormatError as exc:
            log.error("navmesh for %s could not be written: %s", road_map.name, exc)
            return None
        if not self._validate(road_map.name, data):
            return None
        nav = NavMeshFile(
            _file_name(road_map.name, data),
            data,
            road_map.name,
            len(polygons.polys),
            time.perf_counter() - start,
        )
        log.info(
            "navmesh for %s: %d polygons, %d bytes, built and checked in %.2f s",
            road_map.name, nav.polygons, len(data), nav.build_seconds,
        )  # fmt: skip
        self._write_cache(key, data)
        return nav

    def _validate(self, map_name: str, data: bytes) -> bool:
        fd, tmp = tempfile.mkstemp(prefix="carla_lite_nav_", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            result = validate_file(Path(tmp))
        finally:
            os.unlink(tmp)
        if result["ok"] is None:
            log.warning("navmesh for %s not checked with Detour: %s", map_name, result["reason"])
            return True  # without the wheel there is no client here to crash
        if not result["ok"]:
            log.error("navmesh for %s failed the Detour check: %s", map_name, result["reason"])
            return False
        return True

    def _cache_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.bin"

    def _read_cache(self, road_map: RoadMap, key: str) -> NavMeshFile | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        data = path.read_bytes()
        try:
            parsed = read_navmesh(data)
        except NavMeshFormatError as exc:
            log.warning("ignoring cached navmesh %s: %s", path, exc)
            return None
        return NavMeshFile(
            _file_name(road_map.name, data), data, road_map.name, len(parsed.polys), 0.0
        )

    def _write_cache(self, key: str, data: bytes) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            log.warning("could not cache navmesh in %s: %s", path, exc)
