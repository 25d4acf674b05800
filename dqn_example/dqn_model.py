"""RLlib (2.60, new API stack) RL module of the DQN example, built on :class:`QNetwork`.

:class:`CarlaDQNTorchRLModule` implements the module APIs that RLlib 2.60's
``DQNTorchLearner`` requires (``QNetAPI``, ``TargetNetworkAPI``; plus
``InferenceOnlyAPI`` so EnvRunners hold no target network), reusing the Ray-free
:class:`~dqn_example.q_network.QNetwork` for both the online and the target Q function.
Implementing the APIs directly (rather than subclassing ``DefaultDQNTorchRLModule``) avoids
RLlib's catalog/CNN encoder entirely; that default path crashes on uint8 image
observations, while here the cast to float happens inside ``QNetwork`` and observations
stay uint8 in the replay buffer (a 4x memory saving over float32).

Exploration is the original's SoftQ (Ray 1.1 ``exploration_config: {type: SoftQ,
temperature: 1.0}``): actions are sampled from ``softmax(Q / temperature)``. RLlib's
new stack no longer ships SoftQ (only epsilon-greedy in ``DefaultDQNTorchRLModule``), so
``_forward_exploration`` reimplements it and the ``epsilon`` setting of ``DQNConfig`` is
ignored by this module.

Model config keys read by the module (set by :func:`build_rl_module_spec`; the DQNConfig
merges its own ``double_q``/``dueling``/``num_atoms`` in automatically):

* ``q_network`` (dict, required): ``QNetworkConfig.to_dict()``.
* ``softq_temperature`` (float, default 1.0): Boltzmann temperature, > 0.
* ``double_q`` (bool, default True): from ``DQNConfig.training(double_q=...)``; must match
  the learner's setting, which RLlib guarantees by merging it in.
* ``dueling`` (bool, optional): if present it must equal ``q_network["dueling"]``.
* ``num_atoms`` (int, optional): must be 1 (distributional DQN is not supported; the
  original used 1).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.dqn.dqn_learner import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from dqn_example.q_network import QNetwork, QNetworkConfig, save_exported
from rllib_integration.training.rl_modules import (
    model_config_dict,
    module_from_checkpoint,
    module_weights,
)

__all__ = [
    "MODEL_CONFIG_NETWORK_KEY",
    "MODEL_CONFIG_TEMPERATURE_KEY",
    "CarlaDQNTorchRLModule",
    "build_rl_module_spec",
    "export_q_network",
    "module_from_checkpoint",
]

#: ``model_config`` key holding ``QNetworkConfig.to_dict()``.
MODEL_CONFIG_NETWORK_KEY = "q_network"
#: ``model_config`` key holding the SoftQ temperature.
MODEL_CONFIG_TEMPERATURE_KEY = "softq_temperature"


class CarlaDQNTorchRLModule(TorchRLModule, InferenceOnlyAPI, TargetNetworkAPI, QNetAPI):
    """DQN RL module: QNetwork Q function, target copy, greedy inference, SoftQ exploration.

    Built by RLlib from an ``RLModuleSpec`` (see :func:`build_rl_module_spec`); the
    ``model_config`` keys are described in the module docstring.

    Attributes:
        q_net: The online Q network (present on EnvRunners and Learners).
        network_config: The :class:`QNetworkConfig` the module was built from.
        temperature: SoftQ temperature used by ``forward_exploration``.
        uses_double_q: Whether ``forward_train`` also returns the online Q values of the
            next observations (double Q-learning).
    """

    framework: str = "torch"

    def setup(self) -> None:
        """Builds the online network from ``model_config`` and checks it against the spaces."""
        model_config = model_config_dict(
            self.model_config,
            MODEL_CONFIG_NETWORK_KEY,
            "dqn_example.dqn_model.build_rl_module_spec",
        )
        self.network_config = QNetworkConfig.from_dict(model_config[MODEL_CONFIG_NETWORK_KEY])
        self.temperature = float(model_config.get(MODEL_CONFIG_TEMPERATURE_KEY, 1.0))
        if not self.temperature > 0.0:
            raise ValueError(f"SoftQ temperature must be > 0, got {self.temperature}")
        self.uses_double_q = bool(model_config.get("double_q", True))
        num_atoms = model_config.get("num_atoms", 1)
        if num_atoms != 1:
            raise ValueError(
                f"num_atoms={num_atoms}: distributional DQN is not supported by this module"
            )
        dueling = model_config.get("dueling")
        if dueling is not None and bool(dueling) != self.network_config.dueling:
            raise ValueError(
                f"DQNConfig dueling={dueling} contradicts the network's "
                f"dueling={self.network_config.dueling}; set both the same"
            )
        self._check_spaces()
        self.q_net = QNetwork(self.network_config)

    def _check_spaces(self) -> None:
        """Fails early (with the shapes) when the env does not fit the network."""
        obs_space = self.observation_space
        if obs_space is not None and tuple(obs_space.shape or ()) != (
            self.network_config.obs_shape
        ):
            raise ValueError(
                f"observation space shape {obs_space.shape} != network obs_shape "
                f"{self.network_config.obs_shape}"
            )
        act_space = self.action_space
        if act_space is not None and (
            not isinstance(act_space, gym.spaces.Discrete)
            or int(act_space.n) != self.network_config.num_actions
        ):
            raise ValueError(
                f"action space {act_space} != Discrete({self.network_config.num_actions})"
            )

    # -- InferenceOnlyAPI ------------------------------------------------------------------

    def get_non_inference_attributes(self) -> list[str]:
        """The target network lives on Learners only (never synced to EnvRunners)."""
        return ["_target_q_net"]

    # -- TargetNetworkAPI ------------------------------------------------------------------

    def make_target_networks(self) -> None:
        """Creates the frozen target copy (called by ``DQNLearner.build``)."""
        self._target_q_net = make_target_network(self.q_net)

    def get_target_network_pairs(self) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
        """``(online, target)`` pairs that the learner syncs every update period."""
        return [(self.q_net, self._target_q_net)]

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Target-network Q values of ``batch[Columns.OBS]`` under ``QF_PREDS``."""
        return {QF_PREDS: self._target_q_net(batch[Columns.OBS])}

    # -- QNetAPI ---------------------------------------------------------------------------

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Online-network Q values of ``batch[Columns.OBS]`` under ``QF_PREDS``."""
        return {QF_PREDS: self.q_net(batch[Columns.OBS])}

    # -- Forward passes --------------------------------------------------------------------

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Greedy actions (``argmax Q``); the Q values are returned too, under ``QF_PREDS``."""
        with torch.no_grad():
            q_values = self.q_net(batch[Columns.OBS])
        return {Columns.ACTIONS: torch.argmax(q_values, dim=-1), QF_PREDS: q_values}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """SoftQ exploration: one action per row sampled from ``softmax(Q / temperature)``.

        Uses torch's global RNG, so ``torch.manual_seed`` (or RLlib's per-worker seeding)
        makes it reproducible. ``kwargs`` (RLlib passes ``t``) are ignored: the
        temperature is constant, as in the original.
        """
        with torch.no_grad():
            q_values = self.q_net(batch[Columns.OBS])
            probs = torch.softmax(q_values / self.temperature, dim=-1)
            actions = torch.multinomial(probs, num_samples=1).squeeze(-1)
        return {Columns.ACTIONS: actions}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Q values for the DQN loss.

        Returns ``QF_PREDS`` (online, obs), ``QF_TARGET_NEXT_PREDS`` (target, next obs)
        and, with double Q, ``QF_NEXT_PREDS`` (online, next obs, used only for the argmax).
        """
        if self.inference_only:
            raise RuntimeError("an inference_only module (no target network) cannot train")
        obs, next_obs = batch[Columns.OBS], batch[Columns.NEXT_OBS]
        out: dict[str, Any] = {}
        if self.uses_double_q:
            # One online pass over obs and next_obs together: a single larger conv batch
            # is faster than two, and matches what RLlib's default module does.
            q_all = self.q_net(torch.cat([obs, next_obs], dim=0))
            out[QF_PREDS], out[QF_NEXT_PREDS] = torch.chunk(q_all, 2, dim=0)
        else:
            out[QF_PREDS] = self.q_net(obs)
        with torch.no_grad():
            out[QF_TARGET_NEXT_PREDS] = self._target_q_net(next_obs)
        return out

    # -- Action distributions (used by generic RLlib connectors, if ever) ------------------

    def get_inference_action_dist_cls(self) -> type[TorchCategorical]:
        """Categorical over Q values (its deterministic form is the argmax)."""
        return TorchCategorical

    def get_exploration_action_dist_cls(self) -> type[TorchCategorical]:
        """Categorical over Q values."""
        return TorchCategorical

    def get_train_action_dist_cls(self) -> type[TorchCategorical]:
        """Categorical over Q values."""
        return TorchCategorical


def build_rl_module_spec(network: QNetworkConfig, temperature: float = 1.0) -> RLModuleSpec:
    """RLModuleSpec for ``DQNConfig().rl_module(rl_module_spec=...)``.

    Spaces are left unset: RLlib fills them from the env (and the module checks that they
    match ``network``).

    Args:
        network: The Q network description.
        temperature: SoftQ temperature (the original used 1.0).

    Returns:
        The spec.
    """
    if not temperature > 0.0:
        raise ValueError(f"SoftQ temperature must be > 0, got {temperature}")
    return RLModuleSpec(
        module_class=CarlaDQNTorchRLModule,
        model_config={
            MODEL_CONFIG_NETWORK_KEY: network.to_dict(),
            MODEL_CONFIG_TEMPERATURE_KEY: float(temperature),
        },
    )


def export_q_network(
    algorithm_or_module: Any,
    path: str | os.PathLike[str],
    module_id: str = DEFAULT_MODULE_ID,
) -> QNetwork:
    """Writes the trained online Q network as a Ray-free ``save_exported`` file.

    For an ``Algorithm`` the weights are taken from the learner group (the freshest ones,
    also with remote learners); the network config from the algorithm's module.

    Args:
        algorithm_or_module: An RLlib ``Algorithm``, a ``MultiRLModule`` or a
            :class:`CarlaDQNTorchRLModule`.
        path: Destination file, readable by ``q_network.load_exported``.
        module_id: Module to export from an Algorithm / MultiRLModule.

    Returns:
        The exported (CPU) network.
    """
    config, state = module_weights(
        algorithm_or_module,
        module_id,
        CarlaDQNTorchRLModule,
        MODEL_CONFIG_NETWORK_KEY,
        prefix="q_net.",
    )
    network = QNetwork(QNetworkConfig.from_dict(config))
    network.load_state_dict(state, strict=True)
    save_exported(network, path)
    return network.eval()
