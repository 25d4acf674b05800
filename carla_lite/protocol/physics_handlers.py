"""The vehicle physics RPCs of CARLA 0.9.16 and their batch commands.

``rpc::VehiclePhysicsControl`` travels as a msgpack array of 17 fields (``MSGPACK_DEFINE_ARRAY``
order, checked against the wheel's DWARF by ``tests/carla_lite/protocol``):
``[torque_curve [[rpm, Nm]...], max_rpm, moi, damping_rate_full_throttle,
damping_rate_zero_throttle_clutch_engaged, damping_rate_zero_throttle_clutch_disengaged,
use_gear_autobox, gear_switch_time, clutch_strength, final_ratio, forward_gears [[ratio,
down_ratio, up_ratio]...], mass, drag_coefficient, center_of_mass [x, y, z], steering_curve
[[x, y]...], wheels [...], use_sweep_wheel_collision]``; each ``rpc::WheelPhysicsControl`` is
``[tire_friction, damping_rate, max_steer_angle, radius, max_brake_torque,
max_handbrake_torque, lat_stiff_max_load, lat_stiff_value, long_stiff_value, position [x, y,
z]]``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

from carla_lite.geom import Vector3
from carla_lite.physics.physics_control import (
    GearPhysicsControl,
    VehiclePhysicsControl,
    WheelPhysicsControl,
)
from carla_lite.protocol import wire_types as wt
from carla_lite.protocol.arguments import integer, number, number_in
from carla_lite.protocol.wire_types import Command, CommandType, WireError
from carla_lite.world import vehicle_physics as vp
from carla_lite.world.errors import WorldError
from carla_lite.world.world import World

log = logging.getLogger(__name__)

_CONTROL_FIELDS = (
    "torque_curve",
    "max_rpm",
    "moi",
    "damping_rate_full_throttle",
    "damping_rate_zero_throttle_clutch_engaged",
    "damping_rate_zero_throttle_clutch_disengaged",
    "use_gear_autobox",
    "gear_switch_time",
    "clutch_strength",
    "final_ratio",
    "forward_gears",
    "mass",
    "drag_coefficient",
    "center_of_mass",
    "steering_curve",
    "wheels",
    "use_sweep_wheel_collision",
)
_WHEEL_FIELDS = (
    "tire_friction",
    "damping_rate",
    "max_steer_angle",
    "radius",
    "max_brake_torque",
    "max_handbrake_torque",
    "lat_stiff_max_load",
    "lat_stiff_value",
    "long_stiff_value",
    "position",
)
_BOOL_FIELDS = frozenset({"use_gear_autobox", "use_sweep_wheel_collision"})
#: Longest curves and gear lists taken from a client (CARLA's are a handful of points).
_MAX_POINTS = 256


# ------------------------------------------------------------------------------ encoding


def physics_control_to_wire(control: VehiclePhysicsControl) -> list[Any]:
    """``rpc::VehiclePhysicsControl`` as the client decodes it."""
    return [
        [[float(x), float(y)] for x, y in control.torque_curve],
        float(control.max_rpm),
        float(control.moi),
        float(control.damping_rate_full_throttle),
        float(control.damping_rate_zero_throttle_clutch_engaged),
        float(control.damping_rate_zero_throttle_clutch_disengaged),
        bool(control.use_gear_autobox),
        float(control.gear_switch_time),
        float(control.clutch_strength),
        float(control.final_ratio),
        [[float(g.ratio), float(g.down_ratio), float(g.up_ratio)] for g in control.forward_gears],
        float(control.mass),
        float(control.drag_coefficient),
        [float(v) for v in control.center_of_mass],
        [[float(x), float(y)] for x, y in control.steering_curve],
        [_wheel_to_wire(w) for w in control.wheels],
        bool(control.use_sweep_wheel_collision),
    ]


def _wheel_to_wire(w: WheelPhysicsControl) -> list[Any]:
    return [
        float(w.tire_friction),
        float(w.damping_rate),
        float(w.max_steer_angle),
        float(w.radius),
        float(w.max_brake_torque),
        float(w.max_handbrake_torque),
        float(w.lat_stiff_max_load),
        float(w.lat_stiff_value),
        float(w.long_stiff_value),
        [float(v) for v in w.position],
    ]


# ------------------------------------------------------------------------------ decoding


def _list(raw: Any, what: str, length: int | None = None) -> list[Any]:
    if not isinstance(raw, list):
        raise WireError(f"{what} must be an array, got {type(raw).__name__}")
    if length is not None and len(raw) != length:
        raise WireError(f"{what} must have {length} elements, got {len(raw)}")
    if len(raw) > _MAX_POINTS:
        raise WireError(f"{what} has {len(raw)} elements (at most {_MAX_POINTS})")
    return raw


def _float(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise WireError(f"{what} must be a number, got {type(raw).__name__}")
    value = float(raw)
    if not math.isfinite(value):
        raise WireError(f"{what} must be finite, got {value}")
    return value


def _bool(raw: Any, what: str) -> bool:
    if not isinstance(raw, bool):
        raise WireError(f"{what} must be a boolean, got {type(raw).__name__}")
    return raw


def _pairs(raw: Any, what: str) -> tuple[tuple[float, float], ...]:
    out = []
    for i, point in enumerate(_list(raw, what)):
        x, y = _list(point, f"{what}[{i}]", 2)
        out.append((_float(x, f"{what}[{i}].x"), _float(y, f"{what}[{i}].y")))
    return tuple(out)


def _vector(raw: Any, what: str) -> tuple[float, float, float]:
    x, y, z = _list(raw, what, 3)
    return (_float(x, f"{what}.x"), _float(y, f"{what}.y"), _float(z, f"{what}.z"))


def _wheel_from_wire(raw: Any, what: str) -> WheelPhysicsControl:
    values = _list(raw, what, len(_WHEEL_FIELDS))
    pairs = zip(values[:-1], _WHEEL_FIELDS[:-1], strict=True)
    floats = {name: _float(v, f"{what}.{name}") for v, name in pairs}
    return WheelPhysicsControl(**floats, position=_vector(values[-1], f"{what}.position"))


def physics_control_from_wire(raw: Any) -> VehiclePhysicsControl:
    """Reads the client's ``rpc::VehiclePhysicsControl``.

    Raises:
        WireError: a malformed record; the message names the field.
    """
    what = "VehiclePhysicsControl"
    values = dict(zip(_CONTROL_FIELDS, _list(raw, what, len(_CONTROL_FIELDS)), strict=True))
    fields: dict[str, Any] = {}
    for name, value in values.items():
        where = f"{what}.{name}"
        if name in ("torque_curve", "steering_curve"):
            fields[name] = _pairs(value, where)
        elif name == "forward_gears":
            gears = []
            for i, gear in enumerate(_list(value, where)):
                ratio, down, up = _list(gear, f"{where}[{i}]", 3)
                gears.append(
                    GearPhysicsControl(
                        _float(ratio, f"{where}[{i}].ratio"),
                        _float(down, f"{where}[{i}].down_ratio"),
                        _float(up, f"{where}[{i}].up_ratio"),
                    )
                )
            fields[name] = tuple(gears)
        elif name == "center_of_mass":
            fields[name] = _vector(value, where)
        elif name == "wheels":
            fields[name] = tuple(
                _wheel_from_wire(w, f"{where}[{i}]") for i, w in enumerate(_list(value, where))
            )
        elif name in _BOOL_FIELDS:
            fields[name] = _bool(value, where)
        else:
            fields[name] = _float(value, where)
    return VehiclePhysicsControl(**fields)


# ------------------------------------------------------------------------------ handlers


class PhysicsHandlers:
    """The physics RPCs, on whichever world ``world()`` returns at call time."""

    def __init__(self, world: Callable[[], World]) -> None:
        self._world = world

    def table(self) -> dict[str, Callable[..., Any]]:
        """RPC name -> handler."""
        return {
            "get_physics_control": self.get_physics_control,
            "apply_physics_control": self.apply_physics_control,
            "add_actor_force": self.add_actor_force,
            "add_actor_force_at_location": self.add_actor_force_at_location,
            "add_actor_angular_impulse": self.add_actor_angular_impulse,
            "add_actor_torque": self.add_actor_torque,
            "enable_actor_constant_velocity": self.enable_actor_constant_velocity,
            "disable_actor_constant_velocity": self.disable_actor_constant_velocity,
            "get_wheel_steer_angle": self.get_wheel_steer_angle,
            "get_wheel_pitch_angle": self.get_wheel_pitch_angle,
            "set_wheel_pitch_angle": self.set_wheel_pitch_angle,
            "get_imui_gravity": self.get_imui_gravity,
            "set_imui_gravity": self.set_imui_gravity,
            "apply_ackermann_control_to_vehicle": self.apply_ackermann_control_to_vehicle,
            "get_ackermann_controller_settings": self.get_ackermann_controller_settings,
            "apply_ackermann_controller_settings": self.apply_ackermann_controller_settings,
            "get_telemetry_data": self.get_telemetry_data,
            "enable_carsim": self.enable_carsim,
            "use_carsim_road": self.use_carsim_road,
            "enable_chrono_physics": self.enable_chrono_physics,
            "restore_physx_physics": self.restore_physx_physics,
        }

    def get_physics_control(self, actor_id: Any) -> Any:
        try:
            control = vp.physics_control(self._world(), integer(actor_id, "actor id"))
        except WorldError as exc:
            return wt.error(str(exc))
        return wt.ok(physics_control_to_wire(control))

    def apply_physics_control(self, actor_id: Any, control: Any) -> Any:
        # The client sends this one without waiting for the answer, so a refusal is also
        # logged: it is the only place the user can see it.
        try:
            decoded = physics_control_from_wire(control)
            vp.apply_physics_control(self._world(), integer(actor_id, "actor id"), decoded)
        except (WorldError, WireError) as exc:
            log.warning("apply_physics_control refused: %s", exc)
            return wt.error_void(str(exc))
        return wt.ok_void()

    def add_actor_force(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(vp.add_force, actor_id, vector)

    def add_actor_force_at_location(self, actor_id: Any, vector: Any, location: Any = None) -> Any:
        # The model has no rotation from an off-centre push: the force acts at the centre.
        return self._vector_call(vp.add_force, actor_id, vector)

    def add_actor_angular_impulse(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(vp.add_angular_impulse, actor_id, vector)

    def add_actor_torque(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(vp.add_torque, actor_id, vector)

    def enable_actor_constant_velocity(self, actor_id: Any, vector: Any) -> Any:
        return self._vector_call(vp.enable_constant_velocity, actor_id, vector)

    def disable_actor_constant_velocity(self, actor_id: Any) -> Any:
        return _void(
            lambda: vp.disable_constant_velocity(self._world(), integer(actor_id, "actor id"))
        )

    def get_wheel_steer_angle(self, actor_id: Any, wheel: Any) -> Any:
        try:
            angle = vp.wheel_steer_angle(
                self._world(), integer(actor_id, "actor id"), integer(wheel, "wheel location")
            )
        except WorldError as exc:
            return wt.error(str(exc))
        return wt.ok(angle)

    def get_wheel_pitch_angle(self, actor_id: Any, wheel: Any) -> Any:
        try:
            angle = vp.wheel_pitch_angle(
                self._world(), integer(actor_id, "actor id"), integer(wheel, "wheel location")
            )
        except WorldError as exc:
            return wt.error(str(exc))
        return wt.ok(angle)

    def set_wheel_pitch_angle(self, actor_id: Any, wheel: Any, angle: Any) -> Any:
        return _void(
            lambda: vp.set_wheel_pitch_angle(
                self._world(),
                integer(actor_id, "actor id"),
                integer(wheel, "wheel location"),
                number(angle, "wheel pitch angle"),
            )
        )

    def get_imui_gravity(self) -> Any:
        return wt.ok(float(self._world().imu_gravity))

    def set_imui_gravity(self, gravity: Any) -> Any:
        value = number_in(gravity, "IMU gravity", -1.0e3, 1.0e3)
        self._world().imu_gravity = value
        return wt.ok_void()

    def apply_ackermann_control_to_vehicle(self, actor_id: Any, control: Any) -> Any:
        # Sent without waiting for the answer: a refusal is logged too.
        try:
            _ackermann(self._world(), integer(actor_id, "actor id"), control)
        except (WorldError, WireError) as exc:
            log.warning("apply_ackermann_control refused: %s", exc)
            return wt.error_void(str(exc))
        return wt.ok_void()

    def get_ackermann_controller_settings(self, actor_id: Any) -> Any:
        try:
            gains = vp.ackermann_settings(self._world(), integer(actor_id, "actor id"))
        except WorldError as exc:
            return wt.error(str(exc))
        return wt.ok([float(g) for g in gains])

    def apply_ackermann_controller_settings(self, actor_id: Any, settings: Any) -> Any:
        gains = tuple(
            _float(v, f"AckermannControllerSettings[{i}]")
            for i, v in enumerate(_list(settings, "AckermannControllerSettings", 6))
        )
        return _void(
            lambda: vp.apply_ackermann_settings(self._world(), integer(actor_id, "actor id"), gains)
        )

    def get_telemetry_data(self, actor_id: Any) -> Any:
        try:
            data = vp.telemetry(self._world(), integer(actor_id, "actor id"))
        except WorldError as exc:
            return wt.error(str(exc))
        wheels = [[float(v) for v in dataclasses.astuple(w)] for w in data.wheels]
        return wt.ok(
            [
                float(data.speed),
                float(data.steer),
                float(data.throttle),
                float(data.brake),
                float(data.engine_rpm),
                int(data.gear),
                float(data.drag),
                wheels,
            ]
        )

    # CarSim and Chrono are co-simulation plugins of CARLA's Unreal server; carla_lite keeps
    # its own vehicle model. The client sends these without waiting, so the refusal is logged.
    def enable_carsim(self, actor_id: Any, simfile_path: Any = "") -> Any:
        return self._no_cosimulation("enable_carsim", "CarSim", actor_id)

    def use_carsim_road(self, actor_id: Any, enabled: Any = False) -> Any:
        return self._no_cosimulation("use_carsim_road", "CarSim", actor_id)

    def enable_chrono_physics(self, actor_id: Any, *settings: Any) -> Any:
        return self._no_cosimulation("enable_chrono_physics", "Chrono", actor_id)

    def restore_physx_physics(self, actor_id: Any) -> Any:
        # Every vehicle already runs on carla_lite's own model: nothing to restore.
        return _void(lambda: vp.check_vehicle(self._world(), integer(actor_id, "actor id")))

    def _no_cosimulation(self, rpc: str, plugin: str, actor_id: Any) -> Any:
        vehicle = integer(actor_id, "actor id")
        message = (
            f"{rpc}: carla_lite has no {plugin} co-simulation; actor {vehicle} keeps "
            "carla_lite's vehicle model"
        )
        log.warning("%s", message)
        return wt.error_void(message)

    def execute(self, command: Command) -> bool:
        """Run a batch command this module owns (physics control, force, angular impulse,
        torque); False for any other command.

        Raises:
            WorldError, WireError: the command's actor or payload is refused.
        """
        world, actor_id = self._world(), command.actor_id
        kind = command.type
        if kind is CommandType.ApplyVehiclePhysicsControl:
            payload = command.payload
            if not isinstance(payload, list) or len(payload) < 2:
                raise WireError("ApplyVehiclePhysicsControl: expected [actor, physics_control]")
            vp.apply_physics_control(world, actor_id, physics_control_from_wire(payload[1]))
        elif kind is CommandType.ApplyVehicleAckermannControl:
            payload = command.payload
            if not isinstance(payload, list) or len(payload) < 2:
                raise WireError("ApplyVehicleAckermannControl: expected [actor, control]")
            _ackermann(world, actor_id, payload[1])
        elif kind is CommandType.ApplyForce:
            vp.add_force(world, actor_id, _need_vector(command))
        elif kind is CommandType.ApplyAngularImpulse:
            vp.add_angular_impulse(world, actor_id, _need_vector(command))
        elif kind is CommandType.ApplyTorque:
            vp.add_torque(world, actor_id, _need_vector(command))
        else:
            return False
        return True

    def _vector_call(
        self, method: Callable[[World, int, Vector3], None], actor_id: Any, vector: Any
    ) -> Any:
        return _void(
            lambda: method(
                self._world(), integer(actor_id, "actor id"), wt.location_from_wire(vector)
            )
        )


def _ackermann(world: World, actor_id: int, raw: Any) -> None:
    """Apply a ``rpc::VehicleAckermannControl``: [steer, steer_speed, speed, acceleration, jerk]."""
    names = ("steer", "steer_speed", "speed", "acceleration", "jerk")
    values = _list(raw, "VehicleAckermannControl", len(names))
    steer, steer_speed, speed, acceleration, jerk = (
        _float(v, f"VehicleAckermannControl.{name}") for v, name in zip(values, names, strict=True)
    )
    vp.apply_ackermann_control(world, actor_id, steer, steer_speed, speed, acceleration, jerk)


def _need_vector(command: Command) -> Vector3:
    if command.vector is None:
        raise WireError(f"{command.type.name}: missing its vector")
    return command.vector


def _void(action: Callable[[], Any]) -> Any:
    try:
        action()
    except WorldError as exc:
        return wt.error_void(str(exc))
    return wt.ok_void()
