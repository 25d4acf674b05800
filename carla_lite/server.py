"""The carla_lite server: composes the world, its protocol session and the sockets.

It owns the lifecycle (bind, serve, stop) and the asynchronous-mode clock; everything a
client can ask goes through the RPC handlers, which see the world and the session only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from carla_lite.blueprints import default_library
from carla_lite.maps.catalog import DEFAULT_MAP, MapCatalog
from carla_lite.protocol.handlers import RpcHandlers
from carla_lite.protocol.navigation_handlers import NavigationHandlers
from carla_lite.protocol.rpc_log import rpc_call_counts
from carla_lite.protocol.rpc_server import RpcServer
from carla_lite.protocol.session import Session
from carla_lite.protocol.streaming import StreamServer
from carla_lite.protocol.tm_registry import TrafficManagerRegistry
from carla_lite.world.world import World


class CarlaLiteServer:
    """A headless CARLA 0.9.16 server on three ports: RPC, streaming (+1), secondary (+2).

    Args:
        host: address to bind (loopback by default).
        rpc_port: the RPC port (0 picks a free one, for tests).
        streaming_port: defaults to ``rpc_port + 1``.
        secondary_port: defaults to ``rpc_port + 2``; bound (like CARLA's multi-GPU
            router) so that two servers can never share a port triple, otherwise unused.
        maps_dirs: extra folders of ``.xodr`` maps.
        map_name: the map of the first episode.
        seed: seeds the episode ids and everything random in the world.
        client_side_tm: leave the Traffic Manager to the client (CARLA's default, where it
            runs in the client process); by default carla_lite serves it: the client finds
            a running Traffic Manager on any port it asks for and drives it remotely.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        rpc_port: int = 2000,
        *,
        streaming_port: int | None = None,
        secondary_port: int | None = None,
        maps_dirs: Sequence[Path] = (),
        map_name: str = DEFAULT_MAP,
        seed: int = 0,
        client_side_tm: bool = False,
    ) -> None:
        self.host = host
        self.lock = threading.RLock()
        self.world = World(MapCatalog(maps_dirs), default_library(), map_name, seed=seed)
        self._rpc_port = rpc_port
        self._streaming_port = streaming_port
        self._secondary_port = secondary_port
        self.traffic_managers = TrafficManagerRegistry(
            host,
            self.lock,
            lambda: self.world,
            client_side=client_side_tm,
            address=lambda: self.rpc.local_address() if self.rpc is not None else host,
        )
        self.rpc: RpcServer | None = None
        self.streams: StreamServer | None = None
        self.session: Session | None = None
        self._secondary: socket.socket | None = None
        self._running = threading.Event()
        self._async_thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Bind every port and start serving; returns once ready."""
        stream_port = self._streaming_port
        if stream_port is None:
            stream_port = 0 if self._rpc_port == 0 else self._rpc_port + 1
        streams = StreamServer(self.host, stream_port)
        streams.start()
        self.streams = streams
        session = Session(self.world, streams, self.traffic_managers)
        self.session = session
        table = RpcHandlers(session).table()
        navigation = NavigationHandlers(lambda: session.world, lock=self.lock)
        navigation.prefetch()  # every client asks for it soon (async: in get_world)
        table.update(navigation.table())
        self.rpc = RpcServer(self.host, self._rpc_port, table, lock=self.lock)
        self.rpc.start()
        port = self.rpc.port
        if self._rpc_port != 0 or self._secondary_port is not None:
            secondary = self._secondary_port if self._secondary_port is not None else port + 2
            self._secondary = socket.create_server((self.host, secondary))
        self._running.set()
        self._async_thread = threading.Thread(
            target=self._async_loop, args=(session,), name="carla_lite-async", daemon=True
        )
        self._async_thread.start()

    def stop(self) -> None:
        """Stop ticking and close every socket."""
        self._running.clear()
        if self._async_thread is not None:
            self._async_thread.join(timeout=2.0)
        self.traffic_managers.stop()
        if self.rpc is not None:
            self.rpc.stop()
        if self.streams is not None:
            self.streams.stop()
        if self._secondary is not None:
            self._secondary.close()

    def rpc_calls(self) -> dict:
        """Every RPC name called so far, with counts, per port, and the unknown names.

        ``{"simulator": {"port", "calls", "unknown"}, "traffic_manager": {tm_port: {"port",
        "calls", "unknown"}}, "unknown": [names]}``; a Traffic Manager's ``port`` is where it
        listens (another one when its own port was taken).
        """
        simulator = rpc_call_counts(self.rpc) if self.rpc is not None else None
        managers = {str(p): c for p, c in sorted(self.traffic_managers.rpc_calls().items())}
        unknown = set(simulator["unknown"] if simulator else ())
        for counts in managers.values():
            unknown.update(counts["unknown"])
        return {"simulator": simulator, "traffic_manager": managers, "unknown": sorted(unknown)}

    @property
    def rpc_port(self) -> int:
        assert self.rpc is not None, "server not started"
        return int(self.rpc.port)

    @property
    def streaming_port(self) -> int:
        assert self.streams is not None, "server not started"
        return int(self.streams.port)

    def _async_loop(self, session: Session) -> None:
        """Free-run in asynchronous mode at the step rate, broadcasting every state."""
        next_time = time.monotonic()
        while self._running.is_set():
            with self.lock:
                synchronous = self.world.settings.synchronous_mode
                dt = session.step_seconds()
                if not synchronous:
                    session.tick(dt)
            next_time += dt
            delay = next_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_time = time.monotonic()
