"""Physics control: blueprint defaults, validation, the mapping onto the model, the fleet's
constant velocity and spin, and the wire layout against the 0.9.16 wheel."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from carla_lite.blueprints import Blueprint, default_library
from carla_lite.geom import Transform
from carla_lite.physics import VehicleFleet, VehicleParams
from carla_lite.physics.physics_control import (
    PhysicsControlError,
    VehiclePhysicsControl,
    default_physics_control,
    params_for,
    validate,
    wheel_positions,
    yaw_inertia,
)
from carla_lite.protocol.physics_handlers import (
    physics_control_from_wire,
    physics_control_to_wire,
)
from carla_lite.protocol.wire_types import WireError

CAR = VehicleParams(wheelbase=2.9, max_steer_deg=70.0, mass=1600.0)


def _car_control() -> VehiclePhysicsControl:
    return default_physics_control("car", CAR, (2.4, 1.1, 0.75))


def _vehicle_blueprints() -> list[Blueprint]:
    return [bp for bp in default_library().all() if bp.vehicle_params is not None]


def test_every_vehicle_blueprint_has_a_consistent_default() -> None:
    blueprints = _vehicle_blueprints()
    assert len(blueprints) == 41
    for bp in blueprints:
        base_type = next(a.value for a in bp.attributes if a.id == "base_type")
        params, box = bp.vehicle_params, bp.bounding_box
        assert params is not None and box is not None
        extent = box.extent
        control = default_physics_control(base_type, params, (extent.x, extent.y, extent.z))
        validate(control)
        assert control.mass == params.mass
        assert [w.max_steer_angle for w in control.wheels] == [params.max_steer_deg] * 2 + [0.0] * 2
        # The default maps back onto the blueprint's own model parameters.
        again = params_for(params, control, control)
        for field in dataclasses.fields(VehicleParams):
            assert getattr(again, field.name) == pytest.approx(getattr(params, field.name)), (
                bp.id,
                field.name,
            )


def test_unknown_base_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"hovercraft.*known.*car"):
        default_physics_control("hovercraft", CAR, (1.0, 1.0, 1.0))


def test_changes_map_onto_the_model() -> None:
    default = _car_control()
    heavy = dataclasses.replace(default, mass=2 * default.mass)
    p = params_for(CAR, default, heavy)
    assert p.mass == 3200.0
    assert p.max_accel == pytest.approx(CAR.max_accel / 2)
    assert p.max_brake_decel == pytest.approx(CAR.max_brake_decel / 2)
    assert p.drag == pytest.approx(CAR.drag / 2)
    assert p.max_speed == CAR.max_speed

    stronger = dataclasses.replace(
        default, torque_curve=tuple((rpm, 2 * t) for rpm, t in default.torque_curve)
    )
    assert params_for(CAR, default, stronger).max_accel == pytest.approx(2 * CAR.max_accel)
    revving = dataclasses.replace(default, max_rpm=1.5 * default.max_rpm)
    assert params_for(CAR, default, revving).max_speed == pytest.approx(1.5 * CAR.max_speed)
    slippery = dataclasses.replace(default, drag_coefficient=3 * default.drag_coefficient)
    assert params_for(CAR, default, slippery).drag == pytest.approx(3 * CAR.drag)

    def brakes(torque: float) -> VehiclePhysicsControl:
        return dataclasses.replace(
            default,
            wheels=tuple(dataclasses.replace(w, max_brake_torque=torque) for w in default.wheels),
        )

    weak_brakes = brakes(default.wheels[0].max_brake_torque / 3)
    assert params_for(CAR, default, weak_brakes).max_brake_decel == pytest.approx(3.0)
    # Stronger brakes lock the wheels: tyre grip caps the deceleration at about 1 g.
    huge_brakes = brakes(10 * default.wheels[0].max_brake_torque)
    assert params_for(CAR, default, huge_brakes).max_brake_decel == pytest.approx(9.81)
    grippy = dataclasses.replace(huge_brakes, wheels=tuple(
        dataclasses.replace(w, tire_friction=2 * w.tire_friction) for w in huge_brakes.wheels
    ))  # fmt: skip
    assert params_for(CAR, default, grippy).max_brake_decel == pytest.approx(2 * 9.81)
    steer = list(default.wheels)
    steer[0] = dataclasses.replace(steer[0], max_steer_angle=30.0)
    steer[1] = dataclasses.replace(steer[1], max_steer_angle=35.0)
    narrow = dataclasses.replace(default, wheels=tuple(steer))
    assert params_for(CAR, default, narrow).max_steer_deg == 35.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mass": 0.0}, r"mass=0.0 must be a finite number > 0"),
        ({"mass": math.nan}, r"mass=nan"),
        ({"max_rpm": -1.0}, r"max_rpm"),
        ({"final_ratio": 0.0}, r"final_ratio"),
        ({"drag_coefficient": -0.1}, r"drag_coefficient"),
        ({"torque_curve": ()}, r"torque_curve must hold at least one"),
        ({"torque_curve": ((0.0, -5.0),)}, r"torque_curve\[0\].y"),
        ({"forward_gears": ()}, r"forward_gears must hold at least one gear"),
        ({"center_of_mass": (0.0, math.inf, 0.0)}, r"center_of_mass.y"),
    ],
)
def test_validation_names_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PhysicsControlError, match=message):
        validate(dataclasses.replace(_car_control(), **change))


def test_wheel_validation() -> None:
    default = _car_control()
    with pytest.raises(PhysicsControlError, match=r"4 wheels \(front left.*got 3"):
        validate(dataclasses.replace(default, wheels=default.wheels[:3]))
    bad = list(default.wheels)
    bad[1] = dataclasses.replace(bad[1], max_steer_angle=95.0)
    with pytest.raises(PhysicsControlError, match=r"wheels\[1\] \(front right\).max_steer_angle"):
        validate(dataclasses.replace(default, wheels=tuple(bad)))
    bad[1] = dataclasses.replace(bad[1], max_steer_angle=70.0, radius=0.0)
    with pytest.raises(PhysicsControlError, match=r"radius \(cm\)"):
        validate(dataclasses.replace(default, wheels=tuple(bad)))


def test_wheel_positions_and_inertia() -> None:
    fl, fr, rl, rr = wheel_positions((10.0, 20.0, 0.0, 0.0, 90.0, 0.0), 2.8, 1.0, 0.35)
    # Facing +y: the front axle is at y + 1.4, the left wheels at larger x (left of +y is +x).
    assert fl[1] == pytest.approx(2140.0) and rl[1] == pytest.approx(1860.0)
    assert fl[0] > fr[0] and rl[0] > rr[0] and fl[2] == pytest.approx(35.0)
    assert yaw_inertia(1200.0, 2.0, 1.0) == pytest.approx(1200.0 * (16.0 + 4.0) / 12.0)


def test_wire_round_trip_and_errors() -> None:
    control = _car_control()
    wire = physics_control_to_wire(control)
    assert len(wire) == 17 and len(wire[15]) == 4 and len(wire[15][0]) == 10
    assert physics_control_from_wire(wire) == control
    broken = list(wire)
    broken[11] = "heavy"
    with pytest.raises(WireError, match=r"VehiclePhysicsControl.mass must be a number"):
        physics_control_from_wire(broken)
    broken = list(wire)
    broken[15] = [list(wire[15][0])[:9]] * 4
    with pytest.raises(WireError, match=r"wheels\[0\] must have 10 elements"):
        physics_control_from_wire(broken)
    with pytest.raises(WireError, match="must have 17 elements"):
        physics_control_from_wire(wire[:16])


# ------------------------------------------------------------------------------ the fleet


def _fleet() -> tuple[VehicleFleet, int]:
    fleet = VehicleFleet()
    return fleet, fleet.add(CAR, Transform(0.0, 0.0, 0.0, 0.0, 90.0, 0.0))


def test_constant_velocity_is_held_in_the_vehicle_frame() -> None:
    fleet, slot = _fleet()
    fleet.set_control(slot, brake=1.0)
    fleet.set_constant_velocity(slot, 5.0, 1.0, 0.0)
    assert fleet.constant_velocity(slot) == (5.0, 1.0, 0.0)
    for _ in range(20):
        fleet.step(0.05)
    x, y = fleet.pose[slot, 0], fleet.pose[slot, 1]
    # Facing +y: 5 m/s forward is +y, 1 m/s to the right is -x; 1 s in all.
    assert y == pytest.approx(5.0, abs=1e-6) and x == pytest.approx(-1.0, abs=1e-6)
    assert fleet.velocity[slot, :2] == pytest.approx((-1.0, 5.0))
    fleet.clear_constant_velocity(slot)
    assert fleet.constant_velocity(slot) is None
    for _ in range(20):
        fleet.step(0.05)
    assert fleet.speed[slot] == 0.0, "the brake acts again once released"


def test_spin_turns_and_decays() -> None:
    fleet, slot = _fleet()
    fleet.add_yaw_rate(slot, 1.0)
    fleet.step(0.05)
    assert fleet.angular_velocity[slot, 2] == pytest.approx(math.degrees(1.0))
    assert fleet.pose[slot, 4] == pytest.approx(90.0 + math.degrees(0.05))
    for _ in range(100):
        fleet.step(0.05)
    assert fleet.angular_velocity[slot, 2] == 0.0
    turned = fleet.pose[slot, 4] - 90.0
    assert math.degrees(0.5) * 0.9 < turned < math.degrees(0.5) * 1.1  # rate x time constant
    assert fleet.pose[slot, 0:2] == pytest.approx((0.0, 0.0)), "spins in place"
    fleet.set_simulate_physics(slot, False)
    fleet.add_yaw_rate(slot, 1.0)
    fleet.step(0.05)
    assert fleet.angular_velocity[slot, 2] == 0.0


def test_fleet_params_follow_set_params() -> None:
    fleet, slot = _fleet()
    assert fleet.params(slot) is CAR
    heavier = dataclasses.replace(CAR, mass=3000.0)
    fleet.set_params(slot, heavier)
    assert fleet.params(slot).mass == 3000.0
    with pytest.raises(KeyError):
        fleet.params(slot + 1)


# ------------------------------------------------------------------------------ the wheel


def _libcarla() -> Path:
    import carla

    return sorted(Path(carla.__file__).parent.glob("libcarla*.so"))[0]


def test_wire_layout_matches_the_wheel_dwarf() -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("gdb not installed (apt-get install -y gdb)")
    args = [gdb, "-batch", "-nx"]
    for symbol in ("VehiclePhysicsControl", "WheelPhysicsControl", "GearPhysicsControl"):
        args += ["-ex", f"ptype /o 'carla::rpc::{symbol}'"]
    args += ["-ex", "info types define_array<std::vector<carla::geom::Vector2D"]
    text = subprocess.run(
        [*args, str(_libcarla())], capture_output=True, text=True, timeout=300
    ).stdout
    # Members in declaration order: scalars ("/* off | size */ float name;") and the
    # closing lines of nested records ("} name;").
    order = re.findall(r"(?:\*/\s+(?:float|bool)\s+(\w+);|\}\s+(\w+);)", text)
    names = [a or b for a, b in order]
    control = [f.name for f in dataclasses.fields(VehiclePhysicsControl)]
    wheel = [
        "tire_friction", "damping_rate", "max_steer_angle", "radius", "max_brake_torque",
        "max_handbrake_torque", "lat_stiff_max_load", "lat_stiff_value", "long_stiff_value",
        "position",
    ]  # fmt: skip
    assert names[: len(control)] == control
    # WheelPhysicsControl: its Vector3D position also lists x, y, z before the closing brace.
    rest = [n for n in names[len(control) :] if n not in ("x", "y", "z")]
    assert rest[: len(wheel)] == wheel
    assert rest[len(wheel) : len(wheel) + 3] == ["ratio", "down_ratio", "up_ratio"]
    # The msgpack array (MSGPACK_DEFINE_ARRAY) has the same 17 members in this order.
    array = re.search(r"define_array<(std::vector<carla::geom::Vector2D.*?)>;", text)
    assert array is not None, text[-2000:]
    kinds = re.sub(r"std::vector<([\w:]+), std::allocator<[\w:]+> >", r"vector<\1>", array[1])
    assert [k.strip().removesuffix(" const") for k in kinds.split(",")] == [
        "vector<carla::geom::Vector2D>", "float", "float", "float", "float", "float", "bool",
        "float", "float", "float", "vector<carla::rpc::GearPhysicsControl>", "float", "float",
        "carla::geom::Location", "vector<carla::geom::Vector2D>",
        "vector<carla::rpc::WheelPhysicsControl>", "bool",
    ]  # fmt: skip


def test_ackermann_control_tracks_speed_and_steer_until_a_normal_control() -> None:
    fleet, slot = _fleet()
    fleet.set_ackermann(slot, steer=0.2, steer_speed=0.0, speed=5.0, acceleration=2.0)
    assert fleet.ackermann_target(slot) == (5.0, 2.0)
    for _ in range(10):
        fleet.step(0.05)
    assert fleet.speed[slot] == pytest.approx(1.0), "2 m/s^2 for 0.5 s"
    assert fleet.wheel_angle(slot) == pytest.approx(0.2)
    assert fleet.control[slot, 0] == pytest.approx(1.0) and fleet.control[slot, 2] == 0.0
    for _ in range(60):
        fleet.step(0.05)
    assert fleet.speed[slot] == pytest.approx(5.0)
    # Slowing down to a stop at the vehicle's own braking limit (acceleration 0).
    fleet.set_ackermann(slot, steer=0.0, steer_speed=0.0, speed=0.0, acceleration=0.0)
    fleet.step(0.05)
    assert fleet.speed[slot] == pytest.approx(5.0 - CAR.max_brake_decel * 0.05)
    assert fleet.control[slot, 2] == pytest.approx(1.0)
    # Reverse target: the gear shows it.
    fleet.set_ackermann(slot, steer=0.0, steer_speed=0.0, speed=-2.0, acceleration=0.0)
    for _ in range(40):
        fleet.step(0.05)
    assert fleet.speed[slot] == pytest.approx(-2.0) and fleet.gear[slot] == -1
    fleet.set_control(slot, brake=1.0)
    assert fleet.ackermann_target(slot) is None
    for _ in range(10):
        fleet.step(0.05)
    assert fleet.speed[slot] == 0.0
    # A batch of controls ends it too.
    fleet.set_ackermann(slot, steer=0.0, steer_speed=0.5, speed=3.0, acceleration=0.0)
    fleet.set_controls(np.array([slot]), np.zeros((1, 7)))
    assert fleet.ackermann_target(slot) is None


def test_a_target_angular_velocity_turns_the_vehicle() -> None:
    fleet, slot = _fleet()
    fleet.set_angular_velocity(slot, 0.0, 0.0, -40.0)
    assert fleet.angular_velocity[slot, 2] == -40.0
    fleet.step(0.05)
    assert fleet.pose[slot, 4] == pytest.approx(90.0 - 40.0 * 0.05)
    assert fleet.angular_velocity[slot, 2] == pytest.approx(-40.0)
    for _ in range(100):
        fleet.step(0.05)
    assert fleet.angular_velocity[slot, 2] == 0.0, "tyre friction stops the spin"
