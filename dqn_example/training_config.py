"""The DQN example's training yaml: loading, validation and mapping to RLlib's ``DQNConfig``.

The yaml has one section per ``DQNConfig`` method (``env_runners``, ``learners``,
``resources``, ``training``, ``reporting``, ``exploration``, ``model``) plus the original's
``env_config`` (``carla`` and ``experiment``). Every hyper-parameter must be written in the
yaml: a missing key is an error, so no RLlib default (which changed several times during 2.x)
silently decides a run. The original's Ray 1.1 key names that were renamed (``num_workers``,
``buffer_size``, ...) are recognised and answered with their new place. Reading, the strict
schema and the sections every example shares are ``rllib_integration.training.yaml_config``'s
(through :data:`YAML_SPEC`); this module keeps the DQN schema, checks and mapping.

Mapping (yaml -> ``DQNConfig``; original Ray 1.1 key in brackets):

=============================================  ==================================================
``env_runners.num_env_runners``                ``env_runners(num_env_runners)`` [num_workers]
``env_runners.num_envs_per_env_runner``        ``env_runners(num_envs_per_env_runner)``
``env_runners.num_cpus_per_env_runner``        ``env_runners(num_cpus_per_env_runner)``
                                               [num_cpus_per_worker]
``env_runners.num_gpus_per_env_runner``        ``env_runners(num_gpus_per_env_runner)``
                                               [num_gpus_per_worker]
``env_runners.rollout_fragment_length``        ``env_runners(rollout_fragment_length)``
``env_runners.sample_timeout_s``               ``env_runners(sample_timeout_s)``
``learners.num_learners``                      ``learners(num_learners)``
``learners.num_gpus_per_learner``              ``learners(num_gpus_per_learner)`` [num_gpus]
``resources.num_cpus_for_main_process``        ``resources(num_cpus_for_main_process)``
``training.lr``                                ``training(lr)``
``training.gamma``                             ``training(gamma)``
``training.train_batch_size``                  ``training(train_batch_size_per_learner)``
``training.target_network_update_freq``        ``training(target_network_update_freq)``
``training.tau``                               ``training(tau)``
``training.learning_starts``                   ``training(num_steps_sampled_before_``
                                               ``learning_starts)``
``training.replay_ratio``                      ``training(training_intensity)``, computed for
                                               the runner count (see ``training_intensity``)
``training.n_step``                            ``training(n_step)``
``training.double_q`` / ``training.dueling``   ``training(double_q / dueling)``
``training.grad_clip`` / ``grad_clip_by``      ``training(grad_clip / grad_clip_by)``
``training.adam_epsilon``                      ``training(adam_epsilon)``
``training.td_error_loss_fn``                  ``training(td_error_loss_fn)`` (huber)
``training.replay_buffer.*``                   ``training(replay_buffer_config)``: capacity
                                               [buffer_size], alpha, beta, epsilon
                                               [prioritized_replay_*]
``reporting.*``                                ``reporting(min_sample_timesteps_per_iteration``
                                               [timesteps_per_iteration],
                                               ``min_time_s_per_iteration``,
                                               ``metrics_num_episodes_for_smoothing)``
``exploration``                                ``{type: SoftQ, temperature}`` -> Boltzmann
                                               sampling in the RLModule (``build_rl_module_spec``)
``model.network`` / ``conv_filters``           ``rl_module(rl_module_spec)`` via ``QNetworkConfig``
``model.hiddens``                              the dueling heads' hidden sizes [hiddens]
``env_config``                                 ``environment(CarlaEnv, env_config)``
=============================================  ==================================================

Set in code because they have a single valid value here: ``framework("torch")``, the new API
stack, ``num_atoms 1`` and ``noisy False`` (the module is not distributional nor noisy),
``explore True``, ``batch_mode truncate_episodes``, ``disable_env_checking True`` (the checker
would start a simulator just to step it). The sections shared with the PPO example are applied
by ``rllib_integration.training.algorithm_config.apply_common_sections``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.rllib.utils.replay_buffers.prioritized_episode_buffer import (
    PrioritizedEpisodeReplayBuffer,
)

from dqn_example.env_config import build_env_config
from rllib_integration.config import check_choice, check_non_negative, check_positive
from rllib_integration.errors import ConfigError
from rllib_integration.training import yaml_config
from rllib_integration.training.yaml_config import (
    LoadedYaml,
    YamlSpec,
    errors_named,
    load_training_yaml,
)

if TYPE_CHECKING:
    from ray.rllib.algorithms.dqn import DQNConfig

    from dqn_example.q_network import QNetworkConfig

#: Every key the yaml must set, with the original's effective Ray 1.1 value (spec 7.2 and
#: 7.2.1) as the type template. These values are documentation and type checks only: a
#: missing key is an error, never filled in from here.
SCHEMA: dict[str, Any] = {
    "framework": "torch",
    "env_runners": {
        "num_env_runners": 1,
        "num_envs_per_env_runner": 1,
        "num_cpus_per_env_runner": 11.0,  # float: Ray accepts fractions of a CPU
        "num_gpus_per_env_runner": 1.0,
        "rollout_fragment_length": 16,
        "sample_timeout_s": 60.0,
    },
    "learners": {"num_learners": 0, "num_gpus_per_learner": 0.0},
    "resources": {"num_cpus_for_main_process": 1.0},
    "training": {
        "lr": 0.0025,
        "gamma": 0.99,
        "train_batch_size": 64,
        "target_network_update_freq": 500,
        "tau": 1.0,
        "learning_starts": 20000,
        "replay_ratio": 4.0,
        "n_step": 1,
        "double_q": True,
        "dueling": True,
        "grad_clip": 40.0,
        "grad_clip_by": "global_norm",
        "adam_epsilon": 1e-8,
        "td_error_loss_fn": "huber",
        "replay_buffer": {"capacity": 5000, "alpha": 0.6, "beta": 0.4, "epsilon": 1e-6},
    },
    "reporting": {
        "min_sample_timesteps_per_iteration": 20000,
        "min_time_s_per_iteration": 1.0,
        "metrics_num_episodes_for_smoothing": 100,
    },
    "exploration": {"type": "SoftQ", "temperature": 1.0},
    "model": {"network": "original", "conv_filters": None, "hiddens": [256, 512]},
    "seed": None,
    "embedded_town": None,
    "env_config": {"carla": {}, "experiment": {}},
}

#: Sections whose keys are optional (validated by CarlaEnv's own defaults) or free-form.
_OPTIONAL = frozenset({"env_config.carla", "env_config.experiment", "model.conv_filters", "seed"})
#: The CPU-only yaml, suggested when a run asks for GPUs Ray does not see.
CPU_PROFILE = "dqn_example/dqn_config.yaml"

#: The original's Ray 1.1 keys and where they live now.
LEGACY_KEYS: dict[str, str] = {
    "num_workers": "env_runners.num_env_runners",
    "num_gpus_per_worker": "env_runners.num_gpus_per_env_runner",
    "num_cpus_per_worker": "env_runners.num_cpus_per_env_runner",
    "num_gpus": "learners.num_gpus_per_learner",
    "rollout_fragment_length": "env_runners.rollout_fragment_length",
    "timesteps_per_iteration": "reporting.min_sample_timesteps_per_iteration",
    "train_batch_size": "training.train_batch_size",
    "learning_starts": "training.learning_starts",
    "buffer_size": "training.replay_buffer.capacity",
    "lr": "training.lr",
    "exploration_config": "exploration",
    "hiddens": "model.hiddens",
    "model.conv_filters": "model.conv_filters",
}

NETWORKS = ("original", "cpu", "custom")
EXPLORATIONS = ("SoftQ",)
LOSSES = ("huber", "mse")
GRAD_CLIP_BY = ("global_norm", "norm", "value")


class _ByNameMeta(type(PrioritizedEpisodeReplayBuffer)):  # type: ignore[misc]
    """Lets ``"EpisodeReplayBuffer" in cls`` work like on the class name.

    RLlib 2.60 turns the config's buffer ``type`` string into the class when Tune rebuilds
    the config, then tests the kind by substring (``"EpisodeReplayBuffer" in type``), which
    fails for any class; answering by name keeps a custom buffer usable.
    """

    def __contains__(cls, item: object) -> bool:
        return isinstance(item, str) and item in cls.__name__


class PrioritizedEpsEpisodeReplayBuffer(PrioritizedEpisodeReplayBuffer, metaclass=_ByNameMeta):
    """RLlib's prioritized episode buffer with the original's priority epsilon.

    Ray 1.1 stored ``|td_error| + prioritized_replay_eps`` as priority; the new-stack buffer
    stores ``max(|td_error|, 1e-12)``, so a transition learned perfectly is almost never
    replayed again. Adding ``epsilon`` back keeps the original's sampling distribution.

    Args:
        epsilon: added to every new priority.
        **kwargs: the parent's arguments (capacity, alpha, ...).
    """

    def __init__(self, *args: Any, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._priority_epsilon = float(epsilon)

    def update_priorities(self, priorities: Any, module_id: Any = None) -> None:
        """Store ``|priorities| + epsilon``."""
        shifted = np.abs(np.asarray(priorities, dtype=np.float64)) + self._priority_epsilon
        super().update_priorities(shifted, module_id)


@dataclass
class TrainingConfig:
    """A validated training yaml.

    Attributes:
        path: the yaml file (for messages).
        raw: the validated yaml content, every key present.
        env_config: the CarlaEnv config, ``experiment.type`` set to ``DQNExperiment``.
        obs_shape: the observation shape of the experiment (H, W, C).
        num_actions: the number of discrete actions.
    """

    path: Path
    raw: dict[str, Any]
    env_config: dict[str, Any]
    obs_shape: tuple[int, int, int]
    num_actions: int
    notes: list[str] = field(default_factory=list)

    def section(self, name: str) -> dict[str, Any]:
        """One top-level section of the yaml."""
        return dict(self.raw[name])

    def network(self) -> QNetworkConfig:
        """The Q-network the yaml's ``model`` section describes."""
        from dqn_example.q_network import ORIGINAL_NETWORK, QNetworkConfig, cpu_network

        model = self.raw["model"]
        dueling = bool(self.raw["training"]["dueling"])
        if model["network"] == "custom":
            filters = model["conv_filters"]
        elif model["network"] == "cpu":
            filters = cpu_network(self.obs_shape, self.num_actions).conv_filters
        else:
            filters = ORIGINAL_NETWORK.conv_filters
        return QNetworkConfig(
            self.obs_shape,
            self.num_actions,
            copy.deepcopy(filters),
            hiddens=list(model["hiddens"]),
            dueling=dueling,
        )


