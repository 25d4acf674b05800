"""PPOExperiment without a simulator: spaces, actions, reward rules and config errors."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_example.ppo_experiment import (
    COMPLETION_BONUS,
    INFRACTION_PENALTY,
    PROGRESS_SCALE,
    STATE_SIZE,
    PPOExperiment,
)
from rllib_integration.carla_env import conform_action
from rllib_integration.driving_score import Infraction, InfractionKind, StepReport
from rllib_integration.errors import ConfigError


def test_spaces_and_default_sensors() -> None:
    experiment = PPOExperiment({"town": "LiteTown01"})
    observation = experiment.get_observation_space()
    assert observation["birdview"].shape == (64, 64, 3)
    assert observation["birdview"].dtype == np.uint8
    assert observation["state"].shape == (STATE_SIZE,)
    action = experiment.get_action_space()
    assert action.shape == (2,) and float(action.low.min()) == -1.0
    sensors = experiment.config["hero"]["sensors"]
    assert sensors["collision"] == {"type": "sensor.other.collision"}
    assert sensors["birdview"]["type"] == "sensor.birdview"
    assert experiment.end_on_infraction is True


@pytest.mark.parametrize(
    ("action", "throttle", "brake", "steer"),
    [((0.3, 0.8), 0.8, 0.0, 0.3), ((-0.5, -0.4), 0.0, 0.4, -0.5), ((2.0, 3.0), 1.0, 0.0, 1.0)],
)
def test_acceleration_is_throttle_or_brake(
    action: tuple[float, float], throttle: float, brake: float, steer: float
) -> None:
    control = PPOExperiment({}).compute_action(np.array(action))
    assert control.throttle == pytest.approx(throttle)
    assert control.brake == pytest.approx(brake)
    assert control.steer == pytest.approx(steer)


def test_reward_is_progress_with_a_bonus_or_a_penalty_at_the_end() -> None:
    experiment = PPOExperiment({})
    experiment.last_report = StepReport(progress=2.0)
    assert experiment.compute_reward(None, None) == pytest.approx(2.0 * PROGRESS_SCALE)
    experiment.last_report = StepReport(progress=1.0, ended="completed")
    assert experiment.compute_reward(None, None) == pytest.approx(PROGRESS_SCALE + COMPLETION_BONUS)
    crash = Infraction(InfractionKind.COLLISION_VEHICLE, 1.0, 0.0, 0.0)
    experiment.last_report = StepReport(progress=0.5, infractions=[crash])
    assert experiment.compute_reward(None, None) == pytest.approx(
        0.5 * PROGRESS_SCALE + INFRACTION_PENALTY
    )
    experiment._speed_limit, experiment._last_speed = 5.0, 10.0  # twice the limit
    experiment.last_report = StepReport(progress=2.0)
    assert experiment.compute_reward(None, None) == pytest.approx(1.0 * PROGRESS_SCALE)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"route\.order"):
        PPOExperiment({"route": {"order": "shuffled"}})
    with pytest.raises(ConfigError, match=r"route\.length: must be > 0"):
        PPOExperiment({"route": {"length": 0.0}})
    with pytest.raises(ConfigError, match=r"sensors\.collision: route scoring needs"):
        PPOExperiment({"hero": {"sensors": {"collision": {"type": "sensor.other.gnss"}}}})
    with pytest.raises(ConfigError, match=r"birdview\.masks"):
        PPOExperiment(
            {"hero": {"sensors": {"birdview": {"type": "sensor.birdview", "size": 64,
                                               "radius": 20, "masks": True}}}}
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"route\.seed"):
        PPOExperiment({"route": {"seed": "one"}})


def test_box_actions_are_cast_and_clipped_other_bad_actions_refused() -> None:
    space = PPOExperiment({}).get_action_space()
    action = conform_action(space, np.array([0.5, 1.7], dtype=np.float64))
    assert action.dtype == np.float32
    assert action.tolist() == [0.5, 1.0]
    assert conform_action(space, [-3, 0]).tolist() == [-1.0, 0.0]
    with pytest.raises(ValueError, match="NaN or infinite"):
        conform_action(space, [np.nan, 0.0])
    with pytest.raises(ValueError, match="shape"):
        conform_action(space, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="not numeric"):
        conform_action(space, ["left", "fast"])


def test_standstill_time_is_scaled_and_capped() -> None:
    from types import SimpleNamespace

    from ppo_example.ppo_experiment import STANDSTILL_SCALE
    from rllib_integration.driving_score.criteria import BlockedCriterion

    experiment = PPOExperiment({})
    assert experiment._standstill() == 0.0  # no route yet
    blocked = BlockedCriterion(max_time=180.0)
    experiment.task.monitor = SimpleNamespace(blocked=blocked)  # type: ignore[assignment]
    for time in (0.0, 1.0, 5.0):
        blocked.update(time, 0.0, 0.0, speed=0.0)
    assert experiment._standstill() == pytest.approx(5.0 / STANDSTILL_SCALE)
    blocked.update(10.0 * STANDSTILL_SCALE, 0.0, 0.0, speed=0.0)
    assert experiment._standstill() == 1.0
    blocked.update(10.0 * STANDSTILL_SCALE + 1.0, 0.0, 0.0, speed=3.0)
    assert experiment._standstill() == 0.0
