"""The protocol's side of a running world: streams, actor encoding, ticks on the wire.

The session owns what only the wire needs: the stream of each server-side sensor, the
Traffic Manager registry, and the encoding of actors and measurements. Handlers see the
world and this session; the server only composes them and runs the asynchronous clock.
Every method runs under the simulator's lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from carla_lite.geom import BoundingBox, Vector3
from carla_lite.protocol import wire_types as wt
from carla_lite.protocol.measurement_codec import encode
from carla_lite.protocol.streaming import StreamServer
from carla_lite.protocol.tm_registry import TrafficManagerRegistry
from carla_lite.protocol.world_state import STATIC_OBSTACLE_TYPE, pack_episode_state
from carla_lite.world.actors import CLIENT_SIDE_SENSORS, Actor, ActorKind
from carla_lite.world.settings import DEFAULT_VARIABLE_DELTA, WorldSettings
from carla_lite.world.snapshot import TickResult
from carla_lite.world.world import World

#: Stream 1 is the world observer (episode states); sensor streams follow.
WORLD_OBSERVER_STREAM = 1
_FIRST_SENSOR_STREAM = 2


class Session:
    def __init__(
        self, world: World, streams: StreamServer, traffic_managers: TrafficManagerRegistry
    ) -> None:
        self.world = world
        self.streams = streams
        self.traffic_managers = traffic_managers
        self._stream_of: dict[int, int] = {}  # sensor actor id -> stream id
        self._sensor_of: dict[int, int] = {}  # stream id -> sensor actor id
        self._next_stream = _FIRST_SENSOR_STREAM
        self._static_wire: list[Any] | None = None

    # -- actors and their streams ---------------------------------------------------------
    def stream_of(self, actor: Actor) -> int:
        """The stream of a server-side sensor (allocated on first use); 0 for other actors."""
        stream = self._stream_of.get(actor.id)
        if stream is None:
            if actor.kind is not ActorKind.SENSOR or actor.type_id in CLIENT_SIDE_SENSORS:
                return 0
            stream = self._next_stream
            self._next_stream += 1
            self._stream_of[actor.id] = stream
            self._sensor_of[stream] = actor.id
        return stream

    def actor_wire(self, actor: Actor) -> list[Any]:
        """``rpc::Actor`` of a live actor, with its stream token if it is a sensor."""
        stream = self.stream_of(actor)
        token = self.streams.make_token(stream) if stream else b""
        bp = actor.blueprint
        types = {attr.id: int(attr.type) for attr in bp.attributes}
        description = wt.ActorDescription(
            uid=self.world.library.uid(bp.id),
            id=bp.id,
            attributes={k: (types.get(k, 4), v) for k, v in actor.attributes.items()},
        )
        return wt.actor_to_wire(
            actor.id, actor.parent_id, description, actor.bounding_box, actor.semantic_tags, token
        )

    def sensor_token(self, stream_id: int) -> bytes | None:
        """``get_sensor_token``: the token to subscribe with (None: no such stream).

        A client asks right before it subscribes, so from now on the stream is measured
        and its messages are held until the subscription arrives.
        """
        if stream_id == WORLD_OBSERVER_STREAM:
            return self.streams.make_token(stream_id)
        if stream_id not in self._sensor_of:
            return None
        token = self.streams.make_token(stream_id)
        self.streams.expect(stream_id)
        return token

    def sensor_by_stream(self, stream_id: int) -> Actor | None:
        actor_id = self._sensor_of.get(stream_id)
        return self.world.actors.get(actor_id) if actor_id is not None else None

    def destroy(self, actor_id: int) -> bool:
        """Destroy an actor (and its sensors) and close their streams."""
        removed = self.world.destroy(actor_id)
        self._forget(removed)
        return bool(removed)

    def _forget(self, actors: Iterable[Actor]) -> None:
        for actor in actors:
            stream = self._stream_of.pop(actor.id, None)
            if stream is not None:
                del self._sensor_of[stream]
                self.streams.close_stream(stream)

    # -- settings, maps and ticks ---------------------------------------------------------
    def apply_settings(self, settings: WorldSettings) -> None:
        self.world.settings = settings
        self.streams.set_synchronous(settings.synchronous_mode)

    def load_map(self, name: str, *, reset_settings: bool, map_layers: int) -> None:
        """``load_world``: a new episode (every sensor stream closes), then its first tick."""
        self.world.load_map(name, reset_settings=reset_settings, map_layers=map_layers)
        for stream in self._sensor_of:
            self.streams.close_stream(stream)
        self._stream_of.clear()
        self._sensor_of.clear()
        self.streams.set_synchronous(self.world.settings.synchronous_mode)
        self.tick(self.step_seconds())

    def step_seconds(self) -> float:
        fixed = self.world.settings.fixed_delta_seconds
        return fixed if fixed else DEFAULT_VARIABLE_DELTA

    def tick_from_client(self) -> int:
        """``tick_cue``: in synchronous mode run one tick now; return the frame to wait for."""
        world = self.world
        if world.settings.synchronous_mode:
            self.tick(self.step_seconds())
            return int(world.frame)
        return int(world.frame) + 1

    def tick(self, dt: float) -> None:
        """Advance the world one step and publish the frame."""
        sensor_of = self._sensor_of
        wanted = [sensor_of[s] for s in self.streams.wanted_streams() if s in sensor_of]
        self._publish(self.world.tick(dt, wanted))

    def _publish(self, result: TickResult) -> None:
        # Sensor data before the world state: a client released by the state for frame F
        # then already holds every sensor message of frame F.
        removed = {a.id: a for a in result.removed}
        for measurement in result.measurements:
            stream = self._stream_of.get(measurement.sensor_id)
            if stream is not None:
                message = encode(measurement, lambda i: self._actor_wire_by_id(i, removed))
                self.streams.publish(stream, message)
        self._forget(result.removed)
        state = pack_episode_state(result.snapshot, time.time())
        self.streams.publish(WORLD_OBSERVER_STREAM, state)

    def _actor_wire_by_id(self, actor_id: int, removed: dict[int, Actor]) -> list[Any]:
        actor = self.world.actors.get(actor_id) or removed.get(actor_id)
        if actor is not None:
            return self.actor_wire(actor)
        return self._static_actor_wire()

    def _static_actor_wire(self) -> list[Any]:
        """The fake actor CARLA reports for static geometry (buildings, walls, poles)."""
        if self._static_wire is None:
            description = wt.ActorDescription(uid=0, id=STATIC_OBSTACLE_TYPE, attributes={})
            box = BoundingBox(Vector3(), Vector3())
            self._static_wire = wt.actor_to_wire(0, 0, description, box, bytes([3]), b"")
        return self._static_wire