def load_training_config(path: str | Path) -> TrainingConfig:
    """Read and validate a training yaml.

    Args:
        path: the yaml file.

    Returns:
        The validated config; ``env_config.experiment.type`` is ``DQNExperiment``.

    Raises:
        ConfigError: unreadable yaml, unknown key, missing key, wrong type or bad value; the
            message names the file and the key path.
    """
    loaded = load_training_yaml(path, YAML_SPEC)
    with errors_named(loaded.path):
        return _with_experiment(loaded)


def _with_experiment(loaded: LoadedYaml) -> TrainingConfig:
    """The DQN view of a loaded yaml: observation shape, actions, a checked network."""
    from dqn_example.dqn_experiment import DQNExperiment

    try:
        dqn = DQNExperiment(loaded.env_config["experiment"])
    except ConfigError as error:
        raise ConfigError(f"env_config.{error}") from error
    height, width, channels = (int(n) for n in dqn.get_observation_space().shape)
    shape = (height, width, channels)
    num_actions = int(dqn.get_action_space().n)
    result = TrainingConfig(
        loaded.path, loaded.raw, loaded.env_config, shape, num_actions, loaded.notes
    )
    try:
        result.network()  # checks the conv stack against the BirdView size now, not in Ray
    except ValueError as error:
        raise ConfigError(f"model: {error} (observation {shape})") from error
    return result


