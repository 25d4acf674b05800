"""``carla.VehiclePhysicsControl`` as data: per-blueprint defaults and the mapping onto the model.

CARLA 0.9.16 (UE4, PhysX vehicles) describes a vehicle by an engine torque curve, gearbox,
mass, drag, centre of mass, steering curve and four wheels. carla_lite's kinematic bicycle
(:class:`~carla_lite.physics.params.VehicleParams`) has far fewer knobs, so a changed control
is mapped onto it by ratios against the blueprint's default control:

* ``mass`` -> ``mass`` (collisions, impulses, forces) and every acceleration below;
* drive force ``peak torque x first gear x final ratio / wheel radius`` over mass ->
  ``max_accel``;
* top speed ``max_rpm x wheel radius / (top gear x final ratio)`` -> ``max_speed`` and
  ``max_reverse_speed``;
* ``drag_coefficient`` over mass -> ``drag``;
* the wheels' brake force ``sum(max_brake_torque / radius)`` over mass -> ``max_brake_decel``,
  capped by tyre grip (``tire_friction`` relative to the default, 1 g at the default);
* the front wheels' ``max_steer_angle`` -> ``max_steer_deg``.

Everything else (engine inertia and damping, gear timing, clutch, centre of mass, steering
curve, tyre stiffness, sweep collision) is kept and given back by ``get_physics_control`` but
does not change the motion. Wheel ``position`` is read-only, as in CARLA: world location of
each wheel in centimetres (Unreal units), front left, front right, rear left, rear right.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from carla_lite.physics.params import VehicleParams

GRAVITY = 9.81
#: Deceleration of a locked hand brake in the model [m/s^2] (sizes the default torque).
_HAND_BRAKE_DECEL = 6.0
WHEEL_NAMES = ("front left", "front right", "rear left", "rear right")


@dataclass(frozen=True, slots=True)
class GearPhysicsControl:
    ratio: float = 1.0
    down_ratio: float = 0.5
    up_ratio: float = 0.65


@dataclass(frozen=True, slots=True)
class WheelPhysicsControl:
    """One wheel; ``radius`` in centimetres, torques in N m, ``position`` world cm."""

    tire_friction: float = 3.5
    damping_rate: float = 0.25
    max_steer_angle: float = 70.0
    radius: float = 30.0
    max_brake_torque: float = 1500.0
    max_handbrake_torque: float = 3000.0
    lat_stiff_max_load: float = 2.0
    lat_stiff_value: float = 17.0
    long_stiff_value: float = 1000.0
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class VehiclePhysicsControl:
    """The 17 fields of ``rpc::VehiclePhysicsControl``, in wire order."""

    torque_curve: tuple[tuple[float, float], ...]
    max_rpm: float
    moi: float
    damping_rate_full_throttle: float
    damping_rate_zero_throttle_clutch_engaged: float
    damping_rate_zero_throttle_clutch_disengaged: float
    use_gear_autobox: bool
    gear_switch_time: float
    clutch_strength: float
    final_ratio: float
    forward_gears: tuple[GearPhysicsControl, ...]
    mass: float
    drag_coefficient: float
    center_of_mass: tuple[float, float, float]
    steering_curve: tuple[tuple[float, float], ...]
    wheels: tuple[WheelPhysicsControl, ...]
    use_sweep_wheel_collision: bool = False


class PhysicsControlError(ValueError):
    """A physics control the model cannot take (names the field and the valid range)."""


@dataclass(frozen=True, slots=True)
class _ClassDefaults:
    peak_torque: float  # [N m]
    max_rpm: float
    final_ratio: float
    gears: tuple[float, ...]
    drag_coefficient: float
    wheel_radius: float  # [m]


_CLASSES: dict[str, _ClassDefaults] = {
    "car": _ClassDefaults(500.0, 6000.0, 4.0, (3.6, 2.2, 1.5, 1.1, 0.9), 0.3, 0.35),
    "van": _ClassDefaults(600.0, 5000.0, 4.2, (3.9, 2.3, 1.5, 1.1, 0.9), 0.35, 0.38),
    "truck": _ClassDefaults(2500.0, 2500.0, 4.5, (7.0, 4.5, 3.0, 2.0, 1.4, 1.0), 0.6, 0.5),
    "bus": _ClassDefaults(2200.0, 2400.0, 4.6, (6.5, 4.0, 2.6, 1.8, 1.3, 1.0), 0.65, 0.5),
    "motorcycle": _ClassDefaults(110.0, 10000.0, 3.0, (2.8, 2.0, 1.6, 1.3, 1.1, 1.0), 0.5, 0.32),
    "bicycle": _ClassDefaults(60.0, 200.0, 1.0, (3.0, 2.5, 2.0, 1.5, 1.2), 0.9, 0.33),
}
_STEERING_CURVE = ((0.0, 1.0), (20.0, 0.9), (60.0, 0.8), (120.0, 0.7))


def default_physics_control(
    base_type: str, params: VehicleParams, half_extent: tuple[float, float, float]
) -> VehiclePhysicsControl:
    """A blueprint's physics control, consistent with its model parameters.

    Args:
        base_type: the blueprint's ``base_type`` (car, van, truck, bus, motorcycle, bicycle).
        params: the blueprint's model parameters (mass, steering, brakes...).
        half_extent: bounding-box half sizes [m] (sizes the centre of mass height).

    Raises:
        KeyError: an unknown ``base_type`` (names the known ones).
    """
    if base_type not in _CLASSES:
        known = sorted(_CLASSES)
        raise KeyError(f"no physics defaults for base_type {base_type!r}; known: {known}")
    c = _CLASSES[base_type]
    radius_cm = round(c.wheel_radius * 100.0, 1)
    # Brake torques that stop the model at max_brake_decel; the hand brake acts on the rear.
    brake = round(params.max_brake_decel * params.mass * c.wheel_radius / 4.0, 1)
    hand = round(_HAND_BRAKE_DECEL * params.mass * c.wheel_radius / 2.0, 1)
    wheels = tuple(
        WheelPhysicsControl(
            max_steer_angle=params.max_steer_deg if front else 0.0,
            radius=radius_cm,
            max_brake_torque=brake,
            max_handbrake_torque=0.0 if front else hand,
        )
        for front in (True, True, False, False)
    )
    peak = c.peak_torque
    return VehiclePhysicsControl(
        torque_curve=((0.0, 0.8 * peak), (0.35 * c.max_rpm, peak), (c.max_rpm, 0.8 * peak)),
        max_rpm=c.max_rpm,
        moi=1.0,
        damping_rate_full_throttle=0.15,
        damping_rate_zero_throttle_clutch_engaged=2.0,
        damping_rate_zero_throttle_clutch_disengaged=0.35,
        use_gear_autobox=True,
        gear_switch_time=0.5,
        clutch_strength=10.0,
        final_ratio=c.final_ratio,
        forward_gears=tuple(GearPhysicsControl(r, 0.5, 0.65) for r in c.gears),
        mass=params.mass,
        drag_coefficient=c.drag_coefficient,
        center_of_mass=(0.0, 0.0, round(-0.3 * half_extent[2], 3)),
        steering_curve=_STEERING_CURVE,
        wheels=wheels,
    )


def wheel_positions(
    pose: tuple[float, ...], wheelbase: float, half_width: float, radius_m: float
) -> list[tuple[float, float, float]]:
    """World locations [cm] of the four wheels of a vehicle at ``pose`` (x y z pitch yaw roll).

    The axles sit half a wheelbase ahead of and behind the actor origin, the wheels 0.15 m in
    from the box's sides, their centres one radius above the ground.
    """
    x, y, z, _pitch, yaw, _roll = (float(v) for v in pose[:6])
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    track = max(half_width - 0.15, 0.1)
    out = []
    for fwd, side in ((1, -1), (1, 1), (-1, -1), (-1, 1)):
        dx, dy = fwd * wheelbase / 2.0, side * track
        wx = x + dx * cy - dy * sy
        wy = y + dx * sy + dy * cy
        out.append((wx * 100.0, wy * 100.0, (z + radius_m) * 100.0))
    return out


def _finite(name: str, value: float, low: float, *, strict: bool = False) -> None:
    ok = math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        sign = ">" if strict else ">="
        raise PhysicsControlError(f"{name}={value} must be a finite number {sign} {low}")


def validate(control: VehiclePhysicsControl) -> None:
    """Check a control a client sent.

    Raises:
        PhysicsControlError: the first field out of range, named with what is valid.
    """
    if not control.torque_curve:
        raise PhysicsControlError("torque_curve must hold at least one (rpm, torque) point")
    for i, (rpm, torque) in enumerate(control.torque_curve):
        _finite(f"torque_curve[{i}].x (rpm)", rpm, 0.0)
        _finite(f"torque_curve[{i}].y (torque N m)", torque, 0.0)
    for name in (
        "moi",
        "damping_rate_full_throttle",
        "damping_rate_zero_throttle_clutch_engaged",
        "damping_rate_zero_throttle_clutch_disengaged",
        "gear_switch_time",
        "clutch_strength",
        "drag_coefficient",
    ):
        _finite(name, getattr(control, name), 0.0)
    _finite("max_rpm", control.max_rpm, 0.0, strict=True)
    _finite("final_ratio", control.final_ratio, 0.0, strict=True)
    _finite("mass", control.mass, 0.0, strict=True)
    if not control.forward_gears:
        raise PhysicsControlError("forward_gears must hold at least one gear")
    for i, gear in enumerate(control.forward_gears):
        _finite(f"forward_gears[{i}].ratio", gear.ratio, 0.0, strict=True)
        _finite(f"forward_gears[{i}].down_ratio", gear.down_ratio, 0.0)
        _finite(f"forward_gears[{i}].up_ratio", gear.up_ratio, 0.0)
    for axis, value in zip("xyz", control.center_of_mass, strict=True):
        _finite(f"center_of_mass.{axis}", value, -math.inf)
    for i, (speed, factor) in enumerate(control.steering_curve):
        _finite(f"steering_curve[{i}].x (speed)", speed, -math.inf)
        _finite(f"steering_curve[{i}].y (factor)", factor, -math.inf)
    if len(control.wheels) != len(WHEEL_NAMES):
        raise PhysicsControlError(
            f"wheels must hold 4 wheels ({', '.join(WHEEL_NAMES)}), got {len(control.wheels)}"
        )
    for i, wheel in enumerate(control.wheels):
        where = f"wheels[{i}] ({WHEEL_NAMES[i]})"
        _finite(f"{where}.tire_friction", wheel.tire_friction, 0.0, strict=True)
        _finite(f"{where}.radius (cm)", wheel.radius, 0.0, strict=True)
        for name in (
            "damping_rate",
            "max_brake_torque",
            "max_handbrake_torque",
            "lat_stiff_max_load",
            "lat_stiff_value",
            "long_stiff_value",
        ):
            _finite(f"{where}.{name}", getattr(wheel, name), 0.0)
        angle = wheel.max_steer_angle
        if not (math.isfinite(angle) and 0.0 <= angle < 90.0):
            raise PhysicsControlError(f"{where}.max_steer_angle={angle} must be in [0, 90) degrees")


def _drive_force(c: VehiclePhysicsControl) -> float:
    peak = max(torque for _rpm, torque in c.torque_curve)
    return peak * c.forward_gears[0].ratio * c.final_ratio / _mean_radius(c)


def _top_speed(c: VehiclePhysicsControl) -> float:
    return c.max_rpm * _mean_radius(c) / (c.forward_gears[-1].ratio * c.final_ratio)


def _mean_radius(c: VehiclePhysicsControl) -> float:
    return sum(w.radius for w in c.wheels) / len(c.wheels) / 100.0


def _brake_force(c: VehiclePhysicsControl) -> float:
    return sum(w.max_brake_torque / (w.radius / 100.0) for w in c.wheels)


def _grip(c: VehiclePhysicsControl) -> float:
    return sum(w.tire_friction for w in c.wheels) / len(c.wheels)


def params_for(
    base: VehicleParams, default: VehiclePhysicsControl, control: VehiclePhysicsControl
) -> VehicleParams:
    """The model parameters of a vehicle given ``control`` (validated), by ratios against
    the blueprint's ``default`` control whose model parameters are ``base``."""
    heavier = default.mass / control.mass
    grip_cap = max(base.max_brake_decel, GRAVITY) * _grip(control) / _grip(default)
    brake = base.max_brake_decel * _brake_force(control) / _brake_force(default) * heavier
    speed_ratio = _top_speed(control) / _top_speed(default)
    return dataclasses.replace(
        base,
        mass=control.mass,
        max_accel=base.max_accel * _drive_force(control) / _drive_force(default) * heavier,
        max_speed=base.max_speed * speed_ratio,
        max_reverse_speed=base.max_reverse_speed * speed_ratio,
        drag=base.drag * control.drag_coefficient / default.drag_coefficient * heavier,
        max_brake_decel=min(brake, grip_cap),
        max_steer_deg=max(control.wheels[0].max_steer_angle, control.wheels[1].max_steer_angle),
    )


def yaw_inertia(mass: float, half_length: float, half_width: float) -> float:
    """Moment of inertia about the vertical axis [kg m^2] of a uniform box of the vehicle's
    footprint: ``m (L^2 + W^2) / 12``."""
    length, width = 2.0 * half_length, 2.0 * half_width
    return max(mass * (length * length + width * width) / 12.0, 1e-6)
