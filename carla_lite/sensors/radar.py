"""``sensor.other.radar`` as CARLA 0.9.16 casts it.

Each measurement casts ``int(points_per_second * dt)`` rays (``dt``: the time since the last
measurement) from the sensor towards random points of the plane ``range`` metres ahead, inside
the ellipse of half-axes ``range * tan(horizontal_fov / 2)`` and ``range * tan(vertical_fov /
2)``: radius and angle are uniform, as CARLA draws them (so rays crowd the centre). A ray
reaches that plane at most. Every hit, static world included, is a detection:

* depth: the hit distance [m];
* azimuth, altitude: the ray's direction in the sensor frame [rad] (azimuth positive to the
  right, altitude positive up);
* velocity: the hit object's velocity minus the sensor's, along the ray [m/s] (an object
  closing in is negative). The sensor moves with its parent (its velocity plus the yaw-rate
  swing of the mount); the static world stands still.

Rays come from one numpy Generator per sensor seeded with ``noise_seed`` (not the actor id,
which grows with every respawn): an episode replayed after a reset casts the same rays.
"""

from __future__ import annotations

import math

import numpy as np

from carla_lite.sensors.base import Sensor, SensorConfigError, SensorSpec
from carla_lite.sensors.checks import bounded
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import Measurement, RadarMeasurement
from carla_lite.sensors.raycast import ray_scene
from carla_lite.sensors.rotations import rotation_matrices


class Radar(Sensor):
    """``sensor.other.radar``: (N, 4) float32 velocity, azimuth, altitude, depth."""

    uses_scene = True

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.horizontal_fov = self._fov(spec, "horizontal_fov")
        self.vertical_fov = self._fov(spec, "vertical_fov")
        self.range = bounded(spec, "range", 100.0, 0.0, low_open=True)
        self.points_per_second = bounded(spec, "points_per_second", 1500, 0, integer=True)
        seed = int(bounded(spec, "noise_seed", 0, integer=True))
        self.rng = np.random.default_rng(seed & 0xFFFFFFFF)
        self._half_width = math.tan(math.radians(self.horizontal_fov / 2.0)) * self.range
        self._half_height = math.tan(math.radians(self.vertical_fov / 2.0)) * self.range

    @staticmethod
    def _fov(spec: SensorSpec, name: str) -> float:
        """A field of view in (0, 180) degrees (the cone's tangent must be finite)."""
        value = bounded(spec, name, 30.0, 0.0, 180.0, low_open=True)
        if value >= 180.0:
            raise SensorConfigError(
                f"{spec.blueprint_id}: attribute {name}={spec.attributes.get(name)!r} is out "
                "of range; valid: a number in (0, 180)"
            )
        return value

    def _own_velocity(self, frame: SensorFrame, origin: np.ndarray) -> np.ndarray:
        """World velocity of the sensor: its parent's, plus the yaw-rate swing of the mount."""
        mount = self.parent_id if self.parent_id in frame.rows else self.actor_id
        row = frame.kinematics_of(mount)
        velocity = np.array(row[6:9], np.float64)
        if mount != self.actor_id:
            yaw_rate = math.radians(float(row[11]))
            arm = origin - row[0:3]
            velocity[0] -= yaw_rate * arm[1]
            velocity[1] += yaw_rate * arm[0]
        return velocity

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        dt = self.interval(frame)
        count = int(self.points_per_second * dt)
        radius = self.rng.random(count)
        angle = self.rng.uniform(0.0, 2.0 * math.pi, count)
        end = np.empty((count, 3))
        end[:, 0] = self.range
        end[:, 1] = self._half_width * radius * np.cos(angle)
        end[:, 2] = self._half_height * radius * np.sin(angle)
        length = np.linalg.norm(end, axis=1)
        local = end / length[:, None]
        pose = frame.pose_row(self.actor_id)
        origin = np.asarray(pose[0:3], np.float64)
        world = local @ rotation_matrices(pose[3:6])[0].T
        hits = ray_scene(frame).cast(origin, world, length)
        hit = hits.hit
        target = np.zeros((int(hit.sum()), 3))
        bodies = frame.bodies
        hit_ids = hits.instance[hit]
        on_body = hit_ids != 0
        if on_body.any():
            order = np.argsort(bodies.ids)
            rows = order[np.searchsorted(bodies.ids, hit_ids[on_body], sorter=order)]
            target[on_body] = bodies.velocity[rows]
        relative = target - self._own_velocity(frame, origin)
        direction = local[hit]
        detections = np.empty((len(direction), 4), np.float32)
        detections[:, 0] = np.einsum("ij,ij->i", relative, world[hit])
        detections[:, 1] = np.arctan2(direction[:, 1], direction[:, 0])
        detections[:, 2] = np.arcsin(np.clip(direction[:, 2], -1.0, 1.0))
        detections[:, 3] = hits.distance[hit]
        return [
            RadarMeasurement(
                *self.stamp(frame),
                detections=detections,
            )
        ]
