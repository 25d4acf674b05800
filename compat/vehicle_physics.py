#!/usr/bin/env python
"""Vehicle physics: read and change the physics control, push the car with an impulse.

A client program in the style of CARLA's PythonAPI examples: ``get_physics_control`` /
``apply_physics_control`` (mass, torque curve, wheels), then ``add_impulse`` along the
vehicle's forward vector, measuring the velocity change at the default and at twice the mass.
Uses only the public ``carla`` API, in synchronous mode. Prints one ``RESULT {json}`` line and
exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import sys

import carla
import common


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.connection_parser(__doc__.splitlines()[0], tm_port=False)
    parser.add_argument("--filter", default="vehicle.tesla.model3", help="vehicle blueprint")
    parser.add_argument("--delta", type=float, default=0.05, help="fixed delta seconds")
    parser.add_argument("--timeout", type=float, default=20.0, help="client timeout [s]")
    return parser.parse_args(argv)


def speed_along(vehicle: carla.Vehicle, direction: carla.Vector3D) -> float:
    velocity = vehicle.get_velocity()
    return velocity.x * direction.x + velocity.y * direction.y + velocity.z * direction.z


def impulse_response(world: carla.World, vehicle: carla.Vehicle, impulse: float) -> float:
    """Velocity change [m/s] along the forward vector one tick after ``impulse`` [N s]."""
    vehicle.apply_control(carla.VehicleControl(throttle=0.0, brake=0.0, hand_brake=False))
    for _ in range(20):  # settle
        world.tick()
    forward = vehicle.get_transform().get_forward_vector()
    before = speed_along(vehicle, forward)
    vehicle.add_impulse(forward * impulse)
    world.tick()
    return speed_along(vehicle, forward) - before


def run(args: argparse.Namespace) -> dict:
    _client, world = common.connect(args)
    original_settings = world.get_settings()
    vehicle = None
    result: dict = {}
    try:
        common.set_synchronous(world, args.delta)

        bp = world.get_blueprint_library().filter(args.filter)[0]
        spawn_point = world.get_map().get_spawn_points()[1]
        vehicle = world.spawn_actor(bp, spawn_point)
        world.tick()

        physics = vehicle.get_physics_control()
        mass = physics.mass
        result["mass"] = mass
        result["wheels"] = len(physics.wheels)
        result["torque_points"] = len(physics.torque_curve)
        impulse = 2.0 * mass  # about 2 m/s on the default mass
        result["dv_default"] = impulse_response(world, vehicle, impulse)

        # Twice the mass, a flatter torque curve, grippier wheels.
        physics.mass = 2.0 * mass
        physics.torque_curve = [carla.Vector2D(x=0.0, y=400.0), carla.Vector2D(x=6000.0, y=400.0)]
        wheels = physics.wheels
        for wheel in wheels:
            wheel.tire_friction = 3.0
            wheel.damping_rate = 1.0
        physics.wheels = wheels
        physics.use_sweep_wheel_collision = True
        vehicle.apply_physics_control(physics)
        world.tick()

        changed = vehicle.get_physics_control()
        result["mass_after"] = changed.mass
        result["torque_after"] = [(p.x, p.y) for p in changed.torque_curve]
        result["tire_friction_after"] = [w.tire_friction for w in changed.wheels]
        result["dv_double_mass"] = impulse_response(world, vehicle, impulse)
    finally:
        if vehicle is not None:
            vehicle.destroy()
        world.apply_settings(original_settings)
    return result


def check(result: dict) -> list[str]:
    failures = []
    if result["wheels"] != 4 or result["torque_points"] < 2:
        failures.append(f"{result['wheels']} wheels, {result['torque_points']} torque points")
    if abs(result["mass_after"] - 2.0 * result["mass"]) > 1.0:
        failures.append(f"mass {result['mass_after']} after setting {2.0 * result['mass']}")
    if [y for _x, y in result["torque_after"]] != [400.0, 400.0]:
        failures.append(f"torque curve read back as {result['torque_after']}")
    if any(abs(f - 3.0) > 1e-3 for f in result["tire_friction_after"]):
        failures.append(f"tire friction read back as {result['tire_friction_after']}")
    if result["dv_default"] <= 0.5:
        failures.append(f"the impulse changed the speed by {result['dv_default']:.3f} m/s")
    ratio = result["dv_default"] / max(result["dv_double_mass"], 1e-6)
    result["dv_ratio"] = ratio
    if not 1.4 <= ratio <= 2.8:
        failures.append(f"twice the mass: velocity change ratio {ratio:.2f}, expected about 2")
    return failures


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), run, lambda result, _args: check(result))


if __name__ == "__main__":
    sys.exit(main())
