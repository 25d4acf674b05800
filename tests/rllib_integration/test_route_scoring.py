"""Scripted drives on carla_lite scored by RouteMonitor, through the official client.

Each drive follows a planned route with a small pure-pursuit controller (or does the one
wrong thing the test is about) and checks that the infraction is counted exactly once with
its Leaderboard penalty.
"""

from __future__ import annotations

import textwrap

from tests.conftest import ServerProcess, run_client

_DRIVER = """
import math
from rllib_integration.driving_score import CriteriaConfig, RouteMonitor
from rllib_integration.routing import RouteGenerator, RoutePlanner

world = synchronous_world(client)
world_map = world.get_map()
planner = RoutePlanner(world_map)
blueprints = world.get_blueprint_library()
keep = []

def spawn_hero(route):
    x, y, z, yaw = route.start
    transform = carla.Transform(carla.Location(x, y, z + 0.5), carla.Rotation(yaw=yaw))
    bp = blueprints.find("vehicle.lincoln.mkz_2017")
    bp.set_attribute("role_name", "hero")
    hero = world.spawn_actor(bp, transform)
    collisions = []
    sensor = world.spawn_actor(
        blueprints.find("sensor.other.collision"), carla.Transform(), attach_to=hero
    )
    sensor.listen(lambda event: collisions.append((event.frame, event.other_actor)))
    keep.append(sensor)  # a sensor object that goes out of scope stops listening
    world.tick()
    return hero, collisions

def drive(route, ticks, control_fn, config=None):
    hero, collisions = spawn_hero(route)
    monitor = RouteMonitor(route, world, world_map, config)
    reports = []
    for _ in range(ticks):
        hero.apply_control(control_fn(hero, monitor))
        frame = world.tick()
        hit = [c for c in collisions if c[0] <= frame]
        collisions[:] = [c for c in collisions if c[0] > frame]
        other = hit[0][1] if hit else None
        time = world.get_snapshot().timestamp.elapsed_seconds
        report = monitor.update(hero, time, (other, None) if other is not None else None)
        reports.append(report)
        if monitor.done:
            break
    return monitor.record

def follow(speed=6.0):
    def control(hero, monitor):
        t = hero.get_transform()
        ahead = monitor.progress.lookahead(t.location.x, t.location.y, t.rotation.yaw, (6.0,))[0]
        steer = max(-1.0, min(1.0, 1.5 * math.atan2(float(ahead[1]), float(ahead[0]))))
        v = hero.get_velocity()
        throttle = 0.6 if math.hypot(v.x, v.y) < speed else 0.0
        return carla.VehicleControl(throttle=throttle, steer=steer)
    return control

def kinds(record):
    return [i.kind.value for i in record.infractions]
"""
# Indented like the scenario bodies, which are dedented together.
DRIVER = textwrap.indent(_DRIVER, " " * 8)


def test_following_a_route_completes_it(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        DRIVER
        + """
        route = RouteGenerator(planner, 11).generate(150.0)
        record = drive(route, 1200, follow())
        result = {
            "status": record.status,
            "completion": record.route_completion,
            "collisions": [k for k in kinds(record) if k.startswith("collisions")],
            "outside": record.outside_distance,
            "length": route.length,
        }
        """,
        timeout=240,
    )
    assert result["status"] == "Completed", result
    assert result["completion"] > 99.0, result
    assert result["collisions"] == []
    assert result["outside"] < 1.0


def test_driving_into_a_parked_car_is_one_vehicle_collision(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        DRIVER
        + """
        route = RouteGenerator(planner, 5).generate(120.0)
        x, y, z, yaw = route.point_at(25.0)
        parked = world.spawn_actor(
            blueprints.find("vehicle.audi.tt"),
            carla.Transform(carla.Location(x, y, z + 0.5), carla.Rotation(yaw=yaw)),
        )
        world.tick()
        record = drive(route, 200, follow(speed=8.0))
        result = {
            "kinds": kinds(record),
            "penalty": record.infraction_penalty,
            "detail": [i.detail for i in record.infractions],
        }
        """,
        timeout=240,
    )
    assert result["kinds"].count("collisions_vehicle") == 1, result
    assert "vehicle.audi.tt" in result["detail"]
    assert result["penalty"] <= 0.6 + 1e-9


def test_running_a_red_light_is_counted_once(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        DRIVER
        + """
        lights = list(world.get_actors().filter("traffic.traffic_light*"))
        chosen = None
        for light in lights:
            for stop in light.get_stop_waypoints():
                if not stop.is_junction and stop.previous(25.0) and stop.next(25.0):
                    chosen = (light, stop)
                    break
            if chosen:
                break
        light, stop = chosen
        for other in lights:
            other.set_state(carla.TrafficLightState.Red)
        world.freeze_all_traffic_lights(True)
        start = stop.previous(25.0)[0].transform.location
        goal = stop.next(25.0)[0].transform.location
        route = planner.plan((start.x, start.y, start.z), (goal.x, goal.y, goal.z))
        record = drive(route, 400, follow())
        result = {
            "kinds": kinds(record),
            "detail": [i.detail for i in record.infractions],
            "light": light.id,
            "penalty": record.infraction_penalty,
            "status": record.status,
        }
        """,
        timeout=240,
    )
    assert result["kinds"].count("red_light") == 1, result
    assert result["detail"][result["kinds"].index("red_light")] == f"light {result['light']}"
    assert result["penalty"] <= 0.7 + 1e-9
    assert result["status"] == "Completed"


def test_leaving_the_road_and_stopping_for_good(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        DRIVER
        + """
        route = RouteGenerator(planner, 7).generate(200.0)
        def swerve(hero, monitor):  # straight on, then hard right off the road
            t = world.get_snapshot().timestamp.elapsed_seconds
            steer = 0.8 if monitor.progress.distance > 15.0 else 0.0
            return carla.VehicleControl(throttle=0.5, steer=steer)
        off = drive(route, 150, swerve)
        off_kinds = kinds(off)
        def parked(hero, monitor):
            return carla.VehicleControl(brake=1.0)
        second = RouteGenerator(planner, 8).generate(100.0)
        blocked = drive(second, 200, parked, CriteriaConfig(max_blocked_time=3.0))
        result = {
            "off_kinds": off_kinds,
            "outside": off.outside_distance,
            "completion": off.route_completion,
            "progress": off.progress,
            "length": off.length,
            "blocked_kinds": kinds(blocked),
            "blocked_status": blocked.status,
            "blocked_time": blocked.duration,
        }
        """,
        timeout=240,
    )
    assert result["off_kinds"].count("outside_route_lanes") == 1, result
    assert result["outside"] > 1.0
    expected = (
        100 * result["progress"] / result["length"] * (1 - result["outside"] / result["length"])
    )
    assert abs(result["completion"] - expected) < 1e-6
    assert result["blocked_kinds"] == ["vehicle_blocked"]
    assert result["blocked_status"] == "Failed - vehicle_blocked"
    assert 3.0 <= result["blocked_time"] <= 3.2
