"""Oriented-box detection, contact geometry and collision response."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carla_lite.physics import (
    box_corners,
    collision,
    contact_normal_and_depth,
    overlapping_pairs,
    perimeter_samples,
    resolve_static,
    resolve_vehicle_pair,
    static_contacts,
    static_hits,
)


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def pairs_of(cx, cy, yaw, hl, hw, z_low=None, z_high=None) -> set[tuple[int, int]]:
    n = len(cx)
    z_low = np.zeros(n) if z_low is None else z_low
    z_high = np.ones(n) if z_high is None else z_high
    found = overlapping_pairs(cx, cy, yaw, hl, hw, z_low, z_high)
    assert found.dtype == np.int64 and found.shape[1:] == (2,)
    return {(int(i), int(j)) for i, j in found}


def test_box_corners_of_rotated_box():
    corners = box_corners(arr(1.0), arr(2.0), arr(90.0), arr(2.0), arr(1.0))
    # Heading +y: front-right is at +y (forward) and -x (right of +y in CARLA's frame).
    expected = [[0.0, 4.0], [2.0, 4.0], [2.0, 0.0], [0.0, 0.0]]
    np.testing.assert_allclose(corners[0], expected, atol=1e-12)
    samples = perimeter_samples(arr(1.0), arr(2.0), arr(90.0), arr(2.0), arr(1.0))
    assert samples.shape == (1, 8, 2)
    np.testing.assert_allclose(samples[0, ::2], corners[0], atol=1e-12)
    np.testing.assert_allclose(samples[0, 1], [1.0, 4.0], atol=1e-12)


def test_rotated_box_overlap_beyond_bounding_circle_test():
    # A diamond (square at 45 deg) reaches x = sqrt(2); a square beside it starts at x = bx - 1.
    reach = math.sqrt(2.0)
    args = dict(yaw=arr(45.0, 0.0), hl=arr(1.0, 1.0), hw=arr(1.0, 1.0))
    assert pairs_of(arr(0.0, 1.0 + reach - 0.01), arr(0.0, 0.0), **args) == {(0, 1)}
    assert pairs_of(arr(0.0, 1.0 + reach + 0.01), arr(0.0, 0.0), **args) == set()
    # Corner to corner: bounding circles overlap but the boxes do not.
    d = 1.8
    assert pairs_of(arr(0.0, d), arr(0.0, d), arr(0.0, 0.0), arr(1.0, 1.0), arr(1.0, 1.0)) == {
        (0, 1)
    }
    assert pairs_of(arr(0.0, d), arr(0.0, d), arr(0.0, 45.0), arr(1.0, 1.0), arr(1.0, 1.0)) == set()


def test_touching_but_separated_boxes_do_not_overlap():
    hl, hw, yaw = arr(2.0, 2.0), arr(1.0, 1.0), arr(30.0, 30.0)
    c, s = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    for gap, expected in ((1e-3, set()), (-1e-3, {(0, 1)})):
        offset = 4.0 + gap
        got = pairs_of(arr(0.0, offset * c), arr(0.0, offset * s), yaw, hl, hw)
        assert got == expected


def test_vertical_separation_is_respected():
    xy = arr(0.0, 0.5)
    box = dict(yaw=arr(0.0, 0.0), hl=arr(2.0, 2.0), hw=arr(1.0, 1.0))
    assert pairs_of(xy, xy, **box, z_low=arr(0.0, 1.6), z_high=arr(1.5, 3.0)) == set()
    assert pairs_of(xy, xy, **box, z_low=arr(0.0, 1.4), z_high=arr(1.5, 3.0)) == {(0, 1)}


def _reference_pairs(cx, cy, yaw, hl, hw, z_low, z_high) -> set[tuple[int, int]]:
    """Brute force: project all corners of both boxes on each box's two edge normals."""
    n = len(cx)
    corners = []
    axes = []
    for k in range(n):
        c, s = math.cos(math.radians(yaw[k])), math.sin(math.radians(yaw[k]))
        u, v = np.array([c, s]), np.array([-s, c])
        centre = np.array([cx[k], cy[k]])
        corners.append([centre + a * hl[k] * u + b * hw[k] * v for a in (1, -1) for b in (1, -1)])
        axes.append((u, v))
    found = set()
    for i in range(n):
        for j in range(i + 1, n):
            if not (z_low[i] < z_high[j] and z_low[j] < z_high[i]):
                continue
            separated = False
            for axis in (*axes[i], *axes[j]):
                pi = [p @ axis for p in corners[i]]
                pj = [p @ axis for p in corners[j]]
                if max(pi) <= min(pj) or max(pj) <= min(pi):
                    separated = True
                    break
            if not separated:
                found.add((i, j))
    return found


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [150, 300])  # all-pairs broad phase, and the sweep beyond 256
def test_vectorised_pairs_match_brute_force(seed: int, n: int):
    rng = np.random.default_rng(seed)
    side = 40.0 * math.sqrt(n / 150)
    cx, cy = rng.uniform(0, side, n), rng.uniform(0, side, n)
    yaw = rng.uniform(-180, 180, n)
    hl, hw = rng.uniform(0.2, 3.0, n), rng.uniform(0.2, 1.2, n)
    z_low = rng.uniform(0, 2, n)
    z_high = z_low + rng.uniform(0.5, 2.0, n)
    expected = _reference_pairs(cx, cy, yaw, hl, hw, z_low, z_high)
    assert len(expected) > 20
    got = overlapping_pairs(cx, cy, yaw, hl, hw, z_low, z_high)
    assert {(int(i), int(j)) for i, j in got} == expected
    assert np.all(got[:, 0] < got[:, 1])
    np.testing.assert_array_equal(got, got[np.lexsort((got[:, 1], got[:, 0]))])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_few_pairs_narrow_phase_matches_the_vectorised_one(seed: int):
    # Python floats for a few pairs, numpy for many: the same hits, rounding included.
    rng = np.random.default_rng(seed)
    n = 400
    cx, cy = rng.uniform(0, 12, n), rng.uniform(0, 12, n)
    yaw = rng.choice([0.0, 90.0, -90.0, 180.0, 45.0], n) + rng.normal(0, 1e-9, n)
    hl, hw = rng.uniform(0.2, 3.0, n), rng.uniform(0.2, 1.2, n)
    i = rng.integers(0, n - 1, 2000)
    j = i + 1
    depth, _ = collision._sat_depth(i, j, cx, cy, yaw, hl, hw)
    few = np.concatenate(
        [collision._few_overlapping(i[k : k + 5], j[k : k + 5], cx, cy, yaw, hl, hw)
         for k in range(0, len(i), 5)]
    )  # fmt: skip
    np.testing.assert_array_equal(few, depth > 0.0)


