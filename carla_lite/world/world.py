"""The simulated world: one episode on one map, its actors, settings and tick."""

from __future__ import annotations

import itertools
import logging
import math
import random
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from carla_lite.blueprints import Blueprint, BlueprintLibrary, validate_description
from carla_lite.geom import Transform, Vector3
from carla_lite.maps import MapLoadError, RoadMap, load_road_map
from carla_lite.maps.catalog import MapCatalog
from carla_lite.maps.lane_graph import lane_graph
from carla_lite.physics import VehicleFleet, WalkerCrowd
from carla_lite.sensors.base import SensorConfigError, SensorSpec
from carla_lite.sensors.frame import Bodies, Contact, SensorFrame
from carla_lite.sensors.suite import SensorSuite
from carla_lite.traffic import TrafficManager, TrafficScene, VehicleBody
from carla_lite.world.actors import CLIENT_SIDE_SENSORS, Actor, ActorKind, kind_of
from carla_lite.world.collisions import BodyShapes, CollisionSystem
from carla_lite.world.errors import SpawnError, UnknownActorError, WorldError
from carla_lite.world.settings import WorldSettings
from carla_lite.world.snapshot import CollisionEvent, TickResult, WorldSnapshot
from carla_lite.world.traffic_lights import Light, TrafficLightSystem
from carla_lite.world.transforms import compose, compose_rows

log = logging.getLogger(__name__)

#: The weather of a loaded map, in wire order (14 floats): ``WeatherParameters.ClearNoon``,
#: as CARLA's towns load in daylight (``WeatherParameters()`` would put the sun on the horizon).
DEFAULT_WEATHER: tuple[float, ...] = (
    5.0, 0.0, 0.0, 10.0, -1.0, 45.0, 2.0, 0.75, 0.1, 0.0, 1.0, 0.03, 0.0331, 0.0,
)  # fmt: skip
#: The map name CARLA gives a world generated from OpenDRIVE text.
OPENDRIVE_MAP = "OpenDriveMap"
#: Body colours where the blueprint has no ``color`` attribute (RGB).
DEFAULT_VEHICLE_COLOR = (128, 128, 128)
DEFAULT_WALKER_COLOR = (150, 110, 90)
#: A walker killed by a vehicle (``set_actor_dead``) lies there this long [s], as in CARLA.
DEAD_WALKER_LIFESPAN = 10.0


