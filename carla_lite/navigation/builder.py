"""From a ``RoadMap`` to the convex polygons of a pedestrian navmesh.

The walkable areas are CARLA's: sidewalk lanes (``AREA_SIDEWALK``, where walkers are placed
and roam), crosswalks (``AREA_CROSSWALK``, where cautious walkers cross) and the other paved
lanes (``AREA_ROAD``, which only walkers allowed by ``set_pedestrians_cross_factor`` use).
Crosswalks are the map's ``<object type="crosswalk">`` outlines, plus a crossing strip across
every road where it meets a junction with sidewalks on both sides and no crosswalk is marked.

Detour connects two polygons only through an edge both have, vertex for vertex, so the
regions are noded together, split into faces, triangulated without new vertices on the
borders, and the triangles merged greedily (longest shared edge first) into convex polygons
of at most six vertices: few, large polygons keep routes under the client's 256-polygon
path limit.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from carla_lite.maps.geometry import RoadGeometry
from carla_lite.maps.opendrive import Lane
from carla_lite.maps.road_map import RoadMap
from carla_lite.navigation.detour_format import (
    AREA_CROSSWALK,
    AREA_ROAD,
    AREA_SIDEWALK,
    MAX_VERTS_PER_POLY,
)

__all__ = ["NavPolygons", "build_polygons"]

STEP = 5.0  # [m] lane sampling along s on gentle roads
CURVED_STEP = 1.5  # [m] where the reference line bends tighter than CURVED_RADIUS
CURVED_RADIUS = 40.0  # [m]
PRECISION = 0.01  # [m] grid the regions snap to: closes hairline gaps between lanes
SIMPLIFY = 0.05  # [m]
EDGE_MARGIN = 0.3  # [m] walkable area kept clear along its outer edges (agent radius)
MIN_FACE_AREA = 0.05  # [m^2] slivers left by snapping are dropped
CROSSING_WIDTH = 3.0  # [m] along the road
CROSSING_SETBACK = 0.5  # [m] from the road's end at the junction
CROSSING_OVERLAP = 0.5  # [m] into the sidewalks, so the strip shares a border with them
MIN_CROSSING_ROAD = 2 * (CROSSING_WIDTH + CROSSING_SETBACK)  # [m] shorter roads get none
_WELD = 1000.0  # vertices closer than 1 mm are one


@dataclass(frozen=True, slots=True)
class NavPolygons:
    """The navmesh's polygons before encoding.

    Attributes:
        verts: (V, 3) CARLA-frame x, y, z [m] (feet height).
        polys: Vertex indices per convex polygon (counter-clockwise with y up).
        areas: ``AREA_*`` per polygon.
        crossings: Crosswalk outlines used, each (M, 2) CARLA x, y.
        seconds: Build time [s].
    """

    verts: NDArray[np.float64]
    polys: list[tuple[int, ...]]
    areas: list[int]
    crossings: list[NDArray[np.float64]]
    seconds: float


def build_polygons(road_map: RoadMap) -> NavPolygons:
    """Build the walkable polygons of a map.

    Raises:
        ValueError: naming the map, if it has no sidewalk to walk on.
    """
    start = time.perf_counter()
    sidewalk_parts, road_parts = _lane_outlines(road_map)
    if not sidewalk_parts:
        raise ValueError(f"{road_map.name}: no sidewalk lanes, so no pedestrian navigation")
    crossings = _crosswalk_objects(road_map)
    marked = shapely.union_all([shapely.Polygon(c) for c in crossings])
    crossings += [
        strip
        for strip in _junction_crossings(road_map)
        if not shapely.intersects(marked, shapely.Polygon(strip))
    ]
    sidewalk = _region(sidewalk_parts)
    road = _region(road_parts)
    cross = _region([shapely.Polygon(c) for c in crossings])
    # Recast keeps agents' centres an agent radius from walls; so does this erosion, or the
    # client's crowd walks its walkers along the very edge of the kerb.
    inner = _clean(shapely.buffer(shapely.union(road, sidewalk), -EDGE_MARGIN, join_style="mitre"))
    # Crosswalks are not eroded: a narrow neck between a crossing and its kerb must not cut it.
    cross = _clean(shapely.intersection(cross, shapely.union(road, sidewalk)))
    sidewalk = _clean(shapely.difference(shapely.intersection(sidewalk, inner), cross))
    road = _clean(
        shapely.difference(shapely.intersection(road, inner), shapely.union(cross, sidewalk))
    )
    regions = [(AREA_CROSSWALK, cross), (AREA_SIDEWALK, sidewalk), (AREA_ROAD, road)]
    faces, face_areas = _faces(regions)
    verts_xy, tris, tri_areas = _triangles(faces, face_areas)
    polys = _merge(verts_xy, tris, tri_areas)
    z = road_map.ground_height(verts_xy[:, 0], verts_xy[:, 1])
    verts = np.column_stack((verts_xy, z))
    return NavPolygons(
        verts,
        [p for p, _ in polys],
        [a for _, a in polys],
        crossings,
        time.perf_counter() - start,
    )


# -- regions ----------------------------------------------------------------------------


def _section_stations(geom: RoadGeometry, index: int) -> NDArray[np.float64]:
    lo, hi = float(geom.section_starts[index]), float(geom.section_ends[index])
    curvature = geom.ref.max_curvature()
    step = CURVED_STEP if curvature > 1.0 / CURVED_RADIUS else STEP
    return np.linspace(lo, hi, max(2, math.ceil((hi - lo) / step) + 1))


def _lane_outlines(road_map: RoadMap) -> tuple[list[shapely.Geometry], list[shapely.Geometry]]:
    """The outline of every lane section: (sidewalk, other paved lanes).

    One polygon per lane and section (its inner edge out, its outer edge back); where that
    ring is not simple (a lane closing to zero width midway, an edge folding on a tight
    curve) the lane is taken quad by quad instead.
    """
    strips: dict[bool, list[NDArray[np.float64]]] = {True: [], False: []}
    quads: dict[bool, list[NDArray[np.float64]]] = {True: [], False: []}
    for road_id in sorted(road_map.geometries):
        geom = road_map.geometries[road_id]
        for index, section in enumerate(geom.road.sections):
            if geom.section_ends[index] - geom.section_starts[index] < 1e-3:
                continue
            s = _section_stations(geom, index)
            for lane_id, (inner, outer) in geom.lane_edges(index, s).items():
                lane_type = section.lanes[lane_id].type
                if lane_type == "none":
                    continue
                wide = np.abs(outer - inner) > 1e-3
                keep = wide[:-1] | wide[1:]
                if not keep.any():
                    continue
                xi, yi, _ = geom.points(s, inner)
                xo, yo, _ = geom.points(s, outer)
                a = np.column_stack((xi, -yi))  # CARLA frame: y flips
                b = np.column_stack((xo, -yo))
                walk = lane_type == "sidewalk"
                if keep.all():
                    strip = np.concatenate((a, b[::-1]))
                    if shapely.is_valid(shapely.Polygon(strip)):
                        strips[walk].append(strip)
                        continue
                ring = np.stack((a[:-1], a[1:], b[1:], b[:-1]), axis=1)[keep]
                quads[walk].append(ring)
    sidewalk = [shapely.Polygon(r) for r in strips[True]] + _quads(quads[True])
    road = [shapely.Polygon(r) for r in strips[False]] + _quads(quads[False])
    return sidewalk, road


def _quads(rings: list[NDArray[np.float64]]) -> list[shapely.Geometry]:
    if not rings:
        return []
    polys = shapely.polygons(np.concatenate(rings))
    bad = ~shapely.is_valid(polys)
    if bad.any():  # a lane edge folding on a tight curve: keep what is left of the quad
        polys[bad] = shapely.make_valid(polys[bad])
    return list(polys[~shapely.is_empty(polys)])


def _region(parts: list[shapely.Polygon]) -> shapely.Geometry:
    if not parts:
        return shapely.Polygon()
    merged = shapely.union_all(shapely.set_precision(np.array(parts, dtype=object), PRECISION))
    return shapely.set_precision(shapely.simplify(merged, SIMPLIFY), PRECISION)


def _clean(geom: shapely.Geometry) -> shapely.Geometry:
    """Snapped to the grid, polygons only (set operations can leave lines and points)."""
    geom = shapely.set_precision(geom, PRECISION)
    parts = shapely.get_parts(geom)
    polygons = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]
    return shapely.MultiPolygon(list(polygons)) if len(polygons) else shapely.Polygon()


def _crosswalk_objects(road_map: RoadMap) -> list[NDArray[np.float64]]:
    """Outlines of the map's ``<object type="crosswalk">`` (CARLA x, y)."""
    if "crosswalk" not in road_map.xodr:
        return []
    root = ET.fromstring(road_map.xodr)
    out: list[NDArray[np.float64]] = []
    for road_el in root.iter("road"):
        geom = road_map.geometries.get(int(road_el.get("id", "-1")))
        if geom is None:
            continue
        for obj in road_el.iterfind("objects/object"):
            if obj.get("type") != "crosswalk":
                continue
            ring = _object_outline(geom, obj)
            if ring is not None and len(ring) >= 3:
                out.append(ring)
    return out


