"""The triangle soup that cameras draw and ray casts hit: one contract for both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

    @property
    def triangle_count(self) -> int:
        return int(self.triangles.shape[0])