class World:
    """One CARLA episode.

    Not thread-safe: the server serialises every call with one lock.
    """

    def __init__(
        self,
        catalog: MapCatalog,
        library: BlueprintLibrary,
        map_name: str,
        *,
        seed: int = 0,
    ) -> None:
        self.catalog = catalog
        self.library = library
        self.settings = WorldSettings()
        self.weather: tuple[float, ...] = DEFAULT_WEATHER
        #: What IMUs add to their accelerometer [m/s^2] (``world.set_imui_sensor_gravity``).
        self.imu_gravity = 9.81
        self.rng = random.Random(seed)
        self.episode_id = self.rng.getrandbits(48)
        self.frame = 0
        self.elapsed = 0.0
        self.last_delta = 0.0
        self.map_layers = 0xFFFF
        self._opendrive_text: str | None = None
        self._next_actor_id = 1
        self.actors: dict[int, Actor] = {}
        self.sensors = SensorSuite()
        self.fleet = VehicleFleet()
        self.crowd = WalkerCrowd()
        self.dead_walkers: dict[int, float] = {}  # actor id -> sim time to remove it
        self.lights = TrafficLightSystem()
        self.vehicle_light_flags: dict[int, int] = {}
        #: Server-side Traffic Managers by port; they outlive episodes, like CARLA's.
        self.traffic_managers: dict[int, TrafficManager] = {}
        self.road_map: RoadMap = self._read_map(map_name)
        self.collisions = CollisionSystem(self.road_map)
        self.spectator: Actor = self._new_episode()
        self._layout: _Layout | None = None

    # -- episodes -------------------------------------------------------------------------
    @property
    def map_name(self) -> str:
        return self.road_map.name

    def load_map(self, name: str, *, reset_settings: bool, map_layers: int = 0xFFFF) -> None:
        """Start a new episode on a catalog map (``load_world``).

        Raises:
            WorldError: the map is not in the catalog.
            MapLoadError: its file is unreadable or not a valid OpenDRIVE map; the current
                map and episode are left as they were.
        """
        road_map = self._read_map(name)
        self._switch_map(road_map, reset_settings=reset_settings, map_layers=map_layers)

    def set_opendrive_map(self, xodr_text: str) -> None:
        """Validate and keep an OpenDRIVE map that loads as ``OPENDRIVE_MAP``.

        ``client.generate_opendrive_world`` sends the text first, then loads that name.
        """
        load_road_map(OPENDRIVE_MAP, xodr_text)  # raises MapLoadError on a bad file
        self._opendrive_text = xodr_text

    def _read_map(self, name: str) -> RoadMap:
        if name.rsplit("/", 1)[-1] == OPENDRIVE_MAP and self._opendrive_text is not None:
            return load_road_map(OPENDRIVE_MAP, self._opendrive_text)
        try:
            path = self.catalog.path(name)
        except KeyError as exc:
            raise WorldError(exc.args[0] if exc.args else str(exc)) from None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MapLoadError(f"{path.stem}: cannot read {path}: {exc}") from None
        try:
            return load_road_map(path.stem, text)
        except MapLoadError as exc:
            raise MapLoadError(f"{path}: {exc}") from None

    def _switch_map(self, road_map: RoadMap, *, reset_settings: bool, map_layers: int) -> None:
        for actor_id in list(self.actors):
            self._remove(actor_id)
        self.road_map = road_map
        self.collisions = CollisionSystem(road_map)
        self.map_layers = map_layers
        self.weather = DEFAULT_WEATHER  # a new level comes with its own weather
        self.imu_gravity = 9.81  # CARLA keeps it in the game mode, which a new map replaces
        if reset_settings:
            self.settings = WorldSettings()
        self.episode_id = (self.episode_id + 1 + self.rng.getrandbits(16)) & ((1 << 63) - 1)
        self.spectator = self._new_episode()
        if self.traffic_managers:
            lane_graph(road_map)  # now, within load_world, rather than on the first tick

    def _new_episode(self) -> Actor:
        self.fleet = VehicleFleet()
        self.crowd = WalkerCrowd()
        self.dead_walkers = {}
        self.lights = TrafficLightSystem()
        self.vehicle_light_flags = {}
        self.sensors = SensorSuite()
        self._layout = None
        spectator = self._add_actor(
            self.library.get("spectator"), {}, Transform(0.0, 0.0, 30.0, -90.0, 0.0, 0.0)
        )
        light_bp = self.library.get("traffic.traffic_light")
        light_values = validate_description(light_bp, {})
        for group in self.road_map.signal_groups:
            members = []
            for site in group.sites:
                actor = self._add_actor(light_bp, dict(light_values), site.pose)
                box = site.trigger
                trigger = (box.cx, box.cy, box.yaw_deg, box.half_length, box.half_width)
                members.append(Light(actor.id, site.signal_id, trigger))
            self.lights.add_group(members)
        self.lights.build_zones(self.road_map.cell_grid)
        return spectator

    # -- actors ---------------------------------------------------------------------------
    def actor(self, actor_id: int) -> Actor:
        try:
            return self.actors[actor_id]
        except KeyError:
            raise UnknownActorError(actor_id) from None

    def spawn(
        self,
        blueprint_id: str,
        attributes: Mapping[str, str],
        transform: Transform,
        *,
        parent_id: int = 0,
        attachment_type: int = 0,
    ) -> Actor:
        """Spawn an actor; raise SpawnError if CARLA would refuse it."""
        try:
            blueprint = self.library.get(blueprint_id)
        except KeyError as exc:
            raise SpawnError(str(exc.args[0] if exc.args else exc)) from None
        try:
            values = validate_description(blueprint, attributes)
        except (KeyError, ValueError) as exc:
            raise SpawnError(f"{blueprint_id}: {exc}") from None
        _check_finite(transform)
        parent = self.actor(parent_id) if parent_id else None
        kind = kind_of(blueprint.id)
        needs_free_spot = parent is None and kind in _MOVING
        if needs_free_spot and self.collisions.is_occupied(self, blueprint, transform):
            raise SpawnError("Spawn failed because of collision at spawn position")
        if parent is not None:
            world_tf = compose(self.transform_of(parent), transform)
            actor = self._add_actor(blueprint, values, world_tf)
            actor.parent_id = parent.id
            actor.attachment_type = attachment_type
            actor.relative = transform
            parent.children.append(actor.id)
        else:
            actor = self._add_actor(blueprint, values, transform)
        if kind is ActorKind.SENSOR and blueprint.id not in CLIENT_SIDE_SENSORS:
            try:
                spec = SensorSpec(actor.id, blueprint.id, dict(values), actor.parent_id)
                self.sensors.add(spec, self.road_map)
            except SensorConfigError as exc:
                self._remove(actor.id)
                raise SpawnError(str(exc)) from None
        return actor

    def _add_actor(self, blueprint: Blueprint, values: dict[str, str], tf: Transform) -> Actor:
        kind = kind_of(blueprint.id)
        actor = Actor(
            id=self._next_actor_id,
            blueprint=blueprint,
            attributes=values,
            kind=kind,
            transform=tf,
        )
        self._next_actor_id += 1
        if kind is ActorKind.VEHICLE:
            assert blueprint.vehicle_params is not None, blueprint.id
            actor.slot = self.fleet.add(blueprint.vehicle_params, tf)
            actor.sticky_control = values.get("sticky_control", "true").lower() == "true"
        elif kind is ActorKind.WALKER:
            box = blueprint.bounding_box
            extent = (box.extent.x, box.extent.y, box.extent.z) if box else (0.2, 0.2, 0.9)
            actor.slot = self.crowd.add(tf, extent)
        self.actors[actor.id] = actor
        self._layout = None
        return actor

    def destroy(self, actor_id: int) -> list[Actor]:
        """Destroy one actor (``destroy_actor``) and the sensors attached to it.

        Returns the actors removed (empty if there was none, or it is the spectator, which
        cannot be destroyed), so the protocol can close their streams.
        """
        actor = self.actors.get(actor_id)
        if actor is None or actor is self.spectator:
            return []
        return self._remove(actor_id)

    def _remove(self, actor_id: int) -> list[Actor]:
        actor = self.actors.pop(actor_id)
        removed = [actor]
        if actor.kind is ActorKind.VEHICLE:
            self.fleet.remove(actor.slot)
            self.vehicle_light_flags.pop(actor_id, None)
        elif actor.kind is ActorKind.WALKER:
            self.crowd.remove(actor.slot)
        self.sensors.remove(actor_id)
        parent = self.actors.get(actor.parent_id)
        if parent is not None and actor_id in parent.children:
            parent.children.remove(actor_id)
        for child_id in actor.children:
            child = self.actors.get(child_id)
            if child is None:
                continue
            if child.kind is ActorKind.SENSOR:
                # A sensor left on a destroyed car would keep measuring for nobody.
                child.parent_id = 0
                removed.extend(self._remove(child_id))
            else:
                # Like Unreal: other children outlive the parent, left where they were.
                child.transform = self.transform_of(child)
                child.parent_id = 0
        self._layout = None
        return removed

    def transform_of(self, actor: Actor) -> Transform:
        """Current world pose of any actor."""
        if actor.kind is ActorKind.VEHICLE:
            return Transform(*(float(v) for v in self.fleet.pose[actor.slot]))
        if actor.kind is ActorKind.WALKER:
            return Transform(*(float(v) for v in self.crowd.pose[actor.slot]))
        if actor.parent_id:
            parent = self.actors.get(actor.parent_id)
            if parent is not None:
                return compose(self.transform_of(parent), actor.relative)
        return actor.transform

    def set_transform(self, actor_id: int, tf: Transform) -> None:
        _check_finite(tf)
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.VEHICLE:
            self.fleet.set_transform(actor.slot, tf)
        elif actor.kind is ActorKind.WALKER:
            self.crowd.set_transform(actor.slot, tf)
        elif actor.parent_id:
            actor.relative = tf
        else:
            actor.transform = tf
        if actor.kind not in _MOVING:
            self._layout = None  # its pose is cached in the layout

    def set_location(self, actor_id: int, location: Vector3) -> None:
        tf = self.transform_of(self.actor(actor_id))
        self.set_transform(
            actor_id, Transform(location.x, location.y, location.z, tf.pitch, tf.yaw, tf.roll)
        )

    def set_target_velocity(self, actor_id: int, v: Vector3) -> None:
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.VEHICLE:
            self.fleet.set_velocity(actor.slot, v.x, v.y, v.z)
        elif actor.kind is ActorKind.WALKER:
            speed = math.hypot(v.x, v.y)
            direction = Vector3(v.x / speed, v.y / speed, 0.0) if speed > 0 else Vector3(1, 0, 0)
            self.crowd.set_control(actor.slot, direction, speed, False)

    def set_target_angular_velocity(self, actor_id: int, w: Vector3) -> None:
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.VEHICLE:
            self.fleet.set_angular_velocity(actor.slot, w.x, w.y, w.z)

    def add_impulse(self, actor_id: int, impulse: Vector3) -> None:
        """Change a vehicle's velocity by impulse / mass (forces are applied for one step)."""
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.VEHICLE:
            mass = self.fleet.params(actor.slot).mass  # apply_physics_control may change it
            vx, vy, vz = (float(v) for v in self.fleet.velocity[actor.slot])
            self.fleet.set_velocity(
                actor.slot, vx + impulse.x / mass, vy + impulse.y / mass, vz + impulse.z / mass
            )

    def vehicle_params_changed(self) -> None:
        """A vehicle's physical limits changed (``apply_physics_control``): the Traffic
        Managers' view, cached with the layout, is rebuilt."""
        self._layout = None

    def set_simulate_physics(self, actor_id: int, enabled: bool) -> None:
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.VEHICLE:
            self.fleet.set_simulate_physics(actor.slot, enabled)
        elif actor.kind is ActorKind.WALKER:
            self.crowd.set_simulate_physics(actor.slot, enabled)

    def apply_walker_state(self, actor_id: int, tf: Transform, speed: float) -> None:
        """``ApplyWalkerState``: the client's crowd placed a walker (``tf.z`` at its feet)."""
        _check_finite(tf)
        actor = self.actor(actor_id)
        if actor.kind is not ActorKind.WALKER:
            raise WorldError(f"actor {actor_id} ({actor.type_id}) is not a walker")
        if not math.isfinite(speed):
            raise WorldError(f"walker state for actor {actor_id} has a non-finite speed")
        self.place_walker(actor, tf.x, tf.y, tf.z, tf.yaw, speed)

    def place_walker(
        self, walker: Actor, x: float, y: float, feet_z: float, yaw: float, speed: float
    ) -> None:
        """``apply_walker_state`` for a known walker and finite values (the batch fast path)."""
        self.crowd.set_state(walker.slot, x, y, feet_z, yaw, speed)

    def set_walker_dead(self, actor_id: int) -> None:
        """``set_actor_dead``: a walker hit by a vehicle stops, and goes after a lifespan."""
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.WALKER:
            self.crowd.set_control(actor.slot, Vector3(1.0, 0.0, 0.0), 0.0, False)
            self.dead_walkers.setdefault(actor_id, self.elapsed + DEAD_WALKER_LIFESPAN)

    def _expired_dead_walkers(self) -> list[int]:
        due = [i for i, until in self.dead_walkers.items() if until <= self.elapsed]
        for actor_id in due:
            del self.dead_walkers[actor_id]
        return [i for i in due if i in self.actors]

    def apply_vehicle_control(
        self,
        actor_id: int,
        throttle: float,
        steer: float,
        brake: float,
        hand_brake: bool,
        reverse: bool,
        manual_gear_shift: bool,
        gear: int,
    ) -> None:
        actor = self.actor(actor_id)
        if actor.kind is not ActorKind.VEHICLE:
            raise WorldError(f"actor {actor_id} ({actor.type_id}) is not a vehicle")
        values = (throttle, steer, brake)
        if not all(math.isfinite(v) for v in values):
            raise WorldError(f"vehicle control for actor {actor_id} has a non-finite value")
        self.fleet.set_control(
            actor.slot, throttle, steer, brake, hand_brake, reverse, manual_gear_shift, gear
        )

    def apply_vehicle_controls(self, vehicles: list[Actor], controls: list[list[Any]]) -> None:
        """Set many vehicles' controls at once; rows as ``apply_vehicle_control``'s arguments."""
        if vehicles:
            self.fleet.set_controls(np.array([v.slot for v in vehicles]), np.array(controls, float))

    def apply_walker_control(
        self, actor_id: int, direction: Vector3, speed: float, jump: bool
    ) -> None:
        actor = self.actor(actor_id)
        if actor.kind is not ActorKind.WALKER:
            raise WorldError(f"actor {actor_id} ({actor.type_id}) is not a walker")
        self.crowd.set_control(actor.slot, direction, speed, jump)

    def set_vehicle_light_state(self, actor_id: int, flags: int) -> None:
        actor = self.actor(actor_id)
        if actor.kind is ActorKind.VEHICLE:
            self.vehicle_light_flags[actor_id] = int(flags) & 0xFFFFFFFF

    def vehicle_light_states(self) -> list[tuple[int, int]]:
        if self._layout is None:
            self._layout = _Layout(self)
        flags = self.vehicle_light_flags
        return [(actor.id, flags.get(actor.id, 0)) for actor in self._layout.vehicles]

    def traffic_light(self, actor_id: int) -> Light:
        light = self.lights.get(actor_id)
        if light is None or actor_id not in self.actors:
            raise WorldError(f"actor {actor_id} is not a traffic light")
        return light

    # -- time -----------------------------------------------------------------------------
    def tick(self, dt: float, wanted_sensors: Collection[int] = ()) -> TickResult:
        """Advance the world by ``dt`` seconds; return the new frame's state and measurements.

        Only the sensors among ``wanted_sensors`` (actor ids: those a client listens to)
        measure anything.
        """
        self.frame += 1
        self.elapsed += dt
        self.last_delta = dt
        if self._layout is None:
            self._layout = _Layout(self)
        layout = self._layout
        stuck = self._drive_traffic(layout, dt)
        prev_pose = self.fleet.pose.copy()
        road_map = self.road_map
        # Heights at or below each vehicle's own level, so bridges and the roads under
        # them stay apart; the fleet samples front axles then rear axles.
        z = self.fleet.pose[:, 2]
        levels = np.concatenate((z, z))
        self.fleet.step(dt, lambda xs, ys: road_map.ground_height(xs, ys, levels))
        if layout.walkers:
            self.crowd.step(dt, road_map.ground_height)
        events = self.collisions.resolve(self, layout.bodies, prev_pose)
        self.lights.step(dt)
        snapshot = layout.snapshot(self)
        for actor in layout.non_sticky:
            # sticky_control=false: a control lasts one tick (the snapshot still shows it).
            self.fleet.set_control(actor.slot, 0.0, 0.0, 0.0, False, False, False, 0)
        active = self.sensors.active(wanted_sensors) if len(self.sensors) else []
        measurements = []
        if active:
            frame = layout.sensor_frame(self, snapshot, events)
            measurements = self.sensors.measure(frame, active)
        removed = []
        if self.dead_walkers:
            stuck += self._expired_dead_walkers()
        for actor_id in stuck:  # after the tick, so this frame still shows them
            removed.extend(self.destroy(actor_id))
        return TickResult(snapshot, measurements, removed)

    # -- traffic manager ------------------------------------------------------------------
    def traffic_manager(self, port: int) -> TrafficManager:
        """The Traffic Manager of ``port``, created on first use (seeded from the world)."""
        manager = self.traffic_managers.get(port)
        if manager is None:
            manager = TrafficManager(port, seed=self.rng.getrandbits(32))
            self.traffic_managers[port] = manager
            lane_graph(self.road_map)  # built now, not inside a 2 s Traffic Manager call
        return manager

    def _drive_traffic(self, layout: _Layout, dt: float) -> list[int]:
        """Let the Traffic Managers plan; return the vehicles they found stuck."""
        managers = [m for m in self.traffic_managers.values() if m.due(dt, layout.version)]
        if not managers:
            return []
        scene = layout.traffic_scene(self)
        return [i for manager in managers for i in manager.step(scene, layout.version)]


