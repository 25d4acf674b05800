"""The server-side Traffic Manager: drives registered vehicles inside the world's tick.

One ``TrafficManager`` per Traffic Manager port. Every ``PLAN_PERIOD`` of simulated time, for
all its vehicles at once (the controls hold in between):

1. paths advance along the lane graph (``paths.PathBuffer``);
2. hazards are found on each path (``hazards``): other vehicles (the hero included) and
   walkers, through an occupancy array over the lane-graph waypoints that also marks crossing
   and merging lanes; junction waypoints claimed by vehicles about to cross them; red and
   yellow lights (their trigger zones along the path); path ends; bodies right in front of
   the vehicle's own box; blocked junction exits;
3. a speed target follows from the speed limit (less ``speed_difference`` %, or the desired
   speed), comfortable speeds in curves and braking profiles to every hazard;
4. steering tracks the lane (its curvature plus pure-pursuit corrections) and a proportional
   law on the speed error gives throttle and brake (``control``); the controls go straight
   into the vehicle physics.

Lane changes, backing off when wedged, CARLA's removal of stuck vehicles and vehicle lights
are in ``manoeuvres``. Everything random draws from one generator seeded by
``set_random_device_seed``, in a fixed order, so the same seed and the same spawns give the
same traffic.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph
from carla_lite.traffic.control import (
    COMFORT_DECEL,
    PLAN_PERIOD,
    TIME_HEADWAY,
    look_ahead,
    pedals,
    steering,
    stop_speed,
)
from carla_lite.traffic.hazards import (
    ObstacleLayout,
    break_deadlocks,
    bumper,
    keep_junction_clear,
    waiting_rows,
)
from carla_lite.traffic.manoeuvres import Manoeuvres
from carla_lite.traffic.parameters import TrafficParameters
from carla_lite.traffic.paths import HORIZON, PathBuffer, Route
from carla_lite.traffic.rings import ring_labels
from carla_lite.traffic.scene import TrafficScene

log = logging.getLogger(__name__)

YELLOW_DECEL = 3.0  # [m/s^2] stop at a yellow light only if this suffices
STOP_LINE_OVERRUN = 1.5  # [m] past the stop line a red light no longer holds a vehicle
CLAIM_TIME = 1.5  # [s] of driving ahead a vehicle claims inside junctions
MAX_CLAIM = 15.0  # [m]
CREEP_SPEED = 0.5  # [m/s] below this a vehicle counts as waiting; one freed creeps at 4x
_NO_LIGHT = np.zeros(1, dtype=bool)  # what waypoints without a light (row -1) read


#: Per-vehicle state kept when the set of vehicles changes (the rest is rebuilt).
_CARRIED_OVER = (
    "cooldown", "run_light", "light_seen", "stalled", "reversing", "standoff", "idle",
    "anchor_x", "anchor_y", "anchor_hx", "anchor_hy",
)  # fmt: skip


class TrafficManager(Manoeuvres):
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
        self._obstacles_vehicle_ids: np.ndarray | None = None  # held: see _obstacle_layout
        self._creeping = np.zeros(0, dtype=bool)
        self._since_removal = 0.0
        self._red_stop = np.zeros(0)
        self._obstacles_fixed: ObstacleLayout | None = None

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
        k = look_ahead(g, speed)
        path = paths.path[:, :k]
        d0, dist = _distances(g, path, px, py)
        cols = self._settings()
        hits, hit_speed, hit_obstacle = self._obstacles(scene, path, dist, cols, speed)
        if self._lane_changes(scene, cols, hits, hit_speed, speed, d0, dt):
            path = paths.path[:, :k]  # some rows were re-planned
            d0, dist = _distances(g, path, px, py)
        target_speed = self._target_speed(scene, path, dist, cols, speed, hits, hit_speed)
        assert self._obstacles_fixed is not None
        bumper_speed, bumper_obstacle = bumper(scene, self._obstacles_fixed, pose, speed, st)
        binding = bumper_speed < target_speed
        target_speed = np.minimum(target_speed, bumper_speed)
        blocker = np.where(binding, bumper_obstacle, hit_obstacle)
        target_speed[~paths.planned] = 0.0
        steer = steering(g, path, d0, px, py, pyaw, speed, cols["lane_offset"], st)
        throttle, brake = pedals(speed, target_speed, st)
        controls = np.zeros((len(live), 7))
        controls[:, 0], controls[:, 1], controls[:, 2] = throttle, steer, brake
        self._back_off_when_wedged(scene, controls, target_speed, speed, blocker, dt)
        if cols["update_lights"].any():
            self._update_lights(scene, controls[:, 2])
        fleet.set_controls(slots, controls)
        return self._stuck_vehicle(px, py, pyaw, speed, dt)

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
            for name in _CARRIED_OVER:
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
            "anchor_x": np.zeros(n),
            "anchor_y": np.zeros(n),
            "anchor_hx": np.zeros(n),
            "anchor_hy": np.zeros(n),
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
        hit_obstacle = break_deadlocks(fixed, first, hit_obstacle)
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
        waits_for = waiting_rows(self._obstacles_fixed, waiting, hit_obstacle)
        if np.count_nonzero(waits_for >= 0) < 3:
            self._creeping = np.zeros(len(own), dtype=bool)
            return hit_obstacle
        ids = np.asarray(self._ids)
        label = ring_labels(waits_for, ids)
        self._creeping = (label >= 0) & (label == ids)
        return np.where(self._creeping, -1, hit_obstacle)

    def _obstacle_layout(self, scene: TrafficScene, n_walkers: int, width: int) -> ObstacleLayout:
        """Index arrays of the obstacle marks, rebuilt only when the actors change.

        The scene's vehicle-id array is new whenever the vehicles change; it is compared by
        identity while a reference to it is held (an ``id()`` alone could be reused by the
        next array once the old one is freed, giving a layout of the wrong size).
        """
        key = (n_walkers, len(self._ids), width)
        if (
            self._obstacles_key != key
            or self._obstacles_vehicle_ids is not scene.vehicle_ids
            or self._obstacles_fixed is None
        ):
            self._obstacles_fixed = ObstacleLayout(scene, self._ids, n_walkers, width)
            self._obstacles_key = key
            self._obstacles_vehicle_ids = scene.vehicle_ids
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

    def _light_stops(
        self, scene: TrafficScene, path: np.ndarray, dist: np.ndarray, speed: np.ndarray
    ) -> np.ndarray:
        """Distance to the stop line of the first red or yellow light on the path (inf: none)."""
        if not len(scene.light_state):
            return np.full(len(path), np.inf)
        st = self._row_state
        # Light states RED = 0 and YELLOW = 1 stop traffic; the extra entry is "no light".
        stopping = np.concatenate((scene.light_state <= 1, _NO_LIGHT))
        light_on_path = self._wp_light[path]  # (V, H) light row, -1: none
        red = stopping[light_on_path]
        if not red.any():
            return np.full(len(path), np.inf)
        ends = red[:, :-1] & ~red[:, 1:]
        has = ends.any(axis=1)
        end_k = np.argmax(ends, axis=1)
        first_k = np.argmax(red, axis=1)
        rows = np.arange(len(path))
        light = light_on_path[rows, first_k]
        stop = dist[rows, end_k] + 0.5 * scene.graph.spacing
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
        if (factor == 1.0).all() and np.isnan(desired).all():
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
            target = np.minimum(target, stop_speed(end_room, has_end))
        stop = self._light_stops(scene, path, dist, speed)
        self._red_stop = stop
        # The controls hold until the next plan: aim to stop that much sooner.
        target = np.minimum(target, stop_speed(stop - speed * PLAN_PERIOD, np.isfinite(stop)))
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
        clear = keep_junction_clear(g, path, dist, hits, hit_speed, speed, st)
        return np.minimum(target, clear)


def _distances(
    g: LaneGraph, path: np.ndarray, px: np.ndarray, py: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance from each vehicle to its waypoint 0 along the lane (negative: behind)
    and, from there, to every waypoint of its path."""
    w0 = path[:, 0]
    d0 = (g.x[w0] - px) * g.hx[w0] + (g.y[w0] - py) * g.hy[w0]
    return d0, d0[:, None] + g.spacing * np.arange(path.shape[1])[None, :]


def route_from_locations(points: list[tuple[float, float, float]]) -> Route:
    return Route(locations=deque(points))


def route_from_options(options: list[int]) -> Route:
    return Route(options=deque(options))
