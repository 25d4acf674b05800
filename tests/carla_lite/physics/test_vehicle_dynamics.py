"""Behaviour of the vectorised kinematic-bicycle fleet."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carla_lite.geom import Transform
from carla_lite.physics import VehicleFleet, VehicleParams
from carla_lite.physics.vehicle_dynamics import GRAVITY, MAX_LATERAL_ACCEL

DT = 0.05
PARAMS = VehicleParams(max_speed=30.0, max_reverse_speed=6.0)


def fleet_with(*transforms: Transform, params: VehicleParams = PARAMS) -> VehicleFleet:
    fleet = VehicleFleet()
    for tf in transforms:
        fleet.add(params, tf)
    return fleet


def run(fleet: VehicleFleet, seconds: float, ground=None) -> None:
    for _ in range(round(seconds / DT)):
        fleet.step(DT, ground)


def test_full_throttle_accelerates_along_heading_and_saturates_at_max_speed():
    fleet = fleet_with(Transform(yaw=90.0))
    fleet.set_control(0, throttle=1.0)
    fleet.step(DT)
    assert fleet.speed[0] == pytest.approx(PARAMS.max_accel * DT, rel=0.05)
    run(fleet, 5.0)
    vx, vy, _ = fleet.velocity[0]
    assert vy > 10.0
    assert abs(vx) < 1e-9 * vy
    assert fleet.pose[0, 1] > 20.0 and abs(fleet.pose[0, 0]) < 1e-6
    run(fleet, 120.0)
    assert fleet.speed[0] == pytest.approx(PARAMS.max_speed, rel=0.01)
    assert fleet.speed[0] <= PARAMS.max_speed
    assert fleet.gear[0] == 6


def test_partial_throttle_settles_below_top_speed():
    fleet = fleet_with(Transform())
    fleet.set_control(0, throttle=0.5)
    run(fleet, 120.0)
    assert 5.0 < fleet.speed[0] < 0.9 * PARAMS.max_speed


def test_brake_stops_without_going_backwards():
    fleet = fleet_with(Transform())
    fleet.set_velocity(0, 20.0, 0.0, 0.0)
    fleet.set_control(0, brake=1.0)
    speeds, xs = [], []
    for _ in range(100):
        fleet.step(DT)
        speeds.append(fleet.speed[0])
        xs.append(fleet.pose[0, 0])
    assert min(speeds) == 0.0
    assert np.all(np.diff(speeds) <= 0.0)
    assert np.all(np.diff(xs) >= 0.0)
    stop_time = DT * (speeds.index(0.0) + 1)
    assert stop_time == pytest.approx(20.0 / PARAMS.max_brake_decel, abs=2 * DT)
    assert xs[-1] == pytest.approx(20.0**2 / (2 * PARAMS.max_brake_decel), rel=0.1)
    np.testing.assert_array_equal(fleet.velocity[0], 0.0)


def test_reverse_drives_backwards_up_to_max_reverse_speed():
    fleet = fleet_with(Transform())
    fleet.set_control(0, throttle=1.0, reverse=True)
    run(fleet, 30.0)
    assert fleet.speed[0] == pytest.approx(-PARAMS.max_reverse_speed, rel=0.01)
    assert fleet.velocity[0, 0] < 0.0
    assert fleet.pose[0, 0] < -50.0
    assert fleet.gear[0] == -1


def test_manual_neutral_does_not_drive():
    fleet = fleet_with(Transform())
    fleet.set_control(0, throttle=1.0, manual_gear_shift=True, gear=0)
    run(fleet, 1.0)
    assert fleet.speed[0] == 0.0
    fleet.set_control(0, throttle=1.0, manual_gear_shift=True, gear=-1)
    run(fleet, 1.0)
    assert fleet.speed[0] < 0.0


def test_positive_steer_turns_right_towards_positive_y():
    fleet = fleet_with(Transform())
    fleet.set_velocity(0, 5.0, 0.0, 0.0)
    fleet.set_control(0, steer=0.3)
    run(fleet, 1.0)
    assert fleet.pose[0, 4] > 5.0
    assert fleet.pose[0, 1] > 0.1
    assert fleet.angular_velocity[0, 2] > 0.0


def test_turning_radius_matches_bicycle_geometry_at_low_speed():
    fleet = fleet_with(Transform(x=3.0, y=-2.0, yaw=30.0))
    steer = 0.4
    speed = 2.0
    fleet.set_control(0, steer=steer)
    rear = []
    for _ in range(200):
        fleet.set_velocity(0, *(speed * np.array(Transform(yaw=fleet.pose[0, 4]).forward())), 0)
        fleet.step(DT)
        x, y, _, _, yaw, _ = fleet.pose[0]
        fwd = np.array(Transform(yaw=yaw).forward())
        rear.append(np.array([x, y]) - 0.5 * PARAMS.wheelbase * fwd)
    expected = PARAMS.wheelbase / math.tan(math.radians(steer * PARAMS.max_steer_deg))
    yaw_rate = math.radians(fleet.angular_velocity[0, 2])
    assert fleet.speed[0] / yaw_rate == pytest.approx(expected, rel=1e-9)
    # Algebraic circle fit of the rear-axle track (after the wheel reached its angle).
    pts = np.array(rear[20:])
    a = np.column_stack((2 * pts, np.ones(len(pts))))
    b = (pts**2).sum(axis=1)
    (cx, cy, c), *_ = np.linalg.lstsq(a, b, rcond=None)
    radius = math.sqrt(c + cx**2 + cy**2)
    assert radius == pytest.approx(expected, rel=0.01)
    assert np.hypot(*(pts - (cx, cy)).T).std() < 1e-3


def test_steering_is_rate_limited():
    fleet = fleet_with(Transform())
    fleet.set_velocity(0, 2.0, 0.0, 0.0)
    fleet.set_control(0, steer=1.0)
    fleet.step(DT)
    first = fleet.angular_velocity[0, 2]
    run(fleet, 0.5)
    assert 0.0 < first < 0.5 * fleet.angular_velocity[0, 2]


def test_speed_dependent_steer_limit_bounds_lateral_acceleration():
    fleet = fleet_with(Transform())
    fleet.set_control(0, steer=1.0)
    for _ in range(100):
        fwd = Transform(yaw=fleet.pose[0, 4]).forward()
        fleet.set_velocity(0, 20.0 * fwd[0], 20.0 * fwd[1], 0.0)
        fleet.step(DT)
        lateral = abs(fleet.speed[0] * math.radians(fleet.angular_velocity[0, 2]))
        assert lateral <= MAX_LATERAL_ACCEL * (1 + 1e-9)
    assert lateral == pytest.approx(MAX_LATERAL_ACCEL, rel=0.05)
    assert MAX_LATERAL_ACCEL < GRAVITY


def test_hand_brake_stops_the_car():
    fleet = fleet_with(Transform(), Transform(y=10.0))
    for slot in (0, 1):
        fleet.set_velocity(slot, 15.0, 0.0, 0.0)
    fleet.set_control(0, hand_brake=True)
    fleet.set_control(1, brake=1.0)
    run(fleet, 1.0)
    assert fleet.speed[0] > 0.0
    assert fleet.speed[1] < fleet.speed[0] < 15.0 - 4.0
    run(fleet, 3.0)
    assert fleet.speed[0] == 0.0


def test_control_is_sticky_and_clamped():
    fleet = fleet_with(Transform())
    fleet.set_control(0, throttle=3.0, steer=-2.0, brake=-1.0, gear=2)
    np.testing.assert_array_equal(fleet.control[0], [1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    run(fleet, 1.0)
    speed = fleet.speed[0]
    assert fleet.pose[0, 1] < 0.0  # steer -1 turns left
    run(fleet, 1.0)
    assert fleet.speed[0] > speed
    np.testing.assert_array_equal(fleet.control[0], [1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 2.0])


def test_disabled_physics_freezes_in_place():
    start = Transform(x=1.0, y=2.0, z=3.0, pitch=1.0, yaw=33.3, roll=2.0)
    fleet = fleet_with(start)
    fleet.set_velocity(0, 5.0, 5.0, 0.0)
    fleet.set_control(0, throttle=1.0, steer=0.5)
    fleet.set_simulate_physics(0, False)
    pose = fleet.pose[0].copy()
    run(fleet, 1.0, ground=lambda x, y: x + y + 10.0)
    np.testing.assert_array_equal(fleet.pose[0], pose)
    for array in (fleet.velocity, fleet.acceleration, fleet.angular_velocity):
        np.testing.assert_array_equal(array[0], 0.0)
    fleet.set_velocity(0, 9.0, 0.0, 0.0)
    assert fleet.speed[0] == 0.0
    assert not fleet.simulates_physics(0)
    fleet.set_simulate_physics(0, True)
    run(fleet, 1.0)
    assert fleet.speed[0] > 1.0


def test_set_velocity_sets_current_speed_once():
    fleet = fleet_with(Transform(yaw=90.0))
    fleet.set_velocity(0, 0.0, 10.0, 0.0)
    assert fleet.speed[0] == pytest.approx(10.0)
    np.testing.assert_allclose(fleet.velocity[0], [0.0, 10.0, 0.0], atol=1e-12)
    fleet.step(DT)
    v_set = np.array([0.0, 10.0, 0.0])
    assert fleet.speed[0] < 10.0  # coasting: resistances act from then on
    np.testing.assert_allclose(
        fleet.acceleration[0], (fleet.velocity[0] - v_set) / DT, rtol=1e-9, atol=1e-9
    )
    # Sideways velocity cannot be held by a kinematic bicycle: only the heading part counts.
    fleet.set_velocity(0, 4.0, 3.0, 0.0)
    assert fleet.speed[0] == pytest.approx(3.0)


def test_set_transform_keeps_world_velocity_projected_on_new_heading():
    for yaw, speed in ((0.0, 10.0), (60.0, 5.0), (90.0, 0.0), (180.0, -10.0)):
        fleet = fleet_with(Transform())
        fleet.set_velocity(0, 10.0, 0.0, 0.0)
        fleet.set_transform(0, Transform(x=50.0, yaw=yaw))
        assert fleet.pose[0, 0] == 50.0 and fleet.pose[0, 4] == yaw
        assert fleet.speed[0] == pytest.approx(speed, abs=1e-9)


def test_acceleration_is_velocity_change_over_dt():
    fleet = fleet_with(Transform(yaw=20.0))
    fleet.set_control(0, throttle=1.0, steer=0.2)
    run(fleet, 1.0)
    before = fleet.velocity[0].copy()
    fleet.step(DT)
    np.testing.assert_allclose(fleet.acceleration[0], (fleet.velocity[0] - before) / DT)


def test_vehicle_follows_ground_and_pitches_with_slope():
    def ground(x, y):
        return 0.1 * x + 2.0

    fleet = fleet_with(Transform(x=10.0, z=10.0))
    fleet.set_control(0, throttle=0.6)
    run(fleet, 2.0, ground)
    x, _, z, pitch, _, _ = fleet.pose[0]
    assert z == pytest.approx(ground(x, 0.0))
    assert pitch == pytest.approx(math.degrees(math.atan(0.1)))
    vx, _, vz = fleet.velocity[0]
    assert vz == pytest.approx(0.1 * vx)


def test_slope_pulls_unless_braked():
    def ground(x, y):
        return 0.1 * x

    fleet = fleet_with(Transform(), Transform(y=20.0))
    fleet.set_control(1, brake=0.5)
    run(fleet, 3.0, ground)
    assert fleet.speed[0] < -1.0  # rolls back down
    assert fleet.speed[1] == 0.0
    assert fleet.pose[1, 0] == 0.0


def test_same_inputs_give_bit_identical_outputs():
    fleets = [VehicleFleet(), VehicleFleet()]
    for fleet in fleets:
        rng = np.random.default_rng(7)
        for _ in range(30):
            x, y, yaw = rng.uniform(-100, 100, 3)
            fleet.add(PARAMS, Transform(x=x, y=y, yaw=yaw))
        for _ in range(100):
            slot = int(rng.integers(30))
            fleet.set_control(slot, *rng.uniform(-1, 1, 3), *(rng.random(2) < 0.2))
            fleet.step(DT, lambda x, y: np.sin(0.1 * x) + 0.01 * y)
    a, b = fleets
    for name in ("pose", "velocity", "angular_velocity", "acceleration", "speed", "gear"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_slots_are_reused_and_neighbours_unaffected():
    tfs = [Transform(x=10.0 * k) for k in range(3)]
    fleet = fleet_with(*tfs)
    alone = fleet_with(tfs[0], tfs[2])
    for f, slots in ((fleet, (0, 2)), (alone, (0, 1))):
        for s in slots:
            f.set_control(s, throttle=0.8, steer=0.1)
    fleet.set_control(1, throttle=1.0, reverse=True)
    run(fleet, 0.5)
    run(alone, 0.5)
    fleet.remove(1)
    assert list(fleet.slots()) == [0, 2]
    np.testing.assert_array_equal(fleet.pose[1], 0.0)
    with pytest.raises(KeyError):
        fleet.set_control(1, throttle=1.0)
    run(fleet, 0.5)
    run(alone, 0.5)
    np.testing.assert_allclose(fleet.pose[[0, 2]], alone.pose[[0, 1]], rtol=1e-12)
    assert fleet.add(PARAMS, Transform(x=99.0)) == 1
    assert fleet.speed[1] == 0.0 and fleet.pose[1, 0] == 99.0
    np.testing.assert_array_equal(fleet.control[1], 0.0)


def test_capacity_grows_and_keeps_state():
    fleet = VehicleFleet(capacity=2)
    first = fleet.add(PARAMS, Transform(x=1.0))
    fleet.set_control(first, throttle=1.0)
    run(fleet, 1.0)
    pose, speed = fleet.pose[first].copy(), fleet.speed[first]
    for k in range(20):
        fleet.add(PARAMS, Transform(y=5.0 * (k + 1)))
    assert fleet.capacity >= 21
    assert fleet.active.sum() == 21
    np.testing.assert_array_equal(fleet.pose[first], pose)
    assert fleet.speed[first] == speed
    run(fleet, 1.0)
    assert fleet.speed[first] > speed
    assert np.all(fleet.speed[1:21] == 0.0)


def test_set_params_changes_limits():
    fleet = fleet_with(Transform())
    fleet.set_control(0, throttle=1.0)
    fleet.set_params(0, VehicleParams(max_speed=5.0))
    run(fleet, 20.0)
    assert fleet.speed[0] == pytest.approx(5.0, rel=0.01)


def test_rejects_non_positive_dt():
    with pytest.raises(ValueError):
        VehicleFleet().step(0.0)
