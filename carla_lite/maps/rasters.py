"""Rasterised road surface, height and speed limit, built once per map.

Lanes are sampled as dense point clouds of their cross-sections (finer than a cell in both
directions, denser on the outside of curves) and splatted into grids, so that the per-tick
queries are a couple of numpy index operations per batch of points. Where roads overlap
(junctions) the more drivable surface wins: driving > sidewalk > other. The gaps a junction's
connecting lanes leave inside its outline are paved as driving surface (``junctions.py``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps.errors import MapLoadError
from carla_lite.maps.geometry import FloatArray, RoadGeometry
from carla_lite.maps.junctions import (
    convex_outline,
    enclosed,
    fill_from_neighbours,
    junction_edge_points,
    polygon_row_spans,
)

log = logging.getLogger(__name__)

SURFACE_OFFROAD = 0
SURFACE_DRIVING = 1
SURFACE_SIDEWALK = 2
SURFACE_OTHER = 3

DRIVING_LANE_TYPES = frozenset(
    {"driving", "bidirectional", "entry", "exit", "onRamp", "offRamp", "connectingRamp"}
)

SURFACE_CELL = 0.25  # [m] surface raster cell
COARSE_FACTOR = 2  # height/speed rasters use cells this many times larger
MAX_SURFACE_CELLS = 48_000_000  # 48 MB of uint8; height+speed add 5/4 of that / factor^2
MAX_CELL = 1.0  # beyond this the map is too large to be a town: reject it
MAX_SAMPLES = 80_000_000
_SAMPLE_FRACTION = 0.6  # sample spacing / cell size: guarantees every interior cell is hit
_MARGIN = 2.0  # [m] around the outermost lane edges

# Priority rank used while splatting (higher wins where roads overlap).
_RANK_OTHER, _RANK_SIDEWALK, _RANK_DRIVING = 1, 2, 3
_RANK_TO_SURFACE = np.array(
    [SURFACE_OFFROAD, SURFACE_OTHER, SURFACE_SIDEWALK, SURFACE_DRIVING], dtype=np.uint8
)


def lane_rank(lane_type: str) -> int:
    """Splatting priority of a lane type."""
    if lane_type in DRIVING_LANE_TYPES:
        return _RANK_DRIVING
    if lane_type == "sidewalk":
        return _RANK_SIDEWALK
    return _RANK_OTHER


@dataclass(frozen=True, slots=True)
class Grid:
    """An axis-aligned grid in CARLA's frame; row = y, column = x."""

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    def clamped_index(self, xs: FloatArray, ys: FloatArray) -> NDArray[np.intp]:
        """Flat cell indices of points, points off the grid clamped to its edge.

        The hot-path lookup: every raster has an empty ``_MARGIN`` border, so a clamped
        point reads off-road values, which is what a point off the grid means.
        """
        ix = np.subtract(xs, self.x0)
        ix *= 1.0 / self.cell
        iy = np.subtract(ys, self.y0)
        iy *= 1.0 / self.cell
        # ufuncs, not np.clip: its Python wrapper costs more than the work on few points.
        np.minimum(np.maximum(ix, 0.0, out=ix), self.nx - 1, out=ix)
        np.minimum(np.maximum(iy, 0.0, out=iy), self.ny - 1, out=iy)
        iy = iy.astype(np.intp)
        iy *= self.nx
        iy += ix.astype(np.intp)
        return iy


@dataclass(slots=True)
class RoadRasters:
    """The rasters of one map plus the sidewalk centre-line samples."""

    surface_grid: Grid
    surface: NDArray[np.uint8]  # flat, surface_grid order
    coarse_grid: Grid
    # Highest and lowest road surface per coarse cell: they differ only under bridges.
    height_high: NDArray[np.float32]  # flat, coarse_grid order
    height_low: NDArray[np.float32]
    speed_index: NDArray[np.uint8]  # flat, coarse_grid order; indexes speed_table
    speed_table: NDArray[np.float64]  # [km/h]; entry 0 is the off-road default
    sidewalk_points: NDArray[np.float64]  # (N, 3) CARLA frame
    bounds: tuple[float, float, float, float]
    # Junction id -> convex outline (M, 2) of its connecting roads, CARLA frame.
    junction_outlines: dict[int, NDArray[np.float64]]

    @property
    def nbytes(self) -> int:
        """Memory held by the rasters."""
        return int(
            self.surface.nbytes + self.height_high.nbytes + self.height_low.nbytes
            + self.speed_index.nbytes
            + self.sidewalk_points.nbytes
        )  # fmt: skip


