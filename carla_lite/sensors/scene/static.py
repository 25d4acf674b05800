"""The map's static scene: every lane as a strip (roads, raised sidewalks with curbs), the
junction paving, lane markings, a terrain plane, buildings and blocks of trees behind the
sidewalks, and poles along the sidewalks, built once per ``RoadMap`` object."""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps import SURFACE_DRIVING, RoadMap
from carla_lite.maps.geometry import RoadGeometry
from carla_lite.sensors.scene.builder import (
    MeshBuilder,
    boxes,
    grid_rectangles,
    quads,
    strip,
)
from carla_lite.sensors.scene.buildings import add_buildings
from carla_lite.sensors.scene.lanes import road_points, section_s
from carla_lite.sensors.scene.mesh import SceneMesh
from carla_lite.sensors.scene.road_marks import add_lane_marks, default_marks, road_marks
from carla_lite.sensors.scene.tags import (
    TAG_POLE,
    TAG_ROAD,
    TAG_SIDEWALK,
    TAG_TERRAIN,
)

__all__ = ["static_scene"]

SIDEWALK_HEIGHT = 0.15  # [m] curb height above the road
PAVING_DROP = 0.01  # [m] junction paving under the lane strips (no z-fighting)
TERRAIN_DROP = 0.03  # [m] terrain under the roads
TERRAIN_REACH = 1500.0  # [m] the terrain plane extends this far beyond the map
POLE_SPACING = 40.0  # [m] along sidewalks
POLE_HEIGHT = 6.0  # [m]
POLE_HALF = 0.1  # [m] half width

_ROAD_RGB = (84, 84, 88)
_SIDEWALK_RGB = (158, 152, 146)
_CURB_RGB = (176, 174, 168)
_TERRAIN_RGB = (92, 118, 62)
_POLE_RGB = (92, 92, 98)


def _lane_class(lane_type: str) -> str:
    if lane_type == "sidewalk":
        return "sidewalk"
    return "none" if lane_type == "none" else "road"


def _lane_surfaces(b: MeshBuilder, geom: RoadGeometry, index: int, poles: list) -> None:
    """Strips across the section: adjacent lanes of one class (road or sidewalk) merged.

    Lanes run from the leftmost to the rightmost; each has a left and a right boundary.
    Sidewalks are raised, with a curb where they meet the road.
    """
    section = geom.road.sections[index]
    s0 = section_s(geom, index, 0.0)
    edges0 = geom.lane_edges(index, s0)
    if not edges0:
        return
    reach = max(float(np.max(np.abs(e))) for pair in edges0.values() for e in pair)
    s = section_s(geom, index, reach)
    edges = geom.lane_edges(index, s)
    z = geom.elevation.value(s)
    # (class, left boundary t, right boundary t), leftmost lane first.
    lanes = [(lid, edges[lid][1], edges[lid][0]) for lid in reversed(section.left_ids)]
    lanes += [(lid, edges[lid][0], edges[lid][1]) for lid in section.right_ids]
    groups: list[tuple[str, NDArray, NDArray]] = []
    for lid, left, right in lanes:
        kind = _lane_class(section.lanes[lid].type)
        if groups and groups[-1][0] == kind:
            groups[-1] = (kind, groups[-1][1], right)
        else:
            groups.append((kind, left, right))
    lift = np.array([0.0, 0.0, SIDEWALK_HEIGHT])
    for i, (kind, left, right) in enumerate(groups):
        if kind == "none" or float(np.max(np.abs(right - left))) < 1e-3:
            continue
        a, c = road_points(geom, s, left, z), road_points(geom, s, right, z)
        if kind == "road":
            b.add(*strip(a, c), TAG_ROAD, _ROAD_RGB)
            continue
        b.add(*strip(a + lift, c + lift), TAG_SIDEWALK, _SIDEWALK_RGB)
        road_left = i > 0 and groups[i - 1][0] == "road"
        road_right = i + 1 < len(groups) and groups[i + 1][0] == "road"
        # Curbs face the road: away from the sidewalk's other edge.
        if road_left:
            facing = np.repeat((a - c)[:-1], 2, axis=0)
            b.add(*strip(a, a + lift), TAG_SIDEWALK, _CURB_RGB, facing)
        if road_right:
            facing = np.repeat((c - a)[:-1], 2, axis=0)
            b.add(*strip(c + lift, c), TAG_SIDEWALK, _CURB_RGB, facing)
        if geom.road.junction < 0 and road_left != road_right:
            # Poles just inside the sidewalk's edge away from the road.
            edge, inward = (right, left) if road_left else (left, right)
            inset = 0.35 * np.sign(inward - edge)
            poles.append(_pole_sites(geom, s, edge, z, inset))


