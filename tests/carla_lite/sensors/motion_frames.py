"""Hand-made SensorFrames for sensor unit tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from carla_lite.maps.georeference import GeoReference
from carla_lite.sensors.frame import Bodies, SensorFrame


def kinematics_row(
    pose: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0),
    angular_velocity: tuple[float, float, float] = (0.0, 0.0, 0.0),
    acceleration: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[float]:
    """One actor's 15 values; a short ``pose`` (x, y, z) is padded with zero angles."""
    full_pose = [*pose, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0][:6]
    return [*full_pose, *velocity, *angular_velocity, *acceleration]


def make_frame(
    rows: dict[int, list[float]],
    *,
    geo: GeoReference | None = None,
    frame: int = 7,
    delta_seconds: float = 0.05,
    imu_gravity: float = 9.81,
) -> SensorFrame:
    """A frame holding ``rows`` (actor id -> 15 kinematics values) on a map with ``geo``."""
    ids = list(rows)
    road_map = SimpleNamespace(geo_reference=geo or GeoReference(0.0, 0.0))
    return SensorFrame(
        frame=frame,
        timestamp=frame * delta_seconds,
        delta_seconds=delta_seconds,
        road_map=cast(Any, road_map),
        weather=(0.0,) * 14,
        ids=np.array(ids, dtype=np.uint32),
        kinematics=np.array([rows[i] for i in ids], dtype=np.float64).reshape(len(ids), 15),
        rows={actor_id: row for row, actor_id in enumerate(ids)},
        bodies=Bodies.empty(),
        imu_gravity=imu_gravity,
    )
