"""sensor.other.obstacle on hand-made worlds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from carla_lite.sensors import raycast
from carla_lite.sensors.base import SensorConfigError
from carla_lite.sensors.measurements import ObstacleMeasurement
from carla_lite.sensors.obstacle import ObstacleDetector, sweep_boxes
from carla_lite.sensors.raycast import BodyBoxes
from carla_lite.sensors.registry import create_sensor
from tests.carla_lite.sensors.raycast_frames import (
    PEDESTRIAN,
    Box,
    StandInMap,
    World,
    bodies,
    flat_map,
    ground,
    quads_mesh,
    spec,
    wall,
)

__all__ = ["flat_map"]

OBSTACLE = "sensor.other.obstacle"
SENSOR = 100
EGO = 5


def detect(sensor: ObstacleDetector, world: World) -> list[ObstacleMeasurement]:
    assert sensor.due(0.05)
    out = sensor.measure(world.frame())
    assert all(isinstance(m, ObstacleMeasurement) for m in out)
    return [m for m in out if isinstance(m, ObstacleMeasurement)]


def ego_world(road_map: Any, *boxes: Box) -> World:
    """Ego at the origin, the detector on its bumper 1 m up, facing +x."""
    world = World(
        road_map,
        poses={EGO: (0.0, 0.0, 0.0), SENSOR: (2.2, 0.0, 1.0, 0.0, 0.0, 0.0)},
        boxes=[Box(EGO, x=0.0), *boxes],
    )
    return world


def test_registered() -> None:
    assert isinstance(create_sensor(spec(OBSTACLE)), ObstacleDetector)


def test_car_ahead_distance_and_ids(flat_map: Any) -> None:
    world = ego_world(flat_map, Box(7, x=12.2))  # back face at x = 10.2, 8 m from the sensor
    sensor = ObstacleDetector(
        spec(OBSTACLE, SENSOR, parent_id=EGO, distance=20, hit_radius=0.5, only_dynamics=True)
    )
    (event,) = detect(sensor, world)
    assert event.actor_id == SENSOR  # CARLA's event names the sensor itself
    assert event.other_id == 7
    assert event.distance == pytest.approx(7.5, abs=1e-4)  # the sphere's centre stops 0.5 short
    # Out of reach: nothing.
    short = ObstacleDetector(
        spec(OBSTACLE, SENSOR, parent_id=EGO, distance=7, hit_radius=0.5, only_dynamics=True)
    )
    assert detect(short, world) == []


def test_sphere_touches_beside_the_line(flat_map: Any) -> None:
    # A walker 1.2 m to the side: the centre line misses it, a 1 m sphere grazes its edge.
    walker = Box(8, x=10.0, y=1.2 + 0.3, extent=(0.3, 0.3, 0.9), tag=PEDESTRIAN)
    world = ego_world(flat_map, walker)
    thin = ObstacleDetector(
        spec(OBSTACLE, SENSOR, parent_id=EGO, distance=20, hit_radius=0.1, only_dynamics=True)
    )
    assert detect(thin, world) == []
    wide = ObstacleDetector(
        spec(OBSTACLE, SENSOR, parent_id=EGO, distance=20, hit_radius=1.5, only_dynamics=True)
    )
    (event,) = detect(wide, world)
    assert event.other_id == 8
    # The sphere of radius 1.5 first touches the edge at y = 1.2, 0.3 m off the line: the
    # centre is sqrt(1.5^2 - 1.2^2) = 0.9 m short of the walker's face at x = 9.7.
    assert event.distance == pytest.approx(9.7 - 0.9 - 2.2, abs=1e-3)


def test_corner_contact_is_rounded() -> None:
    # A unit cube at x = 10 seen 1.2 m off its corner in y and z: the sphere of radius 0.5
    # misses (distance to the corner edge line sqrt(2) * 0.2 ... > 0) unless it reaches it.
    cube = BodyBoxes(bodies(Box(9, x=10.0, extent=(1.0, 1.0, 1.0), center=(0.0, 0.0, 0.0))))
    keep = np.ones(1, bool)
    start = np.array([0.0, 1.3, 1.3])
    distance, other = sweep_boxes(start, np.array([1.0, 0.0, 0.0]), 20.0, 0.5, cube, keep)
    # The edge (y = z = 1) is 0.3 * sqrt(2) = 0.42 m off the line: touched when the centre
    # is sqrt(0.25 - 0.18) = 0.26 m before the face at x = 9.
    assert other == 9
    assert distance == pytest.approx(9.0 - math.sqrt(0.25 - 0.18), abs=1e-4)
    far = np.array([0.0, 1.4, 1.4])  # 0.57 m off: a grown box would hit, the sphere does not
    assert sweep_boxes(far, np.array([1.0, 0.0, 0.0]), 20.0, 0.5, cube, keep) == (math.inf, 0)


def test_parent_is_ignored_and_overlap_is_zero(flat_map: Any) -> None:
    world = ego_world(flat_map, Box(7, x=3.0))  # overlapping the sensor
    sensor = ObstacleDetector(spec(OBSTACLE, SENSOR, parent_id=EGO, only_dynamics=True))
    (event,) = detect(sensor, world)
    assert event.other_id == 7 and event.distance == 0.0
    alone = ego_world(flat_map)
    assert detect(sensor, alone) == []


def test_static_world_unless_only_dynamics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raycast, "static_mesh_source", lambda m: m.mesh)
    road_map: Any = StandInMap(quads_mesh([ground(), wall(8.2)]))
    world = ego_world(road_map)
    everything = ObstacleDetector(spec(OBSTACLE, SENSOR, parent_id=EGO, distance=10))
    (event,) = detect(everything, world)
    assert event.other_id == 0
    assert event.distance == pytest.approx(5.5, abs=1e-4)  # wall 6 m ahead, radius 0.5
    dynamic = ObstacleDetector(
        spec(OBSTACLE, SENSOR, parent_id=EGO, distance=10, only_dynamics=True)
    )
    assert detect(dynamic, world) == []
    # A car in front of the wall wins.
    (event,) = detect(everything, ego_world(road_map, Box(7, x=7.0)))
    assert event.other_id == 7
    assert event.distance == pytest.approx(2.3, abs=1e-4)
    # Mounted low, the sphere starts on the road: the static world at distance 0.
    world.poses[SENSOR] = (2.2, 0.0, 0.3, 0.0, 0.0, 0.0)
    (event,) = detect(everything, world)
    assert (event.other_id, event.distance) == (0, 0.0)


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({"distance": "-1"}, ["distance='-1'"]),
        ({"hit_radius": "x"}, ["hit_radius='x'", "not a number"]),
        ({"only_dynamics": "maybe"}, ["only_dynamics='maybe'", "true, false"]),
    ],
)
def test_bad_attributes_are_named(attributes: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(SensorConfigError) as error:
        ObstacleDetector(spec(OBSTACLE, SENSOR, **attributes))
    for word in words:
        assert word in str(error.value)
