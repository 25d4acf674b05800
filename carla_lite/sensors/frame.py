"""What the world hands its sensors in one tick."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from carla_lite.geom import Transform, Vector3
from carla_lite.maps import RoadMap


@dataclass(slots=True)
class Bodies:
    """Vehicles and walkers of this frame, row by row (what cameras draw and rays hit).

    Attributes:
        ids: (K,) uint32 actor ids.
        pose: (K, 6) x y z pitch yaw roll of each actor's origin, world frame.
        velocity: (K, 3) world frame, m/s.
        box_center: (K, 3) bounding-box centre in the actor's frame.
        box_extent: (K, 3) bounding-box half sizes.
        semantic_tag: (K,) uint8 CARLA semantic tag (14 car, 12 pedestrian, ...).
        color: (K, 3) uint8 RGB (a vehicle's ``color`` attribute, else a default).
    """

    ids: np.ndarray
    pose: np.ndarray
    velocity: np.ndarray
    box_center: np.ndarray
    box_extent: np.ndarray
    semantic_tag: np.ndarray
    color: np.ndarray

    @staticmethod
    def empty() -> Bodies:
        return Bodies(
            ids=np.zeros(0, np.uint32),
            pose=np.zeros((0, 6)),
            velocity=np.zeros((0, 3)),
            box_center=np.zeros((0, 3)),
            box_extent=np.zeros((0, 3)),
            semantic_tag=np.zeros(0, np.uint8),
            color=np.zeros((0, 3), np.uint8),
        )


@dataclass(slots=True)
class Contact:
    """``actor_id`` hit ``other_id`` (0: the static world) this tick."""

    actor_id: int
    other_id: int
    normal_impulse: Vector3


@dataclass(slots=True)
class SensorFrame:
    """One tick as sensors see it.

    Attributes:
        frame, timestamp, delta_seconds: the tick (timestamp = simulation seconds).
        road_map: the loaded map (geometry, surfaces, geoReference).
        weather: ``carla.WeatherParameters`` in wire order (14 floats).
        ids, kinematics: every actor's row of the world snapshot: (N,) ids and (N, 15)
            x y z pitch yaw roll, velocity, angular velocity (deg/s), acceleration.
        rows: actor id -> row in ``ids`` / ``kinematics``.
        bodies: vehicles and walkers with their boxes.
        contacts: collisions resolved this tick.
        scene_version: changes whenever the set of bodies changes (cache key).
        imu_gravity: gravity the IMUs add to their accelerometer [m/s^2]
            (``world.set_imui_sensor_gravity``).
    """

    frame: int
    timestamp: float
    delta_seconds: float
    road_map: RoadMap
    weather: tuple[float, ...]
    ids: np.ndarray
    kinematics: np.ndarray
    rows: Mapping[int, int]
    bodies: Bodies
    contacts: list[Contact] = field(default_factory=list)
    scene_version: int = 0
    imu_gravity: float = 9.81

    def pose_row(self, actor_id: int) -> np.ndarray:
        """(6,) world pose x y z pitch yaw roll of an actor at this frame."""
        return self.kinematics[self.rows[actor_id], 0:6]

    def transform(self, actor_id: int) -> Transform:
        return Transform(*(float(v) for v in self.pose_row(actor_id)))

    def kinematics_of(self, actor_id: int) -> np.ndarray:
        """(15,) pose, velocity, angular velocity (deg/s), acceleration of an actor."""
        return self.kinematics[self.rows[actor_id]]