def _check_values(raw: Mapping[str, Any]) -> None:
    """The DQN sections' value checks (the common ones are ``check_common_values``)."""
    training = raw["training"]
    for key in ("lr", "train_batch_size", "target_network_update_freq", "replay_ratio"):
        check_positive(f"training.{key}", training[key])
    for key in ("grad_clip", "adam_epsilon", "tau", "n_step"):
        check_positive(f"training.{key}", training[key])
    if not 0 <= training["gamma"] <= 1:
        raise ConfigError(f"training.gamma: must be in [0, 1], got {training['gamma']!r}")
    check_non_negative("training.learning_starts", training["learning_starts"])
    check_choice("training.td_error_loss_fn", training["td_error_loss_fn"], LOSSES)
    check_choice("training.grad_clip_by", training["grad_clip_by"], GRAD_CLIP_BY)
    buffer = training["replay_buffer"]
    check_positive("training.replay_buffer.capacity", buffer["capacity"])
    for key in ("alpha", "beta", "epsilon"):
        check_non_negative(f"training.replay_buffer.{key}", buffer[key])
    exploration = raw["exploration"]
    unknown = sorted(set(exploration) - {"type", "temperature"})
    if unknown:
        raise ConfigError(f"exploration.{unknown[0]}: unknown key; valid: temperature, type")
    check_choice("exploration.type", exploration["type"], EXPLORATIONS)
    check_positive("exploration.temperature", exploration["temperature"])
    model = raw["model"]
    check_choice("model.network", model["network"], NETWORKS)
    if model["network"] == "custom":
        _check_filters(model["conv_filters"])
    elif model["conv_filters"] is not None:
        raise ConfigError(
            f"model.conv_filters: only used with network: custom (network is "
            f"{model['network']!r}); remove it or set network: custom"
        )
    if not model["hiddens"] or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in model["hiddens"]
    ):
        raise ConfigError(
            f"model.hiddens: expected a list of positive ints, got {model['hiddens']}"
        )


