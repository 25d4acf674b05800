"""Shortest lane-following routes over a map's topology (A* on ``Map.get_topology()``).

The graph has one edge per topology segment (a lane of a road section, junction lanes
included), sampled into points with ``Waypoint.next_until_lane_end``; a segment leads to
every segment that starts where it ends. Routes follow lanes and never change lane, like
the Leaderboard's lane-following routes. Graphs are cached per map name in the process, so
an env plans each episode's route without walking the map again.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rllib_integration.errors import ConfigError
from rllib_integration.routing.route import POINT_SPACING, Route

if TYPE_CHECKING:
    import carla

#: Sampling step along a lane [m] when the graph is built.
SAMPLE_STEP = 2.0
#: A route's start or goal may lie this far from a lane centre [m].
MAX_SNAP = 10.0
#: Segment ends closer than this [m] are the same graph node.
JOIN_DISTANCE = 0.5

LaneKey = tuple[int, int, int]  # road_id, section_id, lane_id


@dataclass(frozen=True)
class Segment:
    """One lane of one road section: its sampled points and where it starts and ends."""

    key: LaneKey
    points: np.ndarray  # (M, 4) x, y, z, yaw
    is_junction: bool
    length: float


class RoutePlanner:
    """Plans routes on one map.

    Args:
        carla_map: the world's ``carla.Map``.

    Raises:
        ConfigError: the map has no driving lanes to route on.
    """

    def __init__(self, carla_map: carla.Map) -> None:
        self.map = carla_map
        self.map_name = carla_map.name
        self.segments: list[Segment] = []
        self._by_key: dict[LaneKey, list[int]] = {}
        for entry, exit_ in carla_map.get_topology():
            self._add_segment(entry, exit_)
        if not self.segments:
            raise ConfigError(f"map {self.map_name}: no driving lanes to plan routes on")
        self.successors = self._link()

    # -- building -----------------------------------------------------------------------
    def _add_segment(self, entry: carla.Waypoint, exit_: carla.Waypoint) -> None:
        waypoints = [entry, *entry.next_until_lane_end(SAMPLE_STEP)]
        end = exit_.transform.location
        last = waypoints[-1].transform.location
        rows = [_row(w) for w in waypoints]
        if last.distance(end) > 0.05:
            rows.append(_row(exit_))
        points = np.array(rows, dtype=np.float64)
        # Keep the lane as sampled; only collapse duplicate points at the end.
        keep = np.concatenate([[True], np.hypot(*np.diff(points[:, :2], axis=0).T) > 1e-3])
        points = points[keep]
        if len(points) < 2:
            return
        length = float(np.sum(np.hypot(*np.diff(points[:, :2], axis=0).T)))
        key = (entry.road_id, entry.section_id, entry.lane_id)
        self._by_key.setdefault(key, []).append(len(self.segments))
        self.segments.append(Segment(key, points, bool(entry.is_junction), length))

    def _link(self) -> list[list[int]]:
        """For each segment, the segments starting within ``JOIN_DISTANCE`` of its end."""
        starts = np.array([s.points[0, :2] for s in self.segments])
        successors: list[list[int]] = []
        for index, segment in enumerate(self.segments):
            end = segment.points[-1, :2]
            near = np.nonzero(np.hypot(*(starts - end).T) <= JOIN_DISTANCE)[0]
            successors.append([int(n) for n in near if n != index])
        return successors

    # -- queries ------------------------------------------------------------------------
    def locate(self, x: float, y: float, z: float = 0.0) -> tuple[int, int]:
        """``(segment, point index)`` of the driving lane point nearest to (x, y, z).

        Raises:
            ConfigError: no driving lane near that location.
        """
        import carla

        location = carla.Location(x, y, z)
        waypoint = self.map.get_waypoint(
            location, project_to_road=True, lane_type=carla.LaneType.Driving
        )
        if waypoint is None or waypoint.transform.location.distance(location) > MAX_SNAP:
            raise ConfigError(
                f"({x:.1f}, {y:.1f}, {z:.1f}) is not near a driving lane of {self.map_name} "
                f"(farther than {MAX_SNAP:.0f} m)"
            )
        key = (waypoint.road_id, waypoint.section_id, waypoint.lane_id)
        candidates = self._by_key.get(key) or range(len(self.segments))
        best = (math.inf, 0, 0)
        for index in candidates:
            points = self.segments[index].points
            gaps = np.hypot(points[:, 0] - x, points[:, 1] - y)
            nearest = int(np.argmin(gaps))
            if gaps[nearest] < best[0]:
                best = (float(gaps[nearest]), index, nearest)
        return best[1], best[2]

    def plan(
        self,
        start: tuple[float, float, float],
        goal: tuple[float, float, float],
        name: str = "route",
    ) -> Route:
        """The shortest lane-following route from ``start`` to ``goal`` (x, y, z each).

        Raises:
            ConfigError: a location is not near a driving lane, or the goal cannot be
                reached from the start by following lanes.
        """
        first, first_at = self.locate(*start)
        last, last_at = self.locate(*goal)
        chain: list[int] | None = [first]
        if not (first == last and last_at > first_at):
            chain = self._search(first, last)
        if chain is None:
            raise ConfigError(
                f"{name}: no lane-following path on {self.map_name} from "
                f"{_fmt(start)} to {_fmt(goal)}"
            )
        return self.route_through(chain, first_at, last_at, name)

    def route_through(self, chain: list[int], first_at: int, last_at: int, name: str) -> Route:
        """The route along segments ``chain``, from point ``first_at`` of the first to point
        ``last_at`` of the last, resampled every ``POINT_SPACING`` metres."""
        pieces: list[np.ndarray] = []
        entries: list[int] = []
        count = 0
        for position, index in enumerate(chain):
            points = self.segments[index].points
            begin = first_at if position == 0 else 0
            end = last_at + 1 if position == len(chain) - 1 else len(points)
            piece = points[begin:end]
            if pieces and len(piece):
                piece = piece[1:] if _same(piece[0], pieces[-1][-1]) else piece
                entries.append(count)
            pieces.append(piece)
            count += len(piece)
        polyline = np.concatenate([p for p in pieces if len(p)])
        resampled, marks = _resample(polyline, entries)
        return Route(resampled, tuple(marks), name)

    def _search(self, first: int, last: int) -> list[int] | None:
        """A* over segments; a segment's cost is its length, the heuristic the straight line."""
        goal_xy = self.segments[last].points[0, :2]

        def estimate(index: int) -> float:
            end = self.segments[index].points[-1, :2]
            return float(math.hypot(*(end - goal_xy)))

        frontier: list[tuple[float, float, int]] = [(estimate(first), 0.0, first)]
        came_from: dict[int, int] = {}
        best = {first: 0.0}
        while frontier:
            _, cost, current = heapq.heappop(frontier)
            if cost > best.get(current, math.inf):
                continue
            for successor in self.successors[current]:
                if successor == last:
                    came_from[successor] = current
                    return _unwind(came_from, first, last)
                new_cost = cost + self.segments[successor].length
                if new_cost < best.get(successor, math.inf):
                    best[successor] = new_cost
                    came_from[successor] = current
                    heapq.heappush(frontier, (new_cost + estimate(successor), new_cost, successor))
        return None