def _object_outline(geom: RoadGeometry, obj: ET.Element) -> NDArray[np.float64] | None:
    try:
        s, t = float(obj.get("s", "0")), float(obj.get("t", "0"))
        hdg = float(obj.get("hdg", "0"))
    except ValueError:
        return None
    outline = obj.find("outline")
    if outline is None:
        return None
    points: list[tuple[float, float]] = []
    local = outline.findall("cornerLocal")
    if local:
        x, y, ref = geom.points(np.array([s]), np.array([t]))
        heading = float(ref[0]) + hdg
        c, si = math.cos(heading), math.sin(heading)
        for corner in local:
            u, v = float(corner.get("u", "0")), float(corner.get("v", "0"))
            points.append((float(x[0]) + u * c - v * si, float(y[0]) + u * si + v * c))
    else:
        corners = outline.findall("cornerRoad")
        if not corners:
            return None
        ss = np.array([float(k.get("s", "0")) for k in corners])
        ts = np.array([float(k.get("t", "0")) for k in corners])
        xs, ys, _ = geom.points(ss, ts)
        points = list(zip(xs.tolist(), ys.tolist(), strict=True))
    ring = np.array(points, dtype=np.float64)
    ring[:, 1] = -ring[:, 1]
    if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
        ring = ring[:-1]
    return ring


