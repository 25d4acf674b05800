"""Actions outside the action space: a ValueError naming the action, the space and what it
accepts, for every kind of space the experiments use; the env steps on after a refusal.

``tests/ppo_example/test_ppo_experiment.py`` checks the Box cast and clip and three refusals;
``test_carla_env.py`` one out-of-range Discrete action. This is the full table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from dqn_example.dqn_experiment import DQNExperiment
from ppo_example.ppo_experiment import PPOExperiment
from rllib_integration.autopilot_experiment import AutopilotExperiment
from rllib_integration.carla_env import conform_action
from tests.conftest import run_python

DQN_SPACE = DQNExperiment({}).get_action_space()  # Discrete(29)
PPO_SPACE = PPOExperiment({}).get_action_space()  # Box(-1, 1, (2,), float32)
AUTOPILOT_SPACE = AutopilotExperiment({}).get_action_space()  # Discrete(1)
NAN = float("nan")

DISCRETE_REFUSED: list[tuple[Any, str]] = [
    (29, "action 29 is out of range; expected an int in [0, 28]"),
    (-1, "action -1 is out of range; expected an int in [0, 28]"),
    (np.int64(40), "action np.int64(40) is out of range"),
    (10**30, "is out of range"),  # was an OverflowError from gymnasium's contains
    (3.0, "action 3.0 is not an int; expected an int in [0, 28]"),  # integral float
    (2.5, "action 2.5 is not an int"),
    (np.float32(1.0), "action np.float32(1.0) is not an int"),
    (NAN, "action nan is not an int"),
    (True, "action True is not an int"),  # bool is an int subclass: was taken as 1
    (np.bool_(False), "is not an int"),
    ("3", "action '3' is not an int"),
    (None, "action None is not an int"),
    ([3], "action [3] is not an int"),
    (np.array([3]), "action array([3]) is not an int"),  # a batch of one, not an action
    ({"steer": 0}, "is not an int"),
]
BOX_REFUSED: list[tuple[Any, str]] = [
    (0.5, "action 0.5 has shape (); expected numbers of shape (2,)"),
    ([0.1, 0.2, 0.3], "has shape (3,); expected numbers of shape (2,)"),
    ([[0.1, 0.2]], "has shape (1, 2); expected numbers of shape (2,)"),
    (np.zeros((2, 1)), "has shape (2, 1)"),
    ([NAN, 0.0], "has a NaN or infinite value"),
    ([0.0, float("-inf")], "has a NaN or infinite value"),
    (["0.5", "0.5"], "is not numeric (<U3)"),  # numpy would cast strings silently
    ("left", "is not numeric"),
    (None, "action None is not numeric (object)"),  # was 'shape ()' (None cast to NaN)
    ([None, 0.0], "is not numeric (object)"),  # was 'has a NaN or infinite value'
    ([True, False], "is not numeric (bool)"),
    ([[0.1], 0.2], "is not"),  # ragged
    ({"throttle": 1.0}, "is not numeric"),
]


@pytest.mark.parametrize(
    ("action", "expected"), DISCRETE_REFUSED, ids=[repr(a)[:30] for a, _ in DISCRETE_REFUSED]
)
def test_discrete_refusals_name_the_action_and_the_valid_range(action: Any, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        conform_action(DQN_SPACE, action)
    message = str(info.value)
    assert expected in message
    assert message.endswith("for the action space Discrete(29)")


@pytest.mark.parametrize(
    ("action", "expected"), BOX_REFUSED, ids=[repr(a)[:30] for a, _ in BOX_REFUSED]
)
def test_box_refusals_name_the_action_and_the_space(action: Any, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        conform_action(PPO_SPACE, action)
    message = str(info.value)
    assert expected in message
    assert message.endswith(f"for the action space {PPO_SPACE}")


@pytest.mark.parametrize(
    ("action", "conformed"),
    [(0, 0), (28, 28), (np.int64(5), 5), (np.array(7), 7), (np.uint8(3), 3)],
)
def test_discrete_accepts_every_integer_form_as_int(action: Any, conformed: int) -> None:
    result = conform_action(DQN_SPACE, action)
    assert result == conformed and type(result) is int


def test_box_accepts_ints_and_clips() -> None:
    assert conform_action(PPO_SPACE, np.array([2, -3], dtype=np.int8)).tolist() == [1.0, -1.0]
    assert conform_action(PPO_SPACE, (0.25, 0.5)).dtype == np.float32


def test_the_autopilot_space_and_a_start_offset_give_their_range() -> None:
    conform_action(AUTOPILOT_SPACE, 0)
    with pytest.raises(ValueError, match=r"action 1 is out of range; expected an int in \[0, 0\]"):
        conform_action(AUTOPILOT_SPACE, 1)
    shifted = spaces.Discrete(3, start=-1)
    assert conform_action(shifted, -1) == -1
    with pytest.raises(ValueError, match=r"expected an int in \[-1, 1\]"):
        conform_action(shifted, 2)


@pytest.mark.parametrize("action", [[3, 1], 5, None, "a", [0.5, 1.0]])
def test_other_spaces_refuse_through_contains(action: Any) -> None:
    space = spaces.MultiDiscrete([3, 2])
    with pytest.raises(ValueError, match=r"is not in the action space MultiDiscrete\(\[3 2\]\)"):
        conform_action(space, action)
    assert conform_action(space, [2, 1]) == [2, 1]


def test_the_env_steps_on_after_refused_actions() -> None:
    result = run_python(
        """
        from rllib_integration.carla_env import CarlaEnv
        from tests.rllib_integration.experiments import env_config
        config = env_config()
        config["experiment"]["others"] = {"max_steps": 50, "size": 32}
        env = CarlaEnv(config)
        try:
            env.reset(seed=0)
            world = env.core.world
            before = world.get_snapshot().frame
            refused = []
            for bad in [4, -1, 1.0, True, None, "1", [1], float("nan")]:
                try:
                    env.step(bad)
                    refused.append(None)
                except ValueError as e:
                    refused.append(str(e))
            result["refused"] = refused
            result["frame_unchanged"] = world.get_snapshot().frame == before
            observation, reward, terminated, truncated, info = env.step(1)
            result["stepped"] = [world.get_snapshot().frame - before, info["step"]]
            result["obs_shape"] = list(observation.shape)
        finally:
            env.close()
        """,
        timeout=110,
    )
    assert all(message and "Discrete(4)" in message for message in result["refused"])
    assert result["frame_unchanged"] is True, "a refused action must not tick the world"
    assert result["stepped"] == [1, 1]
    assert result["obs_shape"] == [32, 32, 3]