SpeedLookup = Callable[[int, FloatArray], FloatArray]


def build_rasters(
    map_name: str,
    geometries: Mapping[int, RoadGeometry],
    speed_kmh: SpeedLookup,
    default_speed_kmh: float,
) -> RoadRasters:
    """Rasterise every lane of every road.

    Args:
        map_name: For error messages.
        geometries: Road id -> evaluated road geometry.
        speed_kmh: ``(road_id, s) -> speed limit [km/h]`` per sample.
        default_speed_kmh: Value returned off road.

    Raises:
        MapLoadError: if the map is too large to rasterise within the memory budget.
    """
    road_bounds = _road_bounds(geometries)
    xmin, ymin, xmax, ymax = bounds = _bounds(road_bounds)
    width, height = xmax - xmin + 2 * _MARGIN, ymax - ymin + 2 * _MARGIN
    cell = SURFACE_CELL
    if width * height / cell**2 > MAX_SURFACE_CELLS:
        cell = math.sqrt(width * height / MAX_SURFACE_CELLS)
        if cell > MAX_CELL:
            limit = MAX_SURFACE_CELLS * MAX_CELL**2 / 1e6
            raise MapLoadError(
                f"{map_name}: map extent {width:.0f} m x {height:.0f} m is too large (roads "
                f"span {_extent_owners(road_bounds)}; at most {limit:g} km2 of bounding box)"
            )
        log.warning("%s: large map, surface raster cell grown to %.2f m", map_name, cell)
    grid = Grid(
        xmin - _MARGIN, ymin - _MARGIN, cell, math.ceil(width / cell), math.ceil(height / cell)
    )
    coarse = Grid(
        grid.x0, grid.y0, cell * COARSE_FACTOR,
        math.ceil(grid.nx / COARSE_FACTOR), math.ceil(grid.ny / COARSE_FACTOR),
    )  # fmt: skip
    splat = _Splatter(map_name, grid, coarse, cell * _SAMPLE_FRACTION)
    speeds: dict[float, int] = {}
    sidewalk: list[FloatArray] = []
    for road_id in sorted(geometries):
        geom = geometries[road_id]
        for index in range(len(geom.road.sections)):
            splat.add_section(geom, index, functools.partial(speed_kmh, road_id), speeds)
            sidewalk.extend(_sidewalk_samples(geom, index))
    outlines = {
        jid: convex_outline(points) for jid, points in junction_edge_points(geometries).items()
    }
    surface, high, low, speed_index = splat.finish(outlines.values())
    table = np.full(len(speeds) + 1, default_speed_kmh, dtype=np.float64)
    for value, idx in speeds.items():
        table[idx] = value
    side = np.concatenate(sidewalk) if sidewalk else np.zeros((0, 3))
    return RoadRasters(grid, surface, coarse, high, low, speed_index, table, side, bounds, outlines)


def _section_edges(geom: RoadGeometry, index: int, step: float) -> tuple[FloatArray, dict]:
    start, end = geom.section_starts[index], geom.section_ends[index]
    n = max(2, math.ceil((end - start) / step) + 1)
    s = np.linspace(start, end, n)
    return s, geom.lane_edges(index, s)


def _road_bounds(geometries: Mapping[int, RoadGeometry]) -> dict[int, tuple[float, ...]]:
    """Road id -> ``(xmin, ymin, xmax, ymax)`` of its lane edges (y flipped to CARLA's)."""
    bounds: dict[int, tuple[float, ...]] = {}
    for road_id, geom in geometries.items():
        xs, ys = [], []
        for index in range(len(geom.road.sections)):
            s, edges = _section_edges(geom, index, 2.0)
            if not edges:
                continue
            t = np.stack([e for pair in edges.values() for e in pair], axis=1)
            x, y, _ = geom.points(s, t)
            xs.append(x.ravel())
            ys.append(-y.ravel())
        if xs:
            x_all, y_all = np.concatenate(xs), np.concatenate(ys)
            bounds[road_id] = (
                float(x_all.min()),
                float(y_all.min()),
                float(x_all.max()),
                float(y_all.max()),
            )
    return bounds


def _bounds(road_bounds: Mapping[int, tuple[float, ...]]) -> tuple[float, float, float, float]:
    boxes = np.array(list(road_bounds.values()))
    xmin, ymin = boxes[:, 0].min(), boxes[:, 1].min()
    return float(xmin), float(ymin), float(boxes[:, 2].max()), float(boxes[:, 3].max())


