"""Hazard geometry shared by the Traffic Manager's vehicles: obstacle marks, the bumper
check on the boxes themselves, junction entry, and who waits for whom."""

from __future__ import annotations

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph
from carla_lite.traffic.control import PLAN_PERIOD, Rows, stop_speed
from carla_lite.traffic.scene import TrafficScene

WALKER_RADIUS = 0.4  # [m]
QUEUE_SPEED = 2.0  # [m/s] a leader this slow just beyond a junction counts as a queue
BUMPER_RANGE = 4.0  # [m] ahead of the box, where another box stops the vehicle
BUMPER_SIDE_MARGIN = 0.2  # [m] lateral clearance a box must leave to be passed
BUMPER_MARGIN = 0.7  # [m] kept to it


class ObstacleLayout:
    """What the obstacle marks of one actor layout share (see ``_obstacles``)."""

    #: Mark points per vehicle in units of (half length - 0.5 m, half width - 0.3 m):
    #: centre, front, rear and the four corners.
    ALONG = np.array([0.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    ACROSS = np.array([0.0, 0.0, 0.0, 1.0, -1.0, 1.0, -1.0])

    def __init__(self, scene: TrafficScene, ids: list[int], n_walkers: int, width: int) -> None:
        n_veh = len(scene.vehicle_ids)
        reach = np.maximum(scene.vehicle_half_length - 0.5, 0.0)
        side = np.maximum(scene.vehicle_half_width - 0.3, 0.0)
        self.along = self.ALONG[:, None] * reach[None, :]
        self.across = self.ACROSS[:, None] * side[None, :]
        self.own = np.searchsorted(scene.vehicle_ids, np.array(ids, dtype=np.int64))
        self.own_grid = np.repeat(self.own[:, None], width, axis=1)
        self.owner = np.concatenate(
            [np.tile(np.arange(n_veh), len(self.ALONG)), n_veh + np.arange(n_walkers)]
        )
        self.walker_zeros = np.zeros(n_walkers)
        self.obstacle_half_length = np.concatenate(
            [scene.vehicle_half_length, np.full(n_walkers, WALKER_RADIUS)]
        )
        self.obstacle_half_width = np.concatenate(
            [scene.vehicle_half_width, np.full(n_walkers, WALKER_RADIUS)]
        )
        self.obstacle_radius = np.hypot(self.obstacle_half_length, self.obstacle_half_width)
        self.is_walker = np.concatenate([np.zeros(n_veh, bool), np.ones(n_walkers, bool)])
        self.rows = np.arange(len(ids))
        # Our row of each obstacle index, then -1 for index -1 (no obstacle).
        self._row_of = np.full(n_veh + n_walkers + 1, -1, dtype=np.int64)
        self._row_of[self.own] = self.rows

    def our_rows(self, obstacle: np.ndarray) -> np.ndarray:
        """The row of our vehicle each obstacle index is (-1: none, a walker, or not ours)."""
        return self._row_of[obstacle]


def bumper(
    scene: TrafficScene, layout: ObstacleLayout, pose: np.ndarray, speed: np.ndarray, st: Rows
) -> tuple[np.ndarray, np.ndarray]:
    """Speed that stops short of any body right in front of the vehicle's own box, and
    that body (-1: none).

    Lanes say nothing about a wide bus overhanging the opposite lane or a car spun
    round in a crash; this check looks at the boxes themselves, just ahead.
    """
    fixed = layout
    others = scene.fleet.pose[scene.vehicle_slots]
    ox = np.concatenate([others[:, 0], scene.walker_xy[:, 0]])
    oy = np.concatenate([others[:, 1], scene.walker_xy[:, 1]])
    oyaw = np.concatenate([others[:, 4], fixed.walker_zeros])
    n = len(pose)
    none = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    # Broad phase on centre distance, then the exact test on the few close pairs.
    dx = ox[None, :] - pose[:, 0, None]
    dy = oy[None, :] - pose[:, 1, None]
    reach = st["half_length"][:, None] + fixed.obstacle_radius[None, :] + BUMPER_RANGE
    close = dx * dx + dy * dy < reach * reach
    close[fixed.rows, fixed.own] = False
    row, other = np.nonzero(close)
    if not len(row):
        return none
    dx, dy = dx[row, other], dy[row, other]
    rad = np.radians(pose[row, 4])
    c, s = np.cos(rad), np.sin(rad)
    forward, lateral = dx * c + dy * s, dy * c - dx * s
    rel = np.radians(oyaw[other]) - rad
    rc, rs = np.abs(np.cos(rel)), np.abs(np.sin(rel))
    half_l, half_w = fixed.obstacle_half_length[other], fixed.obstacle_half_width[other]
    gap = forward - st["half_length"][row] - (rc * half_l + rs * half_w)
    side_gap = np.abs(lateral) - st["half_width"][row] - (rs * half_l + rc * half_w)
    ahead = (side_gap < BUMPER_SIDE_MARGIN) & (gap > -0.5) & (gap < BUMPER_RANGE)
    if not ahead.any():
        return none
    row, other, gap = row[ahead], other[ahead], gap[ahead]
    # Nearest per row: sort by gap, keep each row's first.
    order = np.lexsort((gap, row))
    row, other, gap = row[order], other[order], gap[order]
    first = np.ones(len(row), dtype=bool)
    first[1:] = row[1:] != row[:-1]
    nearest, closest = none[0].copy(), none[1].copy()
    nearest[row[first]] = gap[first]
    closest[row[first]] = other[first]
    found = closest >= 0
    room = nearest - BUMPER_MARGIN - np.maximum(speed, 0.0) * PLAN_PERIOD
    return stop_speed(room, found), closest


def keep_junction_clear(
    g: LaneGraph,
    path: np.ndarray,
    dist: np.ndarray,
    hits: np.ndarray,
    hit_speed: np.ndarray,
    speed: np.ndarray,
    st: Rows,
) -> np.ndarray:
    """Speed that stops before a junction unless the way through it is clear.

    Anything standing or crossing on the path through the junction, or a stopped queue
    just beyond its exit, keeps the vehicle at the entry: one that entered anyway would
    stand inside the junction and lock the crossing traffic, the classic gridlock.
    Vehicles moving on ahead through the junction are simply followed.
    """
    in_junction = g.junction[path] >= 0
    approaching = ~in_junction[:, 0] & ~in_junction[:, 1] & in_junction.any(axis=1)
    if not approaching.any():
        return np.full(len(path), np.inf)
    enter = np.argmax(in_junction, axis=1)
    columns = np.arange(path.shape[1])[None, :]
    leave = np.argmax(~in_junction & (columns > enter[:, None]), axis=1)
    room = np.ceil((2.0 * st["half_length"] + 2.0) / g.spacing).astype(np.int64)
    blocked = approaching & (leave > enter) & (hits >= enter) & (hits <= leave + room)
    blocked &= hit_speed < QUEUE_SPEED
    stop = dist[np.arange(len(path)), enter] - 0.5 * g.spacing - st["half_length"]
    return stop_speed(stop - speed * PLAN_PERIOD, blocked)


def break_deadlocks(
    layout: ObstacleLayout, first: np.ndarray, hit_obstacle: np.ndarray
) -> np.ndarray:
    """Two vehicles each in the other's way: the one nearer the conflict goes first.

    (The lower actor id breaks a tie.) Without this both would wait for ever.
    """
    own = layout.own
    other_row = layout.our_rows(hit_obstacle)
    other = np.maximum(other_row, 0)
    mutual = (other_row >= 0) & (hit_obstacle[other] == own)
    nearer = (first < first[other]) | ((first == first[other]) & (own < own[other]))
    return np.where(mutual & nearer, -1, hit_obstacle)


def waiting_rows(
    layout: ObstacleLayout | None, waiting: np.ndarray, obstacle: np.ndarray
) -> np.ndarray:
    """Row of our vehicle each waiting row waits for (-1: none, or not one of ours)."""
    if layout is None or len(layout.own) != len(obstacle):
        return np.full(len(obstacle), -1, dtype=np.int64)
    return np.where(waiting, layout.our_rows(obstacle), -1)
