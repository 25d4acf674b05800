"""The PPO example's training yaml: its schema and the mapping to RLlib's ``PPOConfig``.

Loading, strict validation (unknown and missing keys), the common sections and the
resource check are shared with the DQN example (``rllib_integration.training.yaml_config``);
this module has only what is PPO's. Mapping (yaml -> ``PPOConfig``):

=========================================  =================================================
``env_runners.*``, ``learners.*``,         the same methods as the DQN example
``resources.*``, ``reporting.*``
``training.lr`` / ``gamma`` / ``lambda_``  ``training(lr, gamma, lambda_)``
``training.clip_param``                    ``training(clip_param)``
``training.vf_clip_param``                 ``training(vf_clip_param)``
``training.vf_loss_coeff``                 ``training(vf_loss_coeff)``
``training.entropy_coeff``                 ``training(entropy_coeff)``
``training.kl_coeff`` / ``kl_target``      ``training(use_kl_loss=kl_coeff > 0, ...)``
``training.train_batch_size``              ``training(train_batch_size_per_learner)``
``training.minibatch_size``                ``training(minibatch_size)``
``training.num_epochs``                    ``training(num_epochs)``
``training.grad_clip`` / ``grad_clip_by``  ``training(grad_clip, grad_clip_by)``
``model.*``                                ``ppo_example.policy_network.PolicyNetworkConfig``
``env_config``                             ``environment(CarlaEnv, env_config)``
=========================================  =================================================

Set in code: the new API stack, torch, ``normalize_actions`` (actions pass to the env
clipped to [-1, 1], the episode keeps the sample so log-probabilities stay exact),
``batch_mode truncate_episodes``, ``disable_env_checking`` (the checker would start a
simulator). The sections shared with the DQN example are applied by
``rllib_integration.training.algorithm_config.apply_common_sections``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rllib_integration.config import check_choice, check_non_negative, check_positive
from rllib_integration.errors import ConfigError
from rllib_integration.training.env_config import experiment_env_config
from rllib_integration.training.yaml_config import (
    YamlSpec,
    check_resources,
    errors_named,
    load_training_yaml,
)

if TYPE_CHECKING:
    from ray.rllib.algorithms.ppo import PPOConfig

EXAMPLE_YAML = "ppo_example/ppo_config.yaml"

#: Every key the yaml must set, with a value of the expected type (no defaults).
SCHEMA: dict[str, Any] = {
    "framework": "torch",
    "env_runners": {
        "num_env_runners": 1,
        "num_envs_per_env_runner": 1,
        "num_cpus_per_env_runner": 1.0,
        "num_gpus_per_env_runner": 0.0,
        "rollout_fragment_length": 256,
        "sample_timeout_s": 60.0,
    },
    "learners": {"num_learners": 0, "num_gpus_per_learner": 0.0},
    "resources": {"num_cpus_for_main_process": 1.0},
    "training": {
        "lr": 3e-4,
        "gamma": 0.99,
        "lambda_": 0.95,
        "clip_param": 0.2,
        "vf_clip_param": 10.0,
        "vf_loss_coeff": 0.5,
        "entropy_coeff": 0.0,
        "kl_coeff": 0.0,
        "kl_target": 0.01,
        "train_batch_size": 2048,
        "minibatch_size": 256,
        "num_epochs": 4,
        "grad_clip": 0.5,
        "grad_clip_by": "global_norm",
    },
    "reporting": {
        "min_sample_timesteps_per_iteration": 0,
        "min_time_s_per_iteration": 0.0,
        "metrics_num_episodes_for_smoothing": 20,
    },
    "model": {
        "conv_filters": [[16, 5, 2]],
        "image_features": 128,
        "state_hiddens": [64],
        "policy_hiddens": [128],
        "value_hiddens": [128],
        "log_std_init": -0.5,
    },
    "seed": None,
    "embedded_town": None,
    "env_config": {"carla": {}, "experiment": {}},
}
_OPTIONAL = frozenset({"env_config.carla", "env_config.experiment", "seed"})
GRAD_CLIP_BY = ("global_norm", "norm", "value")


@dataclass
class PPOTrainingConfig:
    """A validated PPO training yaml.

    Attributes:
        path: the yaml file.
        raw: its validated content.
        env_config: the CarlaEnv config (``experiment.type`` is ``PPOExperiment``).
        observation_space / action_space: the experiment's spaces.
        notes: lines for the user.
    """

    path: Path
    raw: dict[str, Any]
    env_config: dict[str, Any]
    observation_space: Any
    action_space: Any
    notes: list[str] = field(default_factory=list)

    def network_kwargs(self) -> dict[str, Any]:
        """``PolicyNetworkConfig`` keyword arguments from the ``model`` section."""
        return copy.deepcopy(dict(self.raw["model"]))


def build_env_config(
    raw_env_config: Mapping[str, Any], embedded_town: str | None
) -> tuple[dict[str, Any], list[str]]:
    """``env_config`` with ``experiment.type = PPOExperiment``."""
    from ppo_example.ppo_experiment import PPOExperiment

    return experiment_env_config(raw_env_config, embedded_town, PPOExperiment)


def _check_values(raw: Mapping[str, Any]) -> None:
    training = raw["training"]
    for key in ("lr", "train_batch_size", "minibatch_size", "num_epochs", "clip_param"):
        check_positive(f"training.{key}", training[key])
    for key in ("vf_clip_param", "vf_loss_coeff", "grad_clip", "kl_target"):
        check_positive(f"training.{key}", training[key])
    for key in ("gamma", "lambda_"):
        if not 0 <= training[key] <= 1:
            raise ConfigError(f"training.{key}: must be in [0, 1], got {training[key]!r}")
    for key in ("entropy_coeff", "kl_coeff"):
        check_non_negative(f"training.{key}", training[key])
    if training["minibatch_size"] > training["train_batch_size"]:
        raise ConfigError(
            f"training.minibatch_size: {training['minibatch_size']} is larger than "
            f"training.train_batch_size {training['train_batch_size']}"
        )
    check_choice("training.grad_clip_by", training["grad_clip_by"], GRAD_CLIP_BY)


YAML_SPEC = YamlSpec(
    schema=SCHEMA,
    example_yaml=EXAMPLE_YAML,
    build_env_config=build_env_config,
    optional=_OPTIONAL,
    check_values=_check_values,
)


def load_training_config(path: str | Path) -> PPOTrainingConfig:
    """Read and validate a PPO training yaml (also builds the experiment and the network).

    Raises:
        ConfigError: any problem, one line naming the file and the key.
    """
    from ppo_example.ppo_experiment import PPOExperiment
    from ppo_example.ppo_model import network_config_from_spaces

    loaded = load_training_yaml(path, YAML_SPEC)
    with errors_named(loaded.path):
        try:
            experiment = PPOExperiment(loaded.env_config["experiment"])
        except ConfigError as error:
            raise ConfigError(f"env_config.{error}") from error
        result = PPOTrainingConfig(
            loaded.path,
            loaded.raw,
            loaded.env_config,
            experiment.get_observation_space(),
            experiment.get_action_space(),
            loaded.notes,
        )
        try:
            network_config_from_spaces(
                result.observation_space, result.action_space, result.network_kwargs()
            )
        except (ValueError, TypeError) as error:
            raise ConfigError(f"model: {error}") from error
    return result


def build_algorithm_config(
    training_config: PPOTrainingConfig, *, num_cpus_available: float, num_gpus_available: float
) -> PPOConfig:
    """The ``PPOConfig`` of a validated yaml, every hyper-parameter set explicitly.

    Raises:
        ConfigError: the run does not fit the resources Ray sees.
    """
    from ray.rllib.algorithms.ppo import PPOConfig

    from ppo_example.ppo_model import build_rl_module_spec
    from rllib_integration.training.algorithm_config import apply_common_sections
    from rllib_integration.training.callbacks import DrivingMetricsCallbacks

    raw = training_config.raw
    check_resources(
        raw,
        name=training_config.path.name,
        num_cpus_available=num_cpus_available,
        num_gpus_available=num_gpus_available,
    )
    training = raw["training"]
    return (
        apply_common_sections(
            PPOConfig(),
            raw,
            training_config.env_config,
            environment={"normalize_actions": True, "clip_actions": False},
        )
        .training(
            lr=training["lr"],
            gamma=training["gamma"],
            lambda_=training["lambda_"],
            clip_param=training["clip_param"],
            vf_clip_param=training["vf_clip_param"],
            vf_loss_coeff=training["vf_loss_coeff"],
            entropy_coeff=training["entropy_coeff"],
            use_kl_loss=training["kl_coeff"] > 0,
            kl_coeff=training["kl_coeff"],
            kl_target=training["kl_target"],
            train_batch_size_per_learner=training["train_batch_size"],
            minibatch_size=training["minibatch_size"],
            num_epochs=training["num_epochs"],
            grad_clip=training["grad_clip"],
            grad_clip_by=training["grad_clip_by"],
        )
        .rl_module(
            rl_module_spec=build_rl_module_spec(
                training_config.observation_space,
                training_config.action_space,
                training_config.network_kwargs(),
            )
        )
        .callbacks(DrivingMetricsCallbacks)
    )