def _extent_owners(road_bounds: Mapping[int, tuple[float, ...]]) -> str:
    """Which roads set the map's extent: ``x -5 (road 1) .. 900 (road 7), y ...``."""

    def owner(column: int, pick: Callable[..., int]) -> str:
        road_id = pick(road_bounds, key=lambda r: road_bounds[r][column])
        return f"{road_bounds[road_id][column]:.0f} (road {road_id})"

    return f"x {owner(0, min)}..{owner(2, max)} m, y {owner(1, min)}..{owner(3, max)} m"


class _Splatter:
    """Writes lane samples into the rasters section by section."""

    def __init__(self, map_name: str, grid: Grid, coarse: Grid, spacing: float) -> None:
        self.map_name = map_name
        self.grid, self.coarse, self.spacing = grid, coarse, spacing
        self.rank = np.zeros(grid.nx * grid.ny, dtype=np.uint8)
        ncoarse = coarse.nx * coarse.ny
        self.high = np.full(ncoarse, -np.inf, dtype=np.float32)
        self.low = np.full(ncoarse, np.inf, dtype=np.float32)
        self.speed = np.zeros(ncoarse, dtype=np.uint8)
        self.samples = 0

    def add_section(
        self, geom: RoadGeometry, index: int, speed_at: Callable[[FloatArray], FloatArray],
        speeds: dict[float, int],
    ) -> None:  # fmt: skip
        _, coarse_edges = _section_edges(geom, index, 2.0)
        if not coarse_edges:
            return
        reach = max(float(np.max(np.abs(e))) for pair in coarse_edges.values() for e in pair)
        # Points on the outside of a curve are spread by (1 + k*t): tighten the s step.
        step = self.spacing / (1.0 + geom.ref.max_curvature() * reach)
        s, edges = _section_edges(geom, index, max(step, self.spacing / 20.0))
        columns, ranks = [], []
        for lid in sorted(edges):
            inner, outer = edges[lid]
            widest = float(np.max(np.abs(outer - inner)))
            if widest < 1e-3:
                continue
            nt = math.ceil(widest / self.spacing) + 1
            frac = np.linspace(0.0, 1.0, nt)
            columns.append(inner[:, None] + (outer - inner)[:, None] * frac[None, :])
            ranks.append(np.full(nt, lane_rank(geom.road.sections[index].lanes[lid].type)))
        if not columns:
            return
        t = np.concatenate(columns, axis=1)
        self.samples += t.size
        if self.samples > MAX_SAMPLES:
            raise MapLoadError(
                f"{self.map_name}: road {geom.road.id} laneSection {index}: too much road "
                f"surface to rasterise (lanes up to {reach:.0f} m from the reference line; "
                f"the map's lanes may cover at most {MAX_SAMPLES} samples)"
            )
        x, y, _ = geom.points(s, t)
        grid = self.grid
        ix = ((x - grid.x0) / grid.cell).astype(np.int32)
        iy = ((-y - grid.y0) / grid.cell).astype(np.int32)
        rank = np.broadcast_to(np.concatenate(ranks).astype(np.uint8)[None, :], t.shape)
        np.maximum.at(self.rank, (iy * grid.nx + ix).ravel(), rank.ravel())
        cflat = ((iy // COARSE_FACTOR) * self.coarse.nx + ix // COARSE_FACTOR).ravel()
        z = np.broadcast_to(geom.elevation.value(s).astype(np.float32)[:, None], t.shape).ravel()
        np.maximum.at(self.high, cflat, z)
        np.minimum.at(self.low, cflat, z)
        limits = speed_at(s)
        codes = np.empty(len(s), dtype=np.uint8)
        for value in np.unique(limits):
            codes[limits == value] = speeds.setdefault(float(value), min(len(speeds) + 1, 255))
        self.speed[cflat] = np.broadcast_to(codes[:, None], t.shape).ravel()

    def pave(self, outline: FloatArray) -> None:
        """Pave the enclosed gaps between lanes inside a junction's outline as driving.

        Paved cells take the height and speed limit of the nearest sampled road surface.
        """
        grid = self.grid
        c0, r0 = _cell_floor(grid, outline.min(axis=0))
        c1, r1 = _cell_floor(grid, outline.max(axis=0))
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1 + 1, grid.nx), min(r1 + 1, grid.ny)
        if c1 <= c0 or r1 <= r0:
            return
        rank = self.rank.reshape(grid.ny, grid.nx)[r0:r1, c0:c1]
        rows = grid.y0 + (np.arange(r0, r1, dtype=np.float64) + 0.5) * grid.cell
        cols = grid.x0 + (np.arange(c0, c1, dtype=np.float64) + 0.5) * grid.cell
        x_lo, x_hi = polygon_row_spans(outline, rows)
        inside = (cols[None, :] >= x_lo[:, None]) & (cols[None, :] <= x_hi[:, None])
        gaps = inside & (rank == 0) & enclosed(rank > 0)
        if not gaps.any():
            return
        rank[gaps] = _RANK_DRIVING
        self._fill_coarse(gaps, r0, c0)

    def _fill_coarse(self, gaps: NDArray[np.bool_], r0: int, c0: int) -> None:
        """Heights and speed limits for the coarse cells over newly paved fine cells."""
        coarse = self.coarse
        rr, cc = np.nonzero(gaps)
        rr, cc = (rr + r0) // COARSE_FACTOR, (cc + c0) // COARSE_FACTOR
        # The fill reaches one coarse cell beyond the gaps' box: that is where known
        # heights of the surrounding lanes are.
        top, left = max(int(rr.min()) - 1, 0), max(int(cc.min()) - 1, 0)
        bottom, right = min(int(rr.max()) + 2, coarse.ny), min(int(cc.max()) + 2, coarse.nx)
        shape = (coarse.ny, coarse.nx)
        box = np.s_[top:bottom, left:right]
        high, low = self.high.reshape(shape)[box], self.low.reshape(shape)[box]
        speed = self.speed.reshape(shape)[box]
        wanted = np.zeros(high.shape, dtype=bool)
        wanted[rr - top, cc - left] = True
        known = np.isfinite(high)
        unreached = fill_from_neighbours([high, low, speed], known, wanted)
        if unreached.any():  # a gap with no sampled road in its box: cannot happen in practice
            high[unreached] = low[unreached] = 0.0

    def finish(
        self, outlines: Iterable[FloatArray] = ()
    ) -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.float32], NDArray[np.uint8]]:
        """The final rasters; junction outlines are paved after pinholes are filled."""
        grid, coarse = self.grid, self.coarse
        _fill_holes(self.rank.reshape(grid.ny, grid.nx))
        for outline in outlines:
            self.pave(outline)
        surface = _RANK_TO_SURFACE[self.rank]
        covered = np.isfinite(self.high)
        high = np.where(covered, self.high, 0.0).astype(np.float32)
        low = np.where(covered, self.low, 0.0).astype(np.float32)
        shape = (coarse.ny, coarse.nx)
        _dilate_values(high.reshape(shape), covered.reshape(shape))
        _dilate_values(low.reshape(shape), covered.reshape(shape))
        return surface, high, low, self.speed


