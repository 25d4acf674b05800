"""The triangle soup that cameras draw and ray casts hit: one contract for both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(slots=True)
class SceneMesh:
    """Triangles in CARLA's world frame.

    Attributes:
        vertices: (V, 3) float32, metres.
        triangles: (T, 3) uint32 indices into ``vertices``.
        tags: (T,) uint8 CARLA 0.9.16 semantic tag of each triangle.
        colors: (T, 3) uint8 base colour of each triangle (RGB).
        instance_ids: (T,) uint32 actor id of each triangle (0: the static world).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    tags: np.ndarray
    colors: np.ndarray
    instance_ids: np.ndarray

    @staticmethod
    def empty() -> SceneMesh:
        return SceneMesh(
            vertices=np.zeros((0, 3), np.float32),
            triangles=np.zeros((0, 3), np.uint32),
            tags=np.zeros(0, np.uint8),
            colors=np.zeros((0, 3), np.uint8),
            instance_ids=np.zeros(0, np.uint32),
        )

    @property
    def triangle_count(self) -> int:
        return int(self.triangles.shape[0])


def face_normals(corners: NDArray[np.floating]) -> NDArray[np.float64]:
    """Unit normals ``cross(v1 - v0, v2 - v0)`` of (T, 3, 3) triangles (0 if degenerate)."""
    c = np.asarray(corners, dtype=np.float64)
    n = np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)
