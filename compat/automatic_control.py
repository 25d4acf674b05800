#!/usr/bin/env python
"""Automatic control: plan a route over the map's topology and drive a vehicle along it.

A client program in the style of CARLA's PythonAPI examples (``automatic_control.py`` with its
global route planner and PID controllers), written from scratch: the lane segments of
``map.get_topology()`` are sampled into waypoint polylines with ``waypoint.next``, joined
into a graph at their end points, and Dijkstra picks the longest shortest route from the
vehicle's lane. A pure-pursuit steering controller and a PID speed controller drive the
vehicle along it in synchronous mode. Reports the distance covered and the largest lateral
distance from the route. Uses only the public ``carla`` API. Prints one ``RESULT {json}``
line and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
from dataclasses import dataclass, field

import carla
import common


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.connection_parser(__doc__.splitlines()[0], tm_port=False)
    parser.add_argument("--ticks", type=int, default=300, help="number of synchronous ticks")
    parser.add_argument("--delta", type=float, default=0.05, help="fixed delta seconds")
    parser.add_argument("--speed", type=float, default=25.0, help="target speed [km/h]")
    parser.add_argument("--resolution", type=float, default=2.0, help="route sampling [m]")
    parser.add_argument("--spawn-index", type=int, default=0, help="spawn point to start at")
    parser.add_argument("--timeout", type=float, default=20.0, help="client timeout [s]")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------- route planning


@dataclass
class RouteGraph:
    """Lane segments between end points; ``edges[node]`` = [(next_node, length, points)]."""

    nodes: list[carla.Location] = field(default_factory=list)
    edges: dict[int, list[tuple[int, float, list[carla.Location]]]] = field(default_factory=dict)

    def node_at(self, location: carla.Location, tolerance: float = 0.5) -> int:
        for index, node in enumerate(self.nodes):
            if node.distance(location) < tolerance:
                return index
        self.nodes.append(location)
        return len(self.nodes) - 1


def sample_segment(entry: carla.Waypoint, exit_: carla.Waypoint, step: float) -> list:
    """Waypoint locations from ``entry`` to ``exit_`` along the lane, ``step`` apart."""
    points = [entry.transform.location]
    end = exit_.transform.location
    waypoint = entry
    for _ in range(10000):
        if waypoint.transform.location.distance(end) <= step:
            break
        candidates = waypoint.next(step)
        same_lane = [
            c for c in candidates if c.road_id == entry.road_id and c.lane_id == entry.lane_id
        ]
        if not same_lane:
            break
        waypoint = same_lane[0]
        points.append(waypoint.transform.location)
    points.append(end)
    return points


def polyline_length(points: list[carla.Location]) -> float:
    return sum(a.distance(b) for a, b in itertools.pairwise(points))


def build_graph(town_map: carla.Map, step: float) -> RouteGraph:
    graph = RouteGraph()
    for entry, exit_ in town_map.get_topology():
        points = sample_segment(entry, exit_, step)
        a = graph.node_at(entry.transform.location)
        b = graph.node_at(exit_.transform.location)
        graph.edges.setdefault(a, []).append((b, polyline_length(points), points))
    return graph


def dijkstra(graph: RouteGraph, source: int) -> tuple[dict[int, float], dict[int, tuple]]:
    """Shortest distances from ``source`` and, per node, (previous node, edge points)."""
    distance = {source: 0.0}
    previous: dict[int, tuple] = {}
    heap = [(0.0, source)]
    while heap:
        d, node = heapq.heappop(heap)
        if d > distance.get(node, math.inf):
            continue
        for nxt, length, points in graph.edges.get(node, []):
            candidate = d + length
            if candidate < distance.get(nxt, math.inf):
                distance[nxt] = candidate
                previous[nxt] = (node, points)
                heapq.heappush(heap, (candidate, nxt))
    return distance, previous


def plan_route(
    town_map: carla.Map, start: carla.Location, step: float
) -> tuple[list[carla.Location], int]:
    """From ``start``'s lane to the farthest reachable segment end; (points, segments)."""
    graph = build_graph(town_map, step)
    start_wp = town_map.get_waypoint(start)
    # The segment of the start lane: its points from the one nearest the start onwards.
    best = None
    for node, out in graph.edges.items():
        for nxt, _length, points in out:
            for index, point in enumerate(points):
                gap = point.distance(start_wp.transform.location)
                if best is None or gap < best[0]:
                    best = (gap, node, nxt, points, index)
    assert best is not None, "the map has no topology"
    _gap, _node, exit_node, points, index = best
    distance, previous = dijkstra(graph, exit_node)
    goal = max(distance, key=lambda n: distance[n])
    chain: list[list[carla.Location]] = []
    node = goal
    while node != exit_node:
        node, edge_points = previous[node]
        chain.append(edge_points)
    route = list(points[index:])
    for edge_points in reversed(chain):
        route.extend(edge_points[1:])
    return route, len(chain) + 1


