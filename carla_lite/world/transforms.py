"""Pose composition in CARLA's (Unreal's) rotation convention."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from carla_lite.geom import Transform


def rotation_axes(
    pitch: float, yaw: float, roll: float
) -> tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]:
    """Forward, right and up unit vectors of a rotation given in degrees (Unreal convention)."""
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    forward = (cp * cy, cp * sy, sp)
    right = (sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp)
    up = (-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp)
    return forward, right, up


def compose(parent: Transform, relative: Transform) -> Transform:
    """World pose of a child attached to ``parent`` at ``relative``.

    Locations compose exactly; rotations add angle-wise, which is exact for the usual case
    of a parent with no pitch or roll (vehicles on flat roads) and close otherwise.
    """
    fwd, right, up = rotation_axes(parent.pitch, parent.yaw, parent.roll)
    rx, ry, rz = relative.x, relative.y, relative.z
    return Transform(
        parent.x + rx * fwd[0] + ry * right[0] + rz * up[0],
        parent.y + rx * fwd[1] + ry * right[1] + rz * up[1],
        parent.z + rx * fwd[2] + ry * right[2] + rz * up[2],
        parent.pitch + relative.pitch,
        _wrap_degrees(parent.yaw + relative.yaw),
        parent.roll + relative.roll,
    )


def compose_rows(
    parents: NDArray[np.float64], relatives: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``compose`` over pose rows: (N, 6) parents and (N, 6) relative poses -> (N, 6)."""
    pitch, yaw, roll = (np.radians(parents[:, i]) for i in (3, 4, 5))
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    cr, sr = np.cos(roll), np.sin(roll)
    forward = (cp * cy, cp * sy, sp)
    right = (sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp)
    up = (-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp)
    rx, ry, rz = relatives[:, 0], relatives[:, 1], relatives[:, 2]
    out = np.empty_like(parents)
    for i in range(3):
        out[:, i] = parents[:, i] + rx * forward[i] + ry * right[i] + rz * up[i]
    out[:, 3] = parents[:, 3] + relatives[:, 3]
    out[:, 4] = (parents[:, 4] + relatives[:, 4] + 180.0) % 360.0 - 180.0
    out[:, 5] = parents[:, 5] + relatives[:, 5]
    return out


def _wrap_degrees(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0
