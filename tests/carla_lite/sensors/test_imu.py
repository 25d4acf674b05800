"""IMU: gravity at rest, acceleration and yaw rate in the sensor frame, compass, noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carla_lite.sensors.base import SensorConfigError, SensorSpec
from carla_lite.sensors.imu import GRAVITY, ImuSensor, compass, world_to_local
from carla_lite.sensors.measurements import ImuMeasurement
from carla_lite.sensors.registry import create_sensor
from tests.carla_lite.sensors.motion_frames import kinematics_row, make_frame

CAR, IMU = 3, 9


def _spec(**attributes: str) -> SensorSpec:
    return SensorSpec(IMU, "sensor.other.imu", attributes, parent_id=CAR)


def _measure(
    sensor: ImuSensor, car_row: list[float], imu_pose: tuple[float, ...]
) -> ImuMeasurement:
    (m,) = sensor.measure(make_frame({CAR: car_row, IMU: kinematics_row(imu_pose)}))
    assert isinstance(m, ImuMeasurement)
    return m


def _vec(v: object) -> tuple[float, float, float]:
    return (v.x, v.y, v.z)  # type: ignore[attr-defined]


def test_at_rest_the_accelerometer_reads_gravity_up() -> None:
    sensor = create_sensor(_spec())
    assert isinstance(sensor, ImuSensor)
    m = _measure(sensor, kinematics_row(), (0.0, 0.0, 1.0, 0.0, 0.0, 0.0))
    assert _vec(m.accelerometer) == pytest.approx((0.0, 0.0, GRAVITY))
    assert _vec(m.gyroscope) == (0.0, 0.0, 0.0)
    # Unparented, with no motion row of its own beyond a pose: gravity too.
    (alone,) = ImuSensor(SensorSpec(IMU, "sensor.other.imu", {})).measure(
        make_frame({IMU: kinematics_row()})
    )
    assert _vec(alone.accelerometer) == pytest.approx((0.0, 0.0, GRAVITY))  # type: ignore[attr-defined]


def test_acceleration_and_yaw_rate_are_in_the_sensor_frame() -> None:
    sensor = ImuSensor(_spec())
    # The car faces +y (yaw 90) and speeds up along it at 2 m/s^2 while turning right.
    car = kinematics_row(
        (0.0, 0.0, 0.0, 0.0, 90.0, 0.0), angular_velocity=(0.0, 0.0, 30.0), acceleration=(0, 2, 0)
    )
    m = _measure(sensor, car, (0.0, 0.0, 1.5, 0.0, 90.0, 0.0))
    assert _vec(m.accelerometer) == pytest.approx((2.0, 0.0, GRAVITY), abs=1e-9)
    assert _vec(m.gyroscope) == pytest.approx((0.0, 0.0, math.radians(30.0)), abs=1e-12)
    # A sensor mounted facing backwards sees the push as negative x.
    back = _measure(sensor, car, (0.0, 0.0, 1.5, 0.0, -90.0, 0.0))
    assert back.accelerometer.x == pytest.approx(-2.0)
    # Nose up 90 degrees: gravity lies along the sensor's forward axis.
    up = _measure(sensor, kinematics_row(), (0.0, 0.0, 0.0, 90.0, 0.0, 0.0))
    assert _vec(up.accelerometer) == pytest.approx((GRAVITY, 0.0, 0.0), abs=1e-9)


def test_world_to_local_is_a_rotation() -> None:
    m = world_to_local(10.0, 35.0, -20.0)
    assert m @ m.T == pytest.approx(np.eye(3))
    assert np.linalg.det(m) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("yaw", "expected"),
    [
        (-90.0, 0.0),
        (0.0, math.pi / 2),
        (90.0, math.pi),
        (180.0, 3 * math.pi / 2),
        (-135.0, 7 * math.pi / 4),
    ],
)
def test_compass_is_clockwise_from_minus_y(yaw: float, expected: float) -> None:
    assert compass(0.0, yaw) == pytest.approx(expected, abs=1e-6)
    m = _measure(ImuSensor(_spec()), kinematics_row(), (0.0, 0.0, 0.0, 0.0, yaw, 0.0))
    assert m.compass == pytest.approx(expected, abs=1e-6)
    assert 0.0 <= m.compass < 2 * math.pi


def test_gyro_bias_and_seeded_noise() -> None:
    biased = ImuSensor(_spec(noise_gyro_bias_z="0.1", noise_gyro_bias_x="-0.2"))
    m = _measure(biased, kinematics_row(), (0.0,) * 6)
    assert _vec(m.gyroscope) == pytest.approx((-0.2, 0.0, 0.1))

    def readings(seed: str) -> np.ndarray:
        sensor = ImuSensor(
            _spec(noise_accel_stddev_x="0.5", noise_gyro_stddev_y="0.05", noise_seed=seed)
        )
        out = []
        for _ in range(300):
            r = _measure(sensor, kinematics_row(), (0.0,) * 6)
            out.append((*_vec(r.accelerometer), *_vec(r.gyroscope)))
        return np.array(out)

    a, b, c = readings("1"), readings("1"), readings("2")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a[:, 0].std() == pytest.approx(0.5, rel=0.2)
    assert a[:, 4].std() == pytest.approx(0.05, rel=0.2)
    assert a[:, 1].std() == 0.0 and a[:, 2].std() == 0.0  # no noise asked on y, z
    assert a[:, 2].mean() == pytest.approx(GRAVITY)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("noise_accel_stddev_y", "-0.1"),
        ("noise_gyro_stddev_z", "inf"),
        ("noise_gyro_bias_x", "nan"),
        ("noise_seed", "x"),
    ],
)
def test_bad_noise_attributes_are_refused(attribute: str, value: str) -> None:
    with pytest.raises(SensorConfigError, match=attribute):
        ImuSensor(_spec(**{attribute: value}))


def test_the_world_gravity_setting_reaches_the_accelerometer() -> None:
    frame = make_frame({CAR: kinematics_row(), IMU: kinematics_row()}, imu_gravity=1.62)
    (m,) = ImuSensor(_spec()).measure(frame)
    assert isinstance(m, ImuMeasurement)
    assert _vec(m.accelerometer) == pytest.approx((0.0, 0.0, 1.62))
