"""The Leaderboard criteria on scripted drives (plain numbers, no simulator)."""

from __future__ import annotations

import math

import pytest

from rllib_integration.driving_score import PENALTIES, InfractionKind, RouteRecord, summarize
from rllib_integration.driving_score.criteria import (
    BlockedCriterion,
    CollisionCriterion,
    OutsideLanesCriterion,
    RedLightCriterion,
    RouteDeviationCriterion,
    StopArea,
    StopLine,
    StopSignCriterion,
)
from rllib_integration.driving_score.infractions import Infraction


def test_one_crash_with_many_contacts_is_one_collision() -> None:
    criterion = CollisionCriterion()
    found = []
    # Ten ticks of contact with the same car, then the same car again 10 s later.
    for tick in range(10):
        found += criterion.update(tick * 0.05, 10.0 + tick * 0.01, 0.0, 42, "vehicle.audi.tt")
    found += criterion.update(10.0, 50.0, 0.0, 42, "vehicle.audi.tt")
    assert [i.kind for i in found] == [InfractionKind.COLLISION_VEHICLE] * 2


@pytest.mark.parametrize(
    ("type_id", "kind", "penalty"),
    [
        ("walker.pedestrian.0001", InfractionKind.COLLISION_PEDESTRIAN, 0.50),
        ("vehicle.tesla.model3", InfractionKind.COLLISION_VEHICLE, 0.60),
        ("static.prop.streetbarrier", InfractionKind.COLLISION_STATIC, 0.65),
        ("traffic.traffic_light", InfractionKind.COLLISION_STATIC, 0.65),
    ],
)
def test_collision_kinds_and_penalties(type_id: str, kind: InfractionKind, penalty: float) -> None:
    found = CollisionCriterion().update(1.0, 0.0, 0.0, 7, type_id)
    assert [i.kind for i in found] == [kind]
    record = RouteRecord("r", 100.0, progress=100.0, infractions=found)
    assert record.infraction_penalty == pytest.approx(penalty)
    assert record.driving_score == pytest.approx(100.0 * penalty)


def test_scraping_a_wall_is_one_collision_but_a_new_actor_elsewhere_counts() -> None:
    criterion = CollisionCriterion()
    found = []
    for tick in range(20):  # the static world has no id: the same "actor" all along
        found += criterion.update(tick * 0.1, tick * 0.1, 0.0, 0, "static.building")
    found += criterion.update(2.1, 30.0, 0.0, 9, "walker.pedestrian.0002")
    assert [i.kind for i in found] == [
        InfractionKind.COLLISION_STATIC,
        InfractionKind.COLLISION_PEDESTRIAN,
    ]


def _drive_through_stop_line(criterion: RedLightCriterion, red: set[int], start: float = 0.0):
    found = []
    for step in range(40):  # x from -10 m to +9.5 m across a line at x = 0, heading +x
        found += criterion.update(start + step * 0.1, -10.0 + step * 0.5, 0.2, 0.0, red)
    return found


LINE = StopLine(light_id=5, x=0.0, y=0.0, yaw=0.0, half_width=1.75)


def test_running_a_red_light_is_one_infraction() -> None:
    found = _drive_through_stop_line(RedLightCriterion([LINE]), {5})
    assert [i.kind for i in found] == [InfractionKind.RED_LIGHT]
    assert found[0].x == pytest.approx(0.0, abs=0.5)


def test_green_light_other_lane_and_other_direction_are_not_infractions() -> None:
    assert _drive_through_stop_line(RedLightCriterion([LINE]), set()) == []
    beside = StopLine(5, 0.0, 6.0, 0.0, 1.75)  # the line of the lane next to ours
    assert _drive_through_stop_line(RedLightCriterion([beside]), {5}) == []
    reverse = RedLightCriterion([LINE])
    found = []
    for step in range(40):  # driving the other way through the same line
        found += reverse.update(step * 0.1, 10.0 - step * 0.5, 0.0, 180.0, {5})
    assert found == []


