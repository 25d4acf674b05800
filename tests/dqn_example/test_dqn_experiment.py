"""DQNExperiment unit tests: action table, frame stacking, done rules and reward terms.

The core, hero, map and waypoints are small fakes returning real ``carla`` value types
(no client, no server), so every rule is checked on a controlled situation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import carla
import numpy as np
import pytest
from gymnasium import spaces

from dqn_example.dqn_experiment import ACTIONS, DQNExperiment
from rllib_integration.errors import ConfigError

EXPECTED_TABLE = [
    # throttle, steer, brake
    (0.0, 0.0, 0.0), (0.0, 0.0, 1.0),
    (0.0, 0.75, 0.0), (0.0, 0.5, 0.0), (0.0, 0.25, 0.0),
    (0.0, -0.75, 0.0), (0.0, -0.5, 0.0), (0.0, -0.25, 0.0),
    (0.3, 0.0, 0.0), (0.3, 0.75, 0.0), (0.3, 0.5, 0.0), (0.3, 0.25, 0.0),
    (0.3, -0.75, 0.0), (0.3, -0.5, 0.0), (0.3, -0.25, 0.0),
    (0.6, 0.0, 0.0), (0.6, 0.75, 0.0), (0.6, 0.5, 0.0), (0.6, 0.25, 0.0),
    (0.6, -0.75, 0.0), (0.6, -0.5, 0.0), (0.6, -0.25, 0.0),
    (1.0, 0.0, 0.0), (1.0, 0.75, 0.0), (1.0, 0.5, 0.0), (1.0, 0.25, 0.0),
    (1.0, -0.75, 0.0), (1.0, -0.5, 0.0), (1.0, -0.25, 0.0),
]  # fmt: skip


@dataclass
class FakeWaypoint:
    lane_type: carla.LaneType = carla.LaneType.Driving
    is_junction: bool = False
    yaw: float = 0.0

    @property
    def transform(self) -> carla.Transform:
        return carla.Transform(carla.Location(), carla.Rotation(yaw=self.yaw))


@dataclass
class FakeMap:
    waypoint: FakeWaypoint | None = field(default_factory=FakeWaypoint)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def get_waypoint(self, location: carla.Location, **kwargs: Any) -> FakeWaypoint | None:
        self.calls.append(kwargs)
        return self.waypoint


@dataclass
class FakeHero:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.3
    yaw: float = 0.0
    speed_ms: float = 0.0  # along the heading

    def get_velocity(self) -> carla.Vector3D:
        yaw = math.radians(self.yaw)
        return carla.Vector3D(self.speed_ms * math.cos(yaw), self.speed_ms * math.sin(yaw), 0.0)

    def get_location(self) -> carla.Location:
        return carla.Location(self.x, self.y, self.z)

    def get_transform(self) -> carla.Transform:
        return carla.Transform(self.get_location(), carla.Rotation(yaw=self.yaw))


@dataclass
class FakeCore:
    hero: FakeHero = field(default_factory=FakeHero)
    map: FakeMap = field(default_factory=FakeMap)


def make(**others: Any) -> DQNExperiment:
    config: dict[str, Any] = {
        "hero": {"sensors": {"birdview": {"type": "sensor.birdview", "size": 8, "radius": 15}}}
    }
    if others:
        config["others"] = others
    return DQNExperiment(config)


def step(exp: DQNExperiment, core: FakeCore, action: int = 0) -> tuple[bool, bool, float]:
    """One env step's experiment calls, in CarlaEnv's order (observation skipped)."""
    exp.compute_action(action)
    terminated, truncated = exp.get_done_status(None, core)  # type: ignore[arg-type]
    return terminated, truncated, exp.compute_reward(None, core)  # type: ignore[arg-type]


# --- config -------------------------------------------------------------------------


def test_defaults_are_the_originals() -> None:
    exp = DQNExperiment()
    assert exp.config["others"] == {"framestack": 4, "max_time_idle": 600, "max_time_episode": 6400}
    assert exp.config["hero"]["sensors"]["birdview"] == {
        "type": "sensor.birdview", "size": 300, "radius": 15,
    }  # fmt: skip
    assert exp.get_observation_space() == spaces.Box(0, 255, (300, 300, 12), np.uint8)


def test_unknown_and_mistyped_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"others\.frame_stack"):
        DQNExperiment({"others": {"frame_stack": 2}})
    with pytest.raises(ConfigError, match=r"others\.max_time_idle"):
        DQNExperiment({"others": {"max_time_idle": "600"}})
    with pytest.raises(ConfigError, match="birdview"):
        DQNExperiment({"hero": {"sensors": {"birdview": {"type": "sensor.camera.rgb"}}}})


# --- actions ------------------------------------------------------------------------


def test_action_table_is_exact() -> None:
    exp = make()
    assert exp.get_action_space() == spaces.Discrete(29)
    table = exp.get_actions()
    assert list(table) == list(range(29)) and table is ACTIONS
    assert [row[:3] for row in table.values()] == EXPECTED_TABLE
    assert all(row[3:] == (False, False) for row in table.values())


@pytest.mark.parametrize("action", [0, 1, 9, 19, 28, np.int64(26)])
def test_compute_action_builds_the_control_and_remembers_it(action: int) -> None:
    exp = make()
    control = exp.compute_action(action)
    throttle, steer, brake = EXPECTED_TABLE[int(action)]
    assert isinstance(control, carla.VehicleControl)
    values = (control.throttle, control.steer, control.brake)
    assert values == pytest.approx((throttle, steer, brake))
    assert control.reverse is False and control.hand_brake is False
    assert exp.last_action is control


def test_last_action_is_reset_between_episodes() -> None:
    """Bug 16: reset, so an episode never sees the previous episode's control."""
    exp = make()
    exp.compute_action(23)
    exp.reset()
    assert exp.last_action is None


