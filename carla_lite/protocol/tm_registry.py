"""Which Traffic Managers run where: served by carla_lite, or registered by clients."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from carla_lite.protocol.rpc_log import rpc_call_counts
from carla_lite.protocol.rpc_server import RpcServer
from carla_lite.protocol.tm_handlers import LOCK_FREE, TrafficManagerHandlers
from carla_lite.world.world import World

log = logging.getLogger(__name__)


class TrafficManagerRegistry:
    """The answer to ``is/get_traffic_manager_running`` and the TM ports carla_lite serves.

    Args:
        host: address the Traffic Manager ports bind.
        lock: the simulator's lock (every TM call runs under it, like every RPC).
        world: returns the world the managers drive.
        client_side: leave the Traffic Manager to the client (CARLA's default); clients
            then register theirs with ``add_traffic_manager_running``.
        address: returns the address clients reach this server on.
    """

    def __init__(
        self,
        host: str,
        lock: threading.RLock,
        world: Callable[[], World],
        *,
        client_side: bool,
        address: Callable[[], str],
    ) -> None:
        self._host = host
        self._lock = lock
        self._world = world
        self.client_side = client_side
        self._address = address
        self._servers: dict[int, RpcServer] = {}
        #: Client-side Traffic Managers by port: where their own RPC servers listen.
        self.registered: dict[int, tuple[str, int]] = {}

    def running(self, port: int) -> bool:
        """``is_traffic_manager_running``: with the server-side TM, start serving ``port``."""
        if self.client_side:
            return port in self.registered
        self._serve(port)
        return True

    def address(self, port: int) -> tuple[str, int]:
        """``get_traffic_manager_running``: where the client finds the TM of ``port``."""
        if self.client_side:
            return self.registered.get(port, ("", 0))
        return self._address(), self._serve(port).port

    def register(self, ip: str, port: int) -> bool:
        """``add_traffic_manager_running``: False if that port already has one."""
        if port in self.registered:
            return False
        self.registered[port] = (ip, port)
        return True

    def unregister(self, port: int) -> bool:
        return self.registered.pop(port, None) is not None

    def rpc_calls(self) -> dict[int, dict]:
        """Per Traffic Manager port served: the port it listens on, and its RPC counts."""
        return {port: rpc_call_counts(server) for port, server in list(self._servers.items())}

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def _serve(self, port: int) -> RpcServer:
        server = self._servers.get(port)
        if server is not None:
            return server
        self._world().traffic_manager(port)
        table = TrafficManagerHandlers(self._world, port).table()
        server = self._rpc_server(port, table)
        try:
            server.start()
        except OSError as exc:
            # Another process holds the port (another server's TM): any free port will do,
            # the client connects wherever get_traffic_manager_running points it.
            log.info("Traffic Manager port %d is taken (%s); serving it on a free port", port, exc)
            server = self._rpc_server(0, table)
            server.start()
        log.info("Traffic Manager %d served on %s:%d", port, self._host, server.port)
        self._servers[port] = server
        return server

    def _rpc_server(self, port: int, table: dict[str, Any]) -> RpcServer:
        return RpcServer(
            self._host, port, table, lock=self._lock, lock_free=LOCK_FREE, carla_metadata=False
        )