def test_fewer_than_two_boxes_have_no_pairs():
    assert overlapping_pairs(*(np.zeros(1) for _ in range(7))).shape == (0, 2)
    assert overlapping_pairs(*(np.zeros(0) for _ in range(7))).shape == (0, 2)


def test_contact_normal_and_depth_is_the_minimum_translation():
    cx, cy = arr(0.0, 3.7, 0.0), arr(0.0, 0.5, 1.5)
    yaw, hl, hw = arr(0.0, 0.0, 0.0), arr(2.0, 2.0, 2.0), arr(1.0, 1.0, 1.0)
    normal, depth = contact_normal_and_depth(
        np.array([0, 0, 1]), np.array([1, 2, 0]), cx, cy, yaw, hl, hw
    )
    np.testing.assert_allclose(normal, [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(depth, [0.3, 0.5, 0.3], atol=1e-12)
    normal, depth = contact_normal_and_depth(0, 1, cx, cy, yaw, hl, hw)
    moved_x = cx.copy()
    moved_x[1] += normal[0, 0] * depth[0]
    _, after = contact_normal_and_depth(0, 1, moved_x, cy, yaw, hl, hw)
    assert after[0] == pytest.approx(0.0, abs=1e-12)


def test_static_hits_catch_thin_curbs_between_corners():
    def curb(xs, ys):
        return (xs > 4.9) & (np.abs(ys) < 0.05)

    box = (arr(4.0, 0.0), arr(0.0, 0.0), arr(0.0, 0.0), arr(1.2, 1.2), arr(0.9, 0.9))
    assert not static_hits(box_corners(*box), curb).any()
    contacts = static_contacts(perimeter_samples(*box), curb)
    np.testing.assert_array_equal(contacts.hit, [True, False])
    np.testing.assert_allclose(contacts.point[0], [5.2, 0.0])


def test_static_contact_point_is_mean_of_blocked_samples():
    def wall(xs, ys):
        return xs > 5.0

    samples = perimeter_samples(arr(4.0), arr(1.0), arr(0.0), arr(1.2), arr(0.9))
    contacts = static_contacts(samples, wall)
    assert contacts.hit[0]
    np.testing.assert_allclose(contacts.point[0], [5.2, 1.0])
    response = resolve_static(
        arr(1000.0), np.array([[3.0, 1.0, 0.0]]), arr(4.0, 1.0)[None], contacts.point
    )
    np.testing.assert_allclose(response.normal, [[-1.0, 0.0]], atol=1e-12)
    np.testing.assert_array_equal(response.velocity, 0.0)
    np.testing.assert_allclose(response.impulse, [[-3000.0, 0.0, 0.0]], atol=1e-9)


def test_static_response_lets_a_body_back_out():
    velocity = np.array([[-2.0, 0.0, 0.0]])
    response = resolve_static(arr(1000.0), velocity, np.array([[4.0, 0.0]]), np.array([[5.2, 0.0]]))
    np.testing.assert_array_equal(response.velocity, velocity)
    np.testing.assert_array_equal(response.impulse, 0.0)


def test_pair_response_conserves_momentum_and_separates():
    cx, cy = arr(0.0, 3.8), arr(0.0, 0.4)
    yaw, hl, hw = arr(0.0, 10.0), arr(2.0, 2.0), arr(1.0, 1.0)
    normal, depth = contact_normal_and_depth(0, 1, cx, cy, yaw, hl, hw)
    assert depth[0] > 0.0
    mi, mj = arr(1500.0), arr(1000.0)
    vi, vj = np.array([[10.0, 1.0, 0.5]]), np.array([[-5.0, 0.0, 0.0]])
    r = resolve_vehicle_pair(mi, mj, vi, vj, normal, depth, restitution=0.2)
    before = mi[:, None] * vi + mj[:, None] * vj
    after = mi[:, None] * r.velocity_i + mj[:, None] * r.velocity_j
    np.testing.assert_allclose(after, before, rtol=1e-12)
    closing_before = ((vj - vi)[:, :2] * normal).sum(axis=1)
    closing_after = ((r.velocity_j - r.velocity_i)[:, :2] * normal).sum(axis=1)
    np.testing.assert_allclose(closing_after, -0.2 * closing_before)
    np.testing.assert_allclose(r.impulse_i, mi[:, None] * (r.velocity_i - vi))
    assert r.velocity_i[0, 2] == 0.5  # vertical motion untouched
    # The heavier body moves less, and afterwards the boxes no longer overlap.
    assert np.linalg.norm(r.shift_i) < np.linalg.norm(r.shift_j)
    cx2 = cx + np.array([r.shift_i[0, 0], r.shift_j[0, 0]])
    cy2 = cy + np.array([r.shift_i[0, 1], r.shift_j[0, 1]])
    assert overlapping_pairs(cx2, cy2, yaw, hl, hw, np.zeros(2), np.ones(2)).shape == (0, 2)


def test_separating_pair_gets_no_impulse():
    normal, depth = np.array([[1.0, 0.0]]), arr(0.1)
    vi, vj = np.array([[-1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0]])
    r = resolve_vehicle_pair(arr(1000.0), arr(1000.0), vi, vj, normal, depth)
    np.testing.assert_array_equal(r.impulse_i, 0.0)
    np.testing.assert_array_equal(r.velocity_i, vi)
    assert r.shift_j[0, 0] > 0.05