def _junction_crossings(road_map: RoadMap) -> list[NDArray[np.float64]]:
    """A strip across each road mouth at a junction, sidewalk to sidewalk."""
    out: list[NDArray[np.float64]] = []
    for road_id in sorted(road_map.geometries):
        geom = road_map.geometries[road_id]
        road = geom.road
        if road.junction != -1 or road.length < MIN_CROSSING_ROAD:
            continue
        ends = []
        if road.predecessor is not None and road.predecessor.element_type == "junction":
            ends.append((0, CROSSING_SETBACK, CROSSING_SETBACK + CROSSING_WIDTH))
        if road.successor is not None and road.successor.element_type == "junction":
            last = len(road.sections) - 1
            hi = road.length - CROSSING_SETBACK
            ends.append((last, hi - CROSSING_WIDTH, hi))
        for index, s0, s1 in ends:
            s0 = max(s0, float(geom.section_starts[index]))
            s1 = min(s1, float(geom.section_ends[index]))
            if s1 - s0 < 1.0:
                continue
            s = np.linspace(s0, s1, 3)
            edges = geom.lane_edges(index, s)
            lanes = road.sections[index].lanes
            left = _sidewalk_edge(road.sections[index].left_ids, lanes, edges, 1.0)
            right = _sidewalk_edge(road.sections[index].right_ids, lanes, edges, -1.0)
            if left is None or right is None:
                continue
            xl, yl, _ = geom.points(s, left)
            xr, yr, _ = geom.points(s, right)
            ring = np.concatenate((np.column_stack((xl, -yl)), np.column_stack((xr, -yr))[::-1]))
            if abs(float(shapely.area(shapely.Polygon(ring)))) > 1.0:
                out.append(ring)
    return out


def _sidewalk_edge(
    ids: list[int],
    lanes: dict[int, Lane],
    edges: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]],
    sign: float,
) -> NDArray[np.float64] | None:
    """Lateral offset a crossing reaches on one side: into its first sidewalk, if any."""
    walk = [lid for lid in ids if lanes[lid].type == "sidewalk"]
    if not walk:
        return None
    return edges[walk[0]][0] + sign * CROSSING_OVERLAP


# -- faces and triangles ----------------------------------------------------------------


