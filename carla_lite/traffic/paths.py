"""Planned paths: a fixed-length buffer of lane-graph waypoints ahead of each vehicle.

Row ``r`` of ``PathBuffer.path`` lists the waypoints vehicle ``r`` will drive through, the
first one just behind or under it. Each tick the rows whose vehicle passed their second
waypoint shift by one and grow at the end: straight on where the lane has one successor, a
seeded random choice where it branches, or the branch that follows the user's route
(``set_path`` locations or ``set_imported_route`` road options).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph

#: Waypoints per row (at 2 m spacing: 96 m, beyond the stopping distance at 90 km/h).
HORIZON = 48
#: A vehicle this far from its path is localised again from scratch [m].
RELOCALISE_DISTANCE = 12.0
#: The Traffic Manager's ``RoadOption`` values (``set_imported_route``, ``get_next_action``).
VOID, LEFT, RIGHT, STRAIGHT, LANE_FOLLOW, CHANGE_LEFT, CHANGE_RIGHT = range(7)
ROAD_OPTION_NAMES = {
    VOID: "Void", LEFT: "Left", RIGHT: "Right", STRAIGHT: "Straight",
    LANE_FOLLOW: "LaneFollow", CHANGE_LEFT: "ChangeLaneLeft", CHANGE_RIGHT: "ChangeLaneRight",
}  # fmt: skip
#: Heading change through a junction that counts as a turn [deg].
TURN_DEG = 30.0
#: A ``set_path`` location counts as reached when the path passes this close [m].
PATH_POINT_REACHED = 4.0


@dataclass
class Route:
    """A user's plan for one vehicle: locations to pass, or options to take at junctions."""

    locations: deque[tuple[float, float, float]] = field(default_factory=deque)
    options: deque[int] = field(default_factory=deque)

    def __bool__(self) -> bool:
        return bool(self.locations or self.options)


