"""``sensor.lidar.ray_cast`` and ``sensor.lidar.ray_cast_semantic`` as CARLA 0.9.16 casts them.

Each measurement is the partial sweep of the time since the last one (``dt``):
``round(points_per_second * dt / channels)`` rays per laser, the horizontal angle advancing
by ``rotation_frequency * horizontal_fov * dt`` degrees. Laser ``i`` points at
``upper_fov - i * (upper_fov - lower_fov) / (channels - 1)`` degrees of pitch; a ray's yaw is
``fmod(start + step * j, horizontal_fov) - horizontal_fov / 2`` (so with 360 degrees the sweep
starts behind the sensor). Points are in the sensor's frame (x forward, y right, z up, like
CARLA's, which does not flip y), grouped by laser; the measurement's ``horizontal_angle`` is
where the sweep ended [rad].

The ray-cast lidar adds CARLA's intensity ``exp(-atmosphere_attenuation_rate * distance)``,
its random drop-off (``dropoff_general_rate`` of the rays never cast; below
``dropoff_intensity_limit`` a point survives with probability
``1 - dropoff_zero_intensity * (1 - intensity / dropoff_intensity_limit)``) and Gaussian noise
along the ray (``noise_stddev``). The semantic lidar keeps every hit and reports the cosine of
the incidence angle, the hit actor's id (0: the static world) and its semantic tag.

Random numbers come from one numpy Generator per sensor seeded with ``noise_seed`` (not the
actor id, which grows with every respawn): an episode replayed after a reset gives the same
points.
"""

from __future__ import annotations

import math

import numpy as np

from carla_lite.sensors.base import Sensor, SensorSpec
from carla_lite.sensors.checks import bounded
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import (
    LidarMeasurement,
    Measurement,
    SemanticLidarMeasurement,
)
from carla_lite.sensors.raycast import Hits, ray_scene
from carla_lite.sensors.rotations import rotation_matrices

#: ``carla::sensor::data::SemanticLidarDetection`` (24 B), the semantic lidar's point record.
SEMANTIC_POINT_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("cos_inc_angle", "<f4"),
        ("object_idx", "<u4"),
        ("object_tag", "<u4"),
    ]
)

_EPS = float(np.finfo(np.float32).eps)


