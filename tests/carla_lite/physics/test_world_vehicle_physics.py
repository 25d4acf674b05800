"""The world's vehicle physics calls: stored controls, the Traffic Managers' view, units and
refusals."""

from __future__ import annotations

import dataclasses
import math

import pytest

from carla_lite.blueprints import default_library
from carla_lite.geom import Transform, Vector3
from carla_lite.maps.catalog import DEFAULT_MAP, MapCatalog
from carla_lite.physics.physics_control import yaw_inertia
from carla_lite.world import vehicle_physics as vp
from carla_lite.world.errors import WorldError
from carla_lite.world.world import World


@pytest.fixture(scope="module")
def world() -> World:
    return World(MapCatalog(), default_library(), DEFAULT_MAP)


def _car(world: World, index: int, blueprint: str = "vehicle.tesla.model3") -> int:
    spawn = world.road_map.spawn_points[index]
    return world.spawn(blueprint, {}, spawn).id


def test_applied_control_reaches_the_fleet_and_the_traffic_managers(world: World) -> None:
    car = _car(world, 0)
    default = vp.physics_control(world, car)
    heavy = dataclasses.replace(default, mass=2 * default.mass)
    vp.apply_physics_control(world, car, heavy)
    slot = world.actor(car).slot
    assert world.fleet.params(slot).mass == 2 * default.mass
    assert vp.physics_control(world, car).mass == 2 * default.mass
    world.tick(0.05)  # builds the layout the Traffic Managers read
    scene = world._layout.traffic_scene(world)  # type: ignore[union-attr]
    assert scene.bodies[car].params.mass == 2 * default.mass
    # Wheel positions are read-only: what the client sends there is ignored.
    moved = dataclasses.replace(
        heavy, wheels=tuple(dataclasses.replace(w, position=(1.0, 2.0, 3.0)) for w in heavy.wheels)
    )
    vp.apply_physics_control(world, car, moved)
    assert all(w.position != (1.0, 2.0, 3.0) for w in vp.physics_control(world, car).wheels)
    world.destroy(car)


def test_refusals_name_what_is_wrong(world: World) -> None:
    car = _car(world, 1)
    prop = world.spawn("static.prop.streetbarrier", {}, Transform(0.0, 0.0, 0.0))
    with pytest.raises(WorldError, match=r"is not a vehicle"):
        vp.physics_control(world, prop.id)
    bad = dataclasses.replace(vp.physics_control(world, car), final_ratio=0.0)
    with pytest.raises(WorldError, match=r"apply_physics_control on actor \d+: final_ratio"):
        vp.apply_physics_control(world, car, bad)
    with pytest.raises(WorldError, match=r"wheel location 7 is not one of 0 FL_Wheel"):
        vp.wheel_steer_angle(world, car, 7)
    with pytest.raises(WorldError, match="non-finite"):
        vp.add_force(world, car, Vector3(math.nan, 0.0, 0.0))
    with pytest.raises(WorldError, match="not a vehicle"):
        vp.enable_constant_velocity(world, prop.id, Vector3(1.0, 0.0, 0.0))
    world.destroy(car)
    world.destroy(prop.id)


def test_angular_impulse_uses_unreal_units_and_the_box_inertia(world: World) -> None:
    car = _car(world, 2)
    actor = world.actor(car)
    extent = actor.bounding_box.extent
    inertia = yaw_inertia(world.fleet.params(actor.slot).mass, extent.x, extent.y)
    # kg cm^2 deg/s: 1e4 * I of them turn the car at 1 deg/s.
    vp.add_angular_impulse(world, car, Vector3(0.0, 0.0, 10.0 * 1.0e4 * inertia))
    world.tick(0.05)
    assert world.fleet.angular_velocity[actor.slot, 2] == pytest.approx(10.0, rel=1e-6)
    world.destroy(car)


def test_a_new_map_resets_the_imu_gravity() -> None:
    fresh = World(MapCatalog(), default_library(), DEFAULT_MAP)
    fresh.imu_gravity = 1.62
    fresh.load_map(DEFAULT_MAP, reset_settings=True)
    assert fresh.imu_gravity == 9.81
