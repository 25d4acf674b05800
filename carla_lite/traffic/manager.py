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
from carla_lite.traffic.rings import ring_labels
from carla_lite.traffic.scene import TrafficScene

log = logging.getLogger(__name__)

COMFORT_DECEL = 3.5  # [m/s^2] planned braking for lights, curves and traffic
YELLOW_DECEL = 3.0  # [m/s^2] stop at a yellow light only if this suffices
STOP_LINE_OVERRUN = 1.5  # [m] past the stop line a red light no longer holds a vehicle
TIME_HEADWAY = 0.8  # [s] extra gap per m/s of own speed
SPEED_GAIN = 1.5  # [1/s] acceleration per m/s of speed error
BRAKE_GAIN = 3.0  # [1/s] deceleration per m/s of speed above the target
MIN_LOOK_AHEAD = 1.5  # [m] pure-pursuit correction distance at low speed
MAX_LOOK_AHEAD = 4.0  # [m]
WIDE_VEHICLE_CLEARANCE = 0.3  # [m] kept from the lane's inner edge by oversized vehicles
STEER_LAG = 0.15  # [s] the wheels' time to full lock: the curvature that far ahead is used
LOOK_AHEAD_TIME = 0.3  # [s]
HOLD_SPEED = 0.3  # [m/s] below this with a stop target, the brake is held
LANE_CHANGE_COOLDOWN = 6.0  # [s] between two lane changes of one vehicle
LANE_CHANGE_AHEAD = 8.0  # [m] where the manoeuvre rejoins the neighbour lane
SLOW_LEADER_RATIO = 0.7  # a leader below this share of our cruise speed invites overtaking
OVERTAKE_GAP = 25.0  # [m] ...when it is this close
DECISIONS_PER_TICK_SHARE = 8  # each vehicle reconsiders lane changes every 8th tick
CLAIM_TIME = 1.5  # [s] of driving ahead a vehicle claims inside junctions
MAX_CLAIM = 15.0  # [m]
CREEP_SPEED = 0.5  # [m/s] below this a vehicle counts as waiting; one freed creeps at 4x
WALKER_RADIUS = 0.4  # [m]
QUEUE_SPEED = 2.0  # [m/s] a leader this slow just beyond a junction counts as a queue
STALL_SPEED = 0.3  # [m/s] a vehicle asked to drive but slower than this is stalled...
STALL_TIME = 3.0  # [s] ...and after this long backs off:
REVERSE_TIME = 1.5  # [s] reversing
REVERSE_THROTTLE = 0.4
REVERSE_ROOM = 2.0  # [m] free behind it
BUMPER_RANGE = 4.0  # [m] ahead of the box, where another box stops the vehicle
BUMPER_SIDE_MARGIN = 0.2  # [m] lateral clearance a box must leave to be passed
BUMPER_MARGIN = 0.7  # [m] kept to it
STANDOFF_TIME = 4.0  # [s] two vehicles waiting for each other this long: one backs off
IDLE_SPEED = 0.8  # [m/s] CARLA's VehicleRemoval thresholds
IDLE_LIMIT = 90.0  # [s]
RED_LIGHT_IDLE_LIMIT = 180.0  # [s]
REMOVAL_INTERVAL = 10.0  # [s]
MIN_LOOK_AHEAD_POINTS = 16  # path waypoints checked for hazards at least
PLAN_PERIOD = 0.25  # [s] of simulation between two plans (controls hold in between)
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
        self._layout_version = -1
        self._registration_changed = False
        self._row_state: dict[str, np.ndarray] = {}
        self._obstacles_key: tuple[int, ...] = ()
        self._creeping = np.zeros(0, dtype=bool)
        self._since_removal = 0.0
        self._speed = np.zeros(0)
        self._red_stop = np.zeros(0)
        self._obstacles_fixed: _Obstacles | None = None

    # -- registration and settings (RPC side) ----------------------------------------------
    def register(self, actor_ids: list[int]) -> None:
        self.registered.update(actor_ids)
        self._registration_changed = True

    def unregister(self, actor_ids: list[int]) -> None:
        gone = set(actor_ids) & self.registered
        self.registered -= gone
        self._registration_changed = True
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
    def due(self, dt: float, layout_version: int) -> bool:
        """Let ``dt`` pass; whether this tick re-plans (every ``PLAN_PERIOD`` of simulated
        time, or at once when the vehicles or the world's actors changed)."""
        self._since_plan += dt
        changed = layout_version != self._layout_version or self._registration_changed
        return bool(self.registered) and (changed or self._since_plan >= PLAN_PERIOD - 1e-9)

    def step(self, scene: TrafficScene, layout_version: int) -> list[int]:
        """Plan and apply controls for every registered vehicle of ``scene``.

        Between plans the controls hold (they are sticky in the vehicle physics).

        Returns:
            Actor ids of stuck vehicles the world should destroy (see ``_stuck_vehicle``).
        """
        self._layout_version = layout_version
        self._registration_changed = False
        dt, self._since_plan = min(self._since_plan, 1.0), 0.0
        live = [i for i in sorted(self.registered) if i in scene.bodies]
        if len(live) != len(self.registered):
            self.unregister([i for i in self.registered if i not in scene.bodies])
        if not live:
            self._ids = []
            return []
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
        k = self._look_ahead(g, speed)
        path = paths.path[:, :k]
        w0 = path[:, 0]
        # Signed distance from the vehicle to waypoint 0 along its lane (negative: behind).
        d0 = (g.x[w0] - px) * g.hx[w0] + (g.y[w0] - py) * g.hy[w0]
        dist = d0[:, None] + g.spacing * np.arange(k)[None, :]
        cols = self._settings()
        hits, hit_speed, hit_obstacle = self._obstacles(scene, path, dist, cols, speed)
        self._lane_changes(scene, cols, hits, hit_speed, speed, d0, dt)
        path = paths.path[:, :k]
        w0 = path[:, 0]
        d0 = (g.x[w0] - px) * g.hx[w0] + (g.y[w0] - py) * g.hy[w0]
        dist = d0[:, None] + g.spacing * np.arange(k)[None, :]
        self._speed = speed
        target_speed = self._target_speed(scene, path, dist, cols, speed, hits, hit_speed)
        bumper_speed, bumper_obstacle = self._bumper(scene, pose, speed)
        binding = bumper_speed < target_speed
        target_speed = np.minimum(target_speed, bumper_speed)
        blocker = np.where(binding, bumper_obstacle, hit_obstacle)
        target_speed[~paths.planned] = 0.0
        steer = self._steering(g, path, d0, px, py, pyaw, speed, cols)
        throttle, brake = self._pedals(speed, target_speed)
        controls = np.zeros((len(live), 7))
        controls[:, 0], controls[:, 1], controls[:, 2] = throttle, steer, brake
        self._back_off_when_wedged(scene, controls, target_speed, speed, blocker, dt)
        if cols["update_lights"].any():
            self._update_lights(scene, controls[:, 2])
        fleet.set_controls(slots, controls)
        return self._stuck_vehicle(scene, speed, dt)

    @staticmethod
    def _look_ahead(g: LaneGraph, speed: np.ndarray) -> int:
        """Waypoints of the path worth checking this plan: the fastest vehicle's braking
        distance, headway and a margin (the buffer itself always holds ``HORIZON``)."""
        v = float(np.max(np.abs(speed))) + 2.0
        reach = v * v / (2.0 * COMFORT_DECEL) + v * (TIME_HEADWAY + PLAN_PERIOD) + 15.0
        return int(np.clip(math.ceil(reach / g.spacing), MIN_LOOK_AHEAD_POINTS, HORIZON))

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
            for name in ("cooldown", "run_light", "light_seen", "stalled", "reversing",
                         "standoff", "idle"):  # fmt: skip
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
            "half_width": np.array([b.half_width for b in bodies]),
            "cooldown": np.zeros(n),
            "stalled": np.zeros(n),
            "standoff": np.zeros(n),
            "idle": np.zeros(n),
            "hero": np.array([b.is_hero for b in bodies], dtype=bool),
            "reversing": np.zeros(n),
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
            if actor_id not in self.registered:
                del self._pending_routes[actor_id]  # set for a vehicle this TM does not drive
                continue
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
        """Per vehicle: path index of the first obstacle (``HORIZON``: none), its speed and its
        index; ``path`` holds the waypoints worth checking (see ``_look_ahead``).

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
        walkers = scene.walker_xy
        fixed = self._obstacle_layout(scene, len(walkers), path.shape[1])
        own = fixed.own
        in_junction = g.junction[path] >= 0
        claim = in_junction & (dist > 0.0)
        claim &= dist <= np.minimum(speed * CLAIM_TIME, MAX_CLAIM)[:, None]
        # A vehicle inside a junction reserves the rest of its way through it.
        inside = in_junction[:, 0] | in_junction[:, 1]
        if inside.any():
            columns = np.arange(path.shape[1])[None, :]
            leave = np.argmax(~in_junction & (columns > 1), axis=1)
            claim |= inside[:, None] & in_junction & (columns < leave[:, None])
        claimed = path[claim]
        claimer = fixed.own_grid[claim]
        # Centre, bumpers and corners (inset): a wide or turning vehicle that reaches into
        # another lane blocks that lane too.
        fx = vx[None, :] + fixed.along * hx - fixed.across * hy
        fy = vy[None, :] + fixed.along * hy + fixed.across * hx
        xs = np.concatenate([fx.ravel(), walkers[:, 0]])
        ys = np.concatenate([fy.ravel(), walkers[:, 1]])
        owner = fixed.owner
        where = g.locate(xs, ys)
        on_lane = where >= 0
        table = g.conflict_table()
        occupancy = np.full(len(g) + 1, -1, dtype=np.int64)
        # Claims first, bodies drawn over them. A claim marks only the crossing and merging
        # lanes (column 0 of the table is the waypoint itself): traffic ahead on the
        # claimer's own lane is not waiting for it.
        occupancy[table[claimed][:, 1:]] = claimer[:, None]
        body_marks = table[where[on_lane]]
        occupancy[body_marks] = owner[on_lane][:, None]
        is_body = np.zeros(len(g) + 1, dtype=bool)
        is_body[body_marks] = True
        obstacle_speed = np.concatenate([fleet.speed[vslots], fixed.walker_zeros])
        obstacle_yaw = np.concatenate([vpose[:, 4], fixed.walker_zeros])
        obstacle_is_walker = fixed.is_walker
        seen = occupancy[path[:, 1:]]  # waypoint 0 is alongside or behind
        blocking = (seen >= 0) & (seen != own[:, None])
        # A claim made by a vehicle behind us is not ours to wait for (it follows us).
        claims = blocking & ~is_body[path[:, 1:]]
        if claims.any():
            claimer_at = np.where(claims, seen, own[:, None])
            ahead = (vx[claimer_at] - vx[own][:, None]) * hx[own][:, None]
            ahead += (vy[claimer_at] - vy[own][:, None]) * hy[own][:, None]
            blocking &= ~(claims & (ahead < 0.0))
        blocking = self._apply_ignores(scene, cols, seen, blocking, obstacle_is_walker)
        any_hit = blocking.any(axis=1)
        k = path.shape[1]
        first = np.where(any_hit, np.argmax(blocking, axis=1) + 1, HORIZON)
        column = np.minimum(first - 1, k - 2)
        hit_obstacle = np.where(any_hit, seen[np.arange(len(first)), column], -1)
        hit_obstacle = self._break_deadlocks(scene, own, first, hit_obstacle)
        hit_obstacle = self._break_cycles(scene, own, speed, hit_obstacle)
        first = np.where(hit_obstacle >= 0, first, HORIZON)
        # Only the obstacle's speed along our path counts: crossing traffic is a standstill.
        hit_w = path[np.arange(len(first)), np.minimum(first, k - 1)]
        along = np.cos(np.radians(obstacle_yaw[hit_obstacle] - g.yaw[hit_w]))
        hit_speed = np.where(hit_obstacle >= 0, obstacle_speed[hit_obstacle] * along, 0.0)
        return first, np.maximum(hit_speed, 0.0), hit_obstacle

    def _break_cycles(
        self, scene: TrafficScene, own: np.ndarray, speed: np.ndarray, hit_obstacle: np.ndarray
    ) -> np.ndarray:
        """Three or more stopped vehicles each waiting for the next: the lowest id creeps on."""
        waiting = np.abs(speed) < CREEP_SPEED
        waits_for = self._waiting_rows(scene, waiting, hit_obstacle)
        if np.count_nonzero(waits_for >= 0) < 3:
            self._creeping = np.zeros(len(own), dtype=bool)
            return hit_obstacle
        ids = np.asarray(self._ids)
        label = ring_labels(waits_for, ids)
        self._creeping = (label >= 0) & (label == ids)
        return np.where(self._creeping, -1, hit_obstacle)

    def _waiting_rows(
        self, scene: TrafficScene, waiting: np.ndarray, obstacle: np.ndarray
    ) -> np.ndarray:
        """Row of our vehicle each waiting row waits for (-1: none, or not one of ours)."""
        fixed = self._obstacles_fixed
        n_veh = len(scene.vehicle_ids)
        if fixed is None or len(fixed.own) != len(obstacle):
            return np.full(len(obstacle), -1, dtype=np.int64)
        row_of = np.full(n_veh + 1, -1, dtype=np.int64)
        row_of[fixed.own] = np.arange(len(fixed.own))
        target = row_of[np.where((obstacle >= 0) & (obstacle < n_veh), obstacle, n_veh)]
        return np.where(waiting, target, -1)

    def _obstacle_layout(self, scene: TrafficScene, n_walkers: int, width: int) -> _Obstacles:
        """Index arrays of the obstacle marks, rebuilt only when the actors change."""
        key = (id(scene.vehicle_ids), n_walkers, len(self._ids), width)
        if self._obstacles_key != key or self._obstacles_fixed is None:
            self._obstacles_fixed = _Obstacles(scene, self._ids, n_walkers, width)
            self._obstacles_key = key
        return self._obstacles_fixed

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
        # Light states RED = 0 and YELLOW = 1 stop traffic; the extra entry is "no light".
        stopping = np.append(scene.light_state <= 1, False)
        red = stopping[self._wp_light][path]  # (V, H)
        if not red.any():
            return np.full(len(path), np.inf)
        ends = red[:, :-1] & ~red[:, 1:]
        has = ends.any(axis=1)
        end_k = np.argmax(ends, axis=1)
        first_k = np.argmax(red, axis=1)
        light = self._wp_light[path[np.arange(len(path)), first_k]]
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
        # Yellow: stop only if that is comfortable, else clear the junction. Red: stop unless
        # the front is already over the line (a light forced red by a client, say).
        state = scene.light_state[np.maximum(light, 0)]
        needed = speed**2 / (2.0 * np.maximum(stop, 0.1))
        ignore = st["run_light"] | (stop < -STOP_LINE_OVERRUN)
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
        if np.all(factor == 1.0) and np.all(np.isnan(desired)):
            allowed = g.comfortable_speed[path]  # (V, H): the common case, one gather
        else:
            use_desired = ~np.isnan(desired)
            cruise = np.where(
                use_desired[:, None], desired[:, None], g.speed_limit[path] * factor[:, None]
            )
            allowed = np.minimum(cruise, g.curve_speed[path])
        allowed = np.minimum(allowed, st["max_speed"][:, None])
        # Slow down in time for everything ahead on the path: v^2 <= v_k^2 + 2 b d_k.
        reachable = allowed**2 + 2.0 * COMFORT_DECEL * np.maximum(dist, 0.0)
        profile = np.sqrt(reachable.min(axis=1))
        target = np.minimum(profile, np.maximum(allowed[:, 0], allowed[:, 1]))
        # Path end (dead end): stop before it.
        ends = path[:, 1:] == path[:, :-1]
        if ends.any():
            has_end = ends.any(axis=1)
            end_dist = dist[np.arange(len(path)), np.argmax(ends, axis=1)]
            end_room = end_dist - st["half_length"] - speed * PLAN_PERIOD
            target = np.minimum(target, _stop_speed(end_room, has_end))
        stop = self._light_stops(scene, path, dist, speed)
        self._red_stop = stop
        # The controls hold until the next plan: aim to stop that much sooner.
        target = np.minimum(target, _stop_speed(stop - speed * PLAN_PERIOD, np.isfinite(stop)))
        # The obstacle ahead: brake to its speed, keeping the distance to the leader.
        has_hit = hits < HORIZON
        gap = dist[np.arange(len(path)), np.minimum(hits, path.shape[1] - 1)]
        gap = gap - st["half_length"] - 1.5
        keep = cols["distance_to_leader"] + TIME_HEADWAY * np.maximum(speed, 0.0)
        room = np.maximum(gap - keep - speed * PLAN_PERIOD, 0.0)
        follow = np.sqrt(np.maximum(hit_speed, 0.0) ** 2 + 2.0 * COMFORT_DECEL * room)
        follow = np.where(gap - cols["distance_to_leader"] <= 0.0, 0.0, follow)
        target = np.where(has_hit, np.minimum(target, follow), target)
        if self._creeping.any():
            target = np.where(self._creeping, np.minimum(target, 4.0 * CREEP_SPEED), target)
        return np.minimum(target, self._keep_junction_clear(g, path, dist, hits, hit_speed))

    def _bumper(
        self, scene: TrafficScene, pose: np.ndarray, speed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Speed that stops short of any body right in front of the vehicle's own box, and
        that body (-1: none).

        Lanes say nothing about a wide bus overhanging the opposite lane or a car spun
        round in a crash; this check looks at the boxes themselves, just ahead.
        """
        st = self._row_state
        fixed = self._obstacles_fixed
        assert fixed is not None
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
        close[np.arange(n), fixed.own] = False
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
        return _stop_speed(room, found), closest

    def _keep_junction_clear(
        self,
        g: LaneGraph,
        path: np.ndarray,
        dist: np.ndarray,
        hits: np.ndarray,
        hit_speed: np.ndarray,
    ) -> np.ndarray:
        """Speed that stops before a junction unless the way through it is clear.

        Anything standing or crossing on the path through the junction, or a stopped queue
        just beyond its exit, keeps the vehicle at the entry: one that entered anyway would
        stand inside the junction and lock the crossing traffic, the classic gridlock.
        Vehicles moving on ahead through the junction are simply followed.
        """
        st = self._row_state
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
        return _stop_speed(stop - self._speed * PLAN_PERIOD, blocked)

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
        """Path-tracking steering: the lane's curvature ahead plus pure-pursuit corrections.

        For the bicycle model, a look-ahead ``L`` corrects a lateral error ``e`` and a heading
        error ``psi`` with the curvature ``-2 e / L^2 - 2 sin(psi) / L`` (pure pursuit,
        linearised); adding the lane's own curvature (feed-forward) keeps the car on the lane
        centre through curves instead of cutting them.
        """
        st = self._row_state
        rows = np.arange(len(path))
        # Reference: the lane at the car's station, from waypoint 0 along its arc.
        w0 = path[:, 0]
        arc = -d0
        bend = g.signed_curvature[w0]
        dx, dy = px - g.x[w0], py - g.y[w0]
        # A vehicle wider than its lane keeps to the kerb side rather than overhang the
        # oncoming lane (CARLA's towns are right-hand traffic, so that is right).
        overhang = np.maximum(st["half_width"] - 0.5 * g.width[w0] + WIDE_VEHICLE_CLEARANCE, 0.0)
        offset = cols["lane_offset"] + overhang
        lateral = dy * g.hx[w0] - dx * g.hy[w0] - 0.5 * bend * arc**2 - offset
        ref_yaw = g.yaw[w0] + np.degrees(bend * arc)
        heading = np.radians((pyaw - ref_yaw + 180.0) % 360.0 - 180.0)
        look = np.clip(LOOK_AHEAD_TIME * np.abs(speed) + MIN_LOOK_AHEAD, 0.0, MAX_LOOK_AHEAD)
        # The lane's curvature where the car will be once the wheels have turned.
        reach = np.abs(speed) * STEER_LAG - d0
        ahead = np.clip((reach / g.spacing).astype(np.int64), 0, path.shape[1] - 1)
        feed_forward = g.signed_curvature[path[rows, ahead]]
        curvature = feed_forward - 2.0 * lateral / look**2 - 2.0 * np.sin(heading) / look
        wheel = np.arctan(curvature * st["wheelbase"])
        return np.clip(wheel / st["max_steer"], -1.0, 1.0)

    def _pedals(self, speed: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = self._row_state
        error = target - speed
        gain = np.where(error < 0.0, BRAKE_GAIN, SPEED_GAIN)
        accel = np.clip(gain * error, -st["brake_decel"], st["max_accel"])
        throttle = np.clip(accel / st["max_accel"] + 0.05 * (target > HOLD_SPEED), 0.0, 1.0)
        brake = np.clip(-accel / st["brake_decel"], 0.0, 1.0)
        brake = np.where(accel < -0.2, brake, 0.0)
        hold = (target < HOLD_SPEED) & (speed < 1.0)
        throttle = np.where(hold, 0.0, np.where(accel < 0.0, 0.0, throttle))
        brake = np.where(hold, 1.0, brake)
        return throttle, brake

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
        waits_for = self._waiting_rows(scene, still, blocker)
        label = ring_labels(waits_for, np.asarray(self._ids))
        in_ring = label >= 0
        st["standoff"] = np.where(in_ring, st["standoff"] + dt, 0.0)
        for ring_label in np.unique(label[in_ring & (st["standoff"] > STANDOFF_TIME)]).tolist():
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

    def _stuck_vehicle(self, scene: TrafficScene, speed: np.ndarray, dt: float) -> list[int]:
        """CARLA's vehicle removal: a vehicle idle (below 0.8 m/s) for 90 s, or 180 s in
        front of a red light, is stuck; the longest-idle stuck one is destroyed, at most one
        every 10 s, never a hero. Returns the actor ids to destroy."""
        st = self._row_state
        st["idle"] = np.where(np.abs(speed) < IDLE_SPEED, st["idle"] + dt, 0.0)
        self._since_removal += dt
        limit = np.where(np.isfinite(self._red_stop), RED_LIGHT_IDLE_LIMIT, IDLE_LIMIT)
        stuck = (st["idle"] >= limit) & ~st["hero"]
        if not stuck.any() or self._since_removal < REMOVAL_INTERVAL:
            return []
        row = int(np.argmax(np.where(stuck, st["idle"], -1.0)))
        self._since_removal = 0.0
        self._speed = np.zeros(0)
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


class _Obstacles:
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


def _stop_speed(distance: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Highest speed that still stops within ``distance`` at the comfortable deceleration."""
    room = np.maximum(distance, 0.0)
    return np.where(active, np.sqrt(2.0 * COMFORT_DECEL * room), np.inf)


def route_from_locations(points: list[tuple[float, float, float]]) -> Route:
    return Route(locations=deque(points))


def route_from_options(options: list[int]) -> Route:
    return Route(options=deque(options))
