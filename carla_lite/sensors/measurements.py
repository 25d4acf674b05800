"""What sensors produce: one dataclass per kind of CARLA sensor data.

Every measurement names its sensor (actor id), the frame and simulation time it belongs
to and the sensor's world transform at that frame (the 0.9.16 sensor header). Arrays are
laid out as the wire wants them, so the protocol only prepends headers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carla_lite.geom import Transform, Vector3


@dataclass(slots=True)
class Measurement:
    sensor_id: int
    frame: int
    timestamp: float
    transform: Transform


@dataclass(slots=True)
class CollisionMeasurement(Measurement):
    """The sensor's parent ``actor_id`` hit ``other_id`` (0: the static world)."""

    actor_id: int
    other_id: int
    normal_impulse: Vector3


@dataclass(slots=True)
class ImageMeasurement(Measurement):
    """A BGRA8 camera image (rgb, depth, semantic and instance segmentation, normals).

    ``camera`` is the blueprint's last part (``rgb``, ``depth``, ...), which picks the
    serializer index; ``bgra`` is ``(height, width, 4) uint8``.
    """

    camera: str
    fov: float
    bgra: np.ndarray


@dataclass(slots=True)
class FloatImageMeasurement(Measurement):
    """A float camera image: ``optical_flow`` (H, W, 2) float32.

    (CARLA's normals image is BGRA8, ``ImageTmpl<Color>``: an ``ImageMeasurement``.)
    """

    camera: str
    fov: float
    pixels: np.ndarray


@dataclass(slots=True)
class DvsMeasurement(Measurement):
    """DVS events: a structured array with fields x (u16), y (u16), t (i64), pol (bool)."""

    width: int
    height: int
    fov: float
    events: np.ndarray


@dataclass(slots=True)
class LidarMeasurement(Measurement):
    """``sensor.lidar.ray_cast``: points (N, 4) float32 x y z intensity, sensor frame.

    ``points_per_channel`` (channels,) uint32 counts the points of each laser in
    ``points`` order; ``horizontal_angle`` is where this frame's partial sweep ended [rad].
    """

    horizontal_angle: float
    points_per_channel: np.ndarray
    points: np.ndarray


@dataclass(slots=True)
class SemanticLidarMeasurement(Measurement):
    """``sensor.lidar.ray_cast_semantic``: a structured array with fields x y z (f32),
    cos_inc_angle (f32), object_idx (u32), object_tag (u32)."""

    horizontal_angle: float
    points_per_channel: np.ndarray
    points: np.ndarray


@dataclass(slots=True)
class RadarMeasurement(Measurement):
    """Detections (N, 4) float32: velocity [m/s], azimuth [rad], altitude [rad], depth [m]."""

    detections: np.ndarray


@dataclass(slots=True)
class GnssMeasurement(Measurement):
    latitude: float
    longitude: float
    altitude: float


@dataclass(slots=True)
class ImuMeasurement(Measurement):
    """Accelerometer [m/s^2] and gyroscope [rad/s] in the sensor frame; compass [rad]."""

    accelerometer: Vector3
    gyroscope: Vector3
    compass: float


@dataclass(slots=True)
class ObstacleMeasurement(Measurement):
    """``actor_id`` sees ``other_id`` (0: the static world) at ``distance`` metres.

    As in CARLA 0.9.16, ``actor_id`` is the obstacle sensor itself (not its parent).
    """

    actor_id: int
    other_id: int
    distance: float