# ----------------------------------------------------------------------------- control


class PID:
    def __init__(self, kp: float, ki: float, kd: float, dt: float) -> None:
        self.kp, self.ki, self.kd, self.dt = kp, ki, kd, dt
        self.integral = 0.0
        self.last_error = 0.0

    def step(self, error: float) -> float:
        self.integral = max(-10.0, min(10.0, self.integral + error * self.dt))
        derivative = (error - self.last_error) / self.dt
        self.last_error = error
        return self.kp * error + self.ki * self.integral + self.kd * derivative


def distance_to_segment(p: carla.Location, a: carla.Location, b: carla.Location) -> float:
    abx, aby = b.x - a.x, b.y - a.y
    length2 = abx * abx + aby * aby
    t = 0.0 if length2 == 0.0 else ((p.x - a.x) * abx + (p.y - a.y) * aby) / length2
    t = max(0.0, min(1.0, t))
    return math.hypot(p.x - (a.x + t * abx), p.y - (a.y + t * aby))


class RouteFollower:
    """Pure pursuit on the route polyline, PID on the speed."""

    def __init__(self, route: list[carla.Location], target_speed: float, dt: float) -> None:
        self.route = route
        self.index = 0
        self.target_speed = target_speed / 3.6
        self.speed_pid = PID(0.6, 0.1, 0.02, dt)
        self.wheelbase = 2.8
        self.max_steer = math.radians(70.0)

    def progress(self, location: carla.Location) -> float:
        """Advance along the route; the lateral distance from it [m]."""
        window = range(self.index, min(self.index + 20, len(self.route) - 1))
        best = min(window, key=lambda i: self.route[i].distance(location), default=self.index)
        self.index = best
        lo, hi = max(0, best - 1), min(best + 1, len(self.route) - 1)
        segments = [(self.route[i], self.route[i + 1]) for i in range(lo, hi)]
        return min((distance_to_segment(location, a, b) for a, b in segments), default=0.0)

    def finished(self) -> bool:
        return self.index >= len(self.route) - 2

    def speed_for_turn(self, lookahead: float) -> float:
        """The target speed, lowered before sharp turns (heading change over the next 15 m)."""
        ahead = self.route[self.index : self.index + max(2, int(15.0 / 2.0) + 2)]
        headings = [math.atan2(b.y - a.y, b.x - a.x) for a, b in itertools.pairwise(ahead)]
        turn = 0.0
        for h0, h1 in itertools.pairwise(headings):
            turn += abs(math.atan2(math.sin(h1 - h0), math.cos(h1 - h0)))
        factor = 1.0 if turn < math.radians(20.0) else max(0.4, 1.0 - turn / math.pi)
        return self.target_speed * factor

    def control(self, transform: carla.Transform, speed: float) -> carla.VehicleControl:
        location = transform.location
        if self.finished():
            return carla.VehicleControl(throttle=0.0, brake=1.0)
        lookahead = max(4.0, 0.8 * speed + 2.0)
        target = self.route[-1]
        for point in self.route[self.index :]:
            if point.distance(location) >= lookahead:
                target = point
                break
        yaw = math.radians(transform.rotation.yaw)
        alpha = math.atan2(target.y - location.y, target.x - location.x) - yaw
        alpha = math.atan2(math.sin(alpha), math.cos(alpha))
        steer_angle = math.atan2(2.0 * self.wheelbase * math.sin(alpha), lookahead)
        steer = max(-1.0, min(1.0, steer_angle / self.max_steer))
        effort = self.speed_pid.step(self.speed_for_turn(lookahead) - speed)
        if effort >= 0.0:
            return carla.VehicleControl(throttle=min(effort, 0.75), steer=steer)
        return carla.VehicleControl(throttle=0.0, steer=steer, brake=min(-effort, 1.0))


