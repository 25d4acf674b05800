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
from dataclasses import dataclass

from carla_lite.geom import Vector3
from carla_lite.physics.physics_control import (
    GRAVITY,
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


def check_vehicle(world: World, actor_id: int) -> None:
    """Raise WorldError unless ``actor_id`` is a live vehicle."""
    _vehicle(world, actor_id)


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
    control = actor.vehicle.physics_control or default_control(actor)
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
    actor.vehicle.physics_control = stored
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


#: CARLA's Ackermann controller gains: speed kp, ki, kd, acceleration kp, ki, kd.
DEFAULT_ACKERMANN_SETTINGS = (0.15, 0.0, 0.25, 0.01, 0.0, 0.01)


def apply_ackermann_control(
    world: World,
    actor_id: int,
    steer: float,
    steer_speed: float,
    speed: float,
    acceleration: float,
    jerk: float,
) -> None:
    """``apply_ackermann_control``: steer [rad, positive right] at ``steer_speed`` [rad/s],
    reach ``speed`` [m/s] with at most ``acceleration`` [m/s^2]; 0 rates mean "as fast as
    the vehicle can". The model follows the targets directly rather than through CARLA's PID
    (whose gains are kept, see :func:`apply_ackermann_settings`); ``jerk`` is not modelled.
    A later ``apply_control`` ends it, as in CARLA.
    """
    actor = _vehicle(world, actor_id)
    values = {
        "steer": steer,
        "steer_speed": steer_speed,
        "speed": speed,
        "acceleration": acceleration,
        "jerk": jerk,
    }
    for name, value in values.items():
        if not math.isfinite(value):
            raise WorldError(
                f"Ackermann control for actor {actor_id}: {name}={value} is not finite"
            )
    for name in ("steer_speed", "acceleration", "jerk"):
        if values[name] < 0.0:
            raise WorldError(
                f"Ackermann control for actor {actor_id}: {name}={values[name]} must be >= 0"
            )
    world.fleet.set_ackermann(actor.slot, steer, steer_speed, speed, acceleration)


def ackermann_settings(world: World, actor_id: int) -> tuple[float, ...]:
    """The vehicle's Ackermann controller gains (kept; the model does not use a PID)."""
    actor = _vehicle(world, actor_id)
    return actor.vehicle.ackermann_settings or DEFAULT_ACKERMANN_SETTINGS


def apply_ackermann_settings(world: World, actor_id: int, gains: tuple[float, ...]) -> None:
    actor = _vehicle(world, actor_id)
    if len(gains) != 6 or not all(math.isfinite(g) for g in gains):
        raise WorldError(
            f"Ackermann controller settings for actor {actor_id} must be 6 finite gains "
            f"(speed kp, ki, kd, accel kp, ki, kd), got {gains}"
        )
    actor.vehicle.ackermann_settings = tuple(gains)


@dataclass(frozen=True, slots=True)
class WheelTelemetry:
    """One wheel's ``rpc::WheelTelemetryData`` (forces [N], omega [rad/s], slips [deg])."""

    tire_friction: float
    lat_slip: float
    long_slip: float
    omega: float
    tire_load: float
    normalized_tire_load: float
    torque: float
    long_force: float
    lat_force: float
    normalized_long_force: float
    normalized_lat_force: float


@dataclass(frozen=True, slots=True)
class VehicleTelemetry:
    """``vehicle.get_telemetry_data()``: speed [m/s], pedals, engine rpm, gear, drag [N]."""

    speed: float
    steer: float
    throttle: float
    brake: float
    engine_rpm: float
    gear: int
    drag: float
    wheels: tuple[WheelTelemetry, ...]


def telemetry(world: World, actor_id: int) -> VehicleTelemetry:
    """The vehicle's telemetry, derived from the model: the four tyres share the load and
    the longitudinal and lateral forces equally; the model's tyres do not slip."""
    actor = _vehicle(world, actor_id)
    fleet, slot = world.fleet, actor.slot
    control = actor.vehicle.physics_control or default_control(actor)
    params = fleet.params(slot)
    speed = float(fleet.speed[slot])
    heading = math.radians(float(fleet.pose[slot, 4]))
    ax, ay, _az = (float(v) for v in fleet.acceleration[slot])
    along = ax * math.cos(heading) + ay * math.sin(heading)
    yaw_rate = math.radians(float(fleet.angular_velocity[slot, 2]))
    gear = int(fleet.gear[slot])
    gears = control.forward_gears
    ratio = gears[min(max(abs(gear), 1), len(gears)) - 1].ratio * control.final_ratio
    throttle, steer, brake = (float(fleet.control[slot, i]) for i in (0, 1, 2))
    load = params.mass * GRAVITY / 4.0
    long_force = params.mass * along / 4.0
    lat_force = params.mass * speed * yaw_rate / 4.0
    wheels = []
    for wheel in control.wheels:
        radius = wheel.radius / 100.0
        omega = speed / radius
        wheels.append(
            WheelTelemetry(
                tire_friction=wheel.tire_friction,
                lat_slip=0.0,
                long_slip=0.0,
                omega=omega,
                tire_load=load,
                normalized_tire_load=1.0,
                torque=long_force * radius,
                long_force=long_force,
                lat_force=lat_force,
                normalized_long_force=long_force / load,
                normalized_lat_force=lat_force / load,
            )
        )
    engine_rpm = abs(speed) / (control.wheels[0].radius / 100.0) * ratio * 60.0 / (2.0 * math.pi)
    return VehicleTelemetry(
        speed=abs(speed),
        steer=steer,
        throttle=throttle,
        brake=brake,
        engine_rpm=min(engine_rpm, control.max_rpm) if gear else 0.0,
        gear=gear,
        drag=params.mass * params.drag * speed * speed,
        wheels=tuple(wheels),
    )


def wheel_pitch_angle(world: World, actor_id: int, wheel: int) -> float:
    """``get_wheel_pitch_angle`` [deg]: how far the wheel has turned about its axle, in
    [-180, 180) (negative while rolling forward), plus what ``set_wheel_pitch_angle`` set."""
    actor = _vehicle(world, actor_id)
    _check_wheel(wheel)
    return _wrap_degrees(
        _rolling_angle(world, actor, wheel) + actor.vehicle.wheel_pitch_offset[wheel]
    )


def set_wheel_pitch_angle(world: World, actor_id: int, wheel: int, angle: float) -> None:
    """``set_wheel_pitch_angle`` [deg]: the wheel shows this angle now (visual only, as in
    CARLA: the vehicle does not move)."""
    actor = _vehicle(world, actor_id)
    _check_wheel(wheel)
    if not math.isfinite(angle):
        raise WorldError(f"wheel pitch angle for actor {actor_id} must be finite, got {angle}")
    actor.vehicle.wheel_pitch_offset[wheel] = angle - _rolling_angle(world, actor, wheel)


def _rolling_angle(world: World, actor: Actor, wheel: int) -> float:
    control = actor.vehicle.physics_control or default_control(actor)
    radius = control.wheels[wheel].radius / 100.0
    return -math.degrees(world.fleet.rolled(actor.slot) / radius)


def _wrap_degrees(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def _check_wheel(wheel: int) -> None:
    if wheel not in _WHEEL_LOCATIONS:
        raise WorldError(
            f"wheel location {wheel} is not one of 0 FL_Wheel, 1 FR_Wheel, 2 BL_Wheel, 3 BR_Wheel"
        )


def wheel_steer_angle(world: World, actor_id: int, wheel: int) -> float:
    """``get_wheel_steer_angle`` [deg]: the front wheels' current angle, 0 for the rear."""
    actor = _vehicle(world, actor_id)
    _check_wheel(wheel)
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
