"""What the server does with the client crowd's commands: walker states, physics off, death."""

from __future__ import annotations

import math

import pytest

from carla_lite.blueprints import default_library
from carla_lite.geom import Transform, Vector3
from carla_lite.maps.catalog import MapCatalog
from carla_lite.maps.lane_graph import lane_graph
from carla_lite.sensors.measurements import CollisionMeasurement
from carla_lite.world.errors import WorldError
from carla_lite.world.world import DEAD_WALKER_LIFESPAN, World


@pytest.fixture
def world() -> World:
    return World(MapCatalog(), default_library(), "LiteTown01")


def _walker(world: World) -> int:
    sp = world.road_map.spawn_points[0]
    return world.spawn("walker.pedestrian.0001", {}, Transform(sp.x, sp.y, sp.z + 1.0)).id


def test_walker_state_places_the_feet_and_sets_the_velocity(world: World) -> None:
    walker_id = _walker(world)
    world.tick(0.05)
    world.set_simulate_physics(walker_id, False)  # what controller.start() sends
    world.apply_walker_state(walker_id, Transform(10.0, 20.0, 0.2, 0.0, 90.0, 0.0), 1.4)
    world.tick(0.05)
    actor = world.actors[walker_id]
    tf = world.transform_of(actor)
    half = actor.blueprint.bounding_box.extent.z  # type: ignore[union-attr]
    assert (tf.x, tf.y) == (10.0, 20.0), "physics off: the state is where it stays"
    assert tf.z == pytest.approx(0.2 + half)
    assert tf.yaw == pytest.approx(90.0)
    vx, vy, vz = world.crowd.velocity[actor.slot]
    assert (vx, vy, vz) == pytest.approx((0.0, 1.4, 0.0), abs=1e-9)
    world.set_simulate_physics(walker_id, True)
    world.tick(0.5)
    moved = world.transform_of(actor)
    assert moved.y == pytest.approx(20.0 + 0.7), "physics on: the control integrates"


def test_walker_state_is_refused_for_other_actors_and_bad_numbers(world: World) -> None:
    walker_id = _walker(world)
    vehicle = world.spawn("vehicle.tesla.model3", {}, world.road_map.spawn_points[5])
    with pytest.raises(WorldError, match="not a walker"):
        world.apply_walker_state(vehicle.id, Transform(0, 0, 0), 1.0)
    with pytest.raises(WorldError, match="non-finite"):
        world.apply_walker_state(walker_id, Transform(0, 0, 0), math.nan)


def test_a_dead_walker_stops_and_is_removed_after_its_lifespan(world: World) -> None:
    walker_id = _walker(world)
    world.apply_walker_control(walker_id, Vector3(1.0, 0.0, 0.0), 1.4, False)
    world.set_walker_dead(walker_id)
    world.tick(0.05)
    assert world.crowd.speed[world.actors[walker_id].slot] == 0.0
    ticks = 0
    while walker_id in world.actors:
        world.tick(0.5)
        ticks += 1
        assert ticks < 100
    assert ticks * 0.5 == pytest.approx(DEAD_WALKER_LIFESPAN, abs=0.6)


def _ahead(world: World, start: Transform, points: int) -> Transform:
    graph = lane_graph(world.road_map)
    w = graph.nearest(start.x, start.y, start.yaw)
    for _ in range(points):  # 2 m each
        w = int(graph.successors(w)[0])
    return Transform(float(graph.x[w]), float(graph.y[w]), 0.0)


def _hold(world: World, walker_id: int, at: Transform) -> None:
    """What the client's crowd does for a standing AI walker: a state every tick."""
    world.apply_walker_state(walker_id, Transform(at.x, at.y, at.z, 0.0, 90.0, 0.0), 0.0)


def test_the_traffic_manager_stops_for_an_ai_driven_walker() -> None:
    world = World(MapCatalog([]), default_library(), "LiteHighway01")
    start = world.road_map.spawn_points[0]
    spot = _ahead(world, start, 25)
    walker_id = world.spawn("walker.pedestrian.0002", {}, Transform(spot.x, spot.y, 1.0)).id
    world.set_simulate_physics(walker_id, False)
    car = world.spawn("vehicle.tesla.model3", {}, start)
    tm = world.traffic_manager(8000)
    tm.register([car.id])
    tm.params.set_vehicle(car.id, "auto_lane_change", False)
    for _ in range(600):
        _hold(world, walker_id, spot)
        world.tick(0.05)
    a = world.transform_of(car)
    assert abs(float(world.fleet.speed[car.slot])) < 0.1
    assert 2.0 < math.hypot(a.x - spot.x, a.y - spot.y) < 10.0, "it waits before the walker"


def test_a_car_driven_into_an_ai_driven_walker_reports_the_collision() -> None:
    world = World(MapCatalog([]), default_library(), "LiteHighway01")
    start = world.road_map.spawn_points[0]
    spot = _ahead(world, start, 5)
    walker_id = world.spawn("walker.pedestrian.0002", {}, Transform(spot.x, spot.y, 1.0)).id
    world.set_simulate_physics(walker_id, False)
    car = world.spawn("vehicle.tesla.model3", {}, start)
    sensor = world.spawn("sensor.other.collision", {}, Transform(), parent_id=car.id)
    hits: list[int] = []
    for _ in range(200):
        _hold(world, walker_id, spot)
        world.apply_vehicle_control(car.id, 0.8, 0.0, 0.0, False, False, False, 0)
        result = world.tick(0.05, [sensor.id])
        hits += [m.other_id for m in result.measurements if isinstance(m, CollisionMeasurement)]
        if hits:
            break
    assert hits and hits[0] == walker_id
