"""Rotation matrices in CARLA's (Unreal's) convention, for the sensors' poses and bodies."""

from __future__ import annotations

import numpy as np


def rotation_matrices(angles_deg: np.ndarray) -> np.ndarray:
    """(K, 3, 3) rotations of (K, 3) pitch, yaw, roll [deg] in CARLA's convention.

    Columns are the forward, right and up axes, so ``world = R @ local``.
    """
    rad = np.radians(np.asarray(angles_deg, np.float64).reshape(-1, 3))
    cos, sin = np.cos(rad), np.sin(rad)
    cp, cy, cr = cos[:, 0], cos[:, 1], cos[:, 2]
    sp, sy, sr = sin[:, 0], sin[:, 1], sin[:, 2]
    out = np.empty((len(rad), 3, 3))
    out[:, 0, 0] = cp * cy
    out[:, 1, 0] = cp * sy
    out[:, 2, 0] = sp
    out[:, 0, 1] = sr * sp * cy - cr * sy
    out[:, 1, 1] = sr * sp * sy + cr * cy
    out[:, 2, 1] = -sr * cp
    out[:, 0, 2] = -(cr * sp * cy + sr * sy)
    out[:, 1, 2] = cy * sr - cr * sp * sy
    out[:, 2, 2] = cr * cp
    return out
