"""Pedestrian kinematics."""

from __future__ import annotations

import numpy as np
import pytest

from carla_lite.geom import Transform, Vector3
from carla_lite.physics import WalkerCrowd
from carla_lite.physics.walkers import MAX_WALKER_SPEED

DT = 0.05
HALF = (0.25, 0.25, 0.9)


def crowd_with(*transforms: Transform) -> WalkerCrowd:
    crowd = WalkerCrowd()
    for tf in transforms:
        crowd.add(tf, HALF)
    return crowd


def run(crowd: WalkerCrowd, seconds: float, ground=None) -> None:
    for _ in range(round(seconds / DT)):
        crowd.step(DT, ground)


def test_walks_along_direction_at_speed_and_faces_it():
    crowd = crowd_with(Transform(x=1.0, z=0.9))
    crowd.set_control(0, Vector3(0.0, 2.0, 0.5), 1.4, False)
    run(crowd, 1.0)
    np.testing.assert_allclose(crowd.pose[0, :3], [1.0, 1.4, 0.9], atol=1e-12)
    assert crowd.pose[0, 4] == pytest.approx(90.0)
    np.testing.assert_allclose(crowd.velocity[0], [0.0, 1.4, 0.0], atol=1e-12)
    np.testing.assert_allclose(crowd.direction[0], [0.0, 1.0, 0.0])
    run(crowd, 1.0)  # sticky
    assert crowd.pose[0, 1] == pytest.approx(2.8)


def test_zero_direction_or_speed_stands_still():
    crowd = crowd_with(Transform(yaw=30.0), Transform(y=5.0, yaw=30.0))
    crowd.set_control(0, (0.0, 0.0, 0.0), 1.4)
    crowd.set_control(1, (1.0, 0.0, 0.0), 0.0)
    run(crowd, 1.0)
    np.testing.assert_array_equal(crowd.pose[:2, :2], [[0.0, 0.0], [0.0, 5.0]])
    np.testing.assert_array_equal(crowd.pose[:2, 4], 30.0)
    np.testing.assert_array_equal(crowd.velocity[:2], 0.0)


def test_speed_is_clamped():
    crowd = crowd_with(Transform())
    crowd.set_control(0, (1.0, 0.0, 0.0), 100.0)
    assert crowd.speed[0] == MAX_WALKER_SPEED
    crowd.set_control(0, (1.0, 0.0, 0.0), -1.0)
    assert crowd.speed[0] == 0.0


def test_target_location_is_reached_and_held():
    crowd = crowd_with(Transform(x=0.0, y=0.0))
    crowd.set_target_location(0, 3.0, 4.0, 0.0, 2.0)
    run(crowd, 1.0)
    assert np.hypot(*crowd.pose[0, :2]) == pytest.approx(2.0)
    np.testing.assert_allclose(crowd.direction[0, :2], [0.6, 0.8])
    run(crowd, 2.0)
    np.testing.assert_array_equal(crowd.pose[0, :2], [3.0, 4.0])
    assert crowd.speed[0] == 0.0
    np.testing.assert_array_equal(crowd.velocity[0], 0.0)
    crowd.set_control(0, (1.0, 0.0, 0.0), 1.0)  # a control overrides the target
    run(crowd, 1.0)
    assert crowd.pose[0, 0] == pytest.approx(4.0)


def test_stands_on_the_ground():
    def ground(x, y):
        return 0.05 * x + 1.0

    crowd = crowd_with(Transform(z=3.0))
    crowd.set_control(0, (1.0, 0.0, 0.0), 1.5)
    run(crowd, 2.0, ground)
    x, z = crowd.pose[0, 0], crowd.pose[0, 2]
    assert z == pytest.approx(ground(x, 0.0) + HALF[2])


def test_jump_hops_and_lands():
    crowd = crowd_with(Transform(z=HALF[2]))
    crowd.set_control(0, (1.0, 0.0, 0.0), 0.0, True)
    heights = []
    for _ in range(10):
        crowd.step(DT)
        heights.append(crowd.pose[0, 2])
    assert max(heights) > HALF[2] + 0.2
    crowd.set_control(0, (1.0, 0.0, 0.0), 0.0, False)
    run(crowd, 1.0)
    assert crowd.pose[0, 2] == HALF[2]
    assert crowd.velocity[0, 2] == 0.0


def test_slots_are_reused_and_capacity_grows():
    crowd = WalkerCrowd(capacity=1)
    a = crowd.add(Transform(x=1.0), HALF)
    crowd.set_control(a, (1.0, 0.0, 0.0), 1.0)
    b = crowd.add(Transform(x=2.0), HALF)
    c = crowd.add(Transform(x=3.0), HALF)
    assert (a, b, c) == (0, 1, 2)
    crowd.remove(b)
    with pytest.raises(KeyError):
        crowd.set_control(b, (1.0, 0.0, 0.0), 1.0)
    run(crowd, 1.0)
    assert crowd.pose[a, 0] == pytest.approx(2.0)
    assert crowd.pose[c, 0] == 3.0
    assert crowd.add(Transform(x=9.0), HALF) == b
    assert crowd.speed[b] == 0.0 and crowd.pose[b, 0] == 9.0
    assert list(crowd.slots()) == [0, 1, 2]
