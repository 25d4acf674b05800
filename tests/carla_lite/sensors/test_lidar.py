"""sensor.lidar.ray_cast and sensor.lidar.ray_cast_semantic on hand-made worlds."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest

from carla_lite.maps import load_road_map
from carla_lite.maps.catalog import BUILTIN_DIR, DEFAULT_MAP
from carla_lite.protocol import measurement_codec, serializers
from carla_lite.sensors.base import SensorConfigError
from carla_lite.sensors.lidar import SEMANTIC_POINT_DTYPE, RayCastLidar, SemanticLidar
from carla_lite.sensors.measurements import LidarMeasurement, SemanticLidarMeasurement
from carla_lite.sensors.registry import create_sensor
from tests.carla_lite.sensors.raycast_frames import (
    CAR,
    ROAD,
    ROADLINE,
    Box,
    World,
    flat_map,
    spec,
)

__all__ = ["flat_map"]

SEMANTIC = "sensor.lidar.ray_cast_semantic"
LIDAR = "sensor.lidar.ray_cast"
SENSOR = 100


def measure_semantic(
    sensor: SemanticLidar, world: World, number: int = 1, dt: float = 0.05
) -> SemanticLidarMeasurement:
    assert sensor.due(dt)
    (out,) = sensor.measure(world.frame(number, dt))
    assert isinstance(out, SemanticLidarMeasurement)
    return out


def measure_lidar(sensor: RayCastLidar, world: World) -> LidarMeasurement:
    assert sensor.due(0.05)
    (out,) = sensor.measure(world.frame())
    assert isinstance(out, LidarMeasurement)
    return out


def pitch_deg(points: Any) -> np.ndarray:
    return np.degrees(np.arctan2(points["z"], np.hypot(points["x"], points["y"])))


def test_registered() -> None:
    assert isinstance(create_sensor(spec(LIDAR)), RayCastLidar)
    assert isinstance(create_sensor(spec(SEMANTIC)), SemanticLidar)


def test_box_ahead_seen_by_the_semantic_lidar(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)})
    world.boxes.append(Box(7, x=10.0))
    sensor = SemanticLidar(
        spec(SEMANTIC, SENSOR, channels=16, range=50, points_per_second=64000, upper_fov=5)
    )
    out = measure_semantic(sensor, world)
    # The first sweep (0 -> 180 degrees of rotation) casts yaws -180..0 (the left half), the
    # second one 0..180 (the right half).
    first = out.points[out.points["object_idx"] == 7]
    assert len(first) > 10 and np.all(first["y"] <= 1e-4)
    out = measure_semantic(sensor, world, 2)
    points = out.points
    assert np.all(points[points["object_idx"] == 7]["y"] >= -1e-4)
    points = np.concatenate([first, points])
    car = points[points["object_idx"] == 7]
    assert len(car) > 20
    assert set(car["object_tag"].tolist()) == {CAR}
    # The camera's car shape: the body's back at 10 - 2 m up to 0.79 m (0.21 m below the
    # sensor), the cabin's back 0.62 box units further in above it.
    body = car["z"] <= -0.2125 + 1e-3
    np.testing.assert_allclose(car["x"][body], 8.0, atol=1e-3)
    np.testing.assert_allclose(car["x"][~body], 10.0 - 0.62 * 2.0, atol=1e-3)
    assert body.sum() > 10 and (~body).sum() > 10
    assert np.all(np.abs(car["y"]) <= 1.0 + 1e-3)
    assert np.all((car["z"] >= -1.0 - 1e-3) & (car["z"] <= 0.5 + 1e-3))
    # Facing the ray, the back faces' incidence cosine is the ray's own cosine to +x.
    cos = car["x"] / np.sqrt(car["x"] ** 2 + car["y"] ** 2 + car["z"] ** 2)
    np.testing.assert_allclose(car["cos_inc_angle"], cos, atol=1e-4)
    road = points[points["object_idx"] == 0]
    assert set(road["object_tag"].tolist()) == {ROAD}
    np.testing.assert_allclose(road["z"], -1.0, atol=1e-3)
    assert int(out.points_per_channel.sum()) == len(out.points)
    assert out.points.dtype == serializers.SEMANTIC_LIDAR_DETECTION_DTYPE


def test_channels_sweep_and_counts(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0)})
    # All lasers point down, so every ray hits the road within range.
    sensor = SemanticLidar(
        spec(
            SEMANTIC,
            SENSOR,
            channels=8,
            range=100,
            points_per_second=8000,
            rotation_frequency=10,
            upper_fov=-5,
            lower_fov=-40,
        )
    )
    np.testing.assert_allclose(sensor.laser_angles, np.linspace(-5, -40, 8))
    out = measure_semantic(sensor, world)
    # 8000 points/s * 0.05 s over 8 lasers = 50 rays each, all hitting.
    assert out.points_per_channel.tolist() == [50] * 8
    pitch = pitch_deg(out.points)
    channel = np.repeat(np.arange(8), out.points_per_channel)
    np.testing.assert_allclose(pitch, sensor.laser_angles[channel], atol=1e-3)
    # The sweep covers 360 * 10 * 0.05 = 180 degrees: yaws -180 .. -3.6 (CARLA starts at
    # -horizontal_fov / 2), then the angle ends at 180 degrees.
    yaw = np.degrees(np.arctan2(out.points["y"], out.points["x"]))
    yaw = np.where(yaw > 179.0, yaw - 360.0, yaw)
    assert yaw.min() == pytest.approx(-180.0, abs=1e-3)
    assert yaw.max() == pytest.approx(-3.6, abs=1e-3)
    assert out.horizontal_angle == pytest.approx(math.pi)
    out = measure_semantic(sensor, world, 2)
    yaw = np.degrees(np.arctan2(out.points["y"], out.points["x"]))
    assert yaw.min() == pytest.approx(0.0, abs=1e-3)
    assert yaw.max() == pytest.approx(176.4, abs=1e-3)
    assert out.horizontal_angle == pytest.approx(0.0, abs=1e-6)
    # A 0.01 s tick casts 1/5 of that: 10 rays per laser over 36 degrees.
    out = measure_semantic(sensor, world, 3, dt=0.01)
    assert out.points_per_channel.tolist() == [10] * 8
    assert out.horizontal_angle == pytest.approx(math.radians(36.0))


def test_right_is_positive_y_and_the_sensor_rotation_applies(flat_map: Any) -> None:
    # The sensor faces +y (yaw 90): a car at world +y is straight ahead (sensor x), a car at
    # world -x is on the sensor's right (sensor +y, CARLA's frame is not mirrored).
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 1.0, 0.0, 90.0, 0.0)})
    world.boxes += [Box(7, x=0.0, y=10.0, yaw=90.0), Box(8, x=-10.0, y=0.0)]
    sensor = SemanticLidar(
        spec(SEMANTIC, SENSOR, channels=4, range=50, points_per_second=28800, upper_fov=0,
             lower_fov=-10, rotation_frequency=20)
    )  # fmt: skip
    out = measure_semantic(sensor, world)  # a full turn in 0.05 s
    ahead = out.points[out.points["object_idx"] == 7]
    right = out.points[out.points["object_idx"] == 8]
    # The body's end 8 m away, the cabin's 0.62 (back, car 7) or 0.38 (front, car 8) box
    # units in from the car's end.
    for along, cabin in ((ahead["x"], 8.76), (right["y"], 9.24)):
        assert along.min() == pytest.approx(8.0, abs=1e-3)
        assert np.all((np.abs(along - 8.0) < 1e-3) | (np.abs(along - cabin) < 1e-3))


def test_swapped_fov_limits_count_the_channels_upwards() -> None:
    sensor = SemanticLidar(spec(SEMANTIC, SENSOR, channels=3, upper_fov=-30, lower_fov=10))
    np.testing.assert_allclose(sensor.laser_angles, [-30.0, -10.0, 10.0])


def test_a_sensor_pitched_down_sees_the_ground_in_its_own_frame(flat_map: Any) -> None:
    # Looking straight down from 5 m, the one horizontal laser sweeps a line across the road:
    # every forward-half point is 5 m along the sensor's x, wherever it lands sideways.
    world = World(flat_map, poses={SENSOR: (3.0, 4.0, 5.0, -90.0, 30.0, 0.0)})
    sensor = SemanticLidar(
        spec(SEMANTIC, SENSOR, channels=1, upper_fov=0, lower_fov=0, range=100,
             points_per_second=7200, rotation_frequency=20)
    )  # fmt: skip
    points = measure_semantic(sensor, world).points  # a full turn of 360 rays
    assert len(points) > 100
    np.testing.assert_allclose(points["x"], 5.0, atol=1e-3)
    np.testing.assert_allclose(points["z"], 0.0, atol=1e-3)
    assert points["y"].min() < -5.0 and points["y"].max() > 5.0


def test_ray_cast_lidar_intensity_and_layout(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0)})
    sensor = RayCastLidar(
        spec(LIDAR, SENSOR, channels=8, range=100, points_per_second=8000, upper_fov=-5,
             lower_fov=-40, dropoff_general_rate=0, dropoff_intensity_limit=0,
             atmosphere_attenuation_rate=0.05)
    )  # fmt: skip
    out = measure_lidar(sensor, world)
    assert out.points.dtype == np.float32 and out.points.shape == (400, 4)
    distance = np.linalg.norm(out.points[:, :3], axis=1)
    np.testing.assert_allclose(out.points[:, 3], np.exp(-0.05 * distance), rtol=1e-5)
    np.testing.assert_allclose(out.points[:, 2], -2.0, atol=1e-3)
    assert out.points_per_channel.dtype == np.uint32
    assert out.points_per_channel.tolist() == [50] * 8


def test_dropoff_and_noise(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0)})
    base: dict[str, Any] = dict(
        channels=8, range=100, points_per_second=160000, upper_fov=-5, lower_fov=-40
    )
    dropping = RayCastLidar(spec(LIDAR, SENSOR, **base, dropoff_intensity_limit=0))
    out = measure_lidar(dropping, world)
    # 45 % of the 8000 rays are never cast.
    assert 0.50 < len(out.points) / 8000 < 0.60
    # Below the intensity limit points survive with 1 - 0.4 * (1 - i / limit): with limit 1,
    # a point of intensity i stays with probability 0.6 + 0.4 i.
    weak = RayCastLidar(
        spec(LIDAR, SENSOR, **base, dropoff_general_rate=0, dropoff_intensity_limit=1,
             atmosphere_attenuation_rate=0.5)
    )  # fmt: skip
    out = measure_lidar(weak, world)
    full = RayCastLidar(
        spec(LIDAR, SENSOR, **base, dropoff_general_rate=0, dropoff_intensity_limit=0,
             atmosphere_attenuation_rate=0.5)
    )  # fmt: skip
    every = measure_lidar(full, world)
    expected = float(np.sum(0.6 + 0.4 * every.points[:, 3]))
    assert abs(len(out.points) - expected) < 0.05 * expected
    noisy = RayCastLidar(
        spec(LIDAR, SENSOR, **base, dropoff_general_rate=0, dropoff_intensity_limit=0,
             noise_stddev=0.2)
    )  # fmt: skip
    out = measure_lidar(noisy, world)
    exact = every.points[:, :3]
    noisy_distance = np.linalg.norm(out.points[:, :3], axis=1)
    error = noisy_distance - np.linalg.norm(exact, axis=1)
    assert 0.17 < float(error.std()) < 0.23
    # Noise moves points along their ray only.
    unit = out.points[:, :3] / noisy_distance[:, None]
    np.testing.assert_allclose(unit, exact / np.linalg.norm(exact, axis=1)[:, None], atol=1e-5)


def test_same_noise_seed_same_points_after_a_respawn(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0), 101: (0, 0, 2.0)})
    attributes: dict[str, Any] = dict(
        channels=8, range=100, points_per_second=16000, upper_fov=-5, lower_fov=-40,
        noise_stddev=0.1,
    )  # fmt: skip
    runs = []
    # A respawned sensor (a new actor id) replays its points; another noise_seed does not.
    for actor_id, seed in ((SENSOR, 0), (101, 0), (SENSOR, 7)):
        sensor = RayCastLidar(spec(LIDAR, actor_id, noise_seed=seed, **attributes))
        runs.append(measure_lidar(sensor, world).points)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].shape != runs[2].shape or not np.array_equal(runs[0], runs[2])


def test_sensor_tick_sweeps_the_elapsed_time(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0)})
    sensor = SemanticLidar(
        spec(SEMANTIC, SENSOR, channels=8, range=100, points_per_second=8000, upper_fov=-5,
             lower_fov=-40, sensor_tick=0.1)
    )  # fmt: skip
    assert not sensor.due(0.05)
    out = measure_semantic(sensor, world, 2)
    assert out.points_per_channel.tolist() == [100] * 8
    assert out.horizontal_angle == pytest.approx(0.0, abs=1e-6)  # a full turn


def test_too_few_points_gives_an_empty_sweep(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0)})
    sensor = SemanticLidar(spec(SEMANTIC, SENSOR, channels=32, points_per_second=100))
    out = measure_semantic(sensor, world)
    assert len(out.points) == 0 and out.points_per_channel.tolist() == [0] * 32


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({"channels": "0"}, ["channels='0'", "integer"]),
        ({"range": "-1"}, ["range='-1'", "(0, inf]"]),
        ({"points_per_second": "lots"}, ["points_per_second='lots'", "not a number"]),
        ({"upper_fov": "95"}, ["upper_fov='95'", "[-90, 90]"]),
        ({"horizontal_fov": "400"}, ["horizontal_fov='400'", "(0, 360]"]),
        ({"dropoff_general_rate": "1.5"}, ["dropoff_general_rate='1.5'", "[0, 1]"]),
        ({"noise_stddev": "-0.1"}, ["noise_stddev='-0.1'"]),
    ],
)
def test_bad_attributes_are_named(attributes: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(SensorConfigError) as error:
        RayCastLidar(spec(LIDAR, SENSOR, **attributes))
    for word in words:
        assert word in str(error.value)
    assert LIDAR in str(error.value)


def test_measurements_encode_to_the_wire_layout(flat_map: Any) -> None:
    world = World(flat_map, poses={SENSOR: (0.0, 0.0, 2.0, 0.0, 0.0, 0.0)})
    sensor = RayCastLidar(
        spec(LIDAR, SENSOR, channels=4, range=100, points_per_second=4000, upper_fov=-5,
             lower_fov=-40, dropoff_general_rate=0, dropoff_intensity_limit=0)
    )  # fmt: skip
    out = measure_lidar(sensor, world)
    blob = measurement_codec.encode(out, lambda actor_id: None)
    body = blob[serializers.SENSOR_HEADER.size :]
    angle, channels, *counts = struct.unpack_from("<fI4I", body)
    assert angle == pytest.approx(out.horizontal_angle)
    assert channels == 4 and counts == out.points_per_channel.tolist()
    points = np.frombuffer(body[24:], np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(points, out.points)
    assert SEMANTIC_POINT_DTYPE == serializers.SEMANTIC_LIDAR_DETECTION_DTYPE


def test_builtin_map_road_and_a_car_ahead() -> None:
    road_map = load_road_map(DEFAULT_MAP, (BUILTIN_DIR / f"{DEFAULT_MAP}.xodr").read_text())
    spawn = road_map.spawn_points[0]
    ground = spawn.z - 0.5
    yaw = math.radians(spawn.yaw)
    ahead = (spawn.x + 10.0 * math.cos(yaw), spawn.y + 10.0 * math.sin(yaw))
    world = World(road_map, poses={SENSOR: (spawn.x, spawn.y, ground + 1.0, 0.0, spawn.yaw, 0.0)})
    world.boxes.append(Box(7, x=ahead[0], y=ahead[1], z=ground, yaw=spawn.yaw))
    sensor = SemanticLidar(
        spec(SEMANTIC, SENSOR, channels=32, range=30, points_per_second=320000,
             rotation_frequency=10, upper_fov=5, lower_fov=-35)
    )  # fmt: skip
    out = measure_semantic(sensor, world, dt=0.1)  # a full turn
    points = out.points
    car = points[points["object_idx"] == 7]
    assert len(car) > 50
    assert set(car["object_tag"].tolist()) == {CAR}
    assert float(car["x"].min()) == pytest.approx(8.0, abs=0.01)
    # Around the sensor, on the lane: the road (or its paint) 1 m below.
    near = points[(np.abs(points["x"]) < 4.0) & (np.abs(points["y"]) < 1.0)]
    assert len(near) > 50
    assert set(near["object_tag"].tolist()) <= {ROAD, ROADLINE}
    np.testing.assert_allclose(near["z"], -1.0, atol=0.05)
    assert set(near["object_idx"].tolist()) == {0}