def _round_half_away(value: float) -> int:
    """``FMath::RoundHalfFromZero``."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


class _RayCastLidar(Sensor):
    """What both lidars share: attributes, lasers, the sweep and the cast."""

    uses_scene = True

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.channels = int(bounded(spec, "channels", 32, 1, 1024, integer=True))
        self.range = bounded(spec, "range", 10.0, 0.0, low_open=True)
        self.points_per_second = bounded(spec, "points_per_second", 56000, 0, integer=True)
        self.rotation_frequency = bounded(spec, "rotation_frequency", 10.0, 0.0)
        self.upper_fov = bounded(spec, "upper_fov", 10.0, -90.0, 90.0)
        self.lower_fov = bounded(spec, "lower_fov", -30.0, -90.0, 90.0)
        self.horizontal_fov = bounded(spec, "horizontal_fov", 360.0, 0.0, 360.0, low_open=True)
        seed = int(bounded(spec, "noise_seed", 0, integer=True))
        self.rng = np.random.default_rng(seed & 0xFFFFFFFF)
        step = (
            0.0 if self.channels == 1 else (self.upper_fov - self.lower_fov) / (self.channels - 1)
        )
        #: Pitch of each laser [deg], channel 0 at upper_fov (CARLA takes the two the other way
        #: round too: the channels then count upwards).
        self.laser_angles = self.upper_fov - step * np.arange(self.channels)
        vertical = np.radians(self.laser_angles)
        self._cos_v = np.cos(vertical)[:, None]
        self._sin_v = np.sin(vertical)[:, None]
        self._angle_deg = 0.0

    def _sweep(self, frame: SensorFrame) -> tuple[np.ndarray, np.ndarray, Hits]:
        """Cast this measurement's rays.

        Returns:
            The laser of each cast ray (R,), the rays' unit directions in the sensor frame
            (R, 3) and what they hit.
        """
        dt = self.interval(frame)
        per_laser = _round_half_away(self.points_per_second * dt / self.channels)
        start = self._angle_deg
        tick_angle = self.rotation_frequency * self.horizontal_fov * dt
        self._angle_deg = math.fmod(start + tick_angle, self.horizontal_fov)
        if per_laser <= 0:
            empty = np.zeros(0, np.int64)
            return empty, np.zeros((0, 3)), Hits.none(0)
        step = tick_angle / per_laser
        yaw = np.fmod(start + step * np.arange(per_laser), self.horizontal_fov)
        yaw = np.radians(yaw - self.horizontal_fov / 2.0)
        local = np.empty((self.channels, per_laser, 3))
        local[:, :, 0] = self._cos_v * np.cos(yaw)[None, :]
        local[:, :, 1] = self._cos_v * np.sin(yaw)[None, :]
        local[:, :, 2] = self._sin_v
        cast = self._cast_mask(self.channels, per_laser).ravel()
        local = local.reshape(-1, 3)[cast]
        channel = np.repeat(np.arange(self.channels), per_laser)[cast]
        pose = frame.pose_row(self.actor_id)
        rotation = rotation_matrices(pose[3:6])[0]
        origin = np.asarray(pose[0:3], np.float64)
        scene = ray_scene(frame)
        hits = scene.cast(origin, local @ rotation.T, self.range)
        return channel, local, hits

    def _cast_mask(self, channels: int, per_laser: int) -> np.ndarray:
        """(channels, per_laser) bool: the rays cast (all, unless dropped before casting)."""
        return np.ones((channels, per_laser), bool)

    @property
    def horizontal_angle(self) -> float:
        """Where the last sweep ended [rad]."""
        return math.radians(self._angle_deg)


class RayCastLidar(_RayCastLidar):
    """``sensor.lidar.ray_cast``: (N, 4) float32 x, y, z, intensity per measurement."""

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.atmosphere_attenuation_rate = bounded(spec, "atmosphere_attenuation_rate", 0.004, 0.0)
        self.dropoff_general_rate = bounded(spec, "dropoff_general_rate", 0.45, 0.0, 1.0)
        self.dropoff_intensity_limit = bounded(spec, "dropoff_intensity_limit", 0.8, 0.0)
        self.dropoff_zero_intensity = bounded(spec, "dropoff_zero_intensity", 0.4, 0.0, 1.0)
        self.noise_stddev = bounded(spec, "noise_stddev", 0.0, 0.0)
        self._dropoff_beta = 1.0 - self.dropoff_zero_intensity
        limit = self.dropoff_intensity_limit
        self._dropoff_alpha = self.dropoff_zero_intensity / limit if limit > 0.0 else 0.0

    def _cast_mask(self, channels: int, per_laser: int) -> np.ndarray:
        if self.dropoff_general_rate <= _EPS:
            return super()._cast_mask(channels, per_laser)
        return self.rng.random((channels, per_laser)) >= self.dropoff_general_rate

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        channel, local, hits = self._sweep(frame)
        hit = hits.hit
        distance = hits.distance[hit].astype(np.float64)
        channel = channel[hit]
        direction = local[hit]
        intensity = np.exp(-self.atmosphere_attenuation_rate * distance)
        if self.noise_stddev > _EPS:
            distance = distance + self.rng.normal(0.0, self.noise_stddev, len(distance))
        keep = intensity > self.dropoff_intensity_limit
        weak = ~keep
        if weak.any():
            chance = self._dropoff_alpha * intensity[weak] + self._dropoff_beta
            keep[weak] = self.rng.random(int(weak.sum())) < chance
        points = np.empty((int(keep.sum()), 4), np.float32)
        points[:, 0:3] = direction[keep] * distance[keep, None]
        points[:, 3] = intensity[keep]
        counts = np.bincount(channel[keep], minlength=self.channels).astype(np.uint32)
        return [
            LidarMeasurement(
                *self.stamp(frame),
                horizontal_angle=self.horizontal_angle,
                points_per_channel=counts,
                points=points,
            )
        ]


class SemanticLidar(_RayCastLidar):
    """``sensor.lidar.ray_cast_semantic``: :data:`SEMANTIC_POINT_DTYPE` records."""

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        channel, local, hits = self._sweep(frame)
        hit = hits.hit
        distance = hits.distance[hit]
        points = np.empty(int(hit.sum()), SEMANTIC_POINT_DTYPE)
        xyz = local[hit] * distance[:, None]
        points["x"] = xyz[:, 0]
        points["y"] = xyz[:, 1]
        points["z"] = xyz[:, 2]
        points["cos_inc_angle"] = hits.cos_incidence[hit]
        points["object_idx"] = hits.instance[hit]
        points["object_tag"] = hits.tag[hit]
        counts = np.bincount(channel[hit], minlength=self.channels).astype(np.uint32)
        return [
            SemanticLidarMeasurement(
                *self.stamp(frame),
                horizontal_angle=self.horizontal_angle,
                points_per_channel=counts,
                points=points,
            )
        ]