# --- observation --------------------------------------------------------------------


def frame(value: int, size: int = 8) -> dict[str, tuple[int, Any]]:
    return {"birdview": (value, np.full((size, size, 3), value, dtype=np.uint8))}


@pytest.mark.parametrize("framestack", [1, 2, 3, 4, 6])
def test_frame_stack_oldest_first_first_observation_repeats(framestack: int) -> None:
    exp = make(framestack=framestack)
    space = exp.get_observation_space()
    assert space.shape == (8, 8, 3 * framestack) and space.dtype == np.uint8
    obs, info = exp.get_observation(frame(10))
    assert info == {} and obs.dtype == np.uint8 and space.contains(obs)
    assert [int(obs[0, 0, 3 * i]) for i in range(framestack)] == [10] * framestack
    for value in (11, 12, 13, 14, 15):
        obs, _ = exp.get_observation(frame(value))
    expected = [max(10, 15 - framestack + 1 + i) for i in range(framestack)]
    assert [int(obs[0, 0, 3 * i]) for i in range(framestack)] == expected
    assert all(np.all(obs[:, :, 3 * i : 3 * i + 3] == expected[i]) for i in range(framestack))
    exp.reset()
    obs, _ = exp.get_observation(frame(99))
    assert np.all(obs == 99), "a new episode starts from copies of its first image"


def test_four_frames_channel_layout() -> None:
    exp = make()
    for value in (1, 2, 3, 4, 5):
        obs, _ = exp.get_observation(frame(value))
    # channels 0-2 = t-3 ... 9-11 = t
    assert obs[0, 0].tolist() == [2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]


# --- done rules ---------------------------------------------------------------------


def run_until_done(exp: DQNExperiment, core: FakeCore, limit: int = 100) -> tuple[int, bool, bool]:
    for n in range(1, limit + 1):
        terminated, truncated = exp.get_done_status(None, core)  # type: ignore[arg-type]
        if terminated or truncated:
            return n, terminated, truncated
    raise AssertionError("never done")


def test_idle_terminates_on_step_max_plus_two() -> None:
    exp, core = make(max_time_idle=5), FakeCore()  # 600 -> step 602 with the shipped config
    assert run_until_done(exp, core) == (7, True, False)
    assert exp.done_time_idle and not exp.done_time_episode


def test_moving_resets_the_idle_counter() -> None:
    exp, core = make(max_time_idle=5), FakeCore()
    for _ in range(5):
        exp.get_done_status(None, core)  # type: ignore[arg-type]
    core.hero.speed_ms = 1.1 / 3.6  # just over 1 km/h
    assert exp.get_done_status(None, core) == (False, False)  # type: ignore[arg-type]
    assert exp.time_idle == 0
    core.hero.speed_ms = 1.0 / 3.6 * 0.99  # 1 km/h or less is idle
    assert run_until_done(exp, core) == (7, True, False)


def test_idle_check_uses_the_counter_before_the_update() -> None:
    exp, core = make(max_time_idle=5), FakeCore()
    for _ in range(6):
        exp.get_done_status(None, core)  # type: ignore[arg-type]
    core.hero.speed_ms = 10.0  # moving again, but 6 idle steps were already counted
    assert exp.get_done_status(None, core) == (True, False)  # type: ignore[arg-type]


def test_time_limit_truncates_on_step_max_plus_one() -> None:
    exp, core = make(max_time_episode=9), FakeCore()  # 6400 -> step 6401
    core.hero.speed_ms = 5.0
    assert run_until_done(exp, core) == (10, False, True)
    exp.reset()
    assert run_until_done(exp, core) == (10, False, True), "reset restarts the clock"


def test_falling_terminates() -> None:
    exp, core = make(), FakeCore()
    core.hero.speed_ms = 5.0
    core.hero.z = -0.49
    assert exp.get_done_status(None, core) == (False, False)  # type: ignore[arg-type]
    core.hero.z = -0.51
    assert exp.get_done_status(None, core) == (True, False)  # type: ignore[arg-type]


