"""RoadMap queries on the hand-written small town and the real CARLA towns."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from carla_lite.maps import (
    SURFACE_DRIVING,
    SURFACE_OFFROAD,
    SURFACE_OTHER,
    SURFACE_SIDEWALK,
    RoadMap,
    load_road_map,
)

from .conftest import town_text


@pytest.fixture(scope="module")
def small(small_town_text: str) -> RoadMap:
    return load_road_map("small_town", small_town_text)


def _q(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_surface_classes_across_road_1(small: RoadMap) -> None:
    # Road 1 runs along +x; CARLA y = -OpenDRIVE y, so right-hand lanes have y > 0:
    # driving 0..3.5, shoulder 3.5..4, sidewalk 4..6; the mirror image on the left.
    ys = _q([1.75, -1.75, 3.75, -3.75, 5.0, -5.0, 8.0, 0.0])
    got = small.surface(np.full(len(ys), 50.0), ys)
    assert got.dtype == np.uint8
    assert list(got) == [
        SURFACE_DRIVING, SURFACE_DRIVING, SURFACE_OTHER, SURFACE_OTHER,
        SURFACE_SIDEWALK, SURFACE_SIDEWALK, SURFACE_OFFROAD, SURFACE_DRIVING,
    ]  # fmt: skip
    # Far outside the raster.
    assert list(small.surface(_q([-1e4, 1e9]), _q([0.0, 0.0]))) == [SURFACE_OFFROAD] * 2


def test_surface_has_no_holes_along_lanes(small: RoadMap) -> None:
    for road_id, length in ((1, 100.0), (2, 160.0), (11, 23.0), (4, 50.0)):
        for lane_id in (-1, 1) if road_id != 11 else (-1,):
            pts = [
                small.lane_point(road_id, lane_id, s) for s in np.linspace(0.5, length - 0.5, 200)
            ]
            xs, ys = _q([p.x for p in pts]), _q([p.y for p in pts])
            # Quarter-lane offsets to both sides stay on the driving surface too.
            for off in (-0.8, 0.0, 0.8):
                yaw = np.radians([p.yaw for p in pts])
                sx, sy = xs - off * np.sin(yaw), ys + off * np.cos(yaw)
                assert (small.surface(sx, sy) == SURFACE_DRIVING).all(), (road_id, lane_id, off)


def test_ground_height_follows_elevation(small: RoadMap) -> None:
    # Road 1 climbs 2 %: z = 0.02 x; the junction and road 2 sit at 2 m.
    h = small.ground_height(_q([10.0, 50.0, 90.0, 110.0, 50.0]), _q([1.0, -1.0, 5.0, 1.0, 30.0]))
    assert h == pytest.approx([0.2, 1.0, 1.8, 2.0, 0.0], abs=0.015)
    assert small.ground_height(_q([-1e5]), _q([0.0]))[0] == 0.0


def test_speed_limits(small: RoadMap) -> None:
    p2 = small.lane_point(2, -1, 60.0)
    p4 = small.lane_point(4, -1, 25.0)
    got = small.speed_limit_kmh(_q([50.0, p2.x, p4.x, 50.0]), _q([1.75, p2.y, p4.y, 40.0]))
    # 40 km/h; motorway without <speed> -> 90; 25 mph; off road -> town default.
    assert got == pytest.approx([40.0, 90.0, 25 * 1.609344, 30.0])


def test_lane_point(small: RoadMap) -> None:
    tf = small.lane_point(1, -1, 50.0)
    assert (tf.x, tf.y, tf.z, tf.yaw) == pytest.approx((50.0, 1.75, 1.0, 0.0))
    assert tf.pitch == pytest.approx(math.degrees(math.atan(0.02)))
    left = small.lane_point(1, 1, 50.0)  # yaw along +s even for a left lane
    assert (left.y, left.yaw) == pytest.approx((-1.75, 0.0))
    with pytest.raises(KeyError):
        small.lane_point(1, 7, 5.0)
    with pytest.raises(KeyError):
        small.lane_point(999, -1, 5.0)


def test_spawn_points(small: RoadMap) -> None:
    points = small.spawn_points
    assert points
    on_road_1 = [p for p in points if abs(p.y) < 2.0 and p.x < 100.0]
    assert len(on_road_1) == 10  # 2 lanes x 5 stations over 100 m
    forward = [p for p in on_road_1 if p.y > 0]
    backward = [p for p in on_road_1 if p.y < 0]
    assert all(abs(p.yaw) < 1e-6 for p in forward)  # right-hand traffic along +x
    assert all(abs(abs(p.yaw) - 180.0) < 1e-6 for p in backward)
    # Driving order, spacing and end margins.
    assert [p.x for p in forward] == sorted(p.x for p in forward)
    assert [p.x for p in backward] == sorted((p.x for p in backward), reverse=True)
    gaps = np.diff(sorted(p.x for p in forward))
    assert ((gaps >= 18.0) & (gaps <= 30.0)).all()
    assert min(p.x for p in on_road_1) >= 6.0 and max(p.x for p in on_road_1) <= 94.0
    for p in points:
        assert small.surface(_q([p.x]), _q([p.y]))[0] == SURFACE_DRIVING
        assert p.z == pytest.approx(small.ground_height(_q([p.x]), _q([p.y]))[0] + 0.5, abs=0.05)
        assert p.pitch == 0.0 and p.roll == 0.0
    # No spawn points on junction roads (10 and 11 fill x = 100..120, y = -4..15).
    assert not [p for p in points if 100.0 < p.x < 120.0 and -4.0 < p.y < 15.0]
    # Deterministic.
    assert load_road_map("other_name", small.xodr).spawn_points == points


def test_left_hand_traffic_flips_directions(small_town_text: str) -> None:
    lht = small_town_text.replace('<road name="Road 1"', '<road rule="LHT" name="Road 1"')
    road_map = load_road_map("small_lht", lht)
    on_road_1 = [p for p in road_map.spawn_points if abs(p.y) < 2.0 and p.x < 100.0]
    assert all(abs(abs(p.yaw) - 180.0) < 1e-6 for p in on_road_1 if p.y > 0)
    assert all(abs(p.yaw) < 1e-6 for p in on_road_1 if p.y < 0)


def test_random_sidewalk_location(small: RoadMap) -> None:
    rng = random.Random(3)
    for _ in range(50):
        loc = small.random_sidewalk_location(rng)
        assert loc is not None
        assert small.surface(_q([loc.x]), _q([loc.y]))[0] == SURFACE_SIDEWALK
        assert loc.z == pytest.approx(small.ground_height(_q([loc.x]), _q([loc.y]))[0], abs=0.05)
    no_sidewalks = small.xodr.replace('type="sidewalk"', 'type="border"')
    assert load_road_map("bare", no_sidewalks).random_sidewalk_location(rng) is None


def test_bounds(small: RoadMap) -> None:
    xmin, ymin, xmax, ymax = small.bounds
    assert xmin == pytest.approx(0.0, abs=1e-6)
    assert ymax == pytest.approx(65.0, abs=0.01)  # road 4 ends at y = 65
    for p in small.spawn_points:
        assert xmin <= p.x <= xmax and ymin <= p.y <= ymax


def test_signal_group(small: RoadMap) -> None:
    [group] = small.signal_groups
    assert group.junction_id == 100
    [site] = group.sites
    assert (site.signal_id, site.road_id) == ("500", 1)
    # Light at s=95, t=-6.5 on road 1 (z = 0.02 * 95 + zOffset 0.5).
    assert (site.pose.x, site.pose.y, site.pose.z) == pytest.approx((95.0, 6.5, 2.4))
    box = site.trigger
    # Lane -1 over the last 9 m before the junction, facing the traffic's direction (+x).
    assert (box.cx, box.cy, box.yaw_deg) == pytest.approx((95.5, 1.75, 0.0))
    assert (box.half_length, box.half_width) == pytest.approx((4.5, 1.75))


def test_cache_returns_same_object(small_town_text: str) -> None:
    a = load_road_map("cached", small_town_text)
    b = load_road_map("cached", small_town_text)
    assert b is a
    assert load_road_map("cached", small_town_text + " ") is not a


def test_vectorised_queries_accept_many_points(small: RoadMap) -> None:
    xs = np.random.default_rng(0).uniform(-20, 250, 100_000)
    ys = np.random.default_rng(1).uniform(-130, 70, 100_000)
    surf, h, v = small.surface(xs, ys), small.ground_height(xs, ys), small.speed_limit_kmh(xs, ys)
    assert surf.shape == h.shape == v.shape == (100_000,)
    assert (h[surf == SURFACE_OFFROAD] == 0.0).mean() > 0.95


@pytest.mark.parametrize(
    "town,groups,sites",
    [("Town01", 12, 36), ("Town02", 8, 24), ("Town04", 12, 43), ("Town10HD", 5, 17)],
)
def test_real_towns(town: str, groups: int, sites: int) -> None:
    road_map = load_road_map(town, town_text(town))  # build times: bench/bench_road_map.py
    assert road_map.memory_bytes() < 150e6
    assert len(road_map.spawn_points) > 100
    assert len(road_map.signal_groups) == groups
    assert sum(len(g.sites) for g in road_map.signal_groups) == sites
    for group in road_map.signal_groups:
        for site in group.sites:
            box = site.trigger
            # The trigger lies on driving lanes of its road.
            assert road_map.surface(_q([box.cx]), _q([box.cy]))[0] == SURFACE_DRIVING
            assert 1.0 <= box.half_width <= 10.0 and 0.5 <= box.half_length <= 5.0
    xs = _q([p.x for p in road_map.spawn_points])
    ys = _q([p.y for p in road_map.spawn_points])
    assert (road_map.surface(xs, ys) == SURFACE_DRIVING).all()
    assert road_map.random_sidewalk_location(random.Random(0)) is not None