#: The DQN yaml for the shared loader (rllib_integration.training.yaml_config).
YAML_SPEC = YamlSpec(
    schema=SCHEMA,
    example_yaml="dqn_example/dqn_config.yaml",
    build_env_config=build_env_config,
    optional=_OPTIONAL,
    legacy_keys=LEGACY_KEYS,
    retired_keys={"model.dim": "unused since Ray 1.1 (the input size is the BirdView's)"},
    check_values=_check_values,
)


def _check_filters(filters: Any) -> None:
    where = "model.conv_filters"
    if not isinstance(filters, list) or not filters:
        raise ConfigError(f"{where}: expected a list of [out_channels, kernel, stride]")
    for i, layer in enumerate(filters):
        if not isinstance(layer, list) or len(layer) != 3:
            raise ConfigError(
                f"{where}[{i}]: expected [out_channels, kernel, stride], got {layer!r}"
            )


def required_resources(training_config: TrainingConfig) -> tuple[float, float]:
    """``(CPUs, GPUs)`` the run reserves in Ray; see ``yaml_config.required_resources``."""
    return yaml_config.required_resources(training_config.raw)


def check_resources(
    training_config: TrainingConfig, *, num_cpus_available: float, num_gpus_available: float
) -> None:
    """Raise a clear ConfigError when the yaml asks for more than Ray sees.

    Raises:
        ConfigError: with the arithmetic and the keys to lower.
    """
    yaml_config.check_resources(
        training_config.raw,
        name=training_config.path.name,
        num_cpus_available=num_cpus_available,
        num_gpus_available=num_gpus_available,
        cpu_profile=CPU_PROFILE,
    )


def training_intensity(training_config: TrainingConfig) -> float:
    """RLlib's ``training_intensity`` that gives the yaml's ``replay_ratio``.

    ``replay_ratio`` is trained transitions per sampled transition (the original: one SGD
    step of 64 per 16-step fragment = 4). RLlib 2.60 divides ``training_intensity`` by a
    "native ratio" that counts ``num_env_runners + 1`` samplers although only the remote
    runners sample when there are any, so the same number gives twice the replay with one
    runner. Scaling by ``max(R, 1) / (R + 1)`` removes that dependence.
    """
    runners = training_config.raw["env_runners"]["num_env_runners"]
    ratio = float(training_config.raw["training"]["replay_ratio"])
    return ratio * max(runners, 1) / (runners + 1)


