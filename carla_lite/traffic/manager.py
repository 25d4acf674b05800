"""The server-side Traffic Manager: drives registered vehicles inside the world's tick.

One ``TrafficManager`` per Traffic Manager port. Each tick, for all its vehicles at once:

1. paths advance along the lane graph (``paths.PathBuffer``);
2. hazards are found on each path: other vehicles (the hero included) and walkers, through
   an occupancy array over the lane-graph waypoints that also marks crossing and merging
   lanes; red and yellow lights (the lights' trigger zones along the path); path ends;
3. a speed target follows from the speed limit (less ``speed_difference`` %, or the desired
   speed), comfortable speeds in curves and braking profiles to every hazard;
4. pure pursuit towards a look-ahead point gives the steering, a proportional law on the
   speed error throttle and brake; the controls go straight into the vehicle physics.

Lane changes (automatic behind slow traffic, forced, random, keep-slow-lane) re-plan one
row from the neighbour lane; they are decided for a few vehicles per tick. Everything random
draws from one generator seeded by ``set_random_device_seed``, in a fixed order, so the same
seed and the same spawns give the same traffic.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph
from carla_lite.traffic.parameters import TrafficParameters
from carla_lite.traffic.paths import HORIZON, LANE_FOLLOW, LEFT, RIGHT, PathBuffer, Route
from carla_lite.traffic.scene import TrafficScene

log = logging.getLogger(__name__)

COMFORT_DECEL = 3.5  # [m/s^2] planned braking for lights, curves and traffic
EMERGENCY_DECEL = 7.0  # [m/s^2] beyond this a yellow (or red) light is run rather than braked
YELLOW_DECEL = 3.0  # [m/s^2] stop at a yellow light only if this suffices
TIME_HEADWAY = 0.8  # [s] extra gap per m/s of own speed
SPEED_GAIN = 1.5  # [1/s] acceleration per m/s of speed error
MIN_LOOK_AHEAD = 4.0  # [m] pure-pursuit target distance at low speed
MAX_LOOK_AHEAD = 12.0  # [m]
#: Pure pursuit cuts a curve of radius R by about d^2 / (8 R) with a target d ahead; the
#: look-ahead is capped so that this stays below CORNER_CUT, keeping cars in their lane.
CORNER_CUT = 0.2  # [m]
CURVE_SCAN = 8  # path waypoints scanned for the tightest curve ahead
LOOK_AHEAD_TIME = 0.8  # [s]
HOLD_SPEED = 0.3  # [m/s] below this with a stop target, the brake is held
LANE_CHANGE_COOLDOWN = 6.0  # [s] between two lane changes of one vehicle
LANE_CHANGE_AHEAD = 8.0  # [m] where the manoeuvre rejoins the neighbour lane
SLOW_LEADER_RATIO = 0.7  # a leader below this share of our cruise speed invites overtaking
OVERTAKE_GAP = 25.0  # [m] ...when it is this close
DECISIONS_PER_TICK_SHARE = 8  # each vehicle reconsiders lane changes every 8th tick
CLAIM_TIME = 1.5  # [s] of driving ahead a vehicle claims inside junctions
MAX_CLAIM = 15.0  # [m]
PLAN_PERIOD = 0.1  # [s] of simulation between two plans (controls hold in between)
#: Light states that stop traffic (``LightState``: RED = 0, YELLOW = 1).
_STOPPING_STATES = (0, 1)
#: carla.VehicleLightState bits the Traffic Manager drives.
LIGHT_POSITION, LIGHT_BRAKE, LIGHT_RIGHT, LIGHT_LEFT = 0x1, 0x8, 0x10, 0x20


class TrafficManager:
    """The Traffic Manager of one port (see the module docstring)."""

    def __init__(self, port: int, seed: int = 0) -> None:
        self.port = port
        self.params = TrafficParameters()
        self.registered: set[int] = set()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._graph: LaneGraph | None = None
        self._paths: PathBuffer | None = None
        self._ids: list[int] = []
        self._pending_routes: dict[int, tuple[Route, bool]] = {}
        self._forced: dict[int, bool] = {}  # actor id -> left
        self._columns_version = -1
        self._columns: dict[str, np.ndarray] = {}
        self._lights_key: object = None
        self._wp_light = np.zeros(0, dtype=np.int64)
        self._tick = 0
        self._since_plan = math.inf
        self._row_state: dict[str, np.ndarray] = {}

    # -- registration and settings (RPC side) ----------------------------------------------
    def register(self, actor_ids: list[int]) -> None:
        self.registered.update(actor_ids)

    def unregister(self, actor_ids: list[int]) -> None:
        gone = set(actor_ids) & self.registered
        self.registered -= gone
        self.params.forget(gone)
        for actor_id in gone:
            self._forced.pop(actor_id, None)
            self._pending_routes.pop(actor_id, None)

    def reset(self) -> None:
        """``shut_down``: forget every vehicle and setting, as a fresh Traffic Manager."""
        self.registered.clear()
        self.params = TrafficParameters()
        self._forced.clear()
        self._pending_routes.clear()
        self._ids = []
        self._paths = None
        self._columns_version = -1

    def set_seed(self, seed: int) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        if self._paths is not None:
            self._paths.rng = self.rng

    def force_lane_change(self, actor_id: int, left: bool) -> None:
        self._forced[actor_id] = left

    def set_route(self, actor_id: int, route: Route, empty_buffer: bool) -> None:
        self._pending_routes[actor_id] = (route, empty_buffer)

    def clear_route(self, actor_id: int, empty_buffer: bool) -> None:
        self._pending_routes[actor_id] = (Route(), empty_buffer)

    def actions(self, actor_id: int) -> list[tuple[int, tuple[float, float, float]]]:
        """Planned (road option, location) pairs of a vehicle, next first."""
        if self._paths is None or actor_id not in self._ids:
            return []
        g = self._paths.graph
        row = self._ids.index(actor_id)
        return [
            (option, (float(g.x[w]), float(g.y[w]), float(g.z[w])))
            for option, w in self._paths.actions(row)
        ]

    def next_action(self, actor_id: int) -> tuple[int, tuple[float, float, float]] | None:
        actions = self.actions(actor_id)
        return actions[0] if actions else None

    # -- the tick --------------------------------------------------------------------------
    def step(self, scene: TrafficScene, dt: float) -> None:
        """Plan and apply controls for every registered vehicle of ``scene``."""
        live = [i for i in sorted(self.registered) if i in scene.bodies]
        if len(live) != len(self.registered):
            self.unregister([i for i in self.registered if i not in scene.bodies])
        if not live:
            self._ids = []
            return
        self._since_plan += dt
        if live == self._ids and self._since_plan < PLAN_PERIOD - 1e-9:
            return
        dt, self._since_plan = self._since_plan, 0.0
        self._tick += 1
        self._sync_rows(scene, live)
        paths = self._paths
        assert paths is not None
        g = scene.graph
        st = self._row_state
        slots = st["slot"]
        fleet = scene.fleet
        pose = fleet.pose[slots]
        px, py, pyaw = pose[:, 0], pose[:, 1], pose[:, 4]
        speed = fleet.speed[slots]
        self._apply_user_plans(px, py, pyaw)
        paths.advance(px, py, pyaw)
        path = paths.path
        w0 = path[:, 0]
        # Signed distance from the vehicle to waypoint 0 along its lane (negative: behind).
        d0 = (g.x[w0] - px) * g.hx[w0] + (g.y[w0] - py) * g.hy[w0]
        dist = d0[:, None] + g.spacing * np.arange(HORIZON)[None, :]
        cols = self._settings()
        hits, hit_speed, hit_obstacle = self._obstacles(scene, path, dist, cols, speed)
        self._lane_changes(scene, cols, hits, hit_speed, speed, d0, dt)
        path, w0 = paths.path, paths.path[:, 0]
        d0 = (g.x[w0] - px) * g.hx[w0] + (g.y[w0] - py) * g.hy[w0]
        dist = d0[:, None] + g.spacing * np.arange(HORIZON)[None, :]
        target_speed = self._target_speed(scene, path, dist, cols, speed, hits, hit_speed)
        target_speed[~paths.planned] = 0.0
        steer = self._steering(g, path, d0, px, py, pyaw, speed, cols)
        throttle, brake = self._pedals(speed, target_speed)
        controls = np.zeros((len(live), 7))
        controls[:, 0], controls[:, 1], controls[:, 2] = throttle, steer, brake
        fleet.set_controls(slots, controls)
        if cols["update_lights"].any():
            self._update_lights(scene, brake, hit_obstacle)

    # -- rows ------------------------------------------------------------------------------
    def _sync_rows(self, scene: TrafficScene, live: list[int]) -> None:
        if self._graph is not scene.graph or self._paths is None:
            self._graph = scene.graph
            self._paths = PathBuffer(scene.graph, self.rng)
            self._ids = []
            self._lights_key = None
        if scene.lights_key is not self._lights_key:
            g = scene.graph
            self._wp_light = scene.light_rows_at(g.x, g.y, g.yaw)
            self._lights_key = scene.lights_key
        if live != self._ids:
            old = {actor_id: row for row, actor_id in enumerate(self._ids)}
            keep = np.array([old[i] for i in live if i in old], dtype=np.int64)
            kept_ids = [i for i in live if i in old]
            fresh = [i for i in live if i not in old]
            self._paths.resize(keep, len(fresh))
            self._ids = kept_ids + fresh
            previous = self._row_state
            self._row_state = self._body_columns(scene, self._ids)
            for name in ("cooldown", "run_light", "light_seen"):
                if name in previous:
                    self._row_state[name][: len(keep)] = previous[name][keep]
            self._columns_version = -1
            fleet = scene.fleet
            for row in range(len(kept_ids), len(self._ids)):
                pose = fleet.pose[self._row_state["slot"][row]]
                self._paths.localise(row, float(pose[0]), float(pose[1]), float(pose[4]))
        else:
            # Slots can change when vehicles are destroyed and others spawned.
            self._row_state["slot"] = np.array([scene.bodies[i].slot for i in self._ids])

    @staticmethod
    def _body_columns(scene: TrafficScene, ids: list[int]) -> dict[str, np.ndarray]:
        bodies = [scene.bodies[i] for i in ids]
        n = len(ids)
        return {
            "slot": np.array([b.slot for b in bodies], dtype=np.int64),
            "half_wb": np.array([0.5 * b.params.wheelbase for b in bodies]),
            "wheelbase": np.array([b.params.wheelbase for b in bodies]),
            "max_steer": np.radians([min(b.params.max_steer_deg, 85.0) for b in bodies]),
            "max_accel": np.array([b.params.max_accel for b in bodies]),
            "brake_decel": np.array([b.params.max_brake_decel for b in bodies]),
            "max_speed": np.array([b.params.max_speed for b in bodies]),
            "half_length": np.array([b.half_length for b in bodies]),
            "cooldown": np.zeros(n),
            "run_light": np.zeros(n, dtype=bool),
            "light_seen": np.full(n, -1, dtype=np.int64),
        }

    def _settings(self) -> dict[str, np.ndarray]:
        if self._columns_version != self.params.version:
            self._columns = self.params.columns(self._ids)
            self._columns_version = self.params.version
        return self._columns

    def _apply_user_plans(self, px: np.ndarray, py: np.ndarray, pyaw: np.ndarray) -> None:
        if not self._pending_routes:
            return
        paths = self._paths
        assert paths is not None
        for actor_id, (route, empty) in list(self._pending_routes.items()):
            if actor_id not in self._ids:
                continue
            row = self._ids.index(actor_id)
            if not paths.planned[row]:
                paths.localise(row, float(px[row]), float(py[row]), float(pyaw[row]))
            if route:
                paths.set_route(row, route, empty)
            else:
                paths.clear_route(row, empty)
            del self._pending_routes[actor_id]

    # -- hazards ---------------------------------------------------------------------------
    def _obstacles(
        self,
        scene: TrafficScene,
        path: np.ndarray,
        dist: np.ndarray,
        cols: dict[str, np.ndarray],
        speed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per vehicle: path index of the first obstacle (HORIZON: none), its speed, its index.

        Obstacles are every vehicle (front, centre and rear points) and walker, marked on the
        waypoints whose lane area holds them and on those waypoints' conflicts. A moving
        Traffic Manager vehicle also claims the junction waypoints it will cover within
        ``CLAIM_TIME``, so crossing traffic yields before the junction instead of meeting it
        inside; claims are marked first and bodies drawn over them.
        """
        g = scene.graph
        fleet = scene.fleet
        vslots = scene.vehicle_slots
        vpose = fleet.pose[vslots]
        vx, vy = vpose[:, 0], vpose[:, 1]
        rad = np.radians(vpose[:, 4])
        hx, hy = np.cos(rad), np.sin(rad)
        reach = np.maximum(scene.vehicle_half_length - 0.5, 0.0)
        n_veh = len(vslots)
        walkers = scene.walker_xy
        own = np.searchsorted(scene.vehicle_ids, np.array(self._ids))
        claim = (g.junction[path] >= 0) & (dist > 0.0)
        claim &= dist <= np.clip(speed * CLAIM_TIME, 0.0, MAX_CLAIM)[:, None]
        claimed = path[claim]
        claimer = np.broadcast_to(own[:, None], path.shape)[claim]
        xs = np.concatenate([vx, vx + hx * reach, vx - hx * reach, walkers[:, 0]])
        ys = np.concatenate([vy, vy + hy * reach, vy - hy * reach, walkers[:, 1]])
        owner = np.concatenate([np.tile(np.arange(n_veh), 3), n_veh + np.arange(len(walkers))])
        where = g.locate(xs, ys)
        on_lane = where >= 0
        marked, source = g.expand_conflicts(np.concatenate([claimed, where[on_lane]]))
        owners = np.concatenate([claimer, owner[on_lane]])[source]
        occupancy = np.full(len(g) + 1, -1, dtype=np.int64)
        occupancy[marked] = owners
        obstacle_speed = np.concatenate([fleet.speed[vslots], np.zeros(len(walkers))])
        obstacle_yaw = np.concatenate([vpose[:, 4], np.zeros(len(walkers))])
        obstacle_is_walker = np.concatenate([np.zeros(n_veh, bool), np.ones(len(walkers), bool)])
        seen = occupancy[path[:, 1:]]  # waypoint 0 is alongside or behind
        blocking = (seen >= 0) & (seen != own[:, None])
        blocking = self._apply_ignores(scene, cols, seen, blocking, obstacle_is_walker)
        any_hit = blocking.any(axis=1)
        first = np.where(any_hit, np.argmax(blocking, axis=1) + 1, HORIZON)
        column = np.minimum(first - 1, HORIZON - 2)
        hit_obstacle = np.where(any_hit, seen[np.arange(len(first)), column], -1)
        hit_obstacle = self._break_deadlocks(scene, own, first, hit_obstacle)
        first = np.where(hit_obstacle >= 0, first, HORIZON)
        # Only the obstacle's speed along our path counts: crossing traffic is a standstill.
        hit_w = path[np.arange(len(first)), np.minimum(first, HORIZON - 1)]
        along = np.cos(np.radians(obstacle_yaw[hit_obstacle] - g.yaw[hit_w]))
        hit_speed = np.where(hit_obstacle >= 0, obstacle_speed[hit_obstacle] * along, 0.0)
        return first, np.maximum(hit_speed, 0.0), hit_obstacle

    def _apply_ignores(
        self,
        scene: TrafficScene,
        cols: dict[str, np.ndarray],
        seen: np.ndarray,
        blocking: np.ndarray,
        obstacle_is_walker: np.ndarray,
    ) -> np.ndarray:
        """Drop the obstacles a vehicle ignores (percentages, collision-detection pairs)."""
        for key, walkers in (("ignore_walkers", True), ("ignore_vehicles", False)):
            pct = cols[key]
            if (pct > 0.0).any():
                ignoring = self.rng.random(len(pct)) * 100.0 < pct
                kind = obstacle_is_walker[np.maximum(seen, 0)] == walkers
                blocking = blocking & ~(ignoring[:, None] & kind)
        if self.params.ignored_pairs:
            index = {actor_id: row for row, actor_id in enumerate(self._ids)}
            ids = scene.vehicle_ids
            for actor_id, other_id in self.params.ignored_pairs:
                row = index.get(actor_id)
                pos = int(np.searchsorted(ids, other_id))
                if row is not None and pos < len(ids) and ids[pos] == other_id:
                    blocking[row] &= seen[row] != pos
        return blocking

    def _break_deadlocks(
        self, scene: TrafficScene, own: np.ndarray, first: np.ndarray, hit_obstacle: np.ndarray
    ) -> np.ndarray:
        """Two vehicles each in the other's way: the one nearer the conflict goes first.

        (The lower actor id breaks a tie.) Without this both would wait for ever.
        """
        n_veh = len(scene.vehicle_ids)
        row_of_obstacle = np.full(n_veh + 1, -1, dtype=np.int64)
        row_of_obstacle[own] = np.arange(len(own))
        is_vehicle = (hit_obstacle >= 0) & (hit_obstacle < n_veh)
        other_row = np.where(is_vehicle, row_of_obstacle[np.clip(hit_obstacle, 0, n_veh)], -1)
        other = np.maximum(other_row, 0)
        mutual = (other_row >= 0) & (hit_obstacle[other] == own)
        nearer = (first < first[other]) | ((first == first[other]) & (own < own[other]))
        return np.where(mutual & nearer, -1, hit_obstacle)

    def _light_stops(
        self, scene: TrafficScene, path: np.ndarray, dist: np.ndarray, speed: np.ndarray
    ) -> np.ndarray:
        """Distance to the stop line of the first red or yellow light on the path (inf: none)."""
        if not len(scene.light_state):
            return np.full(len(path), np.inf)
        st = self._row_state
        rows = self._wp_light[path]  # (V, H): light row of each path waypoint, -1 none
        stopping = np.append(np.isin(scene.light_state, _STOPPING_STATES), False)
        red = stopping[rows]
        if not red.any():
            return np.full(len(path), np.inf)
        ends = red[:, :-1] & ~red[:, 1:]
        has = ends.any(axis=1)
        end_k = np.argmax(ends, axis=1)
        first_k = np.argmax(red, axis=1)
        light = rows[np.arange(len(path)), first_k]
        stop = dist[np.arange(len(path)), end_k] + 0.5 * scene.graph.spacing
        stop = np.where(has, stop - st["half_length"] - 0.5, np.inf)
        # A new light ahead: decide once whether to run it (percentage_running_light).
        changed = has & (light != st["light_seen"])
        if changed.any():
            st["light_seen"][changed] = light[changed]
            pct = self._columns["running_light"][changed]
            draws = np.zeros(len(pct), dtype=bool)
            chance = pct > 0.0
            if chance.any():
                draws[chance] = self.rng.random(int(chance.sum())) * 100.0 < pct[chance]
            st["run_light"][changed] = draws
        # Yellow: only stop if it can be done comfortably; red: if it can be done at all.
        state = scene.light_state[np.maximum(light, 0)]
        needed = speed**2 / (2.0 * np.maximum(stop, 0.1))
        limit = np.where(state == 1, YELLOW_DECEL, EMERGENCY_DECEL)
        ignore = st["run_light"] | (needed > limit) & (stop < 2.0 * scene.graph.spacing)
        ignore |= (state == 1) & (needed > YELLOW_DECEL)
        return np.where(ignore, np.inf, stop)

    # -- speed, steering, pedals -----------------------------------------------------------
    def _target_speed(
        self,
        scene: TrafficScene,
        path: np.ndarray,
        dist: np.ndarray,
        cols: dict[str, np.ndarray],
        speed: np.ndarray,
        hits: np.ndarray,
        hit_speed: np.ndarray,
    ) -> np.ndarray:
        g = scene.graph
        st = self._row_state
        factor = 1.0 - cols["speed_difference"] / 100.0
        desired = cols["desired_speed"] / 3.6
        use_desired = ~np.isnan(desired)
        limits = g.speed_limit[path]  # (V, H)
        cruise = np.where(use_desired[:, None], desired[:, None], limits * factor[:, None])
        cruise = np.minimum(cruise, st["max_speed"][:, None])
        allowed = np.minimum(cruise, g.curve_speed[path])
        ahead = np.maximum(dist, 0.0)
        # Slow down in time for everything ahead on the path: v^2 <= v_k^2 + 2 b d_k.
        profile = np.sqrt(allowed**2 + 2.0 * COMFORT_DECEL * ahead).min(axis=1)
        target = np.minimum(profile, np.maximum(allowed[:, 0], allowed[:, 1]))
        # Path end (dead end): stop before it.
        ends = path[:, 1:] == path[:, :-1]
        if ends.any():
            has_end = ends.any(axis=1)
            end_dist = dist[np.arange(len(path)), np.argmax(ends, axis=1)]
            target = np.minimum(target, _stop_speed(end_dist - st["half_length"], has_end))
        stop = self._light_stops(scene, path, dist, speed)
        target = np.minimum(target, _stop_speed(stop, np.isfinite(stop)))
        # The obstacle ahead: brake to its speed, keeping the distance to the leader.
        has_hit = hits < HORIZON
        gap = dist[np.arange(len(path)), np.minimum(hits, HORIZON - 1)] - st["half_length"] - 1.5
        keep = cols["distance_to_leader"] + TIME_HEADWAY * np.maximum(speed, 0.0)
        room = np.maximum(gap - keep, 0.0)
        follow = np.sqrt(np.maximum(hit_speed, 0.0) ** 2 + 2.0 * COMFORT_DECEL * room)
        follow = np.where(gap - cols["distance_to_leader"] <= 0.0, 0.0, follow)
        return np.where(has_hit, np.minimum(target, follow), target)

    def _steering(
        self,
        g: LaneGraph,
        path: np.ndarray,
        d0: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        pyaw: np.ndarray,
        speed: np.ndarray,
        cols: dict[str, np.ndarray],
    ) -> np.ndarray:
        """Pure pursuit from the rear axle to a look-ahead point on the path."""
        st = self._row_state
        look = np.clip(LOOK_AHEAD_TIME * np.abs(speed) + MIN_LOOK_AHEAD, 0.0, MAX_LOOK_AHEAD)
        tightest = g.curvature[path[:, :CURVE_SCAN]].max(axis=1)
        look = np.clip(np.sqrt(8.0 * CORNER_CUT / np.maximum(tightest, 1e-4)), 3.0, look)
        k = np.clip(np.ceil((look - d0) / g.spacing).astype(np.int64), 1, HORIZON - 1)
        target = path[np.arange(len(path)), k]
        offset = cols["lane_offset"]
        tx = g.x[target] - offset * g.hy[target]
        ty = g.y[target] + offset * g.hx[target]
        rad = np.radians(pyaw)
        c, s = np.cos(rad), np.sin(rad)
        rx, ry = px - c * st["half_wb"], py - s * st["half_wb"]
        dx, dy = tx - rx, ty - ry
        forward, lateral = dx * c + dy * s, dy * c - dx * s
        curvature = 2.0 * lateral / np.maximum(forward**2 + lateral**2, 1e-6)
        wheel = np.arctan(curvature * st["wheelbase"])
        return np.clip(wheel / st["max_steer"], -1.0, 1.0)

    def _pedals(self, speed: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = self._row_state
        accel = np.clip(SPEED_GAIN * (target - speed), -st["brake_decel"], st["max_accel"])
        throttle = np.clip(accel / st["max_accel"] + 0.05 * (target > HOLD_SPEED), 0.0, 1.0)
        brake = np.clip(-accel / st["brake_decel"], 0.0, 1.0)
        brake = np.where(accel < -0.2, brake, 0.0)
        hold = (target < HOLD_SPEED) & (speed < 1.0)
        throttle = np.where(hold, 0.0, np.where(accel < 0.0, 0.0, throttle))
        brake = np.where(hold, 1.0, brake)
        return throttle, brake

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
    ) -> None:
        st = self._row_state
        paths = self._paths
        assert paths is not None
        g = scene.graph
        st["cooldown"] = np.maximum(st["cooldown"] - dt, 0.0)
        w1 = paths.path[:, 1]
        has_side = ((g.left[w1] >= 0) | (g.right[w1] >= 0)) & paths.planned
        forced = np.array([i in self._forced for i in self._ids]) if self._forced else None
        if not has_side.any() and forced is None:
            return
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
    def _update_lights(self, scene: TrafficScene, brake: np.ndarray, hit: np.ndarray) -> None:
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


def _stop_speed(distance: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Highest speed that still stops within ``distance`` at the comfortable deceleration."""
    room = np.maximum(distance, 0.0)
    return np.where(active, np.sqrt(2.0 * COMFORT_DECEL * room), np.inf)


def route_from_locations(points: list[tuple[float, float, float]]) -> Route:
    return Route(locations=deque(points))


def route_from_options(options: list[int]) -> Route:
    return Route(options=deque(options))