_MOVING = (ActorKind.VEHICLE, ActorKind.WALKER)


class _Layout:
    """Row order and index arrays of the snapshot, rebuilt only when actors change."""

    _versions = itertools.count(1)

    def __init__(self, world: World) -> None:
        self.version = next(self._versions)
        actors = list(world.actors.values())
        rows = {a.id: i for i, a in enumerate(actors)}
        self.ids = np.array([a.id for a in actors], dtype=np.uint32)
        self.vehicles = [a for a in actors if a.kind is ActorKind.VEHICLE]
        self.walkers = [a for a in actors if a.kind is ActorKind.WALKER]
        self.non_sticky = [a for a in self.vehicles if not a.sticky_control]
        self.bodies = BodyShapes(self.vehicles, self.walkers)
        self.vehicle_rows = np.array([rows[a.id] for a in self.vehicles], dtype=np.int64)
        self.vehicle_slots = self.bodies.vehicle_slots
        self.walker_rows = np.array([rows[a.id] for a in self.walkers], dtype=np.int64)
        self.walker_slots = self.bodies.walker_slots
        lights = world.lights.lights
        present = [i for i, light in enumerate(lights) if light.actor_id in rows]
        self.light_index = np.array(present, dtype=np.int64)
        self.light_rows = np.array([rows[lights[i].actor_id] for i in present], dtype=np.int64)
        self.light_sign_ids = [lights[i].sign_id.encode()[:32] for i in present]
        # Actor id of every light plus a 0 sentinel for "no light" (index -1).
        self.light_actor_ids = np.array([li.actor_id for li in lights] + [0], dtype=np.uint32)
        # Attached sensors, walker controllers etc. follow their parent: recomputed each
        # tick, all at once for those on a vehicle or walker (placed first), else one by one.
        attached = [a for a in actors if a.kind not in _MOVING and a.parent_id]
        on_body = [a for a in attached if world.actors[a.parent_id].kind in _MOVING]
        self.attached_rows = np.array([rows[a.id] for a in on_body], dtype=np.int64)
        self.attached_parent_rows = np.array([rows[a.parent_id] for a in on_body], dtype=np.int64)
        self.attached_relative = np.array(
            [(r.x, r.y, r.z, r.pitch, r.yaw, r.roll) for r in (a.relative for a in on_body)],
            dtype=np.float64,
        ).reshape(-1, 6)
        self.attached = [
            (rows[a.id], a) for a in attached if world.actors[a.parent_id].kind not in _MOVING
        ]
        self.static_kinematics = np.zeros((len(actors), 15))
        for i, a in enumerate(actors):
            if a.kind not in _MOVING and not a.parent_id:
                t = a.transform
                self.static_kinematics[i, :6] = (t.x, t.y, t.z, t.pitch, t.yaw, t.roll)
        self._traffic: tuple[Any, ...] | None = None
        self.rows = rows
        self._bodies: Bodies | None = None

    def sensor_frame(
        self, world: World, snapshot: WorldSnapshot, events: list[CollisionEvent]
    ) -> SensorFrame:
        """What the sensors see this tick (body boxes cached with the layout)."""
        if self._bodies is None:
            self._bodies = _body_boxes(self.vehicles + self.walkers)
        body_rows = np.concatenate((self.vehicle_rows, self.walker_rows))
        kin = snapshot.kinematics
        bodies = Bodies(
            ids=self._bodies.ids,
            pose=kin[body_rows, 0:6],
            velocity=kin[body_rows, 6:9],
            box_center=self._bodies.box_center,
            box_extent=self._bodies.box_extent,
            semantic_tag=self._bodies.semantic_tag,
            color=self._bodies.color,
        )
        contacts = [
            Contact(e.actor.id, e.other.id if e.other is not None else 0, e.normal_impulse)
            for e in events
        ]
        return SensorFrame(
            frame=snapshot.frame,
            timestamp=snapshot.elapsed_seconds,
            delta_seconds=snapshot.delta_seconds,
            road_map=world.road_map,
            weather=world.weather,
            ids=snapshot.ids,
            kinematics=kin,
            rows=self.rows,
            bodies=bodies,
            contacts=contacts,
            scene_version=self.version,
            imu_gravity=world.imu_gravity,
        )

    def traffic_scene(self, world: World) -> TrafficScene:
        """The Traffic Manager's view of this frame (static parts cached with the layout)."""
        # A new map removes every actor, hence a new layout: caching per layout is enough.
        if self._traffic is None:
            order = sorted(self.vehicles, key=lambda a: a.id)
            bodies = {}
            for actor in order:
                box = actor.bounding_box
                params = world.fleet.params(actor.slot)  # apply_physics_control may change them
                hero = actor.attributes.get("role_name") == "hero"
                bodies[actor.id] = VehicleBody(
                    actor.slot, params, box.extent.x, box.extent.y, is_hero=hero
                )
            self._traffic = (
                bodies,
                np.array([a.id for a in order], dtype=np.int64),
                np.array([a.slot for a in order], dtype=np.int64),
                np.array([a.bounding_box.extent.x for a in order]),
                np.array([a.bounding_box.extent.y for a in order]),
            )
        bodies, ids, slots, half_length, half_width = self._traffic
        road_map, lights = world.road_map, world.lights
        grid = road_map.cell_grid
        return TrafficScene(
            graph=lane_graph(road_map),
            fleet=world.fleet,
            bodies=bodies,
            vehicle_ids=ids,
            vehicle_slots=slots,
            vehicle_half_length=half_length,
            vehicle_half_width=half_width,
            walker_xy=world.crowd.pose[self.walker_slots, :2],
            light_state=lights.state,
            lights_key=lights,
            light_rows_at=lambda xs, ys, yaws: lights.lights_facing(
                grid.clamped_index(xs, ys), yaws
            ),
            light_flags=world.vehicle_light_flags,
        )

    def snapshot(self, world: World) -> WorldSnapshot:
        fleet, crowd, lights = world.fleet, world.crowd, world.lights
        kin = self.static_kinematics.copy()
        vslots, wslots, vrows = self.vehicle_slots, self.walker_slots, self.vehicle_rows
        vpose = fleet.pose[vslots]
        if len(vslots):
            kin[vrows, 0:6] = vpose
            kin[vrows, 6:9] = fleet.velocity[vslots]
            kin[vrows, 9:12] = fleet.angular_velocity[vslots]
            kin[vrows, 12:15] = fleet.acceleration[vslots]
        if len(wslots):
            kin[self.walker_rows, 0:6] = crowd.pose[wslots]
            kin[self.walker_rows, 6:9] = crowd.velocity[wslots]
        if len(self.attached_rows):  # their parents are placed above
            kin[self.attached_rows, 0:6] = compose_rows(
                kin[self.attached_parent_rows, 0:6], self.attached_relative
            )
        for row, actor in self.attached:
            t = world.transform_of(actor)
            kin[row, 0:6] = (t.x, t.y, t.z, t.pitch, t.yaw, t.roll)
        cells = world.road_map.cell_grid.clamped_index(vpose[:, 0], vpose[:, 1])
        facing = lights.lights_facing(cells, vpose[:, 4])
        has_light = facing >= 0
        li = self.light_index
        return WorldSnapshot(
            frame=world.frame,
            elapsed_seconds=world.elapsed,
            delta_seconds=world.last_delta,
            episode_id=world.episode_id,
            layout_version=self.version,
            ids=self.ids,
            kinematics=kin,
            vehicle_rows=vrows,
            vehicle_control=fleet.control[vslots],
            vehicle_speed_limit=world.road_map.speed_limit_of_cells(cells),
            vehicle_light_state=lights.state_or_green[facing],
            vehicle_has_light=has_light,
            vehicle_light_id=self.light_actor_ids[facing],
            walker_rows=self.walker_rows,
            walker_direction=crowd.direction[wslots],
            walker_speed=crowd.speed[wslots],
            light_rows=self.light_rows,
            light_sign_ids=self.light_sign_ids,
            light_times=lights.timing[li],
            light_pole_index=lights.pole_index[li],
            light_frozen=lights.frozen[li],
            light_state=lights.state[li],
        )


