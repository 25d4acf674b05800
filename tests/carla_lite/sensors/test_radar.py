"""sensor.other.radar on hand-made worlds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from carla_lite.maps import load_road_map
from carla_lite.maps.catalog import BUILTIN_DIR, DEFAULT_MAP
from carla_lite.protocol import measurement_codec, serializers
from carla_lite.sensors.base import SensorConfigError
from carla_lite.sensors.measurements import RadarMeasurement
from carla_lite.sensors.radar import Radar
from carla_lite.sensors.registry import create_sensor
from tests.carla_lite.sensors.raycast_frames import Box, World, flat_map, spec

__all__ = ["flat_map"]

RADAR = "sensor.other.radar"
SENSOR = 100
CAR_ID = 7
EGO = 5
TALL = (2.0, 1.0, 2.0)  # the body (below 0.05 box units over the centre) reaches 2.1 m


def detect(sensor: Radar, world: World, number: int = 1, dt: float = 0.05) -> np.ndarray:
    assert sensor.due(dt)
    (out,) = sensor.measure(world.frame(number, dt))
    assert isinstance(out, RadarMeasurement)
    assert out.detections.dtype == np.float32 and out.detections.shape[1] == 4
    return out.detections


def test_registered() -> None:
    assert isinstance(create_sensor(spec(RADAR)), Radar)


def test_box_ahead_depth_azimuth_altitude(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 0.75, 0.0, 0.0, 0.0)})
    world.boxes.append(Box(CAR_ID, x=20.0, extent=TALL))
    # A narrow cone straight at the back of a tall car (x = 18): every ray hits its body.
    sensor = Radar(
        spec(RADAR, SENSOR, horizontal_fov=4, vertical_fov=4, range=50, points_per_second=2000)
    )
    detections = detect(sensor, world)
    assert len(detections) == 100  # 2000 points/s * 0.05 s
    velocity, azimuth, altitude, depth = detections.T
    # Depth along the ray: 18 m over the cosine of the ray's angle to +x.
    np.testing.assert_allclose(depth * np.cos(azimuth) * np.cos(altitude), 18.0, atol=1e-3)
    assert np.all(np.abs(azimuth) <= math.radians(2.0) + 1e-6)
    assert np.all(np.abs(altitude) <= math.radians(2.0) + 1e-6)
    assert abs(float(np.median(azimuth))) < math.radians(0.5)
    np.testing.assert_allclose(velocity, 0.0, atol=1e-6)


def test_azimuth_positive_to_the_right_and_altitude_up(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 5.0, 0.0, 0.0, 0.0)})
    world.boxes.append(Box(CAR_ID, x=20.0, y=8.0, extent=(1.0, 1.0, 10.0)))
    sensor = Radar(
        spec(RADAR, SENSOR, horizontal_fov=90, vertical_fov=10, range=50, points_per_second=40000)
    )
    detections = detect(sensor, world)
    _, azimuth, altitude, depth = detections.T
    on_car = depth < 25.0  # the ground is further than 28 m at these altitudes
    assert on_car.sum() > 10
    assert np.all(azimuth[on_car] > 0.0)
    # Rays that hit the ground point down.
    assert np.all(altitude[~on_car] < 0.0)


def test_velocity_is_negative_for_an_approaching_car(flat_map: Any) -> None:
    world = World(
        flat_map,
        poses={EGO: (0.0, 0.0, 0.0, 0.0, 0.0, 0.0), SENSOR: (2.5, 0.0, 0.75, 0.0, 0.0, 0.0)},
        velocities={EGO: (10.0, 0.0, 0.0), SENSOR: (10.0, 0.0, 0.0)},
    )
    # Ego's own box holds the sensor's mount; the car ahead comes towards us at 5 m/s.
    world.boxes += [
        Box(EGO, x=0.0, velocity=(10.0, 0.0, 0.0)),
        Box(CAR_ID, x=20.0, extent=TALL, velocity=(-5.0, 0.0, 0.0)),
    ]
    sensor = Radar(
        spec(RADAR, SENSOR, parent_id=EGO, horizontal_fov=4, vertical_fov=4, range=50,
             points_per_second=2000)
    )  # fmt: skip
    velocity, azimuth, altitude, depth = detect(sensor, world).T
    assert len(velocity) == 100
    # Closing at 15 m/s, seen along each ray.
    np.testing.assert_allclose(velocity, -15.0 * np.cos(azimuth) * np.cos(altitude), rtol=1e-4)
    np.testing.assert_allclose(depth * np.cos(azimuth) * np.cos(altitude), 15.5, atol=1e-3)
    # A car driving away faster than us opens the gap: positive.
    world.velocities[CAR_ID] = (14.0, 0.0, 0.0)
    world.boxes[1].velocity = (14.0, 0.0, 0.0)
    velocity, *_ = detect(sensor, world, 2).T
    assert np.all(velocity > 3.9)


def test_turning_parent_swings_the_mount(flat_map: Any) -> None:
    # Parent spins at 90 deg/s around its origin; the radar 2 m ahead moves sideways at pi m/s.
    world = World(
        flat_map,
        poses={EGO: (0.0, 0.0, 0.0), SENSOR: (2.0, 0.0, 0.75, 0.0, 90.0, 0.0)},
        spins={EGO: (0.0, 0.0, 90.0)},
    )
    world.boxes.append(Box(CAR_ID, x=2.0, y=20.0))
    sensor = Radar(
        spec(RADAR, SENSOR, parent_id=EGO, horizontal_fov=2, vertical_fov=2, range=50,
             points_per_second=2000)
    )  # fmt: skip
    velocity, azimuth, altitude, _ = detect(sensor, world).T
    np.testing.assert_allclose(velocity, -math.pi * np.cos(azimuth) * np.cos(altitude), rtol=1e-3)


def test_points_per_tick_and_reproducibility(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)})
    world.boxes.append(Box(CAR_ID, x=30.0))
    runs = []
    for _ in range(2):
        sensor = Radar(spec(RADAR, SENSOR, points_per_second=1500))
        runs.append(detect(sensor, world, dt=0.1))
    np.testing.assert_array_equal(runs[0], runs[1])
    respawned = World(
        flat_map, poses={101: (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)}, boxes=[Box(CAR_ID, x=30.0)]
    )
    again = detect(Radar(spec(RADAR, 101, points_per_second=1500)), respawned, dt=0.1)
    np.testing.assert_array_equal(runs[0], again)  # a new actor id, the same noise_seed
    other = detect(Radar(spec(RADAR, SENSOR, points_per_second=1500, noise_seed=7)), world, dt=0.1)
    assert not np.array_equal(runs[0], other)
    # Of the 150 rays of a 0.1 s tick, those pointing up and missing the car find nothing.
    _, azimuth, altitude, depth = runs[0].T
    assert 0 < len(runs[0]) < 150
    assert np.all((altitude < 0.0) | (depth * np.cos(azimuth) * np.cos(altitude) < 28.77))


def test_encodes_to_the_wire_layout(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)})
    sensor = Radar(spec(RADAR, SENSOR))
    assert sensor.due(0.05)
    (out,) = sensor.measure(world.frame())
    blob = measurement_codec.encode(out, lambda actor_id: None)
    body = blob[serializers.SENSOR_HEADER.size :]
    records = np.frombuffer(body, serializers.RADAR_DETECTION_DTYPE)
    assert isinstance(out, RadarMeasurement)
    np.testing.assert_array_equal(records["depth"], out.detections[:, 3])
    np.testing.assert_array_equal(records["velocity"], out.detections[:, 0])


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({"horizontal_fov": "180"}, ["horizontal_fov='180'", "(0, 180)"]),
        ({"vertical_fov": "0"}, ["vertical_fov='0'"]),
        ({"range": "0"}, ["range='0'"]),
        ({"points_per_second": "-5"}, ["points_per_second='-5'"]),
    ],
)
def test_bad_attributes_are_named(attributes: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(SensorConfigError) as error:
        Radar(spec(RADAR, SENSOR, **attributes))
    for word in words:
        assert word in str(error.value)


def test_builtin_map_car_ahead_and_the_road_rushing_by() -> None:
    road_map = load_road_map(DEFAULT_MAP, (BUILTIN_DIR / f"{DEFAULT_MAP}.xodr").read_text())
    spawn = road_map.spawn_points[0]
    ground = spawn.z - 0.5
    yaw = math.radians(spawn.yaw)
    forward = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    ego_velocity = (10.0 * forward[0], 10.0 * forward[1], 0.0)
    mount = np.array([spawn.x, spawn.y, ground]) + 2.5 * forward
    world = World(
        road_map,
        poses={
            EGO: (spawn.x, spawn.y, ground, 0.0, spawn.yaw, 0.0),
            SENSOR: (*mount[:2], ground + 0.7, 0.0, spawn.yaw, 0.0),
        },
        velocities={EGO: ego_velocity},
    )
    ahead = np.array([spawn.x, spawn.y]) + 25.0 * forward[:2]
    world.boxes += [
        Box(EGO, x=spawn.x, y=spawn.y, z=ground, yaw=spawn.yaw, velocity=ego_velocity),
        Box(CAR_ID, x=ahead[0], y=ahead[1], z=ground, yaw=spawn.yaw, extent=TALL,
            velocity=ego_velocity),
    ]  # fmt: skip
    sensor = Radar(spec(RADAR, SENSOR, parent_id=EGO, points_per_second=20000))
    velocity, azimuth, altitude, depth = detect(sensor, world).T
    along = depth * np.cos(azimuth) * np.cos(altitude)
    car = np.abs(along - 20.5) < 0.01  # the tall car's back, 25 - 2 - 2.5 m ahead
    assert car.sum() > 50
    np.testing.assert_allclose(velocity[car], 0.0, atol=1e-4)  # same speed: no closing
    road = ~car & (altitude < 0.0)
    assert road.sum() > 50
    # The road closes in at the ego's speed along each ray.
    speed_along = -10.0 * np.cos(azimuth[road]) * np.cos(altitude[road])
    np.testing.assert_allclose(velocity[road], speed_along, atol=1e-3)
