"""What a Traffic Manager vehicle does besides following its lane: lane changes, backing
off when wedged, CARLA's removal of stuck vehicles, and its lights.

A mixin of ``TrafficManager``: the methods read and write the manager's per-vehicle rows.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph
from carla_lite.traffic.control import Rows
from carla_lite.traffic.hazards import ObstacleLayout, waiting_rows
from carla_lite.traffic.paths import HORIZON, LANE_FOLLOW, LEFT, RIGHT, PathBuffer
from carla_lite.traffic.rings import ring_labels
from carla_lite.traffic.scene import TrafficScene

log = logging.getLogger(__name__)

LANE_CHANGE_COOLDOWN = 6.0  # [s] between two lane changes of one vehicle
LANE_CHANGE_AHEAD = 8.0  # [m] where the manoeuvre rejoins the neighbour lane
SLOW_LEADER_RATIO = 0.7  # a leader below this share of our cruise speed invites overtaking
OVERTAKE_GAP = 25.0  # [m] ...when it is this close
DECISIONS_PER_TICK_SHARE = 8  # each vehicle reconsiders lane changes every 8th tick
STALL_SPEED = 0.3  # [m/s] a vehicle asked to drive but slower than this is stalled...
STALL_TIME = 3.0  # [s] ...and after this long backs off:
REVERSE_TIME = 1.5  # [s] reversing
REVERSE_THROTTLE = 0.4
REVERSE_ROOM = 2.0  # [m] free behind it
STANDOFF_TIME = 4.0  # [s] two vehicles waiting for each other this long: one backs off
IDLE_SPEED = 0.8  # [m/s] CARLA's VehicleRemoval thresholds
IDLE_PROGRESS = 5.0  # [m] an idle vehicle that gets this far is no longer idle
IDLE_LIMIT = 90.0  # [s]
RED_LIGHT_IDLE_LIMIT = 180.0  # [s]
REMOVAL_INTERVAL = 10.0  # [s]
#: carla.VehicleLightState bits the Traffic Manager drives.
LIGHT_POSITION, LIGHT_BRAKE, LIGHT_RIGHT, LIGHT_LEFT = 0x1, 0x8, 0x10, 0x20


class Manoeuvres:
    """Lane changes, backing off, stuck-vehicle removal and lights (see the module docstring)."""

    port: int
    rng: np.random.Generator
    _ids: list[int]
    _row_state: Rows
    _paths: PathBuffer | None
    _forced: dict[int, bool]
    _columns: dict[str, np.ndarray]
    _obstacles_fixed: ObstacleLayout | None
    _tick: int
    _since_removal: float
    _red_stop: np.ndarray

    def _back_off_when_wedged(
        self,
        scene: TrafficScene,
        controls: np.ndarray,
        target: np.ndarray,
        speed: np.ndarray,
        blocker: np.ndarray,
        dt: float,
    ) -> None:
        """Reverse a little, if there is room behind, when a vehicle is wedged.

        Wedged: it wants to drive but cannot move (pressed against another after a crash),
        or it belongs to a ring of stopped vehicles each waiting for the next (nose to nose
        in a junction, a bus overhanging the oncoming lane) that has lasted
        ``STANDOFF_TIME``; then the ring's highest id with room behind backs off.
        """
        st = self._row_state
        reversing = st["reversing"] > 0.0
        still = (np.abs(speed) < STALL_SPEED) & ~reversing
        stalled = still & (target > 1.0)
        waits_for = waiting_rows(self._obstacles_fixed, still, blocker)
        label = ring_labels(waits_for, np.asarray(self._ids))
        in_ring = label >= 0
        st["standoff"] = np.where(in_ring, st["standoff"] + dt, 0.0)
        due = label[in_ring & (st["standoff"] > STANDOFF_TIME)].tolist()
        for ring_label in sorted(set(due)):  # np.unique's wrapper costs more on a few rows
            ring = np.flatnonzero(label == ring_label)
            for row in sorted(ring.tolist(), key=lambda r: -self._ids[r]):
                if self._room_behind(scene, row):
                    st["reversing"][row] = REVERSE_TIME
                    break
            st["standoff"][ring] = 0.0
        st["stalled"] = np.where(stalled, st["stalled"] + dt, 0.0)
        for row in np.flatnonzero(st["stalled"] > STALL_TIME).tolist():
            st["stalled"][row] = 0.0
            if self._room_behind(scene, row):
                st["reversing"][row] = REVERSE_TIME
        reversing = st["reversing"] > 0.0
        if reversing.any():
            controls[reversing] = (REVERSE_THROTTLE, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
            st["reversing"] = np.maximum(st["reversing"] - dt, 0.0)

    def _stuck_vehicle(
        self, px: np.ndarray, py: np.ndarray, pyaw: np.ndarray, speed: np.ndarray, dt: float
    ) -> list[int]:
        """CARLA's vehicle removal: a vehicle idle for 90 s, or 180 s in front of a red light,
        is stuck; the longest-idle stuck one is destroyed, at most one every 10 s, never a
        hero. Returns the actor ids to destroy.

        CARLA counts a vehicle idle while it is below 0.8 m/s. Here a wedged vehicle backs
        off and tries again, briefly faster than that, so idle means no progress: not
        ``IDLE_PROGRESS`` metres forward from where it was when it became idle.
        """
        st = self._row_state
        # Progress along the way it faced when it became idle: backing off does not count.
        progressed = (px - st["anchor_x"]) * st["anchor_hx"] + (py - st["anchor_y"]) * st[
            "anchor_hy"
        ] > IDLE_PROGRESS
        progressed |= np.hypot(px - st["anchor_x"], py - st["anchor_y"]) > 4 * IDLE_PROGRESS
        idle_now = (np.abs(speed) < IDLE_SPEED) | (st["idle"] > 0.0)
        restart = progressed | ~idle_now
        st["idle"] = np.where(restart, 0.0, st["idle"] + dt)
        st["anchor_x"] = np.where(restart, px, st["anchor_x"])
        st["anchor_y"] = np.where(restart, py, st["anchor_y"])
        yaw = np.radians(pyaw)
        st["anchor_hx"] = np.where(restart, np.cos(yaw), st["anchor_hx"])
        st["anchor_hy"] = np.where(restart, np.sin(yaw), st["anchor_hy"])
        self._since_removal += dt
        limit = np.where(np.isfinite(self._red_stop), RED_LIGHT_IDLE_LIMIT, IDLE_LIMIT)
        stuck = (st["idle"] >= limit) & ~st["hero"]
        if not stuck.any() or self._since_removal < REMOVAL_INTERVAL:
            return []
        row = int(np.argmax(np.where(stuck, st["idle"], -1.0)))
        self._since_removal = 0.0
        log.info("Traffic Manager %d: vehicle %d stuck for %.0f s, destroyed (as CARLA's TM does)",
                 self.port, self._ids[row], st["idle"][row])  # fmt: skip
        return [self._ids[row]]

    def _room_behind(self, scene: TrafficScene, row: int) -> bool:
        st = self._row_state
        pose = scene.fleet.pose[scene.vehicle_slots]
        own = scene.fleet.pose[st["slot"][row]]
        yaw = math.radians(own[4])
        dx, dy = pose[:, 0] - own[0], pose[:, 1] - own[1]
        back = -(dx * math.cos(yaw) + dy * math.sin(yaw))
        side = np.abs(dy * math.cos(yaw) - dx * math.sin(yaw))
        reach = st["half_length"][row] + scene.vehicle_half_length + REVERSE_ROOM
        behind = (back > 0.5) & (back < reach) & (side < 2.5)
        return not behind.any()

    # -- lane changes ----------------------------------------------------------------------
    def _lane_changes(
        self,
        scene: TrafficScene,
        cols: dict[str, np.ndarray],
        hits: np.ndarray,
        hit_speed: np.ndarray,
        speed: np.ndarray,
        d0: np.ndarray,
        dt: float,
    ) -> bool:
        """Start the lane changes due; whether any row's path was re-planned."""
        st = self._row_state
        paths = self._paths
        assert paths is not None
        g = scene.graph
        st["cooldown"] = np.maximum(st["cooldown"] - dt, 0.0)
        w1 = paths.path[:, 1]
        has_side = ((g.left[w1] >= 0) | (g.right[w1] >= 0)) & paths.planned
        forced = np.array([i in self._forced for i in self._ids]) if self._forced else None
        if not has_side.any() and forced is None:
            return False
        n = len(self._ids)
        turn = (np.arange(n) + self._tick) % DECISIONS_PER_TICK_SHARE == 0
        random_pct = cols["random_left"] + cols["random_right"] + cols["keep_slow_lane"]
        cruise = g.speed_limit[w1] * (1.0 - cols["speed_difference"] / 100.0)
        slow_leader = (
            cols["auto_lane_change"]
            & (hits < HORIZON)
            & (hits * g.spacing < OVERTAKE_GAP)
            & (hit_speed < SLOW_LEADER_RATIO * cruise)
        )
        candidates = has_side & (st["cooldown"] <= 0.0) & turn & (slow_leader | (random_pct > 0))
        if forced is not None:
            candidates |= forced
        replanned = False
        for row in np.flatnonzero(candidates).tolist():
            actor_id = self._ids[row]
            left = self._choose_side(row, actor_id, cols, bool(slow_leader[row]), g)
            if left is None:
                continue
            if actor_id not in self._forced and not self._side_is_clear(scene, row, left):
                continue
            ahead = float(np.clip(LANE_CHANGE_AHEAD + speed[row], 6.0, 10.0))
            if paths.change_lane(row, left, ahead, float(d0[row])):
                st["cooldown"][row] = LANE_CHANGE_COOLDOWN
                self._forced.pop(actor_id, None)
                replanned = True
        return replanned

    def _choose_side(
        self, row: int, actor_id: int, cols: dict[str, np.ndarray], overtake: bool, g: LaneGraph
    ) -> bool | None:
        paths = self._paths
        assert paths is not None
        w1 = int(paths.path[row, 1])
        can_left, can_right = g.left[w1] >= 0, g.right[w1] >= 0
        if actor_id in self._forced:
            left = self._forced[actor_id]
            return left if (can_left if left else can_right) else None
        if overtake:
            return True if can_left else (False if can_right else None)
        draws = self.rng.random(3) * 100.0
        if can_right and draws[0] < cols["keep_slow_lane"][row]:
            return False
        if can_left and draws[1] < cols["random_left"][row]:
            return True
        if can_right and draws[2] < cols["random_right"][row]:
            return False
        return None

    def _side_is_clear(self, scene: TrafficScene, row: int, left: bool) -> bool:
        """No other vehicle from 10 m behind to 15 m ahead in the target lane."""
        paths = self._paths
        assert paths is not None
        g = scene.graph
        side = g.left if left else g.right
        w = int(paths.path[row, 0])
        lane_points = [int(side[p]) for p in paths.path[row, : int(15 / g.spacing)] if side[p] >= 0]
        back = lane_points[0] if lane_points else -1
        for _ in range(int(10 / g.spacing)):
            if back < 0:
                break
            back = int(g.pred[back])
            if back >= 0:
                lane_points.append(back)
        if not lane_points:
            return False
        xs, ys = g.x[lane_points], g.y[lane_points]
        pose = scene.fleet.pose[scene.vehicle_slots]
        own_slot = self._row_state["slot"][row]
        others = scene.vehicle_slots != own_slot
        dx = pose[others, 0][:, None] - xs[None, :]
        dy = pose[others, 1][:, None] - ys[None, :]
        near = (dx**2 + dy**2).min(axis=1) < (0.5 * g.width[w] + 1.0) ** 2 if len(dx) else []
        return not np.any(near)

    # -- vehicle lights --------------------------------------------------------------------
    def _update_lights(self, scene: TrafficScene, brake: np.ndarray) -> None:
        paths = self._paths
        assert paths is not None
        cols = self._columns
        for row in np.flatnonzero(cols["update_lights"]).tolist():
            actor_id = self._ids[row]
            flags = scene.light_flags.get(actor_id, 0) & ~(LIGHT_BRAKE | LIGHT_LEFT | LIGHT_RIGHT)
            flags |= LIGHT_POSITION
            if brake[row] > 0.1:
                flags |= LIGHT_BRAKE
            actions = paths.actions(row)[:3]
            upcoming = [opt for opt, _w in actions if opt != LANE_FOLLOW]
            if upcoming and upcoming[0] == LEFT:
                flags |= LIGHT_LEFT
            elif upcoming and upcoming[0] == RIGHT:
                flags |= LIGHT_RIGHT
            scene.light_flags[actor_id] = flags