def effective_replay_ratio(algorithm_config: DQNConfig) -> float:
    """Trained transitions per sampled transition that RLlib 2.60 will actually run.

    Mirrors ``ray.rllib.algorithms.dqn.dqn.calculate_rr_weights`` (integer round-robin
    weights) and counts the env steps one sampling round really collects.
    """
    from ray.rllib.algorithms.dqn.dqn import calculate_rr_weights

    store, train = calculate_rr_weights(algorithm_config)
    per_round = (
        algorithm_config.get_rollout_fragment_length()
        * algorithm_config.num_envs_per_env_runner
        * max(algorithm_config.num_env_runners, 1)
    )
    return train * algorithm_config.total_train_batch_size / (store * per_round)


def build_algorithm_config(
    training_config: TrainingConfig, *, num_cpus_available: float, num_gpus_available: float
) -> DQNConfig:
    """The ``DQNConfig`` for a validated yaml, every hyper-parameter set explicitly.

    Args:
        training_config: from ``load_training_config``.
        num_cpus_available: CPUs Ray sees (``ray.cluster_resources()["CPU"]``).
        num_gpus_available: GPUs Ray sees.

    Raises:
        ConfigError: the resources do not fit, or the replay ratio cannot be reached with
            RLlib's integer round-robin weights.
    """
    from ray.rllib.algorithms.dqn import DQNConfig

    from dqn_example.dqn_callbacks import DQNCallbacks
    from dqn_example.dqn_model import build_rl_module_spec
    from rllib_integration.training.algorithm_config import apply_common_sections

    check_resources(
        training_config,
        num_cpus_available=num_cpus_available,
        num_gpus_available=num_gpus_available,
    )
    raw = training_config.raw
    runners, training = raw["env_runners"], raw["training"]
    buffer = training["replay_buffer"]
    config = (
        apply_common_sections(
            DQNConfig(), raw, training_config.env_config, env_runners={"explore": True}
        )
        .training(
            lr=training["lr"],
            gamma=training["gamma"],
            train_batch_size_per_learner=training["train_batch_size"],
            target_network_update_freq=training["target_network_update_freq"],
            tau=training["tau"],
            num_steps_sampled_before_learning_starts=training["learning_starts"],
            training_intensity=training_intensity(training_config),
            n_step=training["n_step"],
            double_q=training["double_q"],
            dueling=training["dueling"],
            # DQNConfig's annotation says int, the value is a list of layer sizes.
            hiddens=list(raw["model"]["hiddens"]),  # type: ignore[arg-type]
            num_atoms=1,
            noisy=False,
            grad_clip=training["grad_clip"],
            grad_clip_by=training["grad_clip_by"],
            adam_epsilon=training["adam_epsilon"],
            td_error_loss_fn=training["td_error_loss_fn"],
            replay_buffer_config={
                # A string type: RLlib checks the buffer kind by name ("EpisodeReplayBuffer").
                "type": f"{__name__}.{PrioritizedEpsEpisodeReplayBuffer.__name__}",
                "capacity": buffer["capacity"],
                "alpha": buffer["alpha"],
                "beta": buffer["beta"],
                "epsilon": buffer["epsilon"],
            },
        )
        .rl_module(
            rl_module_spec=build_rl_module_spec(
                training_config.network(),
                temperature=float(raw["exploration"]["temperature"]),
            )
        )
        .callbacks(DQNCallbacks)
    )
    wanted = float(training["replay_ratio"])
    got = effective_replay_ratio(config)
    if not math.isclose(got, wanted, rel_tol=0.25):
        raise ConfigError(
            f"{training_config.path.name}: training.replay_ratio {wanted:g} cannot be reached "
            f"with train_batch_size {training['train_batch_size']} and "
            f"rollout_fragment_length {runners['rollout_fragment_length']} x "
            f"{max(runners['num_env_runners'], 1)} runner(s) (RLlib would run {got:g}); "
            "pick a ratio that is a multiple or a fraction of train_batch_size / "
            "(rollout_fragment_length x runners)"
        )
    return config
