"""The server-side Traffic Manager inside a World (no wire): lanes, lights, leaders, seeds."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from carla_lite.blueprints import default_library
from carla_lite.geom import Transform
from carla_lite.maps.catalog import MapCatalog
from carla_lite.maps.lane_graph import lane_graph
from carla_lite.traffic.rings import ring_labels
from carla_lite.world.world import World

DT = 0.05
CAR = "vehicle.tesla.model3"


def _world(map_name: str = "LiteTown01", seed: int = 1) -> World:
    return World(MapCatalog([]), default_library(), map_name, seed=seed)


def _ahead_on_lane(world: World, start: Transform, points: int, z: float) -> Transform:
    """The lane centre ``points`` waypoints (2 m each) ahead of ``start``, facing along it."""
    graph = lane_graph(world.road_map)
    w = graph.nearest(start.x, start.y, start.yaw)
    for _ in range(points):
        w = int(graph.successors(w)[0])
    return Transform(float(graph.x[w]), float(graph.y[w]), z, 0.0, float(graph.yaw[w]), 0.0)


def _lateral_error(world: World, actor_id: int) -> float:
    graph = lane_graph(world.road_map)
    tf = world.transform_of(world.actor(actor_id))
    w = graph.nearest(tf.x, tf.y, tf.yaw, 6.0)
    return abs((tf.y - graph.y[w]) * graph.hx[w] - (tf.x - graph.x[w]) * graph.hy[w])


def test_a_vehicle_keeps_its_lane_through_turns() -> None:
    world = _world()
    for light in world.lights.lights:
        world.lights.set_state(light.actor_id, 2)
        world.lights.freeze(light.actor_id, True)
    car = world.spawn(CAR, {}, world.road_map.spawn_points[0])
    tm = world.traffic_manager(8000)
    tm.register([car.id])
    graph = lane_graph(world.road_map)
    errors, travelled = [], 0.0
    last = world.transform_of(car)
    for tick in range(1600):
        world.tick(DT)
        tf = world.transform_of(car)
        travelled += math.hypot(tf.x - last.x, tf.y - last.y)
        last = tf
        w = graph.nearest(tf.x, tf.y, tf.yaw, 6.0)
        if tick > 40 and graph.junction[w] < 0:
            errors.append(_lateral_error(world, car.id))
    assert travelled > 500.0, "it drives on, through several junctions"
    assert np.percentile(errors, 95) < 0.5
    assert max(errors) < 1.0


def test_speed_follows_the_limit_and_the_desired_speed() -> None:
    world = _world("LiteHighway01")
    spawn = world.road_map.spawn_points
    cars = [world.spawn(CAR, {}, spawn[i]).id for i in (0, 40)]
    tm = world.traffic_manager(8000)
    tm.register(cars)
    tm.params.set_vehicle(cars[1], "desired_speed", 54.0)  # km/h
    top = [0.0, 0.0]
    for _ in range(1200):
        world.tick(DT)
        for k, i in enumerate(cars):
            top[k] = max(top[k], float(world.fleet.speed[world.actor(i).slot]))
    limit = world.road_map.speed_limit_kmh(np.array([spawn[0].x]), np.array([spawn[0].y]))[0]
    # Top speeds: curves ahead slow a car down, the straights let it reach its target.
    assert top[0] == pytest.approx(limit / 3.6, rel=0.1)
    assert top[1] == pytest.approx(54.0 / 3.6, rel=0.1)


def test_red_light_holds_a_vehicle_inside_the_trigger_zone() -> None:
    world = _world()
    for light in world.lights.lights:
        world.lights.set_state(light.actor_id, 0)
        world.lights.freeze(light.actor_id, True)
    car = world.spawn(CAR, {}, world.road_map.spawn_points[0])
    world.traffic_manager(8000).register([car.id])
    for _ in range(800):
        world.tick(DT)
    tf = world.transform_of(car)
    assert abs(float(world.fleet.speed[car.slot])) < 0.1
    cells = world.road_map.cell_grid.clamped_index(np.array([tf.x]), np.array([tf.y]))
    facing = world.lights.lights_facing(cells, np.array([tf.yaw]))
    assert facing[0] >= 0, "it waits in front of its light, not somewhere else"
    # Green: it goes.
    world.lights.freeze_all(False)
    world.lights.set_state(world.lights.lights[int(facing[0])].actor_id, 2)
    start = world.transform_of(car)
    for _ in range(100):
        world.tick(DT)
    moved = world.transform_of(car)
    assert math.hypot(moved.x - start.x, moved.y - start.y) > 5.0


def test_a_follower_keeps_its_distance_behind_a_stopped_vehicle() -> None:
    world = _world("LiteHighway01")
    start = world.road_map.spawn_points[0]
    parked = world.spawn(CAR, {}, _ahead_on_lane(world, start, 30, z=0.5))  # 60 m ahead
    follower = world.spawn(CAR, {}, start)
    tm = world.traffic_manager(8000)
    tm.register([follower.id])
    tm.params.set_vehicle(follower.id, "auto_lane_change", False)
    for _ in range(600):
        world.tick(DT)
    a, b = world.transform_of(follower), world.transform_of(parked)
    gap = math.hypot(a.x - b.x, a.y - b.y) - 2 * parked.bounding_box.extent.x
    assert abs(float(world.fleet.speed[follower.slot])) < 0.1
    assert 1.0 < gap < 8.0, gap


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    def run(seed: int) -> np.ndarray:
        world = _world(seed=5)
        spawn = list(world.road_map.spawn_points)
        random.Random(3).shuffle(spawn)
        ids = [world.spawn(CAR, {}, tf).id for tf in spawn[:20]]
        tm = world.traffic_manager(8000)
        tm.set_seed(seed)
        tm.register(ids)
        for _ in range(800):
            world.tick(DT)
        return np.array([world.fleet.pose[world.actor(i).slot] for i in ids])

    first, again, other = run(1), run(1), run(2)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_unregistered_and_reset_vehicles_are_left_alone() -> None:
    world = _world()
    car = world.spawn(CAR, {}, world.road_map.spawn_points[0])
    tm = world.traffic_manager(8000)
    tm.register([car.id])
    for _ in range(100):
        world.tick(DT)
    tm.unregister([car.id])
    world.apply_vehicle_control(car.id, 0.0, 0.0, 1.0, False, False, False, 0)
    for _ in range(100):
        world.tick(DT)
    assert float(world.fleet.control[car.slot, 2]) == 1.0, "the user's brake stays applied"
    tm.register([car.id])
    tm.params.set_global("speed_difference", 50.0)
    tm.reset()
    assert not tm.registered and tm.params.speed_difference == 0.0


def test_a_vehicle_stuck_for_90_s_is_removed_but_never_the_hero() -> None:
    world = _world("LiteHighway01")
    start = world.road_map.spawn_points[0]
    # A broken-down car 20 m ahead, not driven by the Traffic Manager.
    world.spawn(CAR, {}, _ahead_on_lane(world, start, 10, z=0.5))
    stuck = world.spawn(CAR, {}, start)
    hero = world.spawn(CAR, {"role_name": "hero"}, world.road_map.spawn_points[60])
    tm = world.traffic_manager(8000)
    tm.register([stuck.id, hero.id])
    for light in world.lights.lights:  # keep the hero waiting too, if it meets a light
        world.lights.set_state(light.actor_id, 0)
        world.lights.freeze(light.actor_id, True)
    for p in ("auto_lane_change",):
        tm.params.set_vehicle(stuck.id, p, False)
    world.set_simulate_physics(hero.id, False)  # the hero cannot move at all
    for _ in range(int(80 / DT)):
        world.tick(DT)
    assert stuck.id in world.actors, "80 s idle is not stuck yet"
    for _ in range(int(20 / DT)):
        world.tick(DT)
    assert stuck.id not in world.actors, "CARLA's Traffic Manager removes it after 90 s"
    assert hero.id in world.actors


def test_ring_labels_find_every_ring_and_nothing_else() -> None:
    waits_for = np.array([1, 2, 0, -1, 3, 6, 5, 5, 8])
    keys = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18])
    labels = ring_labels(waits_for, keys)
    assert labels.tolist() == [10, 10, 10, -1, -1, 15, 15, -1, 18]
    assert ring_labels(np.full(5, -1), np.arange(5)).tolist() == [-1] * 5


def test_a_vehicle_stops_for_a_walker_on_its_lane() -> None:
    world = _world("LiteHighway01")
    start = world.road_map.spawn_points[0]
    spot = _ahead_on_lane(world, start, 25, z=1.0)  # 50 m ahead, on the lane centre
    walker = world.spawn("walker.pedestrian.0001", {}, Transform(spot.x, spot.y, spot.z))
    car = world.spawn(CAR, {}, start)
    tm = world.traffic_manager(8000)
    tm.register([car.id])
    tm.params.set_vehicle(car.id, "auto_lane_change", False)
    for _ in range(600):
        world.tick(DT)
    a, b = world.transform_of(car), world.transform_of(walker)
    assert abs(float(world.fleet.speed[car.slot])) < 0.1
    assert 2.0 < math.hypot(a.x - b.x, a.y - b.y) < 10.0, "it waits in front of the walker"
    # 100 % ignore_walkers: it drives on (into the walker, as CARLA's TM would).
    tm.params.set_vehicle(car.id, "ignore_walkers", 100.0)
    for _ in range(100):
        world.tick(DT)
    moved = world.transform_of(car)
    assert math.hypot(moved.x - a.x, moved.y - a.y) > 2.0
