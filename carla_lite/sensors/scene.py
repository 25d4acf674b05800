"""The world as triangles: the map's static scene and the bodies of one frame.

``static_scene(road_map)`` builds (once per ``RoadMap`` object) the triangles that cameras
draw and ray casts hit: every lane as a strip (roads, raised sidewalks with curbs), the
junction paving, lane markings from the OpenDRIVE ``roadMark`` records (centre and edge
lines where a road has none), a terrain plane, buildings (and some blocks of trees)
extruded in the off-road band behind the sidewalks, and poles along the sidewalks.
``body_mesh(bodies)`` places a simple vehicle shape (body and cabin) or a walker box at
every body's pose.

CARLA frame throughout: x forward, y right, z up, yaw degrees from +x towards +y.
Semantic tags are CARLA 0.9.16's (``TAG_*``). Triangles are wound so that
``cross(v1 - v0, v2 - v0)`` points out of solids (boxes) and up from surfaces (roads,
sidewalks, terrain) and curbs face the road: renderers may cull back faces.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps import SURFACE_DRIVING, SURFACE_OFFROAD, RoadMap
from carla_lite.maps.geometry import RoadGeometry
from carla_lite.maps.rasters import DRIVING_LANE_TYPES
from carla_lite.sensors.frame import Bodies
from carla_lite.sensors.scene_mesh import SceneMesh

__all__ = [
    "TAG_BUILDING",
    "TAG_CAR",
    "TAG_PEDESTRIAN",
    "TAG_POLE",
    "TAG_ROAD",
    "TAG_ROADLINE",
    "TAG_SIDEWALK",
    "TAG_SKY",
    "TAG_TERRAIN",
    "TAG_VEGETATION",
    "VEHICLE_TAGS",
    "body_mesh",
    "body_transforms",
    "static_scene",
    "unit_shapes",
]

TAG_UNLABELED = 0
TAG_ROAD = 1
TAG_SIDEWALK = 2
TAG_BUILDING = 3
TAG_POLE = 6
TAG_VEGETATION = 9
TAG_TERRAIN = 10
TAG_SKY = 11
TAG_PEDESTRIAN = 12
TAG_CAR = 14
TAG_ROADLINE = 24
#: Tags drawn with the vehicle shape (rider, car, truck, bus, train, motorcycle, bicycle).
VEHICLE_TAGS = frozenset({13, 14, 15, 16, 17, 18, 19})

SIDEWALK_HEIGHT = 0.15  # [m] curb height above the road
MARK_LIFT = 0.02  # [m] paint above the surface it is on
PAVING_DROP = 0.01  # [m] junction paving under the lane strips (no z-fighting)
TERRAIN_DROP = 0.03  # [m] terrain under the roads
TERRAIN_REACH = 1500.0  # [m] the terrain plane extends this far beyond the map
CHORD_ERROR = 0.05  # [m] lane edges deviate at most this much from the true curve
MAX_STEP = 8.0  # [m] longest lane segment (elevation changes)
DASH, GAP = 3.0, 6.0  # [m] broken lines
BUILDING_CELL = 2.0  # [m] grid of the building placement
BUILDING_SETBACK = 2  # cells between paved surface and buildings
BUILDING_DEPTH = 7  # cells of buildings behind the setback
BUILDING_MAX_SIDE = 12  # cells: longer blocks are cut into several buildings
BUILDING_HEIGHTS = (6.0, 28.0)  # [m]
PARK_SHARE = 0.15  # of the lattice cells behind sidewalks hold trees, not a building
TREE_HEIGHTS = (4.0, 9.0)  # [m] tops of those blocks of trees
POLE_SPACING = 40.0  # [m] along sidewalks
POLE_HEIGHT = 6.0  # [m]
POLE_HALF = 0.1  # [m] half width

_ROAD_RGB = (84, 84, 88)
_SIDEWALK_RGB = (158, 152, 146)
_CURB_RGB = (176, 174, 168)
_TERRAIN_RGB = (92, 118, 62)
_POLE_RGB = (92, 92, 98)
_WHITE_RGB = (228, 228, 222)
_YELLOW_RGB = (222, 178, 40)
_TREE_RGB = np.array([(58, 96, 40), (70, 110, 48), (52, 84, 44)], dtype=np.uint8)
_BUILDING_RGB = np.array(
    [(150, 140, 130), (172, 160, 140), (122, 112, 106), (182, 172, 160), (140, 120, 100),
     (110, 116, 126), (160, 150, 120)],
    dtype=np.uint8,
)  # fmt: skip


_UP = np.array([0.0, 0.0, 1.0])


@dataclass(slots=True)
class _Builder:
    """Accumulates indexed triangle groups, each with one tag and colour per triangle."""

    vertices: list[NDArray[np.float32]] = field(default_factory=list)
    triangles: list[NDArray[np.uint32]] = field(default_factory=list)
    tags: list[NDArray[np.uint8]] = field(default_factory=list)
    colors: list[NDArray[np.uint8]] = field(default_factory=list)
    count: int = 0

    def add(
        self,
        vertices: NDArray[np.floating],
        triangles: NDArray[np.integer],
        tag: int | NDArray[np.uint8],
        color: tuple[int, int, int] | NDArray[np.uint8],
        facing: NDArray[np.floating] | None = _UP,
    ) -> None:
        """Add triangles, wound so that ``cross(v1 - v0, v2 - v0)`` points along ``facing``.

        ``facing``: one direction or one per triangle (default: up); None keeps the
        winding as given (boxes are built outward).
        """
        if not len(triangles):
            return
        n = len(triangles)
        verts = np.asarray(vertices, dtype=np.float32).reshape(-1, 3)
        tris = np.array(triangles, dtype=np.uint32)
        if facing is not None:
            p = verts[tris].astype(np.float64)
            normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
            flip = np.einsum("ij,ij->i", normal, np.broadcast_to(facing, normal.shape)) < 0
            tris[flip] = tris[flip][:, ::-1]
        self.vertices.append(verts)
        self.triangles.append(tris + np.uint32(self.count))
        self.tags.append(np.broadcast_to(np.asarray(tag, dtype=np.uint8), (n,)))
        self.colors.append(np.broadcast_to(np.asarray(color, dtype=np.uint8), (n, 3)))
        self.count += len(verts)

    def mesh(self) -> SceneMesh:
        if not self.triangles:
            return _empty_mesh()
        tris = np.concatenate(self.triangles)
        return SceneMesh(
            vertices=np.ascontiguousarray(np.concatenate(self.vertices)),
            triangles=np.ascontiguousarray(tris),
            tags=np.ascontiguousarray(np.concatenate(self.tags)),
            colors=np.ascontiguousarray(np.concatenate(self.colors)),
            instance_ids=np.zeros(len(tris), dtype=np.uint32),
        )


def _empty_mesh() -> SceneMesh:
    return SceneMesh(
        vertices=np.zeros((0, 3), np.float32),
        triangles=np.zeros((0, 3), np.uint32),
        tags=np.zeros(0, np.uint8),
        colors=np.zeros((0, 3), np.uint8),
        instance_ids=np.zeros(0, np.uint32),
    )


# ---------------------------------------------------------------------------------- primitives


def _strip(a: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Quad strip between two (n, 3) polylines: vertices (2n, 3), triangles (2(n-1), 3)."""
    n = len(a)
    verts = np.concatenate((a, b))
    i = np.arange(n - 1, dtype=np.uint32)
    tris = np.empty((2 * (n - 1), 3), dtype=np.uint32)
    tris[0::2] = np.stack((i, i + 1, i + n), axis=1)
    tris[1::2] = np.stack((i + 1, i + n + 1, i + n), axis=1)
    return verts, tris


