"""The navmesh file CARLA 0.9.16's client loads: a RecastDemo ``MSET`` set of one ``DNAV`` tile.

The client (``carla::nav::Navigation::Load``) reads a 40-byte set header (magic ``MSET``,
version 1, tile count, ``dtNavMeshParams``) then ``(tileRef, dataSize, data)`` per tile and
hands each tile to Detour's ``dtNavMesh::addTile``, ignoring its status: a malformed tile is
a silently empty mesh, and some malformations (missing detail-edge flags, wrong detail
counts) crash the client. ``write_navmesh`` produces exactly the layout Detour 7 expects;
``read_navmesh`` parses it back for the structural checks.

Coordinates: Recast is y-up, so a CARLA point ``(x, y, z)`` is stored as ``(x, z, y)``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AREA_CROSSWALK",
    "AREA_GRASS",
    "AREA_ROAD",
    "AREA_SIDEWALK",
    "FLAG_OF_AREA",
    "MAX_VERTS_PER_POLY",
    "NavMeshData",
    "NavMeshFormatError",
    "read_navmesh",
    "write_navmesh",
]

# CARLA's areas (``CARLA_AREA_*``) and the polygon flags it derives from them (``CARLA_TYPE_*``).
AREA_BLOCK, AREA_SIDEWALK, AREA_CROSSWALK, AREA_ROAD, AREA_GRASS = 0, 1, 2, 3, 4
FLAG_OF_AREA = {AREA_BLOCK: 0x01, AREA_SIDEWALK: 0x02, AREA_CROSSWALK: 0x04, AREA_ROAD: 0x08}
FLAG_OF_AREA[AREA_GRASS] = 0x10

MAX_VERTS_PER_POLY = 6  # DT_VERTS_PER_POLYGON
MAX_POLYS = 32_767  # an internal neighbour index must not reach bit 0x8000
MAX_VERTS = 65_534  # vertex indices are u16

SET_MAGIC = 0x4D534554  # 'MSET'
SET_VERSION = 1
TILE_MAGIC = 0x444E4156  # 'DNAV'
TILE_VERSION = 7
DETAIL_EDGE_BOUNDARY = 1

_SET_HEADER = struct.Struct("<iii3fffii")
_TILE_ENTRY = struct.Struct("<Ii")
_TILE_HEADER = struct.Struct("<iiiiiIiiiiiiiiifff3f3ff")
_POLY = struct.Struct("<I6H6HHBB")
_DETAIL = struct.Struct("<IIBBxx")
_BV_NODE = struct.Struct("<3H3Hi")
_LINK_SIZE = 12
_CELL_SIZE = 0.3  # [m] quantisation of the BV tree (Recast's cs, as CARLA's builder uses)

# Agent the tile says it was built for (informational for a single tile): CARLA's builder.
_WALKABLE_HEIGHT, _WALKABLE_RADIUS, _WALKABLE_CLIMB = 1.8, 0.4, 0.3


class NavMeshFormatError(ValueError):
    """Polygons that cannot be written as a Detour tile, or bytes that are not one."""


@dataclass(frozen=True, slots=True)
class NavMeshData:
    """One tile's polygons, as written or read back.

    Attributes:
        verts: (V, 3) CARLA-frame x, y, z [m] (z at the feet).
        polys: Vertex indices of each convex polygon, clockwise with CARLA x to the right
            and y up (Detour's positive ``dtTriArea2D``).
        areas: CARLA area id per polygon (``AREA_*``).
        flags: Detour polygon flags per polygon (``FLAG_OF_AREA[area]``).
        neighbours: Per polygon and edge, the neighbouring polygon index or -1 for a wall.
    """

    verts: NDArray[np.float64]
    polys: list[tuple[int, ...]]
    areas: list[int]
    flags: list[int]
    neighbours: list[tuple[int, ...]]


def _signed_area2(xy: NDArray[np.float64]) -> float:
    """Twice the signed area in CARLA x, y (positive = counter-clockwise with y up)."""
    x, y = xy[:, 0], xy[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _edge_neighbours(polys: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Neighbour per edge: the one other polygon with the same edge reversed, else -1."""
    owners: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for p, poly in enumerate(polys):
        n = len(poly)
        for j in range(n):
            a, b = poly[j], poly[(j + 1) % n]
            owners.setdefault((min(a, b), max(a, b)), []).append((p, j))
    neis = [[-1] * len(poly) for poly in polys]
    for pairs in owners.values():
        if len(pairs) == 2:
            (p, j), (q, k) = pairs
            if polys[p][j] == polys[q][(k + 1) % len(polys[q])]:  # opposite directions
                neis[p][j], neis[q][k] = q, p
    return [tuple(n) for n in neis]


def _detail_triangles(xy: NDArray[np.float64]) -> list[tuple[int, int, int]]:
    """Triangles of one convex polygon over its own vertices, none of zero area.

    Ear clipping of strictly convex corners: a plain fan would make zero-area triangles
    where the polygon keeps a straight-angle vertex (shared with a neighbour's corner).
    """
    ring = list(range(len(xy)))
    tris: list[tuple[int, int, int]] = []
    while len(ring) > 3:
        n = len(ring)
        best, best_area = -1, 0.0
        for k in range(n):
            a, b, c = xy[ring[k - 1]], xy[ring[k]], xy[ring[(k + 1) % n]]
            area = (c[0] - a[0]) * (b[1] - a[1]) - (b[0] - a[0]) * (c[1] - a[1])
            if area > best_area:
                best, best_area = k, area
        if best < 0:
            break
        tris.append((ring[best - 1], ring[best], ring[(best + 1) % n]))
        del ring[best]
    tris.append((ring[0], ring[1], ring[2]))
    return tris


def _bv_tree(boxes_min: NDArray[np.int64], boxes_max: NDArray[np.int64]) -> list[tuple[int, ...]]:
    """Detour's BV tree (``createBVTree``): pre-order, median split on the longest axis."""
    nodes: list[tuple[int, ...]] = []
    items = list(range(len(boxes_min)))

    def subdivide(chosen: list[int]) -> None:
        here = len(nodes)
        if len(chosen) == 1:
            i = chosen[0]
            nodes.append((*boxes_min[i], *boxes_max[i], i))
            return
        lo = boxes_min[chosen].min(axis=0)
        hi = boxes_max[chosen].max(axis=0)
        nodes.append(())  # filled once the escape index is known
        axis = int(np.argmax(hi - lo))
        ordered = sorted(chosen, key=lambda i: int(boxes_min[i][axis]))
        half = len(ordered) // 2
        subdivide(ordered[:half])
        subdivide(ordered[half:])
        nodes[here] = (*lo, *hi, -(len(nodes) - here))

    if items:
        subdivide(items)
    return nodes


def write_navmesh(
    verts: NDArray[np.float64], polys: Sequence[Sequence[int]], areas: Sequence[int]
) -> bytes:
    """Write convex polygons as a one-tile ``MSET`` navmesh file.

    Args:
        verts: (V, 3) CARLA-frame x, y, z [m] of the welded vertices (feet height).
        polys: Vertex indices per polygon, 3..6 each, convex; either winding (normalised).
            Polygons that share an edge must share its two vertex indices.
        areas: CARLA area id (``AREA_*``) per polygon.

    Returns:
        The file's bytes.

    Raises:
        NavMeshFormatError: if the polygons exceed Detour's limits or are malformed.
    """
    verts = np.asarray(verts, dtype=np.float64)
    if verts.ndim != 2 or verts.shape[1] != 3 or not np.isfinite(verts).all():
        raise NavMeshFormatError("navmesh vertices must be a finite (V, 3) array")
    if not polys:
        raise NavMeshFormatError("navmesh has no polygons")
    if len(polys) > MAX_POLYS or len(verts) > MAX_VERTS:
        raise NavMeshFormatError(
            f"navmesh too large for one Detour tile: {len(polys)} polygons (max {MAX_POLYS}),"
            f" {len(verts)} vertices (max {MAX_VERTS})"
        )
    if len(areas) != len(polys):
        raise NavMeshFormatError(f"{len(areas)} areas for {len(polys)} polygons")
    oriented: list[tuple[int, ...]] = []
    for p, poly in enumerate(polys):
        idx = tuple(int(i) for i in poly)
        if not 3 <= len(idx) <= MAX_VERTS_PER_POLY or len(set(idx)) != len(idx):
            raise NavMeshFormatError(f"polygon {p} has vertices {idx}: need 3..6 distinct")
        if min(idx) < 0 or max(idx) >= len(verts):
            raise NavMeshFormatError(f"polygon {p} indexes a vertex outside 0..{len(verts) - 1}")
        area2 = _signed_area2(verts[list(idx), :2])
        if area2 == 0.0:
            raise NavMeshFormatError(f"polygon {p} has zero area")
        # Detour wants positive dtTriArea2D: clockwise with CARLA y up.
        oriented.append(idx if area2 < 0.0 else idx[::-1])
    for p, area in enumerate(areas):
        if area not in FLAG_OF_AREA:
            raise NavMeshFormatError(f"polygon {p} has unknown area {area}")
    neis = _edge_neighbours(oriented)

    recast = verts[:, [0, 2, 1]].astype(np.float32)  # (x, z, y): Recast is y-up
    bmin = recast.min(axis=0) - np.float32(0.1)
    bmax = recast.max(axis=0) + np.float32(0.1)
    quant = 1.0 / _CELL_SIZE
    if float((bmax - bmin).max()) * quant > 0xFFFF:
        raise NavMeshFormatError(f"map spans {float((bmax - bmin).max()):.0f} m: too large")

    poly_bytes = bytearray()
    detail_bytes = bytearray()
    tri_bytes = bytearray()
    tri_base = 0
    edges = 0
    portals = 0
    for p, idx in enumerate(oriented):
        n = len(idx)
        nei = [0] * MAX_VERTS_PER_POLY
        for j, q in enumerate(neis[p]):
            nei[j] = q + 1 if q >= 0 else 0
            edges += 1
            portals += q >= 0
        vslots = list(idx) + [0xFFFF] * (MAX_VERTS_PER_POLY - n)
        flag = FLAG_OF_AREA[int(areas[p])]
        poly_bytes += _POLY.pack(0, *vslots, *nei, flag, n, int(areas[p]) & 0x3F)
        tris = _detail_triangles(verts[list(idx), :2])
        for a, b, c in tris:
            edge_flags = 0
            for e, (u, v) in enumerate(((a, b), (b, c), (c, a))):
                if (u + 1) % n == v or (v + 1) % n == u:
                    edge_flags |= DETAIL_EDGE_BOUNDARY << (e * 2)
            tri_bytes += struct.pack("<4B", a, b, c, edge_flags)
        detail_bytes += _DETAIL.pack(0, tri_base, 0, len(tris))
        tri_base += len(tris)

    box_min = np.zeros((len(oriented), 3), dtype=np.int64)
    box_max = np.zeros((len(oriented), 3), dtype=np.int64)
    for p, idx in enumerate(oriented):
        pts = recast[list(idx)]
        box_min[p] = np.clip(np.floor((pts.min(axis=0) - bmin) * quant), 0, 0xFFFF)
        box_max[p] = np.clip(np.ceil((pts.max(axis=0) - bmin) * quant), 0, 0xFFFF)
    bv_nodes = _bv_tree(box_min, box_max)
    bv_bytes = b"".join(_BV_NODE.pack(*node) for node in bv_nodes)

    max_links = max(1, edges + portals * 2)
    header = _TILE_HEADER.pack(
        TILE_MAGIC, TILE_VERSION, 0, 0, 0, 0,
        len(oriented), len(verts), max_links, len(oriented), 0, tri_base, len(bv_nodes), 0,
        len(oriented),  # offMeshBase: no off-mesh connections
        _WALKABLE_HEIGHT, _WALKABLE_RADIUS, _WALKABLE_CLIMB,
        *bmin.tolist(), *bmax.tolist(), quant,
    )  # fmt: skip
    tile = b"".join(
        (
            header,
            recast.astype("<f4").tobytes(),
            bytes(poly_bytes),
            bytes(_LINK_SIZE * max_links),
            bytes(detail_bytes),
            bytes(tri_bytes),
            bv_bytes,
        )
    )
    max_polys = 1 << max(0, (len(oriented) - 1).bit_length())
    poly_bits = max_polys.bit_length() - 1
    if min(31, 32 - poly_bits) < 10:
        raise NavMeshFormatError(f"{len(oriented)} polygons leave too few salt bits")
    set_header = _SET_HEADER.pack(
        SET_MAGIC, SET_VERSION, 1, *bmin.tolist(),
        float(bmax[0] - bmin[0]), float(bmax[2] - bmin[2]), 1, max_polys,
    )  # fmt: skip
    tile_ref = 1 << poly_bits  # salt 1, tile 0
    return set_header + _TILE_ENTRY.pack(tile_ref, len(tile)) + tile


def read_navmesh(data: bytes) -> NavMeshData:
    """Parse a file written by ``write_navmesh`` (one tile) and check its structure.

    Raises:
        NavMeshFormatError: naming the first field that is wrong.
    """
    if len(data) < _SET_HEADER.size + _TILE_ENTRY.size:
        raise NavMeshFormatError(f"navmesh file of {len(data)} bytes is too short")
    magic, version, tiles, *params = _SET_HEADER.unpack_from(data, 0)
    if magic != SET_MAGIC or version != SET_VERSION:
        raise NavMeshFormatError(f"not an MSET v1 file (magic {magic:#x}, version {version})")
    if tiles != 1:
        raise NavMeshFormatError(f"expected one tile, found {tiles}")
    max_polys = int(params[6])
    tile_ref, size = _TILE_ENTRY.unpack_from(data, _SET_HEADER.size)
    start = _SET_HEADER.size + _TILE_ENTRY.size
    if tile_ref == 0 or size <= 0 or start + size != len(data):
        raise NavMeshFormatError(f"bad tile entry: ref {tile_ref}, size {size}")
    tile = data[start:]
    h = _TILE_HEADER.unpack_from(tile, 0)
    if h[0] != TILE_MAGIC or h[1] != TILE_VERSION:
        raise NavMeshFormatError(f"tile is not DNAV v7 (magic {h[0]:#x}, version {h[1]})")
    npoly, nvert, nlink, ndetail, ndv, ntri, nbv, noff = h[6:14]
    if ndetail != npoly:
        raise NavMeshFormatError(f"{ndetail} detail meshes for {npoly} polygons")
    if nlink < 1 or noff != 0:
        raise NavMeshFormatError(f"link count {nlink}, off-mesh count {noff}")
    if npoly > max_polys or tile_ref != max_polys:
        raise NavMeshFormatError(f"{npoly} polygons vs maxPolys {max_polys}, ref {tile_ref}")
    expected = (
        _TILE_HEADER.size + 12 * nvert + _POLY.size * npoly + _LINK_SIZE * nlink
        + _DETAIL.size * ndetail + 12 * ndv + 4 * ntri + _BV_NODE.size * nbv
    )  # fmt: skip
    if expected != len(tile):
        raise NavMeshFormatError(f"tile is {len(tile)} bytes, its counts need {expected}")
    off = _TILE_HEADER.size
    recast = np.frombuffer(tile, "<f4", 3 * nvert, off).reshape(nvert, 3).astype(np.float64)
    off += 12 * nvert
    verts = recast[:, [0, 2, 1]]
    polys: list[tuple[int, ...]] = []
    areas: list[int] = []
    flags: list[int] = []
    neighbours: list[tuple[int, ...]] = []
    for p in range(npoly):
        fields = _POLY.unpack_from(tile, off + p * _POLY.size)
        n = fields[14]
        idx = tuple(fields[1 : 1 + n])
        if not 3 <= n <= MAX_VERTS_PER_POLY or max(idx) >= nvert:
            raise NavMeshFormatError(f"polygon {p}: {n} vertices {idx}")
        if _signed_area2(verts[list(idx), :2]) >= 0.0:
            raise NavMeshFormatError(f"polygon {p} is not wound for Detour")
        nei = tuple(v - 1 for v in fields[7 : 7 + n])
        if any(q >= npoly or q & 0x8000 for q in nei if q >= 0):
            raise NavMeshFormatError(f"polygon {p} has a neighbour outside the tile: {nei}")
        polys.append(idx)
        neighbours.append(nei)
        flags.append(fields[13])
        areas.append(fields[15] & 0x3F)
    off += _POLY.size * npoly + _LINK_SIZE * nlink
    for p in range(npoly):
        _vbase, tbase, dv, dt = _DETAIL.unpack_from(tile, off + p * _DETAIL.size)
        if dv != 0 or dt < 1 or tbase + dt > ntri:
            raise NavMeshFormatError(f"polygon {p}: detail mesh {tbase}+{dt} of {ntri}")
        tri_off = _TILE_HEADER.size + 12 * nvert + _POLY.size * npoly + _LINK_SIZE * nlink
        tri_off += _DETAIL.size * ndetail + 12 * ndv
        n = len(polys[p])
        for t in range(tbase, tbase + dt):
            a, b, c, ef = struct.unpack_from("<4B", tile, tri_off + 4 * t)
            if max(a, b, c) >= n:
                raise NavMeshFormatError(f"polygon {p}: detail triangle {t} indexes {a, b, c}")
            for e, (u, v) in enumerate(((a, b), (b, c), (c, a))):
                boundary = (u + 1) % n == v or (v + 1) % n == u
                if boundary != bool((ef >> (2 * e)) & DETAIL_EDGE_BOUNDARY):
                    raise NavMeshFormatError(f"polygon {p}: detail triangle {t} edge flags")
    return NavMeshData(verts, polys, areas, flags, neighbours)
