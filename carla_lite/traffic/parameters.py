"""Traffic Manager settings: global values and per-vehicle overrides, as numpy columns.

The client's setters (``tm.vehicle_percentage_speed_difference(actor, 20)`` and friends) land
here; the planner reads one column per setting, refreshed only when something changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: CARLA's defaults (LibCarla trafficmanager Constants.h / Parameters.cpp).
DEFAULT_SPEED_DIFFERENCE = 0.0  # [%] below the speed limit
DEFAULT_DISTANCE_TO_LEADER = 2.0  # [m] kept to the vehicle in front when stopped
DEFAULT_HYBRID_RADIUS = 50.0  # [m]

#: Per-vehicle float settings and their global fallbacks (None: no global setter exists).
_FLOAT_KEYS = (
    "speed_difference",  # [%] below the speed limit (negative: above)
    "desired_speed",  # [km/h] exact cruise speed; NaN: use the speed difference
    "lane_offset",  # [m] right of the lane centre
    "distance_to_leader",  # [m]
    "running_light",  # [%] chance to run a red light
    "running_sign",  # [%] chance to run a stop sign
    "ignore_walkers",  # [%] chance per tick to ignore walkers
    "ignore_vehicles",  # [%] chance per tick to ignore vehicles
    "keep_slow_lane",  # [%] chance per tick to move to the slow (outer) lane
    "random_left",  # [%] chance per tick of a left lane change
    "random_right",  # [%] chance per tick of a right lane change
)
_BOOL_KEYS = ("auto_lane_change", "update_lights")


@dataclass
class TrafficParameters:
    """Global settings plus per-vehicle overrides (``None`` entries fall back to global)."""

    speed_difference: float = DEFAULT_SPEED_DIFFERENCE
    lane_offset: float = 0.0
    distance_to_leader: float = DEFAULT_DISTANCE_TO_LEADER
    synchronous: bool = False
    synchronous_timeout_ms: float = 0.0
    hybrid_physics: bool = False
    hybrid_radius: float = DEFAULT_HYBRID_RADIUS
    osm_mode: bool = True
    respawn_dormant: bool = False
    respawn_bounds: tuple[float, float] = (25.0, 100.0)
    max_bounds: tuple[float, float] = (0.0, 0.0)
    per_vehicle: dict[int, dict[str, float | bool]] = field(default_factory=dict)
    #: (reference actor, other actor) pairs whose collisions the reference ignores.
    ignored_pairs: set[tuple[int, int]] = field(default_factory=set)
    #: Bumped on every change, so cached columns know when to refresh.
    version: int = 0

    def set_global(self, name: str, value: float | bool | tuple[float, float]) -> None:
        setattr(self, name, value)
        self.version += 1

    def set_vehicle(self, actor_id: int, name: str, value: float | bool) -> None:
        if name not in _FLOAT_KEYS and name not in _BOOL_KEYS:
            raise KeyError(f"unknown Traffic Manager setting {name!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        self.per_vehicle.setdefault(actor_id, {})[name] = value
        self.version += 1

    def set_collision_detection(self, actor_id: int, other_id: int, detect: bool) -> None:
        if detect:
            self.ignored_pairs.discard((actor_id, other_id))
        else:
            self.ignored_pairs.add((actor_id, other_id))
        self.version += 1

    def forget(self, actor_ids: set[int]) -> None:
        """Drop the overrides of vehicles that left the Traffic Manager."""
        for actor_id in actor_ids:
            self.per_vehicle.pop(actor_id, None)
        self.ignored_pairs = {p for p in self.ignored_pairs if p[0] not in actor_ids}
        self.version += 1

    def columns(self, actor_ids: list[int]) -> dict[str, np.ndarray]:
        """One array per setting, in ``actor_ids`` order, globals filled in."""
        n = len(actor_ids)
        fallback: dict[str, float] = {
            "speed_difference": self.speed_difference,
            "desired_speed": math.nan,
            "lane_offset": self.lane_offset,
            "distance_to_leader": self.distance_to_leader,
        }
        out: dict[str, np.ndarray] = {}
        for key in _FLOAT_KEYS:
            out[key] = np.full(n, fallback.get(key, 0.0))
        out["auto_lane_change"] = np.ones(n, dtype=bool)
        out["update_lights"] = np.zeros(n, dtype=bool)
        for row, actor_id in enumerate(actor_ids):
            for key, value in self.per_vehicle.get(actor_id, {}).items():
                out[key][row] = value
        return out