_planners: dict[str, RoutePlanner] = {}


def planner_for(carla_map: carla.Map) -> RoutePlanner:
    """The planner of ``carla_map``, built once per map name in this process."""
    planner = _planners.get(carla_map.name)
    if planner is None:
        _planners.clear()  # one map at a time: a new town drops the old graph
        planner = _planners[carla_map.name] = RoutePlanner(carla_map)
    return planner


def _row(waypoint: carla.Waypoint) -> tuple[float, float, float, float]:
    transform = waypoint.transform
    location = transform.location
    return (location.x, location.y, location.z, transform.rotation.yaw)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(math.hypot(a[0] - b[0], a[1] - b[1]) < 1e-3)


def _unwind(came_from: dict[int, int], first: int, last: int) -> list[int]:
    # At least one step back: with first == last the chain is a loop through the map.
    chain = [last, came_from[last]]
    while chain[-1] != first:
        chain.append(came_from[chain[-1]])
    return chain[::-1]


def _resample(polyline: np.ndarray, marks: list[int]) -> tuple[np.ndarray, list[int]]:
    """Points every ``POINT_SPACING`` m along ``polyline``; ``marks`` mapped to the new indices."""
    steps = np.hypot(*np.diff(polyline[:, :2], axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    total = along[-1]
    count = max(math.ceil(total / POINT_SPACING), 1) + 1
    at = np.linspace(0.0, total, count)
    out = np.empty((count, 4))
    for column in range(3):
        out[:, column] = np.interp(at, along, polyline[:, column])
    # Headings interpolate on the circle (a lane crossing +-180 deg must not spin).
    yaw = np.radians(polyline[:, 3])
    out[:, 3] = np.degrees(
        np.arctan2(np.interp(at, along, np.sin(yaw)), np.interp(at, along, np.cos(yaw)))
    )
    new_marks = sorted({int(np.searchsorted(at, along[m])) for m in marks if m < len(along)})
    return out, [min(m, count - 1) for m in new_marks]


def _fmt(location: tuple[float, float, float]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in location) + ")"
