"""Building triangle meshes: ``MeshBuilder`` and the primitives (strips, quads, boxes, the
rectangles covering a grid) that the static scene and the bodies are made of."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from carla_lite.sensors.scene.mesh import SceneMesh

_UP = np.array([0.0, 0.0, 1.0])


@dataclass(slots=True)
class MeshBuilder:
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
            return SceneMesh.empty()
        tris = np.concatenate(self.triangles)
        return SceneMesh(
            vertices=np.ascontiguousarray(np.concatenate(self.vertices)),
            triangles=np.ascontiguousarray(tris),
            tags=np.ascontiguousarray(np.concatenate(self.tags)),
            colors=np.ascontiguousarray(np.concatenate(self.colors)),
            instance_ids=np.zeros(len(tris), dtype=np.uint32),
        )


def strip(a: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Quad strip between two (n, 3) polylines: vertices (2n, 3), triangles (2(n-1), 3)."""
    n = len(a)
    verts = np.concatenate((a, b))
    i = np.arange(n - 1, dtype=np.uint32)
    tris = np.empty((2 * (n - 1), 3), dtype=np.uint32)
    tris[0::2] = np.stack((i, i + 1, i + n), axis=1)
    tris[1::2] = np.stack((i + 1, i + n + 1, i + n), axis=1)
    return verts, tris


_QUAD = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)


def quads(corners: NDArray[np.floating]) -> tuple[NDArray, NDArray]:
    """(N, 4, 3) corners of quads (in order around each) -> vertices (4N, 3), triangles
    (2N, 3)."""
    base = (4 * np.arange(len(corners), dtype=np.uint32))[:, None, None]
    return corners.reshape(-1, 3), (_QUAD[None] + base).reshape(-1, 3)


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


def boxes(
    lo: NDArray[np.float64], hi: NDArray[np.float64], bottom: bool = False
) -> tuple[NDArray, NDArray]:
    """Axis-aligned boxes (N, 3) lo/hi -> vertices (8N, 3), triangles (12N or 10N, 3),
    wound outward."""
    faces = _BOX_FACES if bottom else _BOX_FACES[2:]
    n = len(lo)
    verts = _box_corners(lo, hi).reshape(-1, 3)
    tris = (faces[None, :, :] + (8 * np.arange(n, dtype=np.uint32))[:, None, None]).reshape(-1, 3)
    return verts, tris


def grid_rectangles(labels: NDArray[np.integer]) -> NDArray[np.int64]:
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