_BOX_FACES = np.array(
    [
        [0, 2, 1], [0, 3, 2],  # bottom (z-)
        [4, 5, 6], [4, 6, 7],  # top (z+)
        [0, 1, 5], [0, 5, 4],  # y-
        [2, 3, 7], [2, 7, 6],  # y+
        [1, 2, 6], [1, 6, 5],  # x+
        [3, 0, 4], [3, 4, 7],  # x-
    ],
    dtype=np.uint32,
)  # fmt: skip


def _box_corners(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
    """(..., 8, 3) corners of axis-aligned boxes (bottom ring then top ring)."""
    x0, y0, z0 = lo[..., 0], lo[..., 1], lo[..., 2]
    x1, y1, z1 = hi[..., 0], hi[..., 1], hi[..., 2]
    xs = np.stack((x0, x1, x1, x0, x0, x1, x1, x0), axis=-1)
    ys = np.stack((y0, y0, y1, y1, y0, y0, y1, y1), axis=-1)
    zs = np.stack((z0, z0, z0, z0, z1, z1, z1, z1), axis=-1)
    return np.stack((xs, ys, zs), axis=-1)


def _boxes(
    lo: NDArray[np.float64], hi: NDArray[np.float64], bottom: bool = False
) -> tuple[NDArray, NDArray]:
    """Axis-aligned boxes (N, 3) lo/hi -> vertices (8N, 3), triangles (12N or 10N, 3)."""
    faces = _BOX_FACES if bottom else _BOX_FACES[2:]
    n = len(lo)
    verts = _box_corners(lo, hi).reshape(-1, 3)
    tris = (faces[None, :, :] + (8 * np.arange(n, dtype=np.uint32))[:, None, None]).reshape(-1, 3)
    return verts, tris


def _rectangles(labels: NDArray[np.integer]) -> NDArray[np.int64]:
    """Greedy cover of a labelled grid (0: empty) by rectangles of one label each.

    Returns (N, 5): row0, col0, row1, col1 (exclusive), label.
    """
    out: list[tuple[int, int, int, int, int]] = []
    open_runs: dict[tuple[int, int, int], int] = {}
    grid = np.asarray(labels, dtype=np.int64)
    rows, cols = grid.shape
    padded = np.zeros((rows, cols + 2), dtype=np.int64)
    padded[:, 1:-1] = grid
    change = padded[:, 1:] != padded[:, :-1]  # a run starts or ends before column j
    for r in range(rows + 1):
        runs: set[tuple[int, int, int]] = set()
        if r < rows:
            bounds = np.flatnonzero(change[r])
            for c0, c1 in itertools.pairwise(bounds.tolist()):
                label = int(grid[r, c0])
                if label:
                    runs.add((c0, c1, label))
        for run in list(open_runs):
            if run not in runs:
                out.append((open_runs.pop(run), run[0], r, run[1], run[2]))
        for run in runs:
            open_runs.setdefault(run, r)
    return np.array(out, dtype=np.int64).reshape(-1, 5)


# ---------------------------------------------------------------------------------- road marks


@dataclass(frozen=True, slots=True)
class _Mark:
    s: float  # start, absolute road s
    kind: str  # "solid", "broken", "solid solid", ...
    color: tuple[int, int, int]
    width: float


_PAINTED = ("solid", "broken", "solid solid", "solid broken", "broken solid", "broken broken")


def _road_marks(xodr: str) -> dict[tuple[int, int, int], list[_Mark]]:
    """``(road id, lane section index, lane id) -> marks`` of the painted roadMark records."""
    out: dict[tuple[int, int, int], list[_Mark]] = {}
    try:
        root = ET.fromstring(xodr)
    except ET.ParseError:  # the map loader validated the text; nothing to paint otherwise
        return out
    for road in root.iter("road"):
        try:
            road_id = int(road.get("id", ""))
        except ValueError:
            continue
        lanes_el = road.find("lanes")
        if lanes_el is None:
            continue
        for index, section in enumerate(lanes_el.findall("laneSection")):
            sec_s = float(section.get("s", "0"))
            for lane in section.iter("lane"):
                try:
                    lane_id = int(lane.get("id", ""))
                except ValueError:
                    continue
                marks = []
                for mark in lane.findall("roadMark"):
                    kind = mark.get("type", "none")
                    color = _YELLOW_RGB if mark.get("color") == "yellow" else _WHITE_RGB
                    width = float(mark.get("width", "0.15") or 0.15)
                    s = sec_s + float(mark.get("sOffset", "0"))
                    marks.append(_Mark(s, kind if kind in _PAINTED else "", color, width))
                if marks:
                    out[(road_id, index, lane_id)] = marks
    return out


def _default_marks(geom: RoadGeometry, index: int) -> dict[int, list[_Mark]]:
    """Centre and edge lines for a road section without roadMark records."""
    section = geom.road.sections[index]
    start = float(geom.section_starts[index])
    driving = {lid for lid, lane in section.lanes.items() if lane.type in DRIVING_LANE_TYPES}
    out: dict[int, list[_Mark]] = {}
    if geom.road.junction >= 0:
        return out  # connecting roads inside junctions are unpainted
    left = [lid for lid in section.left_ids if lid in driving]
    right = [lid for lid in section.right_ids if lid in driving]
    if left and right:
        out[0] = [_Mark(start, "solid solid", _YELLOW_RGB, 0.12)]
    for ids in (section.left_ids, section.right_ids):
        for pos, lid in enumerate(ids):
            if lid not in driving:
                continue
            outer_is_driving = pos + 1 < len(ids) and ids[pos + 1] in driving
            kind = "broken" if outer_is_driving else "solid"
            out[lid] = [_Mark(start, kind, _WHITE_RGB, 0.15)]
    return out


# ---------------------------------------------------------------------------------- static scene


def _section_s(geom: RoadGeometry, index: int, reach: float) -> NDArray[np.float64]:
    """Road positions along a lane section: dense enough on curves, sparse on straights.

    Samples every ``step`` metres (the chord error on the outermost edge, radius
    ``1/k + reach``, stays below CHORD_ERROR), then drops every sample where all lane
    boundaries run straight through it (the second difference of their points vanishes),
    so a straight road with linear profiles keeps only its ends and kinks.
    """
    start, end = float(geom.section_starts[index]), float(geom.section_ends[index])
    k = geom.ref.max_curvature()
    radius = 1.0 / k + reach if k > 1e-9 else math.inf
    step = min(MAX_STEP, math.sqrt(8.0 * CHORD_ERROR * radius)) if radius < math.inf else MAX_STEP
    n = max(2, math.ceil((end - start) / step) + 1)
    s = np.linspace(start, end, n)
    if n < 3:
        return s
    edges = geom.lane_edges(index, s)
    t = [geom.lane_offset.value(s)] + [e for pair in edges.values() for e in pair]
    x, y, _ = geom.points(s, np.stack(t, axis=1))
    z = geom.elevation.value(s)[:, None]
    bend = np.zeros(n - 2)
    for v in (x, y, z):
        second = np.abs(v[:-2] - 2.0 * v[1:-1] + v[2:])
        bend = np.maximum(bend, second.max(axis=1))
    keep = np.ones(n, dtype=bool)
    keep[1:-1] = bend > 1e-3
    return s[keep]


def _xyz(geom: RoadGeometry, s: NDArray, t: NDArray, z: NDArray) -> NDArray[np.float64]:
    x, y, _ = geom.points(s, t)
    return np.stack((x, -y, np.broadcast_to(z, np.shape(x))), axis=-1)


def _lane_class(lane_type: str) -> str:
    if lane_type == "sidewalk":
        return "sidewalk"
    return "none" if lane_type == "none" else "road"


def _lane_surfaces(b: _Builder, geom: RoadGeometry, index: int, poles: list) -> None:
    """Strips across the section: adjacent lanes of one class (road or sidewalk) merged.

    Lanes run from the leftmost to the rightmost; each has a left and a right boundary.
    Sidewalks are raised, with a curb where they meet the road.
    """
    section = geom.road.sections[index]
    s0 = _section_s(geom, index, 0.0)
    edges0 = geom.lane_edges(index, s0)
    if not edges0:
        return
    reach = max(float(np.max(np.abs(e))) for pair in edges0.values() for e in pair)
    s = _section_s(geom, index, reach)
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
        a, c = _xyz(geom, s, left, z), _xyz(geom, s, right, z)
        if kind == "road":
            b.add(*_strip(a, c), TAG_ROAD, _ROAD_RGB)
            continue
        b.add(*_strip(a + lift, c + lift), TAG_SIDEWALK, _SIDEWALK_RGB)
        road_left = i > 0 and groups[i - 1][0] == "road"
        road_right = i + 1 < len(groups) and groups[i + 1][0] == "road"
        # Curbs face the road: away from the sidewalk's other edge.
        if road_left:
            facing = np.repeat((a - c)[:-1], 2, axis=0)
            b.add(*_strip(a, a + lift), TAG_SIDEWALK, _CURB_RGB, facing)
        if road_right:
            facing = np.repeat((c - a)[:-1], 2, axis=0)
            b.add(*_strip(c + lift, c), TAG_SIDEWALK, _CURB_RGB, facing)
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
    return _xyz(geom, sp, t, zz)


def _mark_strips(
    geom: RoadGeometry,
    index: int,
    lane_id: int,
    s: NDArray,
    offset: float,
    width: float,
) -> tuple[NDArray, NDArray] | None:
    """Paint strips along a lane boundary: one strip per row of ``s`` (D, k), k >= 2."""
    flat = s.ravel()
    edges = geom.lane_edges(index, flat)
    if lane_id == 0:
        t = geom.lane_offset.value(flat)
    elif lane_id in edges:
        t = edges[lane_id][1]
    else:
        return None
    t = t + offset
    z = geom.elevation.value(flat) + MARK_LIFT
    left = _xyz(geom, flat, t - 0.5 * width, z).reshape(*s.shape, 3)
    right = _xyz(geom, flat, t + 0.5 * width, z).reshape(*s.shape, 3)
    dashes, k = s.shape
    _, tris = _strip(left[0], right[0])  # the layout of one strip
    base = (2 * k * np.arange(dashes, dtype=np.uint32))[:, None, None]
    all_verts = np.concatenate((left, right), axis=1).reshape(-1, 3)
    return all_verts, (tris[None] + base).reshape(-1, 3)


def _lane_marks(b: _Builder, geom: RoadGeometry, index: int, marks: dict[int, list[_Mark]]) -> None:
    start, end = float(geom.section_starts[index]), float(geom.section_ends[index])
    s_all = _section_s(geom, index, 8.0)
    for lane_id, records in marks.items():
        for i, mark in enumerate(records):
            if not mark.kind:
                continue
            m0 = max(start, mark.s)
            m1 = min(end, records[i + 1].s if i + 1 < len(records) else end)
            if m1 - m0 < 0.1:
                continue
            parts = mark.kind.split()
            gap = 0.1  # between the two lines of a double line
            offsets = (
                [0.0]
                if len(parts) == 1
                else [-(0.5 * mark.width + 0.5 * gap), 0.5 * mark.width + 0.5 * gap]
            )
            for part, offset in zip(parts, offsets, strict=True):
                if part == "solid":
                    inside = s_all[(s_all > m0) & (s_all < m1)]
                    s = np.concatenate(([m0], inside, [m1]))[None, :]
                    strip = _mark_strips(geom, index, lane_id, s, offset, mark.width)
                    if strip is not None:
                        b.add(*strip, TAG_ROADLINE, mark.color)
                else:
                    starts = np.arange(m0, m1 - 0.5, DASH + GAP)
                    if not len(starts):
                        continue
                    ends = np.minimum(starts + DASH, m1)
                    if geom.ref.max_curvature() > 0.01:  # radius < 100 m: bend the dashes
                        s = np.stack((starts, 0.5 * (starts + ends), ends), axis=1)
                    else:
                        s = np.stack((starts, ends), axis=1)
                    strip = _mark_strips(geom, index, lane_id, s, offset, mark.width)
                    if strip is not None:
                        b.add(*strip, TAG_ROADLINE, mark.color)


def _junction_paving(b: _Builder, road_map: RoadMap) -> None:
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
        rects = _rectangles(paved)[:, :4]
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
        n = len(rects)
        base = (4 * np.arange(n, dtype=np.uint32))[:, None, None]
        tris = (np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)[None] + base).reshape(-1, 3)
        b.add(corners.reshape(-1, 3), tris, TAG_ROAD, _ROAD_RGB)


