"""The static scene of a map cut into square tiles for the renderer, and which tiles a camera
sees.

The triangles are sorted by tile into one unindexed vertex array, so a frame draws the
visible tiles with one multi-draw call. Road lines and poles are kept in tiles of their own,
drawn only within ``DETAIL_RANGE``; triangles larger than a tile (the terrain) form an
always-visible tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps import RoadMap
from carla_lite.sensors.scene.mesh import face_normals
from carla_lite.sensors.scene.static import static_scene
from carla_lite.sensors.scene.tags import TAG_POLE, TAG_ROADLINE

TILE = 80.0  # [m] side of the static scene's culling tiles
#: Road lines and poles further than this are under a pixel wide at 800 px and 90 degrees.
DETAIL_RANGE = 150.0  # [m]
_DETAIL_TAGS = (TAG_POLE, TAG_ROADLINE)


@dataclass(frozen=True, slots=True)
class StaticTiles:
    """The static scene as unindexed vertices sorted by tile, with each tile's range and box."""

    vertices: NDArray[np.void]  # position (3 f4) + colour and tag (4 u1) per vertex
    first: NDArray[np.uint32]  # (N,) first vertex of each tile
    count: NDArray[np.uint32]  # (N,) vertices of each tile
    lo: NDArray[np.float64]  # (N, 3) tile bounding boxes
    hi: NDArray[np.float64]
    reach: NDArray[np.float64]  # (N,) drawn only this close to the camera [m]
    lo_finite: NDArray[np.float64]  # the boxes with infinities clipped (plane tests)
    hi_finite: NDArray[np.float64]


#: A static vertex: position, colour and tag, the face normal as (n + 1) / 2 (w unused).
STATIC_VERTEX = np.dtype([("pos", "<f4", 3), ("rgba", "u1", 4), ("normal", "u1", 4)])


def _encoded_normals(corners: NDArray[np.floating]) -> NDArray[np.uint8]:
    out = np.zeros((len(corners), 4), dtype=np.uint8)
    out[:, :3] = np.round((face_normals(corners) * 0.5 + 0.5) * 255.0)
    return out


def tile_static_scene(road_map: RoadMap) -> StaticTiles:
    """The map's ``static_scene`` cut into ``TILE`` m tiles (detail tiles apart)."""
    mesh = static_scene(road_map)
    corners = mesh.vertices[mesh.triangles]  # (T, 3, 3)
    lo_t, hi_t = corners.min(axis=1), corners.max(axis=1)
    centre = 0.5 * (lo_t + hi_t)
    cells = np.floor(centre[:, :2] / TILE).astype(np.int64)
    cells -= cells.min(axis=0)
    ncols = int(cells[:, 0].max()) + 1
    detail = np.isin(mesh.tags, _DETAIL_TAGS)
    tile = 2 * (cells[:, 1] * ncols + cells[:, 0]) + 1 + detail
    # Triangles much larger than a tile (the terrain) form tile 0, always drawn first.
    tile[np.max(hi_t[:, :2] - lo_t[:, :2], axis=1) > TILE] = 0
    order = np.argsort(tile, kind="stable")
    tile = tile[order]
    ids, starts, counts = np.unique(tile, return_index=True, return_counts=True)
    lo = np.minimum.reduceat(lo_t[order], starts, axis=0).astype(np.float64)
    hi = np.maximum.reduceat(hi_t[order], starts, axis=0).astype(np.float64)
    rgba = np.empty((mesh.triangle_count, 4), dtype=np.uint8)
    rgba[:, :3] = mesh.colors
    rgba[:, 3] = mesh.tags
    out = np.empty(3 * mesh.triangle_count, dtype=STATIC_VERTEX)
    out["pos"] = corners[order].reshape(-1, 3)
    out["rgba"] = np.repeat(rgba[order], 3, axis=0)
    out["normal"] = np.repeat(_encoded_normals(corners[order]), 3, axis=0)
    if ids[0] == 0:  # always visible: an infinite box
        lo[0], hi[0] = -np.inf, np.inf
    reach = np.where((ids > 0) & (ids % 2 == 0), DETAIL_RANGE, np.inf)
    return StaticTiles(
        out,
        (3 * starts).astype(np.uint32),
        (3 * counts).astype(np.uint32),
        lo,
        hi,
        reach,
        np.maximum(lo, -1e9),
        np.minimum(hi, 1e9),
    )


def visible_tiles(
    tiles: StaticTiles, view_proj: NDArray[np.float64], eye: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Tiles within reach whose boxes are not entirely outside one of the frustum's planes,
    and every tile's squared distance from ``eye``."""
    m = view_proj
    planes = np.stack(
        (m[3] + m[0], m[3] - m[0], m[3] + m[1], m[3] - m[1], m[3] + m[2], m[3] - m[2])
    )
    normal, d = planes[:, :3], planes[:, 3]
    # The box corner furthest along each plane's normal (infinite boxes: far away).
    far = np.where(
        normal[None, :, :] >= 0, tiles.hi_finite[:, None, :], tiles.lo_finite[:, None, :]
    )
    dist = np.einsum("tpk,pk->tp", far, normal) + d
    near = np.clip(eye[None, :], tiles.lo, tiles.hi)  # closest point of each box
    distance2 = np.sum((near - eye[None, :]) ** 2, axis=1)
    return np.all(dist >= 0.0, axis=1) & (distance2 <= tiles.reach**2), distance2
