"""Sampling a road's lane sections for meshing: where along a section to put vertices, and
points at road positions in CARLA's frame."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps.geometry import RoadGeometry

CHORD_ERROR = 0.05  # [m] lane edges deviate at most this much from the true curve
MAX_STEP = 8.0  # [m] longest lane segment (elevation changes)


def section_s(geom: RoadGeometry, index: int, reach: float) -> NDArray[np.float64]:
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


def road_points(geom: RoadGeometry, s: NDArray, t: NDArray, z: NDArray) -> NDArray[np.float64]:
    """(..., 3) points in CARLA's frame at road positions ``s``, lateral offsets ``t`` and
    heights ``z`` (OpenDRIVE's y points the other way)."""
    x, y, _ = geom.points(s, t)
    return np.stack((x, -y, np.broadcast_to(z, np.shape(x))), axis=-1)
