"""The vehicle physics calls of CARLA's API on the world: physics control, forces, torques,
constant velocity and wheel angles.

Units follow CARLA 0.9.16's server: forces [N] and impulses [N s] are SI (the server converts
them to Unreal's centimetres); angular impulses and torques reach Unreal's ``...InDegrees``
calls unconverted, so they are in kg cm^2 deg/s and kg cm^2 deg/s^2: the yaw rate changes by
``impulse / (I * 1e4)`` deg/s with ``I`` [kg m^2] the vehicle's yaw inertia, estimated from
its box and mass. Only the vertical (yaw) part turns a vehicle; the kinematic model has no
roll or pitch dynamics. A force acts for one step (the next tick's length).
"""

from __future__ import annotations

import dataclasses
import math

from carla_lite.geom import Vector3
from carla_lite.physics.physics_control import (
    PhysicsControlError,
    VehiclePhysicsControl,
    WheelPhysicsControl,
    default_physics_control,
    params_for,
    validate,
    wheel_positions,
    yaw_inertia,
)
from carla_lite.world.actors import Actor, ActorKind
from carla_lite.world.errors import WorldError
from carla_lite.world.settings import DEFAULT_VARIABLE_DELTA
from carla_lite.world.world import World

#: ``carla.VehicleWheelLocation``: FL, FR, BL, BR, and Front / Back of two-wheelers.
_FRONT_WHEELS = (0, 1)
_WHEEL_LOCATIONS = range(4)
#: Unreal's angular units: kg cm^2 per kg m^2.
_CM2_PER_M2 = 1.0e4

_defaults: dict[str, VehiclePhysicsControl] = {}


def _vehicle(world: World, actor_id: int) -> Actor:
    actor = world.actor(actor_id)
    if actor.kind is not ActorKind.VEHICLE:
        raise WorldError(f"actor {actor_id} ({actor.type_id}) is not a vehicle")
    return actor


def _check_vector(what: str, v: Vector3) -> None:
    if not all(math.isfinite(c) for c in (v.x, v.y, v.z)):
        raise WorldError(f"{what} has a non-finite component: ({v.x}, {v.y}, {v.z})")


def default_control(actor: Actor) -> VehiclePhysicsControl:
    """The blueprint's physics control (computed once per blueprint)."""
    bp = actor.blueprint
    control = _defaults.get(bp.id)
    if control is None:
        assert bp.vehicle_params is not None, bp.id
        base_type = next((a.value for a in bp.attributes if a.id == "base_type"), "car")
        extent = actor.bounding_box.extent
        control = default_physics_control(
            base_type or "car", bp.vehicle_params, (extent.x, extent.y, extent.z)
        )
        _defaults[bp.id] = control
    return control


def physics_control(world: World, actor_id: int) -> VehiclePhysicsControl:
    """``vehicle.get_physics_control()``: the last applied control (else the blueprint's),
    with the wheels' current world positions [cm]."""
    actor = _vehicle(world, actor_id)
    control = actor.physics_control or default_control(actor)
    params = world.fleet.params(actor.slot)
    pose = tuple(float(v) for v in world.fleet.pose[actor.slot])
    radius = control.wheels[0].radius / 100.0
    positions = wheel_positions(pose, params.wheelbase, actor.bounding_box.extent.y, radius)
    wheels = tuple(
        _replace_position(wheel, position)
        for wheel, position in zip(control.wheels, positions, strict=True)
    )
    return _with_wheels(control, wheels)


def apply_physics_control(world: World, actor_id: int, control: VehiclePhysicsControl) -> None:
    """``vehicle.apply_physics_control()``: keep the control and map it onto the model.

    Raises:
        WorldError: not a vehicle, or a field out of range (named, with what is valid).
    """
    actor = _vehicle(world, actor_id)
    try:
        validate(control)
    except PhysicsControlError as exc:
        raise WorldError(f"apply_physics_control on actor {actor_id}: {exc}") from None
    base = actor.blueprint.vehicle_params
    assert base is not None, actor.type_id
    default = default_control(actor)
    # Wheel positions are read-only, as in CARLA: keep the blueprint's.
    wheels = tuple(
        _replace_position(wheel, default.wheels[i].position)
        for i, wheel in enumerate(control.wheels)
    )
    stored = _with_wheels(control, wheels)
    world.fleet.set_params(actor.slot, params_for(base, default, stored))
    actor.physics_control = stored
    world.vehicle_params_changed()


def add_force(world: World, actor_id: int, force: Vector3) -> None:
    """``add_force`` [N]: the velocity changes by force / mass over the next step."""
    _check_vector("force", force)
    dt = world.settings.fixed_delta_seconds or world.last_delta or DEFAULT_VARIABLE_DELTA
    world.add_impulse(actor_id, Vector3(force.x * dt, force.y * dt, force.z * dt))


def add_angular_impulse(world: World, actor_id: int, impulse: Vector3) -> None:
    """``add_angular_impulse`` [kg cm^2 deg/s]: a vehicle's yaw rate jumps by z / inertia."""
    _check_vector("angular impulse", impulse)
    actor = world.actor(actor_id)
    if actor.kind is ActorKind.VEHICLE:
        _spin(world, actor, impulse.z)


def add_torque(world: World, actor_id: int, torque: Vector3) -> None:
    """``add_torque`` [kg cm^2 deg/s^2]: a vehicle's yaw rate grows by z / inertia over the
    next step."""
    _check_vector("torque", torque)
    actor = world.actor(actor_id)
    if actor.kind is ActorKind.VEHICLE:
        dt = world.settings.fixed_delta_seconds or world.last_delta or DEFAULT_VARIABLE_DELTA
        _spin(world, actor, torque.z * dt)


def _spin(world: World, actor: Actor, angular_impulse_z: float) -> None:
    extent = actor.bounding_box.extent
    mass = world.fleet.params(actor.slot).mass
    inertia = yaw_inertia(mass, extent.x, extent.y) * _CM2_PER_M2
    world.fleet.add_yaw_rate(actor.slot, math.radians(angular_impulse_z / inertia))


def enable_constant_velocity(world: World, actor_id: int, velocity: Vector3) -> None:
    """``enable_constant_velocity`` [m/s, vehicle frame]: held every tick until disabled."""
    _check_vector("constant velocity", velocity)
    actor = _vehicle(world, actor_id)
    world.fleet.set_constant_velocity(actor.slot, velocity.x, velocity.y, velocity.z)


def disable_constant_velocity(world: World, actor_id: int) -> None:
    actor = _vehicle(world, actor_id)
    world.fleet.clear_constant_velocity(actor.slot)


def wheel_steer_angle(world: World, actor_id: int, wheel: int) -> float:
    """``get_wheel_steer_angle`` [deg]: the front wheels' current angle, 0 for the rear."""
    actor = _vehicle(world, actor_id)
    if wheel not in _WHEEL_LOCATIONS:
        raise WorldError(
            f"wheel location {wheel} is not one of 0 FL_Wheel, 1 FR_Wheel, 2 BL_Wheel, 3 BR_Wheel"
        )
    if wheel not in _FRONT_WHEELS:
        return 0.0
    return math.degrees(world.fleet.wheel_angle(actor.slot))


def _replace_position(
    wheel: WheelPhysicsControl, position: tuple[float, float, float]
) -> WheelPhysicsControl:
    return dataclasses.replace(wheel, position=position)


def _with_wheels(
    control: VehiclePhysicsControl, wheels: tuple[WheelPhysicsControl, ...]
) -> VehiclePhysicsControl:
    return dataclasses.replace(control, wheels=wheels)
