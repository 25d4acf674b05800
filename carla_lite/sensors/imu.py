"""``sensor.other.imu``: accelerometer, gyroscope and compass, like CARLA 0.9.16's IMU.

* Accelerometer [m/s^2]: the parent's world acceleration plus gravity (the frame's
  ``imu_gravity``, 9.81 unless ``world.set_imui_sensor_gravity`` changed it, on world z, so a
  sensor at rest reads about ``(0, 0, 9.81)``), expressed in the sensor's frame, plus a
  normal error per axis (``noise_accel_stddev_{x,y,z}``).
* Gyroscope [rad/s]: the parent's angular velocity in the sensor's frame, plus
  ``noise_gyro_bias_{x,y,z}`` and a normal error (``noise_gyro_stddev_{x,y,z}``). The z axis
  is the yaw rate in CARLA's sense (positive while the yaw grows, i.e. turning right).
* Compass [rad]: the heading of the sensor's forward vector measured clockwise from CARLA's
  north, world -y, in ``[0, 2*pi)``: 0 facing -y, pi/2 facing +x, pi facing +y.

A sensor without a (moving) parent reads its own row of the frame: at rest, gravity only.
Errors come from a generator seeded with ``noise_seed``.
"""

from __future__ import annotations

import math

import numpy as np

from carla_lite.geom import Vector3
from carla_lite.sensors.base import Sensor, SensorConfigError, SensorSpec
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import ImuMeasurement, Measurement

#: CARLA's default IMU gravity [m/s^2].
GRAVITY = 9.81


def world_to_local(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """(3, 3) matrix taking a world-frame vector into the frame of a rotation (degrees).

    Rows are the rotation's forward, right and up axes in Unreal's convention, so
    ``matrix @ v`` is Unreal's ``UnrotateVector(v)``.
    """
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    return np.array(
        [
            (cp * cy, cp * sy, sp),
            (sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp),
            (-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp),
        ]
    )


def compass(pitch: float, yaw: float) -> float:
    """Heading [rad] clockwise from CARLA's north (-y), as the 0.9.16 IMU computes it."""
    del pitch  # the forward vector is flattened onto the ground plane first
    fx, fy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    dot = -fy  # north . forward, with north = (0, -1, 0)
    if dot >= 1.0:
        return 0.0
    angle = math.acos(max(-1.0, dot))
    # z of north x forward is fx: the forward vector points west of north.
    return 2.0 * math.pi - angle if fx < 0.0 else angle


class ImuSensor(Sensor):
    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.accel_stddev = self._vector(spec, "noise_accel_stddev", non_negative=True)
        self.gyro_stddev = self._vector(spec, "noise_gyro_stddev", non_negative=True)
        self.gyro_bias = self._vector(spec, "noise_gyro_bias", non_negative=False)
        self.rng = np.random.default_rng(max(0, spec.integer("noise_seed", 0)))

    @staticmethod
    def _vector(spec: SensorSpec, prefix: str, *, non_negative: bool) -> np.ndarray:
        values = np.array([spec.number(f"{prefix}_{axis}", 0.0) for axis in "xyz"])
        for axis, value in zip("xyz", values, strict=True):
            if not math.isfinite(value) or (non_negative and value < 0.0):
                wanted = "a finite number >= 0" if non_negative else "a finite number"
                raise SensorConfigError(
                    f"{spec.blueprint_id}: attribute {prefix}_{axis}={value} must be {wanted}"
                )
        return values

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        pose = frame.pose_row(self.actor_id)
        pitch, yaw, roll = (float(v) for v in pose[3:6])
        parent = self.parent_id
        motion = frame.kinematics_of(parent if parent and parent in frame.rows else self.actor_id)
        to_local = world_to_local(pitch, yaw, roll)
        accel = motion[12:15].astype(np.float64)
        accel[2] += frame.imu_gravity
        accel = to_local @ accel
        gyro = to_local @ np.radians(motion[9:12].astype(np.float64)) + self.gyro_bias
        if self.accel_stddev.any():
            accel += self.rng.normal(0.0, self.accel_stddev)
        if self.gyro_stddev.any():
            gyro += self.rng.normal(0.0, self.gyro_stddev)
        return [
            ImuMeasurement(
                *self.stamp(frame),
                accelerometer=Vector3(*(float(v) for v in accel)),
                gyroscope=Vector3(*(float(v) for v in gyro)),
                compass=compass(pitch, yaw),
            )
        ]
