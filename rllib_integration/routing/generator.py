"""Seeded routes of a given length: a random lane-following walk, then the planned route.

The same seed on the same map gives the same routes (the topology order is the map's).
A walk starts at a random point of a random lane outside junctions and takes random
branches until it has covered the length; its end is the goal, and the route is the planned
shortest path from the start to that goal, kept only if it is at least ``MIN_SHARE`` of the
length asked for (a walk that looped back gives a short plan and is drawn again).
"""

from __future__ import annotations

import random

import numpy as np

from rllib_integration.errors import ConfigError
from rllib_integration.routing.planner import RoutePlanner
from rllib_integration.routing.route import Route

MIN_SHARE = 0.8  # planned length / asked length below which a draw is rejected
MAX_DRAWS = 200


class RouteGenerator:
    """Draws routes on one map.

    Args:
        planner: the map's ``RoutePlanner``.
        seed: the seed of the draws (None: unseeded).
    """

    def __init__(self, planner: RoutePlanner, seed: int | None = None) -> None:
        self.planner = planner
        self.rng = random.Random(seed)
        self._starts = [i for i, s in enumerate(planner.segments) if not s.is_junction]
        if not self._starts:
            raise ConfigError(f"map {planner.map_name}: no lane outside junctions to start on")

    def generate(self, length: float, name: str = "route") -> Route:
        """One route of about ``length`` metres (at least ``MIN_SHARE`` of it).

        Raises:
            ConfigError: ``length`` is not positive, or no route that long was found in
                ``MAX_DRAWS`` draws (the map is too small for it).
        """
        if not length > 0:
            raise ConfigError(f"route length: must be > 0 m, got {length!r}")
        best: Route | None = None
        for _ in range(MAX_DRAWS):
            route = self._draw(length, name)
            if route is None:
                continue
            if route.length >= MIN_SHARE * length:
                return route
            if best is None or route.length > best.length:
                best = route
        found = f" (the longest found: {best.length:.0f} m)" if best is not None else ""
        raise ConfigError(
            f"no route of {length:.0f} m on {self.planner.map_name} in {MAX_DRAWS} draws"
            f"{found}; ask for a shorter route"
        )

    def generate_many(self, count: int, length: float, prefix: str = "route") -> list[Route]:
        """``count`` routes, named ``<prefix>_00``, ``<prefix>_01``, ..."""
        return [self.generate(length, f"{prefix}_{i:02d}") for i in range(count)]

    def _draw(self, length: float, name: str) -> Route | None:
        segments = self.planner.segments
        first = self.rng.choice(self._starts)
        first_at = self.rng.randrange(max(len(segments[first].points) - 1, 1))
        remaining = length - _length_from(segments[first].points, first_at)
        current, at = first, first_at
        while remaining > 0:
            options = self.planner.successors[current]
            if not options:
                return None  # a dead end before the length was covered
            current = self.rng.choice(options)
            at = 0
            remaining -= segments[current].length
        # Stop inside the last segment where the length is reached.
        points = segments[current].points
        steps = np.hypot(*np.diff(points[:, :2], axis=0).T)
        along = np.concatenate([[0.0], np.cumsum(steps)])
        last_at = int(np.searchsorted(along, along[-1] + remaining))
        last_at = max(last_at, at + 1 if current == first else 0)
        goal = tuple(float(v) for v in points[min(last_at, len(points) - 1), :3])
        start = tuple(float(v) for v in segments[first].points[first_at, :3])
        try:
            return self.planner.plan(start, goal, name)  # type: ignore[arg-type]
        except ConfigError:
            return None


def _length_from(points: np.ndarray, index: int) -> float:
    tail = points[index:, :2]
    return float(np.sum(np.hypot(*np.diff(tail, axis=0).T))) if len(tail) > 1 else 0.0
