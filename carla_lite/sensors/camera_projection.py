"""The view and projection of a CARLA camera (looking along its +x, z up) as matrices."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carla_lite.sensors.rotations import rotation_matrices

NEAR_CLIP = 0.1  # [m] as CARLA's cameras (10 cm)
FAR_CLIP = 3000.0  # [m] beyond the terrain plane's edge seen from inside the map


@dataclass(frozen=True, slots=True)
class CameraMatrices:
    """The matrices of one camera pose (row-major numpy; transpose for OpenGL)."""

    view_proj: NDArray[np.float64]  # world -> clip (y not flipped)
    eye_rot: NDArray[np.float64]  # world -> GL eye axes (right, up, backwards)
    position: NDArray[np.float64]
    forward: NDArray[np.float64]
    tan_half: tuple[float, float]


def camera_matrices(
    pose: NDArray[np.float64], width: int, height: int, fov: float
) -> CameraMatrices:
    """Projection of a CARLA camera at ``pose`` (x y z pitch yaw roll) with horizontal
    ``fov`` [deg] onto a ``width`` x ``height`` image."""
    x, y, z, pitch, yaw, roll = (float(v) for v in pose)
    rot = rotation_matrices(np.array([pitch, yaw, roll]))[0]
    forward, right, up = rot[:, 0], rot[:, 1], rot[:, 2]
    eye_rot = np.stack((right, up, -forward))
    position = np.array([x, y, z])
    view = np.eye(4)
    view[:3, :3] = eye_rot
    view[:3, 3] = -eye_rot @ position
    tan_x = math.tan(math.radians(fov) * 0.5)
    tan_y = tan_x * height / width
    n, f = NEAR_CLIP, FAR_CLIP
    proj = np.zeros((4, 4))
    proj[0, 0] = 1.0 / tan_x
    proj[1, 1] = 1.0 / tan_y
    proj[2, 2] = -(f + n) / (f - n)
    proj[2, 3] = -2.0 * f * n / (f - n)
    proj[3, 2] = -1.0
    return CameraMatrices(proj @ view, eye_rot, position, forward, (tan_x, tan_y))