def _terrain(b: _Builder, road_map: RoadMap) -> None:
    xmin, ymin, xmax, ymax = road_map.bounds
    r = TERRAIN_REACH
    z = -TERRAIN_DROP
    verts = np.array(
        [[xmin - r, ymin - r, z], [xmax + r, ymin - r, z], [xmax + r, ymax + r, z],
         [xmin - r, ymax + r, z]]
    )  # fmt: skip
    b.add(verts, np.array([[0, 1, 2], [0, 2, 3]]), TAG_TERRAIN, _TERRAIN_RGB)


def _dilate(mask: NDArray[np.bool_], steps: int) -> NDArray[np.bool_]:
    """Cells within ``steps`` cells of ``mask`` (8-neighbourhood: straight block edges)."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        out = grown
        grown = out.copy()
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _buildings(b: _Builder, road_map: RoadMap) -> None:
    """Blocks of buildings (and of trees) in the off-road band behind the sidewalks."""
    cell = BUILDING_CELL
    margin = cell * (BUILDING_SETBACK + BUILDING_DEPTH + 2)
    xmin, ymin, xmax, ymax = road_map.bounds
    x0, y0 = xmin - margin, ymin - margin
    nx = math.ceil((xmax - xmin + 2 * margin) / cell)
    ny = math.ceil((ymax - ymin + 2 * margin) / cell)
    sub = (np.arange(4) + 0.5) * (cell / 4)  # 4 x 4 samples per cell
    xs = (x0 + np.arange(nx)[:, None] * cell + sub[None, :]).ravel()
    ys = (y0 + np.arange(ny)[:, None] * cell + sub[None, :]).ravel()
    gx, gy = np.meshgrid(xs, ys)
    fine = road_map.surface(gx.ravel(), gy.ravel()) != SURFACE_OFFROAD
    paved = fine.reshape(ny, 4, nx, 4).any(axis=(1, 3))
    near = _dilate(paved, BUILDING_SETBACK)
    band = _dilate(paved, BUILDING_SETBACK + BUILDING_DEPTH) & ~near
    # Buildings: the band cut along a lattice of BUILDING_MAX_SIDE cells; each lattice cell
    # has one height and colour, so its pieces need no walls between them.
    side = BUILDING_MAX_SIDE
    lattice_cols = nx // side + 1
    rows, cols = np.indices((ny, nx))
    cells = (rows // side) * lattice_cols + cols // side
    found = _rectangles(np.where(band, cells + 1, 0))
    if not len(found):
        return
    rect, lattice = found[:, :4], found[:, 4] - 1
    # Each lattice cell: a building, or (PARK_SHARE of them) a block of trees.
    rng = np.random.default_rng(zlib.crc32(road_map.name.encode()))
    count = (ny // side + 1) * lattice_cols
    park = rng.random(count) < PARK_SHARE
    lattice_heights = np.where(
        park, rng.uniform(*TREE_HEIGHTS, size=count), rng.uniform(*BUILDING_HEIGHTS, size=count)
    )
    lattice_rgb = np.where(
        park[:, None],
        _TREE_RGB[rng.integers(0, len(_TREE_RGB), size=count)],
        _BUILDING_RGB[rng.integers(0, len(_BUILDING_RGB), size=count)],
    ).astype(np.uint8)
    lattice_tags = np.where(park, TAG_VEGETATION, TAG_BUILDING).astype(np.uint8)
    heights = lattice_heights[lattice]
    colors = lattice_rgb[lattice]
    # Roofs: one quad per building.
    x_lo, x_hi = x0 + rect[:, 1] * cell, x0 + rect[:, 3] * cell
    y_lo, y_hi = y0 + rect[:, 0] * cell, y0 + rect[:, 2] * cell
    roofs = np.stack(
        (np.stack((x_lo, y_lo, heights), 1), np.stack((x_hi, y_lo, heights), 1),
         np.stack((x_hi, y_hi, heights), 1), np.stack((x_lo, y_hi, heights), 1)), axis=1,
    )  # fmt: skip
    quad = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)
    base = (4 * np.arange(len(rect), dtype=np.uint32))[:, None, None]
    b.add(roofs.reshape(-1, 3), (quad[None] + base).reshape(-1, 3),
          np.repeat(lattice_tags[lattice], 2), np.repeat(colors, 2, axis=0))  # fmt: skip
    # Walls: only where a building meets a lower neighbour (or open ground), merged along
    # each grid line while the building and the neighbour's height stay the same.
    piece = np.where(band, cells, -1)  # the lattice cell of each building cell
    top = np.where(piece >= 0, lattice_heights[np.maximum(piece, 0)], -np.inf)
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        _walls(
            b, piece, top, (lattice_heights, lattice_rgb, lattice_tags), (dr, dc), (x0, y0, cell)
        )


def _walls(
    b: _Builder,
    piece: NDArray[np.int64],
    top: NDArray[np.float64],
    lattice: tuple[NDArray[np.float64], NDArray[np.uint8], NDArray[np.uint8]],
    step: tuple[int, int],
    grid: tuple[float, float, float],
) -> None:
    """The walls of buildings facing one grid direction ``step`` = (d row, d column).

    ``lattice``: height, colour and tag of each lattice cell (``piece`` indexes them).
    """
    heights, colors, tags = lattice
    dr, dc = step
    x0, y0, cell = grid
    ny, nx = piece.shape
    padded = np.pad(top, 1, constant_values=-np.inf)
    other = padded[1 + dr : 1 + dr + ny, 1 + dc : 1 + dc + nx]
    wall = (piece >= 0) & (top > other)
    floor = np.where(np.isfinite(other), other, -0.5)
    if dc:  # walls on column lines run along rows: make rows the last axis
        wall, owner, low = wall.T, piece.T, floor.T
    else:
        owner, low = piece, floor
    same = np.zeros_like(wall)
    same[:, 1:] = (
        wall[:, 1:] & wall[:, :-1] & (owner[:, 1:] == owner[:, :-1]) & (low[:, 1:] == low[:, :-1])
    )
    starts = wall & ~same
    ends = wall & ~np.concatenate((same[:, 1:], np.zeros_like(same[:, :1])), axis=1)
    line, first = np.nonzero(starts)
    _, last = np.nonzero(ends)
    if not len(line):
        return
    who = owner[line, first]
    z0, z1 = low[line, first], heights[who]
    if dc:  # a wall on the line x = column edge, from row ``first`` to row ``last + 1``
        x = x0 + (line + (1 if dc > 0 else 0)) * cell
        a = np.stack((x, y0 + first * cell), 1)
        c = np.stack((x, y0 + (last + 1) * cell), 1)
    else:
        y = y0 + (line + (1 if dr > 0 else 0)) * cell
        a = np.stack((x0 + first * cell, y), 1)
        c = np.stack((x0 + (last + 1) * cell, y), 1)
    corners = np.stack(
        (np.column_stack((a, z0)), np.column_stack((c, z0)),
         np.column_stack((c, z1)), np.column_stack((a, z1))), axis=1,
    )  # fmt: skip
    quad = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)
    base = (4 * np.arange(len(line), dtype=np.uint32))[:, None, None]
    facing = np.array([dc, dr, 0.0])  # column steps move along x, row steps along y
    b.add(corners.reshape(-1, 3), (quad[None] + base).reshape(-1, 3), np.repeat(tags[who], 2),
          np.repeat(colors[who], 2, axis=0), facing)  # fmt: skip


def _poles(b: _Builder, sites: list[NDArray[np.float64]]) -> None:
    points = np.concatenate(sites) if sites else np.zeros((0, 3))
    if not len(points):
        return
    half = np.array([POLE_HALF, POLE_HALF, 0.0])
    lo = points - half
    hi = points + half + np.array([0.0, 0.0, POLE_HEIGHT])
    verts, tris = _boxes(lo, hi)
    sides = tris.reshape(len(points), 10, 3)[:, 2:]  # a pole's top is never seen
    b.add(verts, sides.reshape(-1, 3), TAG_POLE, _POLE_RGB, facing=None)


def _build_static(road_map: RoadMap) -> SceneMesh:
    b = _Builder()
    _terrain(b, road_map)
    _junction_paving(b, road_map)
    marks = _road_marks(road_map.xodr)
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
                section_marks = _default_marks(geom, index)
            _lane_marks(b, geom, index, section_marks)
    _buildings(b, road_map)
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


# ---------------------------------------------------------------------------------- bodies


def _shape(boxes: list[tuple[tuple[float, ...], tuple[float, ...], float]]) -> tuple:
    """Unit shape from boxes in [-1, 1]^3: vertices, triangles, per-triangle shade."""
    verts, tris, shade = [], [], []
    for i, (lo, hi, tone) in enumerate(boxes):
        v, t = _boxes(np.array([lo], dtype=np.float64), np.array([hi], dtype=np.float64), True)
        verts.append(v)
        tris.append(t + 8 * i)
        shade.append(np.full(len(t), tone, dtype=np.float32))
    return (
        np.concatenate(verts).astype(np.float32),
        np.concatenate(tris).astype(np.uint32),
        np.concatenate(shade),
    )


@dataclass(frozen=True, slots=True)
class UnitShape:
    """A body shape in box units ([-1, 1]^3 spans the bounding box).

    ``shade`` multiplies the body colour per triangle (the cabin's windows are darker).
    """

    vertices: NDArray[np.float32]
    triangles: NDArray[np.uint32]
    shade: NDArray[np.float32]


_VEHICLE = UnitShape(
    *_shape(
        [
            ((-1.0, -1.0, -1.0), (1.0, 1.0, 0.05), 1.0),  # body
            ((-0.62, -0.86, 0.05), (0.38, 0.86, 1.0), 0.45),  # cabin (glass)
        ]
    )
)
_WALKER = UnitShape(*_shape([((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0), 1.0)]))


def unit_shapes() -> tuple[UnitShape, UnitShape]:
    """The (vehicle, walker) unit shapes that ``body_mesh`` and the renderer share."""
    return _VEHICLE, _WALKER


def body_transforms(bodies: Bodies) -> NDArray[np.float64]:
    """(K, 3, 4) affine maps from box units to the world: ``world = M @ [u, 1]``.

    The columns of ``M[:, :, :3]`` are the actor's forward, right and up axes scaled by the
    box extents; ``M[:, :, 3]`` is the box centre in the world (Unreal rotation order).
    """
    pose = np.asarray(bodies.pose, dtype=np.float64)
    p, y, r = (np.radians(pose[:, i]) for i in (3, 4, 5))
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    rot = np.empty((len(pose), 3, 3))
    rot[:, :, 0] = np.stack((cp * cy, cp * sy, sp), axis=1)
    rot[:, :, 1] = np.stack((sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp), axis=1)
    rot[:, :, 2] = np.stack((-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp), axis=1)
    out = np.empty((len(pose), 3, 4))
    out[:, :, :3] = rot * np.asarray(bodies.box_extent, dtype=np.float64)[:, None, :]
    centre = np.einsum("kij,kj->ki", rot, np.asarray(bodies.box_center, dtype=np.float64))
    out[:, :, 3] = pose[:, :3] + centre
    return out


def body_mesh(bodies: Bodies) -> SceneMesh:
    """Vehicles (body + cabin) and walkers (boxes) at their poses.

    Each triangle carries its body's semantic tag, colour (the cabin darker) and actor id.
    """
    k = len(bodies.ids)
    if k == 0:
        return _empty_mesh()
    m = body_transforms(bodies)
    is_vehicle = np.isin(np.asarray(bodies.semantic_tag), list(VEHICLE_TAGS))
    b = _Builder()
    ids: list[NDArray[np.uint32]] = []
    for shape, rows in (
        (_VEHICLE, np.flatnonzero(is_vehicle)),
        (_WALKER, np.flatnonzero(~is_vehicle)),
    ):
        if not len(rows):
            continue
        n, nv, nt = len(rows), len(shape.vertices), len(shape.triangles)
        world = np.einsum("kij,vj->kvi", m[rows, :, :3], shape.vertices) + m[rows, None, :, 3]
        tris = shape.triangles[None] + (nv * np.arange(n, dtype=np.uint32))[:, None, None]
        tags = np.repeat(np.asarray(bodies.semantic_tag, dtype=np.uint8)[rows], nt)
        base = np.asarray(bodies.color, dtype=np.float32)[rows]
        colors = (base[:, None, :] * shape.shade[None, :, None]).astype(np.uint8).reshape(-1, 3)
        b.add(world.reshape(-1, 3), tris.reshape(-1, 3), tags, colors, facing=None)
        ids.append(np.repeat(np.asarray(bodies.ids, dtype=np.uint32)[rows], nt))
    mesh = b.mesh()
    mesh.instance_ids = np.concatenate(ids)
    return mesh