def _pole_sites(
    geom: RoadGeometry, s: NDArray, edge: NDArray, z: NDArray, inset: NDArray
) -> NDArray[np.float64]:
    """Points on a sidewalk, just inside its outer edge, every POLE_SPACING metres."""
    start, end = float(s[0]), float(s[-1])
    if end - start < POLE_SPACING * 0.5:
        return np.zeros((0, 3))
    sp = np.arange(start + 0.5 * POLE_SPACING, end, POLE_SPACING)
    t = np.interp(sp, s, edge + inset)
    zz = np.interp(sp, s, z) + SIDEWALK_HEIGHT
    return road_points(geom, sp, t, zz)


def _junction_paving(b: MeshBuilder, road_map: RoadMap) -> None:
    """Driving surface inside junction outlines, as merged rectangles under the lanes."""
    cell = 0.5
    for outline in road_map.junction_outlines.values():
        lo, hi = outline.min(axis=0), outline.max(axis=0)
        nx = max(1, math.ceil((hi[0] - lo[0]) / cell))
        ny = max(1, math.ceil((hi[1] - lo[1]) / cell))
        xs = lo[0] + (np.arange(nx) + 0.5) * cell
        ys = lo[1] + (np.arange(ny) + 0.5) * cell
        gx, gy = np.meshgrid(xs, ys)
        paved = road_map.surface(gx.ravel(), gy.ravel()).reshape(ny, nx) == SURFACE_DRIVING
        rects = grid_rectangles(paved)[:, :4]
        if not len(rects):
            continue
        x0 = lo[0] + rects[:, 1] * cell
        x1 = lo[0] + rects[:, 3] * cell
        y0 = lo[1] + rects[:, 0] * cell
        y1 = lo[1] + rects[:, 2] * cell
        z = road_map.ground_height(0.5 * (x0 + x1), 0.5 * (y0 + y1)) - PAVING_DROP
        corners = np.stack(
            (np.stack((x0, y0, z), 1), np.stack((x1, y0, z), 1),
             np.stack((x1, y1, z), 1), np.stack((x0, y1, z), 1)), axis=1,
        )  # fmt: skip
        b.add(*quads(corners), TAG_ROAD, _ROAD_RGB)


def _terrain(b: MeshBuilder, road_map: RoadMap) -> None:
    xmin, ymin, xmax, ymax = road_map.bounds
    r = TERRAIN_REACH
    z = -TERRAIN_DROP
    corners = np.array(
        [[[xmin - r, ymin - r, z], [xmax + r, ymin - r, z], [xmax + r, ymax + r, z],
          [xmin - r, ymax + r, z]]]
    )  # fmt: skip
    b.add(*quads(corners), TAG_TERRAIN, _TERRAIN_RGB)


def _poles(b: MeshBuilder, sites: list[NDArray[np.float64]]) -> None:
    points = np.concatenate(sites) if sites else np.zeros((0, 3))
    if not len(points):
        return
    half = np.array([POLE_HALF, POLE_HALF, 0.0])
    lo = points - half
    hi = points + half + np.array([0.0, 0.0, POLE_HEIGHT])
    verts, tris = boxes(lo, hi)
    sides = tris.reshape(len(points), 10, 3)[:, 2:]  # a pole's top is never seen
    b.add(verts, sides.reshape(-1, 3), TAG_POLE, _POLE_RGB, facing=None)


def _build_static(road_map: RoadMap) -> SceneMesh:
    b = MeshBuilder()
    _terrain(b, road_map)
    _junction_paving(b, road_map)
    marks = road_marks(road_map.xodr)
    has_marks = {road_id for road_id, _, _ in marks}
    poles: list[NDArray[np.float64]] = []
    for road_id in sorted(road_map.geometries):
        geom = road_map.geometries[road_id]
        for index in range(len(geom.road.sections)):
            _lane_surfaces(b, geom, index, poles)
            if road_id in has_marks:
                section_marks = {
                    lid: marks[(road_id, index, lid)]
                    for lid in geom.road.sections[index].lanes
                    if (road_id, index, lid) in marks
                }
            else:
                section_marks = default_marks(geom, index)
            add_lane_marks(b, geom, index, section_marks)
    add_buildings(b, road_map)
    _poles(b, poles)
    return b.mesh()


_STATIC: weakref.WeakKeyDictionary[RoadMap, SceneMesh] = weakref.WeakKeyDictionary()
_STATIC_LOCK = threading.Lock()


def static_scene(road_map: RoadMap) -> SceneMesh:
    """The static triangles of a map (built on first use, then cached per ``RoadMap``).

    Static triangles have instance id 0. Treat the arrays as read-only: they are shared.
    """
    with _STATIC_LOCK:
        mesh = _STATIC.get(road_map)
        if mesh is None:
            mesh = _build_static(road_map)
            for array in (mesh.vertices, mesh.triangles, mesh.tags, mesh.colors):
                array.flags.writeable = False
            mesh.instance_ids.flags.writeable = False
            _STATIC[road_map] = mesh
        return mesh
