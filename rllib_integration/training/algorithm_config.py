"""The sections every training yaml shares, applied to any RLlib ``AlgorithmConfig``.

An example's ``build_algorithm_config`` starts from :func:`apply_common_sections` (the new
API stack, torch, ``CarlaEnv`` with its env config, and the yaml's ``env_runners``,
``learners``, ``resources``, ``reporting`` and ``seed``) and adds only what is its own:
``.training(...)``, ``.rl_module(...)``, ``.callbacks(...)`` and a few extra arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

ConfigT = TypeVar("ConfigT", bound="AlgorithmConfig")


def apply_common_sections(
    config: ConfigT,
    raw: Mapping[str, Any],
    env_config: Mapping[str, Any],
    *,
    environment: Mapping[str, Any] | None = None,
    env_runners: Mapping[str, Any] | None = None,
) -> ConfigT:
    """Sets the shared sections of a validated training yaml on ``config``.

    Set in code because they have a single valid value here: the new API stack, torch,
    ``batch_mode="truncate_episodes"``, ``disable_env_checking=True`` (the checker would
    start a simulator just to step it) and RLlib's restarts of failed envs and env runners.

    Args:
        config: a fresh ``AlgorithmConfig`` (``DQNConfig()``, ``PPOConfig()``).
        raw: the validated yaml (``yaml_config.LoadedYaml.raw``).
        env_config: the CarlaEnv config (copied, so the config owns it).
        environment: the example's extra ``.environment(...)`` arguments.
        env_runners: the example's extra ``.env_runners(...)`` arguments.

    Returns:
        ``config``, changed in place.
    """
    from rllib_integration.carla_env import CarlaEnv

    runners, learners, reporting = raw["env_runners"], raw["learners"], raw["reporting"]
    config.api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
    config.framework("torch")
    config.environment(
        env=CarlaEnv,
        env_config=copy.deepcopy(dict(env_config)),
        disable_env_checking=True,
        **(environment or {}),
    )
    config.env_runners(
        num_env_runners=runners["num_env_runners"],
        num_envs_per_env_runner=runners["num_envs_per_env_runner"],
        num_cpus_per_env_runner=runners["num_cpus_per_env_runner"],
        num_gpus_per_env_runner=runners["num_gpus_per_env_runner"],
        rollout_fragment_length=runners["rollout_fragment_length"],
        sample_timeout_s=runners["sample_timeout_s"],
        batch_mode="truncate_episodes",
        **(env_runners or {}),
    )
    config.learners(
        num_learners=learners["num_learners"],
        num_gpus_per_learner=learners["num_gpus_per_learner"],
    )
    config.resources(num_cpus_for_main_process=raw["resources"]["num_cpus_for_main_process"])
    config.reporting(
        min_sample_timesteps_per_iteration=reporting["min_sample_timesteps_per_iteration"],
        min_time_s_per_iteration=reporting["min_time_s_per_iteration"],
        metrics_num_episodes_for_smoothing=reporting["metrics_num_episodes_for_smoothing"],
    )
    config.debugging(seed=raw["seed"], log_sys_usage=True)
    # A simulator that dies (or an env step that fails) costs the env, not the run: RLlib
    # rebuilds the failed env (a new server) or the whole env runner, and training goes on.
    config.fault_tolerance(restart_failed_env_runners=True, restart_failed_sub_environments=True)
    return config
