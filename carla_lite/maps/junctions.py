"""Junction areas: the pavement between a junction's connecting roads.

In CARLA a junction's whole area is road surface, but OpenDRIVE only describes its connecting
lanes, which leave gaps between them (a turn's outer edge and the corner's curb, two diverging
turns). A junction's *outline* is the convex hull of the outer edges of all its connecting
roads; inside it, a cell that no lane covers is paved when lanes enclose it: there is lane
surface on both sides of it along the rows and along the columns of the outline's bounding box.
The enclosure test keeps the building behind a rounded corner and the grass between a ramp and
its motorway (both open towards the outside of the junction) unpaved, which a bare hull would
not.

Everything here is numpy on small crops of the map's rasters; the functions are shared by the
rasterisation (``rasters.py``) and the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps.geometry import FloatArray, RoadGeometry

EDGE_STEP = 2.0  # [m] spacing of the outer-edge samples of connecting roads (sagitta
# on a 10 m radius: 5 cm)
HULL_DIRECTIONS = 256  # support directions of the hull; error < 1e-4 of the junction size


def junction_edge_points(
    geometries: Mapping[int, RoadGeometry], step: float = EDGE_STEP
) -> dict[int, FloatArray]:
    """Points on the outermost lane edges of every junction's connecting roads.

    Args:
        geometries: Road id -> evaluated road geometry.
        step: Spacing of the samples along each lane section [m].

    Returns:
        ``{junction_id: (N, 2) CARLA-frame x, y}`` for junctions with connecting roads.
    """
    points: dict[int, list[FloatArray]] = {}
    for road_id in sorted(geometries):
        geom = geometries[road_id]
        if geom.road.junction == -1:
            continue
        for index in range(len(geom.road.sections)):
            start, end = geom.section_starts[index], geom.section_ends[index]
            s = np.linspace(start, end, max(2, math.ceil((end - start) / step) + 1))
            x, y, _ = geom.points(s, np.stack(_outer_offsets(geom, index, s), axis=1))
            edge = np.stack((x.ravel(), -y.ravel()), axis=1)
            points.setdefault(geom.road.junction, []).append(edge)
    return {jid: np.concatenate(parts) for jid, parts in points.items()}


def _outer_offsets(geom: RoadGeometry, index: int, s: FloatArray) -> list[FloatArray]:
    """Lateral offsets of a section's outermost left and right edges (the lane offset line
    stands in for a side without lanes)."""
    edges = geom.lane_edges(index, s)
    centre = geom.lane_offset.value(s)
    section = geom.road.sections[index]
    left, right = section.left_ids, section.right_ids
    return [
        edges[left[-1]][1] if left else centre,
        edges[right[-1]][1] if right else centre,
    ]


def convex_outline(points: FloatArray, directions: int = HULL_DIRECTIONS) -> FloatArray:
    """Convex polygon through the points that are extreme along ``directions`` directions.

    Every vertex is a vertex of the exact convex hull, so the polygon lies inside it and
    misses at most ``size * (1 - cos(pi / directions))`` of it; unlike an exact hull it is a
    single vectorised projection, whatever the number of points.

    Args:
        points: (N, 2) points, N >= 1.
        directions: Number of evenly spaced support directions.

    Returns:
        (M, 2) vertices in counter-clockwise order (x right, y up), consecutive duplicates
        removed.
    """
    angles = np.linspace(0.0, 2.0 * math.pi, directions, endpoint=False)
    support = np.stack((np.cos(angles), np.sin(angles)), axis=1)
    extreme = np.argmax(points @ support.T, axis=0)
    keep = np.append(extreme[1:] != extreme[:-1], extreme[-1] != extreme[0] or len(extreme) == 1)
    return np.asarray(points[extreme[keep]], dtype=np.float64)


def polygon_row_spans(
    polygon: FloatArray, row_centres: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Where each horizontal line ``y = row_centres[i]`` crosses a convex polygon.

    Returns:
        ``(x_lo, x_hi)`` per row; ``x_lo > x_hi`` for rows that miss the polygon.
    """
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    y = row_centres[:, None]
    y0, y1 = a[None, :, 1], b[None, :, 1]
    crosses = (np.minimum(y0, y1) <= y) & (y <= np.maximum(y0, y1))
    dy = y1 - y0
    flat = np.abs(dy) < 1e-12
    frac = np.where(flat, 0.0, (y - y0) / np.where(flat, 1.0, dy))
    x = a[None, :, 0] + frac * (b[None, :, 0] - a[None, :, 0])
    # A horizontal edge on the row contributes both of its ends.
    x_other = np.where(flat, b[None, :, 0], x)
    x_lo = np.min(np.where(crosses, np.minimum(x, x_other), np.inf), axis=1)
    x_hi = np.max(np.where(crosses, np.maximum(x, x_other), -np.inf), axis=1)
    return x_lo, x_hi


def enclosed(covered: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Cells with covered cells on both sides along their row and along their column.

    Covered cells are themselves enclosed. A cell counts as enclosed only by what lies inside
    the array, so the caller's crop bounds how far the test looks.
    """
    left = np.logical_or.accumulate(covered, axis=1)
    right = np.logical_or.accumulate(covered[:, ::-1], axis=1)[:, ::-1]
    up = np.logical_or.accumulate(covered, axis=0)
    down = np.logical_or.accumulate(covered[::-1, :], axis=0)[::-1, :]
    return np.asarray(left & right & up & down)


def fill_from_neighbours(
    values: list[NDArray], known: NDArray[np.bool_], wanted: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Give ``wanted`` cells the values of their nearest ``known`` cells (4-neighbour steps).

    Args:
        values: 2-D arrays of one shape, updated in place.
        known: Cells whose values are set; updated in place as cells get filled.
        wanted: Cells to fill.

    Returns:
        The wanted cells that no known cell could reach (left unchanged).
    """
    shifts = (
        (np.s_[:, 1:], np.s_[:, :-1]), (np.s_[:, :-1], np.s_[:, 1:]),
        (np.s_[1:, :], np.s_[:-1, :]), (np.s_[:-1, :], np.s_[1:, :]),
    )  # fmt: skip
    missing = wanted & ~known
    while missing.any():
        grown = False
        for dst, src in shifts:
            take = missing[dst] & known[src]
            if not take.any():
                continue
            for array in values:
                array[dst][take] = array[src][take]
            known[dst] |= take
            missing[dst] &= ~take
            grown = True
        if not grown:
            break
    return missing
