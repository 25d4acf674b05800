"""The carla_lite server: world + RPC server + streaming server + tick loop."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from carla_lite.blueprints import default_library
from carla_lite.geom import BoundingBox, Vector3
from carla_lite.maps.catalog import DEFAULT_MAP, MapCatalog
from carla_lite.protocol import serializers, wire_types
from carla_lite.protocol.handlers import WORLD_OBSERVER_STREAM, RpcHandlers
from carla_lite.protocol.rpc_server import RpcServer
from carla_lite.protocol.streaming import StreamServer
from carla_lite.protocol.tm_handlers import TrafficManagerHandlers
from carla_lite.protocol.world_state import STATIC_OBSTACLE_TYPE, pack_episode_state
from carla_lite.world.settings import DEFAULT_VARIABLE_DELTA, WorldSettings
from carla_lite.world.snapshot import SensorMessage, TickResult
from carla_lite.world.world import World

log = logging.getLogger(__name__)


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
        self.client_side_tm = client_side_tm
        self._tm_servers: dict[int, RpcServer] = {}
        self.lock = threading.RLock()
        self.catalog = MapCatalog(maps_dirs)
        self.library = default_library()
        self.world = World(self.catalog, self.library, map_name, seed=seed)
        self.traffic_managers: dict[int, tuple[str, int]] = {}
        self._rpc_port = rpc_port
        self._streaming_port = streaming_port
        self._secondary_port = secondary_port
        self.streams: StreamServer | Any = None
        self.rpc: RpcServer | Any = None
        self._secondary: socket.socket | None = None
        self._definitions: list[Any] | None = None
        self.handlers = RpcHandlers(self)
        self._running = threading.Event()
        self._async_thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Bind every port and start serving; returns once ready."""
        self.rpc = RpcServer(self.host, self._rpc_port, self.handlers.table(), lock=self.lock)
        self.rpc.start()
        port = self.rpc.port
        stream_port = self._streaming_port if self._streaming_port is not None else port + 1
        if self._rpc_port == 0 and self._streaming_port is None:
            stream_port = 0
        self.streams = StreamServer(self.host, stream_port)
        self.streams.start()
        secondary = self._secondary_port if self._secondary_port is not None else port + 2
        if self._rpc_port != 0 or self._secondary_port is not None:
            self._secondary = socket.create_server((self.host, secondary))
        self._running.set()
        self._async_thread = threading.Thread(
            target=self._async_loop, name="carla_lite-async", daemon=True
        )
        self._async_thread.start()

    def stop(self) -> None:
        """Stop ticking and close every socket."""
        self._running.clear()
        if self._async_thread is not None:
            self._async_thread.join(timeout=2.0)
        for tm_server in self._tm_servers.values():
            tm_server.stop()
        if self.rpc is not None:
            self.rpc.stop()
        if self.streams is not None:
            self.streams.stop()
        if self._secondary is not None:
            self._secondary.close()

    @property
    def rpc_port(self) -> int:
        return int(self.rpc.port)

    @property
    def streaming_port(self) -> int:
        return int(self.streams.port)

    # -- called by the RPC handlers (under the lock) --------------------------------------
    def definitions(self) -> list[Any]:
        if self._definitions is None:
            self._definitions = list(self.library.definitions())
        return self._definitions

    def apply_settings(self, settings: WorldSettings) -> None:
        self.world.settings = settings
        self.streams.set_synchronous(settings.synchronous_mode)

    def tick_from_client(self) -> int:
        """``tick_cue``: in synchronous mode run one tick now; return the frame to wait for."""
        if self.world.settings.synchronous_mode:
            self._tick(self._step_seconds())
            return int(self.world.frame)
        return int(self.world.frame) + 1

    def load_map(self, name: str, *, reset_settings: bool, map_layers: int) -> None:
        self._close_sensor_streams()
        self.world.load_map(name, reset_settings=reset_settings, map_layers=map_layers)
        self.streams.set_synchronous(self.world.settings.synchronous_mode)
        self._tick(self._step_seconds())

    # -- traffic manager ------------------------------------------------------------------
    def traffic_manager_running(self, port: int) -> bool:
        """``is_traffic_manager_running``: with the server-side TM, start serving ``port``."""
        if self.client_side_tm:
            return port in self.traffic_managers
        self._serve_traffic_manager(port)
        return True

    def traffic_manager_address(self, port: int) -> tuple[str, int]:
        """``get_traffic_manager_running``: where the client finds the TM of ``port``."""
        if self.client_side_tm:
            return self.traffic_managers.get(port, ("", 0))
        tm_server = self._serve_traffic_manager(port)
        return self.rpc.local_address(), tm_server.port

    def _serve_traffic_manager(self, port: int) -> RpcServer:
        tm_server = self._tm_servers.get(port)
        if tm_server is not None:
            return tm_server
        self.world.traffic_manager(port)
        table = TrafficManagerHandlers(lambda: self.world, port).table()
        tm_server = RpcServer(self.host, port, table, lock=self.lock, carla_metadata=False)
        try:
            tm_server.start()
        except OSError as exc:
            # Another process holds the port (another server's TM): any free port will do,
            # the client connects wherever get_traffic_manager_running points it.
            log.info("Traffic Manager port %d is taken (%s); serving it on a free port", port, exc)
            tm_server = RpcServer(self.host, 0, table, lock=self.lock, carla_metadata=False)
            tm_server.start()
        log.info("Traffic Manager %d served on %s:%d", port, self.host, tm_server.port)
        self._tm_servers[port] = tm_server
        return tm_server

    # -- ticking --------------------------------------------------------------------------
    def _step_seconds(self) -> float:
        fixed = self.world.settings.fixed_delta_seconds
        return fixed if fixed else DEFAULT_VARIABLE_DELTA

    def _tick(self, dt: float) -> None:
        result = self.world.tick(dt)
        self._publish(result)

    def _publish(self, result: TickResult) -> None:
        # Sensor data before the world state: a client released by the state for frame F
        # then already holds every sensor message of frame F.
        for message in result.messages:
            self.streams.publish(message.stream_id, self._sensor_bytes(message))
        state = pack_episode_state(result.snapshot, time.time())
        self.streams.publish(WORLD_OBSERVER_STREAM, state)

    def _sensor_bytes(self, message: SensorMessage) -> bytes:
        event = message.collision
        assert event is not None, "only collision events are streamed so far"
        handlers = self.handlers
        other = (
            handlers.actor_wire(event.other) if event.other is not None else _static_actor_wire()
        )
        return serializers.collision_event(
            self.world.frame,
            self.world.elapsed,
            message.sensor_transform,
            handlers.actor_wire(event.actor),
            other,
            event.normal_impulse,
        )

    def _close_sensor_streams(self) -> None:
        for actor in self.world.actors.values():
            if actor.stream_id:
                self.streams.close_stream(actor.stream_id)

    def _async_loop(self) -> None:
        """Free-run in asynchronous mode at the step rate, broadcasting every state."""
        next_time = time.monotonic()
        while self._running.is_set():
            with self.lock:
                synchronous = self.world.settings.synchronous_mode
                dt = self._step_seconds()
                if not synchronous:
                    self._tick(dt)
            next_time += dt
            delay = next_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_time = time.monotonic()


def _static_actor_wire() -> list[Any]:
    """The fake actor CARLA reports for static geometry (buildings, walls, poles)."""
    description = wire_types.ActorDescription(uid=0, id=STATIC_OBSTACLE_TYPE, attributes={})
    return wire_types.actor_to_wire(
        0, 0, description, BoundingBox(Vector3(), Vector3()), bytes([3]), b""
    )