def run(args: argparse.Namespace) -> dict:
    _client, world = common.connect(args)
    original_settings = world.get_settings()
    vehicle = None
    sensors: list[carla.Sensor] = []
    result: dict = {}
    try:
        common.set_synchronous(world, args.delta)

        town_map = world.get_map()
        spawn_points = town_map.get_spawn_points()
        start = spawn_points[args.spawn_index % len(spawn_points)]
        route, segments = plan_route(town_map, start.location, args.resolution)
        result["route_length_m"] = polyline_length(route)
        result["route_segments"] = segments

        bp = world.get_blueprint_library().filter("vehicle.*")[0]
        vehicle = world.spawn_actor(bp, start)
        follower = RouteFollower(route, args.speed, args.delta)
        wheels = vehicle.get_physics_control().wheels
        follower.max_steer = math.radians(wheels[0].max_steer_angle or 70.0)
        # Like the example's HUD: a collision sensor and a (client-side) lane invasion sensor.
        events: dict[str, list] = {"collisions": [], "lane_invasions": []}
        library = world.get_blueprint_library()
        for key, blueprint_id in (
            ("collisions", "sensor.other.collision"),
            ("lane_invasions", "sensor.other.lane_invasion"),
        ):
            sensor = world.spawn_actor(library.find(blueprint_id), carla.Transform(), vehicle)
            sensors.append(sensor)
            sensor.listen(events[key].append)
        world.tick()

        covered = 0.0
        max_lateral = 0.0
        top_speed = 0.0
        last = vehicle.get_location()
        for _ in range(args.ticks):
            transform = vehicle.get_transform()
            velocity = vehicle.get_velocity()
            speed = math.hypot(velocity.x, velocity.y)
            top_speed = max(top_speed, speed)
            vehicle.apply_control(follower.control(transform, speed))
            world.tick()
            location = vehicle.get_location()
            covered += location.distance(last)
            last = location
            max_lateral = max(max_lateral, follower.progress(location))
            if follower.finished():
                break
        result["distance_m"] = covered
        result["max_lateral_error_m"] = max_lateral
        result["top_speed_kmh"] = top_speed * 3.6
        result["route_index"] = follower.index
        result["collisions"] = len(events["collisions"])
        result["lane_invasions"] = len(events["lane_invasions"])
    finally:
        for sensor in sensors:
            sensor.stop()
            sensor.destroy()
        if vehicle is not None:
            vehicle.destroy()
        world.apply_settings(original_settings)
    return result


def check(result: dict, args: argparse.Namespace) -> list[str]:
    failures = []
    expected = 0.4 * args.ticks * args.delta * args.speed / 3.6
    if result["route_length_m"] < expected:
        failures.append(f"route of {result['route_length_m']:.1f} m is too short")
    if result["distance_m"] < expected:
        failures.append(f"covered {result['distance_m']:.1f} m, expected at least {expected:.1f}")
    if result["max_lateral_error_m"] > 2.0:
        failures.append(f"lateral error up to {result['max_lateral_error_m']:.2f} m")
    if result["collisions"]:
        failures.append(f"{result['collisions']} collisions")
    if result["top_speed_kmh"] > 1.3 * args.speed:
        failures.append(f"top speed {result['top_speed_kmh']:.1f} km/h above target")
    return failures


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), run, check)


if __name__ == "__main__":
    common.hard_exit(main())
