"""The shared yaml sections on an AlgorithmConfig, with an example's extra arguments."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("ray")

from ray.rllib.algorithms.ppo import PPOConfig

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.training.algorithm_config import apply_common_sections

pytestmark = pytest.mark.ray

RAW: dict[str, Any] = {
    "env_runners": {
        "num_env_runners": 2,
        "num_envs_per_env_runner": 3,
        "num_cpus_per_env_runner": 0.5,
        "num_gpus_per_env_runner": 0.0,
        "rollout_fragment_length": 32,
        "sample_timeout_s": 45.0,
    },
    "learners": {"num_learners": 0, "num_gpus_per_learner": 0.0},
    "resources": {"num_cpus_for_main_process": 1.0},
    "reporting": {
        "min_sample_timesteps_per_iteration": 100,
        "min_time_s_per_iteration": 2.0,
        "metrics_num_episodes_for_smoothing": 7,
    },
    "seed": 11,
}


def test_common_sections_and_the_examples_extras() -> None:
    env_config = {"carla": {"timeout": 5.0}, "experiment": {}}
    config = apply_common_sections(
        PPOConfig(),
        RAW,
        env_config,
        environment={"clip_actions": True},
        env_runners={"explore": False},
    )
    assert isinstance(config, PPOConfig)
    assert config.enable_rl_module_and_learner and config.enable_env_runner_and_connector_v2
    assert config.framework_str == "torch"
    assert config.env is CarlaEnv and config.disable_env_checking
    assert config.env_config == env_config and config.env_config is not env_config
    assert (config.num_env_runners, config.num_envs_per_env_runner) == (2, 3)
    assert (config.num_cpus_per_env_runner, config.rollout_fragment_length) == (0.5, 32)
    assert (config.sample_timeout_s, config.batch_mode) == (45.0, "truncate_episodes")
    assert (config.num_learners, config.num_cpus_for_main_process) == (0, 1.0)
    assert config.min_sample_timesteps_per_iteration == 100
    assert config.metrics_num_episodes_for_smoothing == 7
    assert (config.seed, config.log_sys_usage) == (11, True)
    assert config.clip_actions is True and config.explore is False
