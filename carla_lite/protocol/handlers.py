"""RPC handlers: one function per CARLA 0.9.16 RPC name, adapting the world to the wire.

Each handler receives the call's arguments (after CARLA's metadata) as decoded msgpack
and returns the already-wrapped result (``Response<T>`` = ``ok``/``error`` etc.). A
request the world refuses becomes a ``Response`` error, which the client raises as
``RuntimeError(message)``; a malformed argument raises ``WireError``/``TypeError``,
which the RPC server answers with an rpclib error naming the method.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from carla_lite.geom import BoundingBox, Vector3
from carla_lite.maps import MapLoadError
from carla_lite.protocol import wire_types as wt
from carla_lite.protocol.arguments import boolean, integer, number, string
from carla_lite.protocol.physics_handlers import PhysicsHandlers
from carla_lite.protocol.session import WORLD_OBSERVER_STREAM, Session
from carla_lite.protocol.wire_types import CommandType, WireError
from carla_lite.world.actors import Actor, ActorKind
from carla_lite.world.errors import WorldError
from carla_lite.world.settings import WorldSettings

if TYPE_CHECKING:
    from carla_lite.world.world import World

log = logging.getLogger(__name__)

SERVER_VERSION = "0.9.16"
T = TypeVar("T")


def _port(value: Any) -> int:
    port = integer(value, "port")
    if not 0 < port < 65536:
        raise WireError(f"port must be in 1..65535, got {port}")
    return port


def _need(value: T | None, what: str) -> T:
    if value is None:
        raise WireError(f"command is missing its {what}")
    return value


def _walker_state(raw: Any) -> tuple[int, float, float, float, float, float] | None:
    """``(actor_id, x, y, feet_z, yaw, speed)`` if ``raw`` is a well-formed ApplyWalkerState.

    The client's crowd sends one per AI walker per tick. Anything else returns None and
    takes the general path, which reports errors with a clear message.
    """
    if not (type(raw) is list and len(raw) == 1):
        return None
    variant = raw[0]
    if not (type(variant) is list and len(variant) == 2 and variant[0] == 7):
        return None
    payload = variant[1]
    if not (type(payload) is list and len(payload) == 3 and type(payload[0]) is int):
        return None
    tf = payload[1]
    if not (type(tf) is list and len(tf) == 2 and type(tf[0]) is list and type(tf[1]) is list):
        return None
    if len(tf[0]) != 3 or len(tf[1]) != 3:
        return None
    (x, y, z), yaw, speed = tf[0], tf[1][1], payload[2]
    values = (x, y, z, yaw, speed)
    if not all(type(v) in (float, int) and math.isfinite(v) for v in values):
        return None
    return payload[0], float(x), float(y), float(z), float(yaw), float(speed)


def _vehicle_control(raw: Any) -> tuple[int, list[Any]] | None:
    """``(actor_id, control)`` if ``raw`` is a well-formed ApplyVehicleControl command.

    Anything else (other commands, wrong types, non-finite values) returns None and takes
    the general path, which reports errors with a clear message.
    """
    if not (type(raw) is list and len(raw) == 1):
        return None
    variant = raw[0]
    if not (type(variant) is list and len(variant) == 2 and variant[0] == 2):
        return None
    payload = variant[1]
    if not (type(payload) is list and len(payload) == 2 and type(payload[0]) is int):
        return None
    c = payload[1]
    if not (type(c) is list and len(c) == 7):
        return None
    pedals, flags, gear = c[0:3], c[3:6], c[6]
    if not all(type(v) in (float, int) and math.isfinite(v) for v in pedals):
        return None
    if not all(type(v) is bool for v in flags) or type(gear) is not int:
        return None
    return payload[0], c


class RpcHandlers:
    """The simulator's RPC table; every call runs under the simulator's lock."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._settings_wire: tuple[object, Any] = (None, None)
        self._weather_wire: tuple[object, Any] = (None, None)
        self._definitions: list[Any] | None = None
        self.physics = PhysicsHandlers(lambda: self.session.world)

    @property
    def world(self) -> World:
        return self.session.world

    def table(self) -> dict[str, Callable[..., Any]]:
        """Map of RPC name to handler (with the vehicle physics RPCs of ``physics``)."""
        names = [name for name in dir(self) if name.startswith("rpc_")]
        return {name[4:]: getattr(self, name) for name in names} | self.physics.table()

    # -- helpers --------------------------------------------------------------------------
    def actor_wire(self, actor: Actor) -> list[Any]:
        return self.session.actor_wire(actor)

    def _actor(self, actor_id: Any) -> Actor:
        return self.world.actor(integer(actor_id, "actor id"))

    # -- connection and episode -----------------------------------------------------------
    def rpc_version(self) -> Any:
        return wt.ok(SERVER_VERSION)

    def rpc_get_episode_info(self) -> Any:
        token = self.session.streams.make_token(WORLD_OBSERVER_STREAM)
        return wt.ok([self.world.episode_id, [token]])

    def rpc_get_sensor_token(self, stream_id: Any) -> Any:
        stream_id = integer(stream_id, "stream id")
        token = self.session.sensor_token(stream_id)
        if token is None:
            return wt.error(f"no sensor with stream id {stream_id}")
        return wt.ok([token])

    def rpc_get_episode_settings(self) -> Any:
        # Asked every tick by the Traffic Manager: encode once per settings object.
        settings = self.world.settings
        if self._settings_wire[0] is not settings:
            wire = wt.ok(wt.EpisodeSettings(**dataclasses.asdict(settings)).to_wire())
            self._settings_wire = (settings, wire)
        return self._settings_wire[1]

    def rpc_set_episode_settings(self, raw: Any) -> Any:
        settings = wt.EpisodeSettings.from_wire(raw)
        fixed = settings.fixed_delta_seconds
        if fixed is not None and not 0.0 < fixed <= 10.0:
            return wt.error(f"fixed_delta_seconds must be in (0, 10] s or None, got {fixed}")
        self.session.apply_settings(WorldSettings(**dataclasses.asdict(settings)))
        return wt.ok(self.world.frame)

    def rpc_tick_cue(self) -> Any:
        return wt.ok(self.session.tick_from_client())

    def rpc_query_lights_state(self, client: Any = "") -> Any:
        return wt.ok([])

    def rpc_update_lights_state(
        self, client: Any = "", lights: Any = None, discard: Any = False
    ) -> Any:
        return wt.ok_void()

    def rpc_update_day_night_cycle(self, client: Any = "", active: Any = False) -> Any:
        return wt.ok_void()

    # -- maps -----------------------------------------------------------------------------
    def rpc_get_map_info(self) -> Any:
        road_map = self.world.road_map
        spawn = [wt.transform_to_wire(t) for t in road_map.spawn_points]
        return wt.ok([f"Carla/Maps/{road_map.name}", spawn])

    def rpc_get_map_data(self) -> Any:
        return wt.ok(self.world.road_map.xodr)

    def rpc_get_available_maps(self) -> Any:
        catalog = self.world.catalog
        return wt.ok([catalog.game_path(name) for name in catalog.names()])

    def rpc_load_new_episode(
        self, map_name: Any, reset_settings: Any = True, layers: Any = 0xFFFF
    ) -> Any:
        name = string(map_name, "map name")
        try:
            self.session.load_map(
                name,
                reset_settings=boolean(reset_settings, "reset_settings"),
                map_layers=integer(layers, "map layers"),
            )
        except WorldError as exc:
            return wt.error_void(str(exc))
        except MapLoadError as exc:  # the current map stays: the client keeps a working world
            return wt.error_void(f"{exc} (map {self.world.map_name} stays loaded)")
        return wt.ok_void()

    def rpc_copy_opendrive_to_file(self, xodr: Any, params: Any = None) -> Any:
        """``client.generate_opendrive_world``, first half: keep the map for the next load.

        The client then loads the map named ``OpenDriveMap`` like any other.
        """
        text = string(xodr, "opendrive")
        try:
            self.world.set_opendrive_map(text)
        except ValueError as exc:
            return wt.error_void(str(exc))
        return wt.ok_void()

    def rpc_load_map_layer(self, layers: Any) -> Any:
        self.world.map_layers |= integer(layers, "map layers")
        return wt.ok_void()

    def rpc_unload_map_layer(self, layers: Any) -> Any:
        self.world.map_layers &= ~integer(layers, "map layers")
        return wt.ok_void()

    def rpc_get_names_of_all_objects(self) -> Any:
        return wt.ok([])

    def rpc_get_environment_objects(self, object_type: Any = 255) -> Any:
        return wt.ok([])

    def rpc_get_all_level_BBs(self, tag: Any = 255) -> Any:
        return wt.ok([])

    def rpc_enable_environment_objects(self, ids: Any, enable: Any) -> Any:
        return wt.ok_void()

    # -- weather --------------------------------------------------------------------------
    def rpc_get_weather_parameters(self) -> Any:
        weather = self.world.weather
        if self._weather_wire[0] is not weather:
            self._weather_wire = (weather, wt.ok(wt.WeatherParameters(*weather).to_wire()))
        return self._weather_wire[1]

    def rpc_set_weather_parameters(self, raw: Any) -> Any:
        weather = wt.WeatherParameters.from_wire(raw)
        self.world.weather = tuple(float(v) for v in dataclasses.astuple(weather))
        return wt.ok_void()

    # -- blueprints and actors ------------------------------------------------------------
    def rpc_get_actor_definitions(self) -> Any:
        if self._definitions is None:
            self._definitions = list(self.world.library.definitions())
        return wt.ok([wt.actor_definition_to_wire(*d) for d in self._definitions])

    def rpc_spawn_actor(self, description: Any, transform: Any) -> Any:
        return self._spawn(description, transform, 0, 0)

    def rpc_spawn_actor_with_parent(
        self, description: Any, transform: Any, parent: Any, attachment: Any = 0, socket: Any = ""
    ) -> Any:
        return self._spawn(description, transform, integer(parent, "parent id"), attachment)

    def _spawn(self, description: Any, transform: Any, parent_id: int, attachment: Any) -> Any:
        desc = wt.actor_description_from_wire(description)
        tf = wt.transform_from_wire(transform)
        attachment_type = attachment if isinstance(attachment, int) else 0
        try:
            actor = self.world.spawn(
                desc.id,
                {k: v for k, (_t, v) in desc.attributes.items()},
                tf,
                parent_id=parent_id,
                attachment_type=attachment_type,
            )
        except WorldError as exc:
            return wt.error(str(exc))
        return wt.ok(self.actor_wire(actor))

    def rpc_destroy_actor(self, actor_id: Any) -> Any:
        actor_id = integer(actor_id, "actor id")
        if not self.session.destroy(actor_id):
            return wt.error(f"could not destroy actor {actor_id}: not found")
        return wt.ok(True)

    def rpc_get_actors_by_id(self, ids: Any) -> Any:
        if not isinstance(ids, list):
            raise WireError("actor ids must be a list")
        actors = self.world.actors
        return wt.ok(
            [self.actor_wire(actors[i]) for i in ids if isinstance(i, int) and i in actors]
        )

    def rpc_get_spectator(self) -> Any:
        return wt.ok(self.actor_wire(self.world.spectator))

    def rpc_get_actor_bounding_box(self, actor_id: Any) -> Any:
        # Lenient: the Traffic Manager asks about actors it just saw destroyed, and an
        # error there kills the client process; a zero box is harmless for a dead actor.
        actor = self.world.actors.get(integer(actor_id, "actor id"))
        box = actor.bounding_box if actor is not None else BoundingBox(Vector3(), Vector3())
        return wt.ok(wt.bbox_to_wire(box, actor.id if actor else 0))

    def rpc_set_actor_transform(self, actor_id: Any, transform: Any) -> Any:
        return self._void(
            lambda: self.world.set_transform(
                integer(actor_id, "actor id"), wt.transform_from_wire(transform)
            )
        )

    def rpc_set_actor_location(self, actor_id: Any, location: Any) -> Any:
        return self._vector_call(self.world.set_location, actor_id, location)

    def rpc_set_actor_target_velocity(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(self.world.set_target_velocity, actor_id, vector)

    def rpc_set_actor_target_angular_velocity(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(self.world.set_target_angular_velocity, actor_id, vector)

    def rpc_add_actor_impulse(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(self.world.add_impulse, actor_id, vector)

    def rpc_add_actor_impulse_at_location(
        self, actor_id: Any, vector: Any, location: Any = None
    ) -> Any:
        return self.rpc_add_actor_impulse(actor_id, vector)

    def rpc_set_actor_simulate_physics(self, actor_id: Any, enabled: Any) -> Any:
        return self._void(
            lambda: self.world.set_simulate_physics(
                integer(actor_id, "actor id"), boolean(enabled, "enabled")
            )
        )

    def rpc_set_actor_enable_gravity(self, actor_id: Any, enabled: Any) -> Any:
        return self._void(lambda: self._actor(actor_id))

    def rpc_set_actor_collisions(self, actor_id: Any, enabled: Any) -> Any:
        return self._void(lambda: self._actor(actor_id))

    def rpc_set_actor_dead(self, actor_id: Any) -> Any:
        return self._void(lambda: self.world.set_walker_dead(integer(actor_id, "actor id")))

    def rpc_set_actor_autopilot(self, actor_id: Any, enabled: Any = True) -> Any:
        return self._void(lambda: self._actor(actor_id))

    def rpc_apply_control_to_vehicle(self, actor_id: Any, control: Any) -> Any:
        c = wt.VehicleControl.from_wire(control)
        return self._void(
            lambda: self.world.apply_vehicle_control(
                integer(actor_id, "actor id"),
                c.throttle,
                c.steer,
                c.brake,
                c.hand_brake,
                c.reverse,
                c.manual_gear_shift,
                c.gear,
            )
        )

    def rpc_apply_control_to_walker(self, actor_id: Any, control: Any) -> Any:
        c = wt.WalkerControl.from_wire(control)
        return self._void(
            lambda: self.world.apply_walker_control(
                integer(actor_id, "actor id"), c.direction, c.speed, c.jump
            )
        )

    def rpc_get_vehicle_light_states(self) -> Any:
        return wt.ok([[actor_id, flags] for actor_id, flags in self.world.vehicle_light_states()])

    def rpc_set_vehicle_light_state(self, actor_id: Any, flags: Any) -> Any:
        # The client sends rpc::VehicleLightState, a one-field record: [flags].
        if isinstance(flags, list) and len(flags) == 1:
            flags = flags[0]
        return self._void(
            lambda: self.world.set_vehicle_light_state(
                integer(actor_id, "actor id"), integer(flags, "light flags")
            )
        )

    def rpc_open_vehicle_door(self, actor_id: Any, door: Any) -> Any:
        return self._void(lambda: self._actor(actor_id))

    def rpc_close_vehicle_door(self, actor_id: Any, door: Any) -> Any:
        return self._void(lambda: self._actor(actor_id))

    def rpc_set_wheel_steer_direction(self, actor_id: Any, wheel: Any, angle: Any) -> Any:
        return self._void(lambda: self._actor(actor_id))

    def rpc_show_vehicle_debug_telemetry(self, actor_id: Any, enabled: Any) -> Any:
        return self._void(lambda: self._actor(actor_id))

    # The ROS calls name a sensor by its stream id; there is no ROS bridge to enable.
    def rpc_enable_sensor_for_ros(self, stream_id: Any) -> Any:
        return self._void(lambda: self._sensor_by_stream(stream_id))

    def rpc_disable_sensor_for_ros(self, stream_id: Any) -> Any:
        return self._void(lambda: self._sensor_by_stream(stream_id))

    def rpc_is_sensor_enabled_for_ros(self, stream_id: Any) -> Any:
        try:
            self._sensor_by_stream(stream_id)
        except WorldError as exc:  # a refused call, not an internal error
            return wt.error(str(exc))
        return wt.ok(False)

    def _sensor_by_stream(self, stream_id: Any) -> Actor:
        wanted = integer(stream_id, "stream id")
        actor = self.session.sensor_by_stream(wanted)
        if actor is None:
            raise WorldError(f"no sensor with stream id {wanted}")
        return actor

    def rpc_get_vehicle_light_state(self, actor_id: Any) -> Any:
        try:
            actor = self._actor(actor_id)
        except WorldError as exc:  # unknown actor: a refused call, not an internal error
            return wt.error(str(exc))
        # rpc::VehicleLightState is a one-field record: [flags].
        return wt.ok([self.world.vehicle_light_flags.get(actor.id, 0)])

    def rpc_set_ignored_vehicles(self, stream_id: Any, ids: Any) -> Any:
        return self._void(lambda: self._sensor_by_stream(stream_id))

    def rpc_clear_debug_shape(self) -> Any:
        return wt.ok_void()

    def rpc_clear_debug_string(self) -> Any:
        return wt.ok_void()

    # -- traffic lights -------------------------------------------------------------------
    def rpc_set_traffic_light_state(self, actor_id: Any, state: Any) -> Any:
        return self._void(
            lambda: self.world.lights.set_state(self._light_id(actor_id), integer(state, "state"))
        )

    def rpc_set_traffic_light_green_time(self, actor_id: Any, seconds: Any) -> Any:
        return self._void(
            lambda: self.world.lights.set_times(
                self._light_id(actor_id), green=number(seconds, "green time")
            )
        )

    def rpc_set_traffic_light_yellow_time(self, actor_id: Any, seconds: Any) -> Any:
        return self._void(
            lambda: self.world.lights.set_times(
                self._light_id(actor_id), yellow=number(seconds, "yellow time")
            )
        )

    def rpc_set_traffic_light_red_time(self, actor_id: Any, seconds: Any) -> Any:
        return self._void(
            lambda: self.world.lights.set_times(
                self._light_id(actor_id), red=number(seconds, "red time")
            )
        )

    def rpc_freeze_traffic_light(self, actor_id: Any, frozen: Any) -> Any:
        return self._void(
            lambda: self.world.lights.freeze(self._light_id(actor_id), boolean(frozen, "freeze"))
        )

    def rpc_reset_traffic_light_group(self, actor_id: Any) -> Any:
        return self._void(lambda: self.world.lights.reset_group(self._light_id(actor_id)))

    def rpc_reset_all_traffic_lights(self) -> Any:
        self.world.lights.reset_all()
        return wt.ok_void()

    def rpc_freeze_all_traffic_lights(self, frozen: Any) -> Any:
        self.world.lights.freeze_all(boolean(frozen, "freeze"))
        return wt.ok_void()

    def rpc_get_group_traffic_lights(self, actor_id: Any) -> Any:
        light_id = integer(actor_id, "actor id")
        if self.world.lights.get(light_id) is None:
            return wt.error(f"actor {light_id} is not a traffic light")
        return wt.ok(self.world.lights.group_of(light_id))

    def rpc_get_light_boxes(self, actor_id: Any) -> Any:
        light_id = integer(actor_id, "actor id")
        light = self.world.lights.get(light_id)
        if light is None:
            return wt.error(f"actor {light_id} is not a traffic light")
        cx, cy, _yaw, half_len, half_wid = light.trigger
        box = BoundingBox(Vector3(cx, cy, 1.0), Vector3(half_len, half_wid, 1.0))
        return wt.ok([wt.bbox_to_wire(box, light_id)])

    def _light_id(self, actor_id: Any) -> int:
        light_id = integer(actor_id, "actor id")
        self.world.traffic_light(light_id)
        return light_id

    # -- traffic manager: served by carla_lite, or registered by a client-side TM ----------
    def rpc_is_traffic_manager_running(self, port: Any) -> Any:
        return wt.ok(self.session.traffic_managers.running(_port(port)))

    def rpc_get_traffic_manager_running(self, port: Any) -> Any:
        ip, tm_port = self.session.traffic_managers.address(_port(port))
        return wt.ok([ip, tm_port])

    def rpc_add_traffic_manager_running(self, entry: Any) -> Any:
        if not isinstance(entry, list) or len(entry) != 2:
            raise WireError("traffic manager entry must be [ip, port]")
        ip, port = string(entry[0], "ip"), integer(entry[1], "port")
        return wt.ok(self.session.traffic_managers.register(ip, port))

    def rpc_destroy_traffic_manager(self, port: Any) -> Any:
        return wt.ok(self.session.traffic_managers.unregister(integer(port, "port")))

    # -- batches --------------------------------------------------------------------------
    def rpc_apply_batch(self, commands: Any, do_tick_cue: Any = False) -> Any:
        if not isinstance(commands, list):
            raise WireError("apply_batch expects a list of commands")
        responses = []
        # The Traffic Manager sends one ApplyVehicleControl per car per tick: those are
        # collected and applied together; anything else runs in order after them. The
        # client's walker crowd sends one ApplyWalkerState per walker per tick: applied at
        # once, without the general decoding.
        batch_actors: list[Actor] = []
        batch_controls: list[list[Any]] = []
        for raw in commands:
            fast = _vehicle_control(raw)
            actor = self.world.actors.get(fast[0]) if fast else None
            if fast and actor is not None and actor.kind is ActorKind.VEHICLE:
                batch_actors.append(actor)
                batch_controls.append(fast[1])
                responses.append(wt.ok(actor.id))
                continue
            state = _walker_state(raw) if fast is None else None
            walker = self.world.actors.get(state[0]) if state else None
            if state and walker is not None and walker.kind is ActorKind.WALKER:
                self.world.place_walker(walker, *state[1:])
                responses.append(wt.ok(walker.id))
                continue
            self.world.apply_vehicle_controls(batch_actors, batch_controls)
            batch_actors, batch_controls = [], []
            responses.append(self._run_command(raw))
        self.world.apply_vehicle_controls(batch_actors, batch_controls)
        if boolean(do_tick_cue, "do_tick_cue"):
            self.session.tick_from_client()
        return responses  # bare vector<CommandResponse>: not wrapped in Response

    def _run_command(self, raw: Any, future_actor: int = 0) -> Any:
        try:
            command = wt.decode_command(raw)
        except WireError as exc:
            return wt.error(str(exc))
        try:
            return wt.ok(self._execute(command, future_actor))
        except WorldError as exc:
            return wt.error(str(exc))
        except (KeyError, ValueError) as exc:
            return wt.error(str(exc.args[0] if exc.args else exc))

    def _execute(self, command: wt.Command, future_actor: int) -> int:
        """Run one batch command; return the actor id CARLA puts in the response."""
        actor_id = command.actor_id or future_actor
        kind = command.type
        world = self.world
        if kind is CommandType.SpawnActor:
            desc = command.description
            assert desc is not None and command.transform is not None
            actor = world.spawn(
                desc.id,
                {k: v for k, (_t, v) in desc.attributes.items()},
                command.transform,
                parent_id=command.parent or 0,
            )
            for follow_up in command.do_after or []:
                self._execute(follow_up, actor.id)
            return actor.id
        if kind is CommandType.DestroyActor:
            if not self.session.destroy(actor_id):
                raise WorldError(f"actor {actor_id} not found")
        elif kind is CommandType.ApplyVehicleControl:
            c = command.control
            assert isinstance(c, wt.VehicleControl)
            world.apply_vehicle_control(
                actor_id,
                c.throttle,
                c.steer,
                c.brake,
                c.hand_brake,
                c.reverse,
                c.manual_gear_shift,
                c.gear,
            )
        elif kind is CommandType.ApplyWalkerControl:
            c = command.control
            assert isinstance(c, wt.WalkerControl)
            world.apply_walker_control(actor_id, c.direction, c.speed, c.jump)
        elif kind is CommandType.ApplyTransform:
            world.set_transform(actor_id, _need(command.transform, "transform"))
        elif kind is CommandType.ApplyLocation:
            world.set_location(actor_id, _need(command.vector, "vector"))
        elif kind is CommandType.ApplyWalkerState:
            world.apply_walker_state(actor_id, _need(command.transform, "transform"), command.speed)
        elif kind is CommandType.ApplyTargetVelocity:
            world.set_target_velocity(actor_id, _need(command.vector, "vector"))
        elif kind is CommandType.ApplyTargetAngularVelocity:
            world.set_target_angular_velocity(actor_id, _need(command.vector, "vector"))
        elif kind is CommandType.ApplyImpulse:
            world.add_impulse(actor_id, _need(command.vector, "vector"))
        elif kind is CommandType.SetSimulatePhysics:
            world.set_simulate_physics(actor_id, bool(command.enabled))
        elif kind is CommandType.SetVehicleLightState:
            world.set_vehicle_light_state(actor_id, int(command.value))
        elif kind is CommandType.SetTrafficLightState:
            world.lights.set_state(self._light_id(actor_id), int(command.value))
        elif self.physics.execute(command):
            pass  # physics control, Ackermann control, force, angular impulse, torque
        else:
            # Autopilot (registered client-side), gravity, telemetry and console commands:
            # accepted, no effect beyond checking that the actor exists.
            if actor_id and kind is not CommandType.ConsoleCommand:
                world.actor(actor_id)
        return actor_id

    def _vector_call(
        self, method: Callable[[int, Vector3], None], actor_id: Any, vector: Any
    ) -> Any:
        """A ``Response<void>`` RPC taking an actor id and a Vector3D."""
        return self._void(
            lambda: method(integer(actor_id, "actor id"), wt.location_from_wire(vector))
        )

    def _void(self, action: Callable[[], Any]) -> Any:
        try:
            action()
        except WorldError as exc:
            return wt.error_void(str(exc))
        except (KeyError, ValueError) as exc:
            return wt.error_void(str(exc.args[0] if exc.args else exc))
        return wt.ok_void()

    # -- debug drawing and recorder: accepted, nothing to draw or record headless ---------
    def rpc_draw_debug_shape(self, shape: Any) -> Any:
        return wt.ok_void()

    def rpc_apply_color_texture_to_objects(self, *args: Any) -> Any:
        return wt.ok_void()

    def rpc_apply_float_color_texture_to_objects(self, *args: Any) -> Any:
        return wt.ok_void()

    def rpc_set_replayer_time_factor(self, factor: Any) -> Any:
        return wt.ok_void()