def _cell_floor(grid: Grid, point: FloatArray) -> tuple[int, int]:
    """(column, row) of the cell containing a CARLA-frame point (unclamped)."""
    return (
        math.floor((float(point[0]) - grid.x0) / grid.cell),
        math.floor((float(point[1]) - grid.y0) / grid.cell),
    )


def _fill_holes(rank: NDArray[np.uint8]) -> None:
    """Fill single empty cells between two covered neighbours (sampling pinholes)."""
    hole = rank[1:-1, 1:-1] == 0
    for a, b in (
        (rank[1:-1, :-2], rank[1:-1, 2:]),
        (rank[:-2, 1:-1], rank[2:, 1:-1]),
    ):
        fill = hole & (a > 0) & (b > 0)
        rank[1:-1, 1:-1][fill] = np.minimum(a, b)[fill]
        hole &= ~fill


def _dilate_values(values: NDArray[np.float32], covered: NDArray[np.bool_]) -> None:
    """Extend heights one cell beyond the sampled area so lane edges never read 0."""
    out = values.copy()
    done = covered.copy()
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        src = np.roll(np.roll(values, dy, axis=0), dx, axis=1)
        src_cov = np.roll(np.roll(covered, dy, axis=0), dx, axis=1)
        take = ~done & src_cov
        out[take] = src[take]
        done |= take
    values[...] = out


def _sidewalk_samples(geom: RoadGeometry, index: int) -> list[FloatArray]:
    section = geom.road.sections[index]
    ids = [lid for lid, lane in section.lanes.items() if lane.type == "sidewalk"]
    if not ids:
        return []
    start, end = geom.section_starts[index], geom.section_ends[index]
    if end - start < 0.5:
        return []
    s = np.arange(start + 0.5, end, 1.0)  # 1 m spacing: uniform by length
    edges = geom.lane_edges(index, s)
    z = geom.elevation.value(s)
    out = []
    for lid in sorted(ids):
        inner, outer = edges[lid]
        x, y, _ = geom.points(s, 0.5 * (inner + outer))
        out.append(np.stack([x, -y, z], axis=1))
    return out