def _body_boxes(actors: list[Actor]) -> Bodies:
    """The per-layout part of :class:`Bodies` (poses are filled in every tick)."""
    bodies = Bodies.empty()
    if not actors:
        return bodies
    boxes = [a.bounding_box for a in actors]
    bodies.ids = np.array([a.id for a in actors], dtype=np.uint32)
    bodies.box_center = np.array([(b.location.x, b.location.y, b.location.z) for b in boxes])
    bodies.box_extent = np.array([(b.extent.x, b.extent.y, b.extent.z) for b in boxes])
    bodies.semantic_tag = np.array([a.blueprint.semantic_tag for a in actors], dtype=np.uint8)
    bodies.color = np.array([_body_color(a) for a in actors], dtype=np.uint8)
    return bodies


def _body_color(actor: Actor) -> tuple[int, int, int]:
    raw = actor.attributes.get("color", "")
    parts = raw.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
        r, g, b = (min(255, int(p)) for p in parts)
        return r, g, b
    return DEFAULT_WALKER_COLOR if actor.kind is ActorKind.WALKER else DEFAULT_VEHICLE_COLOR


def _check_finite(tf: Transform) -> None:
    values = (tf.x, tf.y, tf.z, tf.pitch, tf.yaw, tf.roll)
    if not all(math.isfinite(v) for v in values):
        raise WorldError(f"transform has a non-finite value: {tf}")
