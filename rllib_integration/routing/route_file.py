"""Routes listed in a yaml file: a start, a goal and optional points to pass through.

Format::

    routes:
      - name: town01_loop       # optional
        start: [92.1, 37.1, 0.0]
        goal: [334.8, 59.7, 0.0]
        via: [[150.0, 55.0, 0.0]]   # optional, in order
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rllib_integration.errors import ConfigError
from rllib_integration.routing.planner import RoutePlanner
from rllib_integration.routing.route import Route

Location = tuple[float, float, float]
_KEYS = ("name", "start", "goal", "via")


@dataclass(frozen=True)
class RouteSpec:
    """A route as written: start, goal and points in between (planned per map)."""

    name: str
    start: Location
    goal: Location
    via: tuple[Location, ...] = ()

    def plan(self, planner: RoutePlanner) -> Route:
        """The planned route through every point in order.

        Raises:
            ConfigError: a point is off the road, or a leg cannot be driven.
        """
        stops = [self.start, *self.via, self.goal]
        legs = [planner.plan(a, b, self.name) for a, b in itertools.pairwise(stops)]
        if len(legs) == 1:
            return legs[0]
        points = np.concatenate([legs[0].points] + [leg.points[1:] for leg in legs[1:]])
        marks: list[int] = list(legs[0].junction_entries)
        offset = len(legs[0].points) - 1
        for leg in legs[1:]:
            marks += [offset + m for m in leg.junction_entries]
            offset += len(leg.points) - 1
        return Route(points, tuple(marks), self.name)


def load_route_file(path: str | Path) -> list[RouteSpec]:
    """The routes of a yaml file.

    Raises:
        ConfigError: unreadable file, or an entry that is not a route; the message names
            the file and the entry.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read the route file ({error})") from error
    entries = data.get("routes") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected 'routes:' with a list of routes")
    return [parse_route_spec(entry, f"{path.name}: routes[{i}]") for i, entry in enumerate(entries)]


def parse_route_spec(entry: Any, where: str) -> RouteSpec:
    """One route entry (a mapping with start, goal, optional name and via)."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with start and goal, got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in _KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; valid: {', '.join(_KEYS)}")
    for key in ("start", "goal"):
        if key not in entry:
            raise ConfigError(f"{where}: missing '{key}' ([x, y, z] in metres)")
    via = entry.get("via") or []
    if not isinstance(via, Sequence) or isinstance(via, str):
        raise ConfigError(f"{where}.via: expected a list of [x, y, z]")
    return RouteSpec(
        name=str(entry.get("name") or where.rsplit(": ", 1)[-1]),
        start=_location(entry["start"], f"{where}.start"),
        goal=_location(entry["goal"], f"{where}.goal"),
        via=tuple(_location(p, f"{where}.via[{i}]") for i, p in enumerate(via)),
    )


def _location(value: Any, where: str) -> Location:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) not in (2, 3)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where}: expected [x, y] or [x, y, z] in metres, got {value!r}")
    x, y, *rest = (float(v) for v in value)
    return (x, y, rest[0] if rest else 0.0)
