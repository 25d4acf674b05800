"""Blocks of buildings (and some blocks of trees) extruded in the off-road band behind the
sidewalks: roofs, and walls only where a building meets lower ground."""

from __future__ import annotations

import math
import zlib

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps import SURFACE_OFFROAD, RoadMap
from carla_lite.sensors.scene.builder import MeshBuilder, grid_rectangles, quads
from carla_lite.sensors.scene.tags import TAG_BUILDING, TAG_VEGETATION

BUILDING_CELL = 2.0  # [m] grid of the building placement
BUILDING_SETBACK = 2  # cells between paved surface and buildings
BUILDING_DEPTH = 7  # cells of buildings behind the setback
BUILDING_MAX_SIDE = 12  # cells: longer blocks are cut into several buildings
BUILDING_HEIGHTS = (6.0, 28.0)  # [m]
PARK_SHARE = 0.15  # of the lattice cells behind sidewalks hold trees, not a building
TREE_HEIGHTS = (4.0, 9.0)  # [m] tops of those blocks of trees

_TREE_RGB = np.array([(58, 96, 40), (70, 110, 48), (52, 84, 44)], dtype=np.uint8)
_BUILDING_RGB = np.array(
    [(150, 140, 130), (172, 160, 140), (122, 112, 106), (182, 172, 160), (140, 120, 100),
     (110, 116, 126), (160, 150, 120)],
    dtype=np.uint8,
)  # fmt: skip


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


def add_buildings(b: MeshBuilder, road_map: RoadMap) -> None:
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
    found = grid_rectangles(np.where(band, cells + 1, 0))
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
    b.add(*quads(roofs), np.repeat(lattice_tags[lattice], 2), np.repeat(colors, 2, axis=0))
    # Walls: only where a building meets a lower neighbour (or open ground), merged along
    # each grid line while the building and the neighbour's height stay the same.
    piece = np.where(band, cells, -1)  # the lattice cell of each building cell
    top = np.where(piece >= 0, lattice_heights[np.maximum(piece, 0)], -np.inf)
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        _walls(
            b, piece, top, (lattice_heights, lattice_rgb, lattice_tags), (dr, dc), (x0, y0, cell)
        )


def _walls(
    b: MeshBuilder,
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
    facing = np.array([dc, dr, 0.0])  # column steps move along x, row steps along y
    b.add(*quads(corners), np.repeat(tags[who], 2), np.repeat(colors[who], 2, axis=0), facing)
