"""Collision detection and response between vehicles, walkers and the static world.

Whatever lies beyond the road and the sidewalk (``SURFACE_OFFROAD``) is a static obstacle,
like the buildings, fences and poles of a CARLA town.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from carla_lite.blueprints import Blueprint
from carla_lite.geom import Transform, Vector3
from carla_lite.maps import SURFACE_OFFROAD, RoadMap
from carla_lite.physics.collision import (
    contact_normal_and_depth,
    overlapping_pairs,
    resolve_static,
    resolve_vehicle_pair,
    static_contacts,
)
from carla_lite.world.actors import Actor, ActorKind
from carla_lite.world.snapshot import CollisionEvent

if TYPE_CHECKING:
    from carla_lite.world.world import World

WALKER_MASS = 80.0
DEFAULT_VEHICLE_MASS = 1500.0
#: Box perimeter samples in units of the half extents: corners and mid-edges, so a thin
#: obstacle between two corners is still caught.
_PERIMETER = np.array(
    [(1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1)], dtype=np.float64
)


class CollisionSystem:
    """Finds contacts after each physics step, separates the bodies and reports impulses."""

    def __init__(self, road_map: RoadMap) -> None:
        self.road_map = road_map

    def is_occupied(self, world: World, blueprint: Blueprint, tf: Transform) -> bool:
        """Whether a new vehicle/walker of ``blueprint`` at ``tf`` would overlap another."""
        bodies = _Bodies(world, BodyShapes.of_world(world))
        box = blueprint.bounding_box
        if box is None or bodies.count == 0:
            return False
        yaw = math.radians(tf.yaw)
        c, s = math.cos(yaw), math.sin(yaw)
        cx = tf.x + box.location.x * c - box.location.y * s
        cy = tf.y + box.location.x * s + box.location.y * c
        z_low = tf.z + box.location.z - box.extent.z
        pairs = overlapping_pairs(
            np.append(bodies.cx, cx),
            np.append(bodies.cy, cy),
            np.append(bodies.yaw, tf.yaw),
            np.append(bodies.half_len, box.extent.x),
            np.append(bodies.half_wid, box.extent.y),
            np.append(bodies.z_low, z_low),
            np.append(bodies.z_high, z_low + 2 * box.extent.z),
        )
        newcomer = bodies.count
        return bool(np.any(pairs == newcomer))

    def resolve(
        self, world: World, shapes: BodyShapes, prev_vehicle_pose: np.ndarray
    ) -> list[CollisionEvent]:
        """Detect this tick's contacts, separate the bodies and return the events."""
        if not shapes.n_vehicles:
            return []
        bodies = _Bodies(world, shapes)
        events = self._resolve_static(world, shapes.vehicles, bodies, prev_vehicle_pose)
        if bodies.count >= 2:
            events += self._resolve_pairs(world, shapes.n_vehicles, bodies)
        return events

    def _resolve_static(
        self, world: World, vehicles: list[Actor], bodies: _Bodies, prev_pose: np.ndarray
    ) -> list[CollisionEvent]:
        """Vehicles driving onto blocked ground go back to their pre-step pose and stop."""
        nv = len(vehicles)
        # Cheap test first (most ticks touch nothing), the contact geometry only on a hit.
        c, s = bodies.cos[:nv, None], bodies.sin[:nv, None]
        lx, ly = bodies.shapes.perimeter_x, bodies.shapes.perimeter_y
        xs = lx * c - ly * s
        xs += bodies.cx[:nv, None]
        ys = lx * s + ly * c
        ys += bodies.cy[:nv, None]
        if not (self.road_map.surface(xs.ravel(), ys.ravel()) == SURFACE_OFFROAD).any():
            return []
        contacts = static_contacts(np.stack((xs, ys), axis=-1), self._blocked)
        hit = np.flatnonzero(contacts.hit)
        if len(hit) == 0:
            return []
        slots = np.array([vehicles[k].slot for k in hit])
        centre = np.stack([bodies.cx[hit], bodies.cy[hit]], axis=1)
        response = resolve_static(
            bodies.mass[hit], world.fleet.velocity[slots], centre, contacts.point[hit]
        )
        events = []
        for k, index in enumerate(hit):
            impulse = response.impulse[k]
            if not impulse.any():
                continue  # already moving away from the obstacle: let it back out
            actor = vehicles[index]
            world.fleet.set_transform(actor.slot, Transform(*map(float, prev_pose[actor.slot])))
            world.fleet.set_velocity(actor.slot, *map(float, response.velocity[k]))
            events.append(CollisionEvent(actor, None, Vector3(*map(float, impulse))))
        return events

    def _blocked(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return self.road_map.surface(xs, ys) == SURFACE_OFFROAD

    @staticmethod
    def _resolve_pairs(world: World, nv: int, bodies: _Bodies) -> list[CollisionEvent]:
        """Overlapping vehicle/vehicle and vehicle/walker pairs: impulse and separation."""
        pairs = overlapping_pairs(
            bodies.cx, bodies.cy, bodies.yaw, bodies.half_len, bodies.half_wid,
            bodies.z_low, bodies.z_high,
        )  # fmt: skip
        if len(pairs):
            pairs = pairs[(pairs[:, 0] < nv) | (pairs[:, 1] < nv)]  # walkers ignore walkers
        if len(pairs) == 0:
            return []
        i, j = pairs[:, 0], pairs[:, 1]
        normal, depth = contact_normal_and_depth(
            i, j, bodies.cx, bodies.cy, bodies.yaw, bodies.half_len, bodies.half_wid
        )
        velocity = np.array([_velocity(world, a) for a in bodies.actors])
        response = resolve_vehicle_pair(
            bodies.mass[i], bodies.mass[j], velocity[i], velocity[j], normal, depth
        )
        events = []
        for k in range(len(pairs)):
            a, b = bodies.actors[i[k]], bodies.actors[j[k]]
            _push(world, a, response.shift_i[k], response.velocity_i[k])
            _push(world, b, response.shift_j[k], response.velocity_j[k])
            impulse = Vector3(*map(float, response.impulse_i[k]))
            events.append(CollisionEvent(a, b, impulse))
            events.append(CollisionEvent(b, a, Vector3(-impulse.x, -impulse.y, -impulse.z)))
        return events


def _push(world: World, actor: Actor, shift: np.ndarray, velocity: np.ndarray) -> None:
    """Move a body by ``shift`` (x, y); vehicles also take the post-impact velocity."""
    is_vehicle = actor.kind is ActorKind.VEHICLE
    pose = (world.fleet if is_vehicle else world.crowd).pose[actor.slot]
    moved = Transform(*map(float, pose))
    moved.x += float(shift[0])
    moved.y += float(shift[1])
    if is_vehicle:
        world.fleet.set_transform(actor.slot, moved)
        world.fleet.set_velocity(actor.slot, *map(float, velocity))
    else:
        world.crowd.set_transform(actor.slot, moved)


def _velocity(world: World, actor: Actor) -> np.ndarray:
    if actor.kind is ActorKind.VEHICLE:
        return world.fleet.velocity[actor.slot]
    return world.crowd.velocity[actor.slot]


class BodyShapes:
    """Vehicles then walkers, with their box offsets, extents and masses (fixed per layout)."""

    def __init__(self, vehicles: list[Actor], walkers: list[Actor]) -> None:
        self.actors = vehicles + walkers
        self.vehicles = vehicles
        self.n_vehicles = len(vehicles)
        self.vehicle_slots = np.array([a.slot for a in vehicles], dtype=np.int64)
        self.walker_slots = np.array([a.slot for a in walkers], dtype=np.int64)
        boxes = [a.bounding_box for a in self.actors]
        self.offset = np.array([(b.location.x, b.location.y, b.location.z) for b in boxes])
        self.extent = np.array([(b.extent.x, b.extent.y, b.extent.z) for b in boxes])
        self.mass = np.array([_mass(a) for a in self.actors])
        if not self.actors:
            self.offset = self.extent = np.zeros((0, 3))
        # Vehicle box perimeter samples (corners and mid-edges) in the box frame.
        half = self.extent[: self.n_vehicles]
        self.perimeter_x = _PERIMETER[None, :, 0] * half[:, 0:1]
        self.perimeter_y = _PERIMETER[None, :, 1] * half[:, 1:2]

    @classmethod
    def of_world(cls, world: World) -> BodyShapes:
        actors = world.actors.values()
        return cls(
            [a for a in actors if a.kind is ActorKind.VEHICLE],
            [a for a in actors if a.kind is ActorKind.WALKER],
        )


class _Bodies:
    """Boxes of ``BodyShapes`` placed in the world at the current poses, as arrays."""

    def __init__(self, world: World, shapes: BodyShapes) -> None:
        self.shapes = shapes
        self.actors = shapes.actors
        self.count = len(shapes.actors)
        self.mass = shapes.mass
        pose = np.concatenate(
            (world.fleet.pose[shapes.vehicle_slots], world.crowd.pose[shapes.walker_slots])
        )
        off, ext = shapes.offset, shapes.extent
        yaw = np.radians(pose[:, 4])
        self.cos, self.sin = c, s = np.cos(yaw), np.sin(yaw)
        self.cx = pose[:, 0] + off[:, 0] * c - off[:, 1] * s
        self.cy = pose[:, 1] + off[:, 0] * s + off[:, 1] * c
        self.yaw = pose[:, 4]
        self.half_len = ext[:, 0]
        self.half_wid = ext[:, 1]
        self.z_low = pose[:, 2] + off[:, 2] - ext[:, 2]
        self.z_high = pose[:, 2] + off[:, 2] + ext[:, 2]


def _mass(actor: Actor) -> float:
    params = actor.blueprint.vehicle_params
    if actor.kind is ActorKind.VEHICLE:
        return params.mass if params else DEFAULT_VEHICLE_MASS
    return WALKER_MASS
