"""The triangle scene that cameras draw and rays hit: the built-in map's static scene and
body meshes."""

from __future__ import annotations

import numpy as np
import pytest

from carla_lite.maps import SURFACE_DRIVING, SURFACE_SIDEWALK, RoadMap, load_road_map
from carla_lite.maps.catalog import BUILTIN_DIR, DEFAULT_MAP
from carla_lite.sensors.frame import Bodies
from carla_lite.sensors.scene.bodies import body_mesh
from carla_lite.sensors.scene.static import static_scene


@pytest.fixture(scope="module")
def road_map() -> RoadMap:
    return load_road_map(DEFAULT_MAP, (BUILTIN_DIR / f"{DEFAULT_MAP}.xodr").read_text())


def test_static_scene_is_cached_and_moderate(road_map: RoadMap) -> None:
    mesh = static_scene(road_map)
    assert static_scene(road_map) is mesh
    assert 1000 < mesh.triangle_count < 200_000
    assert mesh.vertices.dtype == np.float32 and mesh.vertices.shape[1] == 3
    assert mesh.triangles.max() < len(mesh.vertices)
    assert len(mesh.tags) == len(mesh.colors) == len(mesh.instance_ids) == mesh.triangle_count
    assert not mesh.instance_ids.any()
    # Roads, sidewalks, buildings, poles, vegetation, terrain and road lines.
    assert {1, 2, 3, 6, 9, 10, 24} <= set(np.unique(mesh.tags).tolist())


def _centroids(road_map: RoadMap, tag: int) -> np.ndarray:
    mesh = static_scene(road_map)
    tris = mesh.triangles[mesh.tags == tag]
    return np.asarray(mesh.vertices[tris].mean(axis=1), dtype=np.float64)


def test_surfaces_sit_on_the_map(road_map: RoadMap) -> None:
    roads = _centroids(road_map, 1)
    surface = road_map.surface(roads[:, 0], roads[:, 1])
    assert np.mean(surface != 0) > 0.95  # road triangles lie on paved cells
    sidewalks = _centroids(road_map, 2)
    on_sidewalk = road_map.surface(sidewalks[:, 0], sidewalks[:, 1]) == SURFACE_SIDEWALK
    assert np.mean(on_sidewalk) > 0.8
    lines = _centroids(road_map, 24)
    assert np.mean(road_map.surface(lines[:, 0], lines[:, 1]) == SURFACE_DRIVING) > 0.8
    for tag in (3, 9):  # buildings and trees stand off the road
        blocks = _centroids(road_map, tag)
        assert not (road_map.surface(blocks[:, 0], blocks[:, 1]) != 0).any()


def test_body_mesh_places_shapes_with_ids_and_tags() -> None:
    bodies = Bodies(
        ids=np.array([7, 9], np.uint32),
        pose=np.array([[10.0, 0.0, 0.0, 0.0, 90.0, 0.0], [0.0, 5.0, 0.0, 0.0, 0.0, 0.0]]),
        velocity=np.zeros((2, 3)),
        box_center=np.array([[0.0, 0.0, 0.7], [0.0, 0.0, 0.9]]),
        box_extent=np.array([[2.0, 1.0, 0.7], [0.2, 0.2, 0.9]]),
        semantic_tag=np.array([14, 12], np.uint8),
        color=np.array([[200, 0, 0], [0, 0, 200]], np.uint8),
    )
    mesh = body_mesh(bodies)
    car = mesh.triangles[mesh.instance_ids == 7]
    walker = mesh.triangles[mesh.instance_ids == 9]
    assert len(car) and len(walker)
    assert set(mesh.tags[mesh.instance_ids == 7].tolist()) == {14}
    assert set(mesh.tags[mesh.instance_ids == 9].tolist()) == {12}
    # Yaw 90: the car's length lies along y.
    pts = mesh.vertices[car.ravel()]
    assert pts.min(axis=0) == pytest.approx([9.0, -2.0, 0.0], abs=1e-5)
    assert pts.max(axis=0) == pytest.approx([11.0, 2.0, 1.4], abs=1e-5)
    pts = mesh.vertices[walker.ravel()]
    assert pts.min(axis=0) == pytest.approx([-0.2, 4.8, 0.0], abs=1e-5)
    assert pts.max(axis=0) == pytest.approx([0.2, 5.2, 1.8], abs=1e-5)
    assert body_mesh(Bodies.empty()).triangle_count == 0