def test_stop_sign_needs_a_stop_inside_its_area() -> None:
    area = StopArea(sign_id=3, x=0.0, y=0.0, yaw=0.0, half_length=5.0, half_width=2.0)
    rolled = StopSignCriterion([area])
    found = []
    for step in range(40):
        found += rolled.update(step * 0.1, -10.0 + step * 0.5, 0.0, speed=5.0)
    assert [i.kind for i in found] == [InfractionKind.STOP_SIGN]

    stopped = StopSignCriterion([area])
    found = []
    for step in range(40):
        speed = 0.0 if step == 20 else 5.0  # stops once at x = 0
        found += stopped.update(step * 0.1, -10.0 + step * 0.5, 0.0, speed=speed)
    assert found == []


def test_leaving_the_road_is_one_excursion_and_its_distance_discounts_completion() -> None:
    criterion = OutsideLanesCriterion()
    found = []
    for step in range(30):
        x = step * 1.0
        off_road = 10 <= step < 20  # ten metres off the road
        found += criterion.update(step * 0.1, x, 0.0, off_road=off_road, wrong_lane=False)
    assert [i.detail for i in found] == ["off road"]
    assert criterion.distance == pytest.approx(10.0)  # every metre that ended outside
    record = RouteRecord("r", 100.0, progress=50.0, outside_distance=criterion.distance)
    assert record.route_completion == pytest.approx(50.0 * (1 - 0.10))
    assert record.infraction_penalty == 1.0  # no coefficient: it costs completion only


def test_wrong_lane_then_off_road_is_one_excursion_each_time_it_starts() -> None:
    criterion = OutsideLanesCriterion()
    states = [(False, False), (False, True), (True, False), (False, False), (False, True)]
    found = []
    for step, (off_road, wrong) in enumerate(states):
        found += criterion.update(float(step), float(step), 0.0, off_road, wrong)
    assert [i.detail for i in found] == ["wrong lane", "wrong lane"]


def test_route_deviation_and_blocking_end_the_route() -> None:
    deviation = RouteDeviationCriterion(30.0)
    assert deviation.update(1.0, 0.0, 0.0, 29.9) == []
    assert [i.kind for i in deviation.update(2.0, 0.0, 0.0, 30.5)] == [
        InfractionKind.ROUTE_DEVIATION
    ]

    blocked = BlockedCriterion(max_time=180.0)
    found = []
    time = 0.0
    while time < 200.0 and not found:  # stopped for good from t = 0
        found += blocked.update(time, 0.0, 0.0, speed=0.0)
        time += 0.05
    assert [i.kind for i in found] == [InfractionKind.AGENT_BLOCKED]
    assert time == pytest.approx(180.05, abs=0.06)
    assert blocked.stopped_for == pytest.approx(180.0, abs=0.06)
    assert blocked.update(time, 0.0, 0.0, speed=1.0) == [] and blocked.stopped_for == 0.0
    moving = BlockedCriterion(max_time=1.0)
    assert all(moving.update(t * 0.5, 0.0, 0.0, speed=0.05 + (t % 2)) == [] for t in range(10))


def test_penalties_multiply_and_rates_are_per_km() -> None:
    events = [
        Infraction(InfractionKind.COLLISION_VEHICLE, 1.0, 0.0, 0.0),
        Infraction(InfractionKind.RED_LIGHT, 2.0, 0.0, 0.0),
        Infraction(InfractionKind.RED_LIGHT, 3.0, 0.0, 0.0),
    ]
    record = RouteRecord("r", 500.0, progress=400.0, driven=2000.0, infractions=events)
    assert record.infraction_penalty == pytest.approx(0.6 * 0.7 * 0.7)
    assert record.driving_score == pytest.approx(80.0 * 0.6 * 0.49)
    rates = record.per_km()
    assert rates["red_light"] == pytest.approx(1.0)
    assert rates["collisions"] == pytest.approx(0.5)
    assert rates["infractions"] == pytest.approx(1.5)
    assert set(PENALTIES) == {
        InfractionKind.COLLISION_PEDESTRIAN,
        InfractionKind.COLLISION_VEHICLE,
        InfractionKind.COLLISION_STATIC,
        InfractionKind.RED_LIGHT,
        InfractionKind.STOP_SIGN,
    }
    summary = summarize([record, RouteRecord("s", 100.0, progress=100.0, driven=100.0)])
    assert summary["driving_score"] == pytest.approx((record.driving_score + 100.0) / 2)
    assert summary["route_completion"] == pytest.approx(90.0)
    assert summary["infractions_per_km"]["red_light"] == pytest.approx(2 / 2.1)
    assert math.isnan(summarize([])["driving_score"])
