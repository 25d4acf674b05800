"""A route as a dense polyline, and the tracker of how far along it a vehicle got."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Spacing of a route's points [m]: fine enough for progress, cheap to search.
POINT_SPACING = 1.0


@dataclass(frozen=True)
class Route:
    """A planned route.

    Attributes:
        points: float64 (N, 4): x, y, z [m] and the lane heading yaw [deg] every
            ``POINT_SPACING`` metres from start to goal.
        junction_entries: indices of ``points`` where the route enters a lane of a new road
            (the places a path follower must choose; the Traffic Manager's ``set_path``).
        name: for tables and logs.
    """

    points: np.ndarray
    junction_entries: tuple[int, ...] = ()
    name: str = "route"
    cumulative: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != 4 or len(self.points) < 2:
            raise ValueError(f"a route needs (N >= 2, 4) points, got {self.points.shape}")
        steps = np.hypot(np.diff(self.points[:, 0]), np.diff(self.points[:, 1]))
        object.__setattr__(self, "cumulative", np.concatenate([[0.0], np.cumsum(steps)]))

    @property
    def length(self) -> float:
        """The route's length along its points [m]."""
        return float(self.cumulative[-1])

    @property
    def start(self) -> tuple[float, float, float, float]:
        """``(x, y, z, yaw)`` of the first point."""
        x, y, z, yaw = self.points[0]
        return float(x), float(y), float(z), float(yaw)

    @property
    def goal(self) -> tuple[float, float, float]:
        """``(x, y, z)`` of the last point."""
        x, y, z, _ = self.points[-1]
        return float(x), float(y), float(z)

    def point_at(self, distance: float) -> tuple[float, float, float, float]:
        """``(x, y, z, yaw)`` of the point ``distance`` metres along the route (clamped)."""
        index = int(np.searchsorted(self.cumulative, min(max(distance, 0.0), self.length)))
        x, y, z, yaw = self.points[min(index, len(self.points) - 1)]
        return float(x), float(y), float(z), float(yaw)

    def path_locations(self, spacing: float = 10.0) -> list[tuple[float, float, float]]:
        """Points every ``spacing`` metres plus every junction entry and the goal.

        A path follower (the Traffic Manager's ``set_path``) needs a point in every lane it
        must pick; points in between keep it on the route where lanes run in parallel.
        """
        wanted = set(range(0, len(self.points), max(int(spacing / POINT_SPACING), 1)))
        wanted.update(self.junction_entries)
        wanted.add(len(self.points) - 1)
        return [tuple(float(v) for v in self.points[i, :3]) for i in sorted(wanted)]  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        """A yaml/json-friendly description (start, goal, length)."""
        return {
            "name": self.name,
            "start": [round(v, 2) for v in self.start[:3]],
            "goal": [round(v, 2) for v in self.goal],
            "length_m": round(self.length, 1),
        }


class RouteProgress:
    """How far along a route a vehicle has come, and how far from it it is.

    Progress is the route point nearest to the vehicle, searched only in a window ahead of
    the last one reached and only within ``reach`` of the vehicle: it never moves back, and
    driving across a loop or cutting through a block does not skip the route's distance.

    Args:
        route: the route.
        window: how far ahead [m] of the last reached point the match is searched.
        reach: the largest distance [m] from the route at which a point counts as reached.
    """

    def __init__(self, route: Route, window: float = 15.0, reach: float = 4.0) -> None:
        self.route = route
        self.window = window
        self.reach = reach
        self.index = 0
        #: Distance [m] from the vehicle to the nearest route point in the window.
        self.distance_to_route = 0.0

    @property
    def distance(self) -> float:
        """Metres of route completed."""
        return float(self.route.cumulative[self.index])

    @property
    def fraction(self) -> float:
        """Share of the route completed, 0..1."""
        return self.distance / self.route.length if self.route.length > 0 else 1.0

    @property
    def remaining(self) -> float:
        """Metres of route left."""
        return self.route.length - self.distance

    def update(self, x: float, y: float) -> float:
        """Advance with the vehicle at ``(x, y)``; return the metres gained by this update."""
        route = self.route
        before = self.distance
        end = int(np.searchsorted(route.cumulative, before + self.window, side="right"))
        window = route.points[self.index : max(end, self.index + 1), :2]
        gaps = np.hypot(window[:, 0] - x, window[:, 1] - y)
        nearest = int(np.argmin(gaps))
        self.distance_to_route = float(gaps[nearest])
        if gaps[nearest] <= self.reach:
            self.index += nearest
        return self.distance - before

    def points_ahead(self, distance: float) -> np.ndarray:
        """(x, y) of the route points from the progress point to ``distance`` metres on."""
        cumulative = self.route.cumulative
        here = self.distance
        ahead = (cumulative >= here) & (cumulative <= here + distance)
        return self.route.points[ahead, :2]

    def lookahead(
        self, x: float, y: float, yaw_deg: float, distances: tuple[float, ...]
    ) -> np.ndarray:
        """Route points ``distances`` metres ahead of progress, in the vehicle's frame.

        Returns:
            float32 (len(distances), 2): forward and right-hand coordinates [m] (x ahead,
            y to the right, as CARLA's left-handed frame).
        """
        yaw = math.radians(yaw_deg)
        cos, sin = math.cos(yaw), math.sin(yaw)
        out = np.empty((len(distances), 2), dtype=np.float32)
        for row, ahead in enumerate(distances):
            px, py, _, _ = self.route.point_at(self.distance + ahead)
            dx, dy = px - x, py - y
            out[row] = (dx * cos + dy * sin, -dx * sin + dy * cos)
        return out
