"""Plain geometry records shared by the simulation, maps and protocol.

Everything is in CARLA's world frame (Unreal, left-handed): x forward, y right, z up,
metres; rotations in degrees with yaw measured from +x towards +y. OpenDRIVE's frame
has y flipped: ``carla_y = -odr_y`` and ``carla_yaw = -odr_heading``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Vector3:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass(slots=True)
class Transform:
    """A pose: location [m] and rotation [deg] (pitch, yaw, roll)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0

    def forward(self) -> tuple[float, float]:
        """Unit vector of the heading projected on the ground plane."""
        yaw = math.radians(self.yaw)
        return math.cos(yaw), math.sin(yaw)


@dataclass(slots=True)
class BoundingBox:
    """Box relative to its actor: centre offset and half extents [m]."""

    location: Vector3
    extent: Vector3