class PathBuffer:
    """Path rows for the Traffic Manager's vehicles (see the module docstring)."""

    def __init__(self, graph: LaneGraph, rng: np.random.Generator) -> None:
        self.graph = graph
        self.rng = rng
        self.path = np.zeros((0, HORIZON), dtype=np.int64)
        self.planned = np.zeros(0, dtype=bool)
        self.routes: dict[int, Route] = {}  # by row

    # -- rows ------------------------------------------------------------------------------
    def resize(self, keep: np.ndarray, new_rows: int) -> None:
        """Keep the rows ``keep`` (in that order) and append ``new_rows`` unplanned rows."""
        old_routes = self.routes
        self.routes = {}
        for new_row, old_row in enumerate(keep.tolist()):
            if old_row in old_routes:
                self.routes[new_row] = old_routes[old_row]
        self.path = np.concatenate([self.path[keep], np.zeros((new_rows, HORIZON), dtype=np.int64)])
        self.planned = np.concatenate([self.planned[keep], np.zeros(new_rows, dtype=bool)])

    def plan_from(self, row: int, start: int) -> None:
        """Fill ``row`` with the path from waypoint ``start`` (-1: unplanned)."""
        if start < 0:
            self.planned[row] = False
            self.path[row] = 0
            return
        self.path[row, 0] = start
        self._pass(row, start)
        for k in range(1, HORIZON):
            self.path[row, k] = self._next_one(row, int(self.path[row, k - 1]))
            self._pass(row, int(self.path[row, k]))
        self.planned[row] = True

    def localise(self, row: int, x: float, y: float, yaw: float) -> None:
        self.plan_from(row, self.graph.nearest(x, y, yaw))

    # -- per tick --------------------------------------------------------------------------
    def advance(self, px: np.ndarray, py: np.ndarray, pyaw: np.ndarray) -> None:
        """Shift the rows whose vehicle passed waypoint 1; relocalise vehicles far off."""
        g = self.graph
        path = self.path
        for _ in range(8):
            w1 = path[:, 1]
            passed = ((px - g.x[w1]) * g.hx[w1] + (py - g.y[w1]) * g.hy[w1]) > 0.0
            passed &= self.planned
            if not passed.any():
                break
            rows = np.flatnonzero(passed)
            path[rows, :-1] = path[rows, 1:]
            path[rows, -1] = self._next_many(rows, path[rows, -2])
            for row in rows.tolist():
                if row in self.routes:
                    self._pass(row, int(path[row, -1]))
        w0 = path[:, 0]
        far = np.hypot(px - g.x[w0], py - g.y[w0]) > RELOCALISE_DISTANCE
        for row in np.flatnonzero(far | ~self.planned).tolist():
            self.localise(row, float(px[row]), float(py[row]), float(pyaw[row]))

    def _next_many(self, rows: np.ndarray, last: np.ndarray) -> np.ndarray:
        g = self.graph
        out = g.next_default[last]
        branching = g.n_succ[last] > 1
        if branching.any():
            for i in np.flatnonzero(branching).tolist():
                out[i] = self._next_one(int(rows[i]), int(last[i]))
        return out

    def _next_one(self, row: int, w: int) -> int:
        """The waypoint after ``w`` on ``row``'s path: a route's choice or a seeded draw."""
        g = self.graph
        options = g.successors(w)
        if len(options) == 0:
            return w  # dead end: the path stops here
        if len(options) == 1:
            return int(options[0])
        route = self.routes.get(row)
        if route:
            chosen = self._route_choice(route, w, options)
            if chosen >= 0:
                return chosen
        return int(options[int(self.rng.integers(len(options)))])

    def _pass(self, row: int, w: int) -> None:
        """The path of ``row`` now reaches waypoint ``w``: drop the ``set_path`` locations
        it passes (on straight stretches too, so the next choice aims at the next one)."""
        route = self.routes.get(row)
        if route is None:
            return
        g = self.graph
        while route.locations:
            tx, ty, _tz = route.locations[0]
            if math.hypot(g.x[w] - tx, g.y[w] - ty) > PATH_POINT_REACHED:
                break
            route.locations.popleft()

    def _route_choice(self, route: Route, w: int, options: np.ndarray) -> int:
        g = self.graph
        if route.locations:
            # The branch whose next metres pass nearest to the next few locations: the
            # first one may lie just before the junction, where every branch passes.
            heads = np.array([loc[:2] for loc in itertools.islice(route.locations, 3)])
            scores = []
            for option in options.tolist():
                trail = self._trail(int(option), 12)
                gaps = np.hypot(
                    g.x[trail][:, None] - heads[:, 0], g.y[trail][:, None] - heads[:, 1]
                )
                scores.append(float(gaps.min(axis=0).sum()))
            return int(options[int(np.argmin(scores))])
        while route.options and route.options[0] not in (LEFT, RIGHT, STRAIGHT):
            route.options.popleft()
        if not route.options:
            return -1
        wanted = route.options.popleft()
        turns = [self.turn_of(int(o)) for o in options]
        for option, turn in zip(options, turns, strict=True):
            if turn == wanted:
                return int(option)
        return int(options[int(np.argmin([abs(self._turn_deg(int(o))) for o in options]))])

    def _trail(self, w: int, steps: int) -> np.ndarray:
        """``w`` and up to ``steps`` waypoints after it (first successors)."""
        g = self.graph
        trail = [w]
        for _ in range(steps):
            nxt = g.successors(trail[-1])
            if len(nxt) == 0:
                break
            trail.append(int(nxt[0]))
        return np.array(trail, dtype=np.int64)

    def _turn_deg(self, w: int) -> float:
        """Heading change from ``w`` through the rest of its junction (or 20 m)."""
        g = self.graph
        end = w
        for _ in range(40):
            nxt = g.successors(end)
            if len(nxt) == 0 or (g.junction[end] == -1 and end != w):
                break
            end = int(nxt[0])
        return float((g.yaw[end] - g.yaw[w] + 180.0) % 360.0 - 180.0)

    def turn_of(self, w: int) -> int:
        """Road option of entering waypoint ``w``: Left, Right or Straight (in a junction)."""
        turn = self._turn_deg(w)
        if turn < -TURN_DEG:
            return LEFT  # CARLA's yaw grows clockwise seen from above: left is negative
        if turn > TURN_DEG:
            return RIGHT
        return STRAIGHT

    # -- user plans ------------------------------------------------------------------------
    def set_route(self, row: int, route: Route, empty_buffer: bool) -> None:
        self.routes[row] = route
        if empty_buffer and self.planned[row]:
            self.plan_from(row, int(self.path[row, 0]))
        elif self.planned[row]:
            for w in self.path[row].tolist():  # the kept buffer already passes these
                self._pass(row, w)

    def clear_route(self, row: int, empty_buffer: bool) -> None:
        self.routes.pop(row, None)
        if empty_buffer and self.planned[row]:
            self.plan_from(row, int(self.path[row, 0]))

    def actions(self, row: int) -> list[tuple[int, int]]:
        """(road option, waypoint) along ``row``'s buffer, one per junction or lane stretch."""
        if not self.planned[row]:
            return []
        g = self.graph
        out: list[tuple[int, int]] = []
        in_junction = False
        for w in self.path[row].tolist():
            if g.junction[w] != -1 and not in_junction:
                out.append((self.turn_of(w), w))
            elif g.junction[w] == -1 and (not out or in_junction):
                out.append((LANE_FOLLOW, w))
            in_junction = g.junction[w] != -1
        return out

    def change_lane(self, row: int, left: bool, ahead: float, d0: float) -> bool:
        """Re-plan ``row`` from the neighbour lane about ``ahead`` metres on; False if none."""
        g = self.graph
        side = g.left if left else g.right
        k = int(np.clip(math.ceil((ahead - d0) / g.spacing), 1, HORIZON - 1))
        for j in range(k, min(k + 4, HORIZON)):
            target = int(side[self.path[row, j]])
            if target >= 0:
                self.plan_from(row, target)
                return True
        return False