# --- reward -------------------------------------------------------------------------


def test_distance_and_speed_gain() -> None:
    exp, core = make(), FakeCore()
    core.hero.speed_ms = 10 / 3.6  # 10 km/h
    # First step: no distance yet, the whole speed counts as gained.
    assert step(exp, core)[2] == pytest.approx(0.05 * 10)
    core.hero.x, core.hero.y, core.hero.z = 3.0, 4.0, 7.0  # z is ignored: 2-D distance
    core.hero.speed_ms = 15 / 3.6
    assert step(exp, core)[2] == pytest.approx(5.0 + 0.05 * 5)
    core.hero.x = 6.0
    core.hero.speed_ms = 25 / 3.6  # at or over 20 km/h: no speed term
    assert step(exp, core)[2] == pytest.approx(math.hypot(3.0, 0.0))
    assert core.map.calls[-1] == {"project_to_road": False, "lane_type": carla.LaneType.Any}


def test_speed_term_only_below_20_kmh() -> None:
    exp, core = make(), FakeCore()
    core.hero.speed_ms = 30 / 3.6
    assert step(exp, core)[2] == pytest.approx(0.0)
    core.hero.speed_ms = 19 / 3.6  # slowing down while slow is penalised
    assert step(exp, core)[2] == pytest.approx(0.05 * (19 - 30))


@pytest.mark.parametrize(
    "waypoint", [None, FakeWaypoint(lane_type=carla.LaneType.Sidewalk)], ids=["none", "sidewalk"]
)
def test_off_lane(waypoint: FakeWaypoint | None) -> None:
    exp, core = make(), FakeCore(map=FakeMap(waypoint=waypoint))
    assert step(exp, core)[2] == pytest.approx(-0.5)
    assert exp.last_heading_deviation == pytest.approx(math.pi)


def test_parking_lane_is_allowed() -> None:
    exp = make()
    core = FakeCore(map=FakeMap(waypoint=FakeWaypoint(lane_type=carla.LaneType.Parking)))
    assert step(exp, core)[2] == pytest.approx(0.0)


def test_wrong_way() -> None:
    exp, core = make(), FakeCore(map=FakeMap(waypoint=FakeWaypoint(yaw=150.0)))
    assert step(exp, core, action=2)[2] == pytest.approx(-0.5)
    assert exp.last_heading_deviation == pytest.approx(math.radians(150.0))


def test_junction_skips_lane_terms() -> None:
    exp = make()
    core = FakeCore(map=FakeMap(waypoint=FakeWaypoint(is_junction=True, yaw=180.0)))
    exp.last_heading_deviation = 1.0
    assert step(exp, core)[2] == pytest.approx(0.0)
    assert exp.last_heading_deviation == 0.0


@pytest.mark.parametrize(
    ("lane_yaw", "action", "expected"),
    [
        (20.0, 0, 0.0),  # |sin(20 deg)| = 0.34 <= 0.4: on course
        (30.0, 0, -0.05),  # off course, not steering: penalised
        (30.0, 2, 0.0),  # lane to the right (yaw +30), steering right (+0.75): escapes
        (30.0, 5, -0.05),  # steering left, away from the lane
        (-30.0, 5, 0.0),  # lane to the left, steering left
        (-30.0, 2, -0.05),
    ],
)
def test_steering_back_term(lane_yaw: float, action: int, expected: float) -> None:
    exp, core = make(), FakeCore(map=FakeMap(waypoint=FakeWaypoint(yaw=lane_yaw)))
    assert step(exp, core, action)[2] == pytest.approx(expected)
    assert exp.last_heading_deviation == pytest.approx(math.radians(abs(lane_yaw)))


def test_steering_term_without_any_action_uses_a_neutral_control() -> None:
    exp, core = make(), FakeCore(map=FakeMap(waypoint=FakeWaypoint(yaw=30.0)))
    exp.get_done_status(None, core)  # type: ignore[arg-type]
    assert exp.compute_reward(None, core) == pytest.approx(-0.05)  # type: ignore[arg-type]
    assert isinstance(exp.last_action, carla.VehicleControl)


def test_terminal_terms() -> None:
    exp, core = make(max_time_idle=0, max_time_episode=1), FakeCore()
    assert step(exp, core) == (False, False, 0.0)
    terminated, truncated, reward = step(exp, core)  # idle (1 > 0) and time limit (2 > 1)
    assert (terminated, truncated) == (True, True)
    assert reward == pytest.approx(-100.0 + 100.0)
    exp, core = make(), FakeCore()
    core.hero.z, core.hero.speed_ms = -1.0, 5 / 3.6
    terminated, truncated, reward = step(exp, core)
    assert (terminated, truncated) == (True, False)
    assert reward == pytest.approx(-40.0 + 0.05 * 5)
