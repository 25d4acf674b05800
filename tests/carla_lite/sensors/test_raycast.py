"""The ray-cast engine: Embree against the static mesh and this tick's boxes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from carla_lite.sensors import raycast
from carla_lite.sensors.raycast import (
    BodyBoxes,
    TriangleCaster,
    ray_scene,
    static_caster,
)
from carla_lite.sensors.rotations import rotation_matrices
from tests.carla_lite.sensors.raycast_frames import (
    BUILDING,
    CAR,
    PEDESTRIAN,
    ROAD,
    Box,
    StandInMap,
    World,
    bodies,
    flat_map,
    ground,
    quads_mesh,
    wall,
)

__all__ = ["flat_map"]


def test_rotation_matrices_follow_carla_axes() -> None:
    # yaw 90: forward is +y, right is -x; pitch 90: forward is up.
    yaw = rotation_matrices(np.array([0.0, 90.0, 0.0]))[0]
    np.testing.assert_allclose(yaw[:, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(yaw[:, 1], [-1, 0, 0], atol=1e-12)
    pitch = rotation_matrices(np.array([90.0, 0.0, 0.0]))[0]
    np.testing.assert_allclose(pitch[:, 0], [0, 0, 1], atol=1e-12)
    # Orthonormal for any angles.
    rot = rotation_matrices(np.array([[12.0, -40.0, 33.0]]))[0]
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)


def test_static_cast_distance_tag_and_incidence() -> None:
    caster = TriangleCaster(quads_mesh([ground(), wall(20.0)]))
    down = np.array([[0.0, 0.0, -1.0]])
    slanted = np.array([[math.cos(math.radians(30)), 0.0, -math.sin(math.radians(30))]])
    ahead = np.array([[1.0, 0.0, 0.0]])
    origin = np.array([0.0, 0.0, 2.0])
    hits = caster.cast(origin, np.vstack([down, slanted, ahead, -ahead]), 50.0)
    np.testing.assert_allclose(hits.distance[:3], [2.0, 4.0, 20.0], rtol=1e-5)
    assert math.isinf(hits.distance[3])
    assert hits.tag.tolist() == [ROAD, ROAD, BUILDING, 0]
    assert hits.instance.tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(hits.cos_incidence[:3], [1.0, 0.5, 1.0], atol=1e-5)
    # The range limits hits.
    assert not caster.cast(origin, ahead, 19.0).hit.any()


def test_boxes_hit_from_outside_with_face_incidence() -> None:
    # A car yawed 90 degrees at (10, 3): 2 m half length along y, 1 m along x, z 0 .. 1.5.
    boxes = BodyBoxes(bodies(Box(7, x=10.0, y=3.0, yaw=90.0)))
    origin = np.array([0.0, 3.0, 0.5])  # below the body's top (0.79 m): the full box
    slanted = np.array([math.cos(math.radians(60)), math.sin(math.radians(60)), 0.0])
    up = np.array([1.0, 0.0, 0.02]) / math.hypot(1.0, 0.02)
    dirs = np.array([[1.0, 0.0, 0.0], slanted, [-1.0, 0.0, 0.0], up])
    hits = boxes.cast(origin, dirs, 100.0)
    # Straight at the x = 9 face; 60 degrees off it (reaching y = 3 + 9 tan 60 > 5: a miss);
    # away; slightly up, still below the body's top.
    np.testing.assert_allclose(hits.distance[[0, 3]], [9.0, 9.0 * math.hypot(1, 0.02)], rtol=1e-6)
    assert np.isinf(hits.distance[[1, 2]]).all()
    assert hits.instance.tolist() == [7, 0, 0, 7]
    assert hits.tag.tolist() == [CAR, 0, 0, CAR]
    np.testing.assert_allclose(hits.cos_incidence[0], 1.0)
    # The range and the kept boxes limit hits.
    assert not boxes.cast(origin, dirs[:1], 8.9).hit.any()
    assert not boxes.cast(origin, dirs[:1], 100.0, keep=np.array([False])).hit.any()


def test_nearest_box_wins() -> None:
    boxes = BodyBoxes(bodies(Box(8, x=30.0), Box(7, x=10.0), Box(9, x=20.0)))
    hits = boxes.cast(np.array([0.0, 0.0, 0.5]), np.array([[1.0, 0.0, 0.0]]), 100.0)
    assert hits.instance.tolist() == [7]
    np.testing.assert_allclose(hits.distance, [8.0])


def test_vehicles_have_the_cameras_cabin_walkers_a_box() -> None:
    # The vehicle shape: the body up to 0.05 box units above the centre, then a cabin from
    # -0.62 to 0.38 units long and 0.86 units wide (scene.bodies.unit_shapes).
    boxes = BodyBoxes(bodies(Box(7, x=10.0), Box(8, x=-10.0, tag=PEDESTRIAN)))
    high = np.array([0.0, 0.0, 1.2])
    hits = boxes.cast(high, np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]), 100.0)
    np.testing.assert_allclose(hits.distance, [10.0 - 0.62 * 2.0, 10.0 - 2.0], rtol=1e-5)
    assert hits.instance.tolist() == [7, 8]
    beside = boxes.cast(np.array([0.0, 0.9, 1.2]), np.array([[1.0, 0.0, 0.0]]), 100.0)
    assert not beside.hit.any()  # beside the cabin, above the body


def test_ray_scene_nearest_of_static_and_bodies(flat_map: Any) -> None:
    world = World(flat_map, boxes=[Box(7, x=10.0), Box(8, x=-6.0, tag=PEDESTRIAN)])
    frame = world.frame()
    origin = np.array([0.0, 0.0, 0.5])
    dirs = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    hits = ray_scene(frame).cast(origin, dirs, 100.0)
    np.testing.assert_allclose(hits.distance, [8.0, 4.0, 0.5], rtol=1e-5)
    assert hits.instance.tolist() == [7, 8, 0]
    assert hits.tag.tolist() == [CAR, PEDESTRIAN, ROAD]
    # Ignored ids pass through.
    hits = ray_scene(frame, ignore=[7]).cast(origin, dirs[:1], 100.0)
    assert math.isinf(hits.distance[0])


def test_rays_leave_the_box_they_start_in(flat_map: Any) -> None:
    world = World(flat_map, boxes=[Box(7, x=0.0), Box(8, x=10.0)])
    origin = np.array([1.5, 0.0, 0.5])  # inside body 7
    hits = ray_scene(world.frame()).cast(origin, np.array([[1.0, 0.0, 0.0]]), 100.0)
    assert hits.instance.tolist() == [8]
    np.testing.assert_allclose(hits.distance, [6.5], rtol=1e-5)


def test_static_bvh_is_built_once_per_map(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    def source(road_map: Any) -> Any:
        built.append(road_map)
        return road_map.mesh

    monkeypatch.setattr(raycast, "static_mesh_source", source)
    first: Any = StandInMap(quads_mesh([ground()]))
    second: Any = StandInMap(quads_mesh([ground()]))
    assert static_caster(first) is static_caster(first)
    static_caster(second)
    assert built == [first, second]