def _faces(
    regions: list[tuple[int, shapely.Geometry]],
) -> tuple[list[shapely.Polygon], list[int]]:
    """Node the regions' borders together and classify the faces they enclose."""
    borders = [shapely.boundary(g) for _, g in regions if not shapely.is_empty(g)]
    noded = shapely.node(shapely.GeometryCollection(borders))
    polygons = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    polygons = polygons[shapely.area(polygons) >= MIN_FACE_AREA]
    inside = shapely.point_on_surface(polygons)
    xs, ys = shapely.get_x(inside), shapely.get_y(inside)
    area_of = np.full(len(polygons), -1, dtype=np.int64)
    for area, geom in regions:  # first region wins: crosswalk, sidewalk, road
        if shapely.is_empty(geom):
            continue
        shapely.prepare(geom)
        hit = (area_of < 0) & shapely.contains_xy(geom, xs, ys)
        area_of[hit] = area
    keep = area_of >= 0
    return list(polygons[keep]), [int(a) for a in area_of[keep]]


def _triangles(
    faces: list[shapely.Polygon], areas: list[int]
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Constrained Delaunay triangles of every face over welded vertices."""
    tri_geoms = shapely.constrained_delaunay_triangles(np.array(faces, dtype=object))
    corners: list[NDArray[np.float64]] = []
    tri_area: list[NDArray[np.int64]] = []
    for geom, area in zip(tri_geoms, areas, strict=True):
        parts = shapely.get_parts(geom)
        if not len(parts):
            continue
        rings = shapely.get_coordinates(shapely.get_exterior_ring(parts)).reshape(-1, 4, 2)
        corners.append(rings[:, :3])
        tri_area.append(np.full(len(rings), area, dtype=np.int64))
    pts = np.concatenate(corners).reshape(-1, 2)
    keys = np.round(pts * _WELD).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    verts = pts[first]
    tris = inverse.reshape(-1, 3)
    tri_areas = np.concatenate(tri_area)
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    good = np.abs(cross) > 1e-6
    tris, tri_areas, cross = tris[good], tri_areas[good], cross[good]
    flip = cross < 0  # make every triangle counter-clockwise
    tris[flip] = tris[flip][:, ::-1]
    return verts, tris, tri_areas


# -- merging ----------------------------------------------------------------------------


def _convex(ring: list[int], xy: NDArray[np.float64]) -> bool:
    """Counter-clockwise and convex (straight angles allowed: neighbours may share them)."""
    pts = xy[ring]
    d = np.roll(pts, -1, axis=0) - pts
    prev = np.roll(d, 1, axis=0)
    cross = prev[:, 0] * d[:, 1] - prev[:, 1] * d[:, 0]
    scale = np.hypot(prev[:, 0], prev[:, 1]) * np.hypot(d[:, 0], d[:, 1])
    return bool((cross >= -1e-9 * scale).all() and (cross > 1e-9 * scale).sum() >= 3)


def _merge(
    xy: NDArray[np.float64], tris: NDArray[np.int64], areas: NDArray[np.int64]
) -> list[tuple[tuple[int, ...], int]]:
    """Greedily merge adjacent same-area polygons across their longest shared edge."""
    polys: list[list[int] | None] = [list(map(int, t)) for t in tris]
    area = [int(a) for a in areas]
    owner = list(range(len(polys)))

    def find(p: int) -> int:
        while owner[p] != p:
            owner[p] = owner[owner[p]]
            p = owner[p]
        return p

    edge_owner: dict[tuple[int, int], int] = {}
    shared: list[tuple[float, int, int, int, int]] = []
    for p, (a, b, c) in enumerate(tris.tolist()):
        for u, v in ((a, b), (b, c), (c, a)):
            other = edge_owner.pop((v, u), None)
            if other is None:
                edge_owner[(u, v)] = p
            elif area[other] == area[p]:
                length = float(np.hypot(*(xy[u] - xy[v])))
                shared.append((length, u, v, p, other))
    shared.sort(reverse=True)
    for _, u, v, p, q in shared:
        p, q = find(p), find(q)
        if p == q:
            continue
        rp, rq = polys[p], polys[q]
        assert rp is not None and rq is not None
        if len(rp) + len(rq) - 2 > MAX_VERTS_PER_POLY:
            continue
        # p runs u -> v, q runs v -> u; join them across that edge.
        i, k = rp.index(v), rq.index(u)
        ring_p = rp[i:] + rp[:i]  # starts at v, ends at u
        ring_q = rq[k:] + rq[:k]  # starts at u, ends at v
        if ring_p[-1] != u or ring_q[-1] != v:
            continue  # the edge is no longer on both borders
        merged = ring_p + ring_q[1:-1]
        if len(set(merged)) != len(merged) or not _convex(merged, xy):
            continue
        polys[p], polys[q] = merged, None
        owner[q] = p
    return [(tuple(r), area[i]) for i, r in enumerate(polys) if r is not None]
