"""RLlib (2.60, new API stack) RL module of the PPO example, built on :class:`PolicyNetwork`.

:class:`CarlaPPOTorchRLModule` implements what RLlib 2.60's ``PPOTorchLearner`` needs from a
module, the same way ``DefaultPPOTorchRLModule`` does but without RLlib's catalog/encoders
(whose CNN path crashes on uint8 images):

* ``_forward`` (inference and exploration) returns ``Columns.ACTION_DIST_INPUTS`` =
  ``concat(mean, log_std)`` for ``TorchDiagGaussian``. Exploration samples from it; with
  ``explore=False`` RLlib takes its deterministic form, the mean.
* ``_forward_train`` also returns the shared features as ``Columns.EMBEDDINGS``, which the
  learner hands back to ``compute_values`` so the CNN runs once per minibatch.
* ``compute_values`` (``ValueFunctionAPI``) gives ``(B,)`` values; RLlib's GAE learner
  connector uses it for ``Columns.VF_PREDS`` and the loss for the value target.

Dict observations reach the module unflattened: RLlib 2.60's default env-to-module and
learner connectors (``AddObservationsFromEpisodesToBatch``, ``BatchIndividualItems``,
``NumpyToTensor``) batch nested observations as a dict of tensors and add no
``FlattenObservations``, so ``batch[Columns.OBS]`` is ``{"birdview": uint8 (B, H, W, C),
"state": float32 (B, N)}``. Do not add a ``FlattenObservations`` connector.

The whole network (value head included) is also kept on EnvRunners (no
``InferenceOnlyAPI``): it is small, and any module can then be exported.

Recommended ``PPOConfig`` settings for this module::

    config.rl_module(rl_module_spec=build_rl_module_spec(obs_space, act_space))
    config.environment(..., normalize_actions=True, clip_actions=False)  # RLlib defaults

With the ``[-1, 1]`` action box that this module requires, ``normalize_actions=True`` is
the identity plus a clip to ``[-1, 1]`` of the action sent to the env; the unclipped
sample stays in the episode, so the PPO log-probabilities stay exact. (Equivalent:
``normalize_actions=False, clip_actions=True``.) The deterministic action of the exported
network (``deterministic_action``) is the same mean clipped to ``[-1, 1]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from ppo_example.policy_network import (
    IMAGE_KEY,
    STATE_KEY,
    PolicyNetwork,
    PolicyNetworkConfig,
    save_policy,
)
from rllib_integration.training.rl_modules import (
    model_config_dict,
    module_from_checkpoint,
    module_weights,
)

__all__ = [
    "MODEL_CONFIG_NETWORK_KEY",
    "CarlaPPOTorchRLModule",
    "build_rl_module_spec",
    "export_policy",
    "module_from_checkpoint",
    "network_config_from_spaces",
]

#: ``model_config`` key holding ``PolicyNetworkConfig.to_dict()``.
MODEL_CONFIG_NETWORK_KEY = "policy_network"


_SIZE_FIELDS = ("image_shape", "state_size", "action_size")


def _sizes_from_spaces(
    observation_space: gym.Space[Any], action_space: gym.Space[Any]
) -> dict[str, Any]:
    """``image_shape``, ``state_size`` and ``action_size`` of the experiment's spaces.

    Raises:
        ValueError: The spaces do not have the PPO experiment's layout.
    """
    if not isinstance(observation_space, gym.spaces.Dict) or set(observation_space.spaces) != {
        IMAGE_KEY,
        STATE_KEY,
    }:
        raise ValueError(
            f"observation space must be Dict({{{IMAGE_KEY!r}: Box, {STATE_KEY!r}: Box}}), "
            f"got {observation_space}"
        )
    image, state = observation_space[IMAGE_KEY], observation_space[STATE_KEY]
    if not isinstance(image, gym.spaces.Box) or len(image.shape) != 3:
        raise ValueError(f"{IMAGE_KEY!r} must be an (H, W, C) Box, got {image}")
    if not isinstance(state, gym.spaces.Box) or len(state.shape) != 1:
        raise ValueError(f"{STATE_KEY!r} must be an (N,) Box, got {state}")
    if (
        not isinstance(action_space, gym.spaces.Box)
        or len(action_space.shape) != 1
        or not np.all(action_space.low == -1.0)
        or not np.all(action_space.high == 1.0)
    ):
        # The deterministic action clips the mean to [-1, 1]; other bounds would make
        # RLlib's unsquashing and the Ray-free inference disagree.
        raise ValueError(f"action space must be Box(-1.0, 1.0, (A,)), got {action_space}")
    return {
        "image_shape": tuple(int(v) for v in image.shape),
        "state_size": int(state.shape[0]),
        "action_size": int(action_space.shape[0]),
    }


def network_config_from_spaces(
    observation_space: gym.Space[Any],
    action_space: gym.Space[Any],
    network_config_kwargs: Mapping[str, Any] | None = None,
) -> PolicyNetworkConfig:
    """The network config for the experiment's spaces.

    Args:
        observation_space: ``Dict({"birdview": Box(0, 255, (H, W, C), uint8),
            "state": Box(-inf, inf, (N,), float32)})``.
        action_space: ``Box(-1, 1, (A,), float32)``.
        network_config_kwargs: Optional :class:`PolicyNetworkConfig` fields besides the
            sizes taken from the spaces (``conv_filters``, ``image_features``,
            ``state_hiddens``, ``policy_hiddens``, ``value_hiddens``, ``log_std_init``).

    Returns:
        The config.

    Raises:
        ValueError: The spaces do not have that layout, or the kwargs are invalid.
    """
    sizes = _sizes_from_spaces(observation_space, action_space)
    kwargs = dict(network_config_kwargs or {})
    given = sorted(set(sizes) & set(kwargs))
    if given:
        raise ValueError(
            f"network_config_kwargs must not set {given}: the sizes come from the spaces"
        )
    return PolicyNetworkConfig.from_dict({**kwargs, **sizes})


class CarlaPPOTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """PPO RL module: :class:`PolicyNetwork` actor-critic with a diagonal Gaussian policy.

    Built by RLlib from an ``RLModuleSpec`` (see :func:`build_rl_module_spec`); reads
    ``model_config["policy_network"]`` (``PolicyNetworkConfig.to_dict()``) and ignores the
    other keys that ``PPOConfig`` merges in (e.g. ``vf_share_layers``).

    Attributes:
        network: The wrapped :class:`PolicyNetwork` (what :func:`export_policy` saves).
        network_config: The :class:`PolicyNetworkConfig` it was built from.
    """

    framework: str = "torch"

    def setup(self) -> None:
        """Builds the network from ``model_config`` and checks it against the spaces."""
        model_config = model_config_dict(
            self.model_config,
            MODEL_CONFIG_NETWORK_KEY,
            "ppo_example.ppo_model.build_rl_module_spec",
        )
        self.network_config = PolicyNetworkConfig.from_dict(model_config[MODEL_CONFIG_NETWORK_KEY])
        if self.observation_space is not None and self.action_space is not None:
            # RLlib fills the spaces in from the env: they must fit the network.
            from_spaces = _sizes_from_spaces(self.observation_space, self.action_space)
            from_config = {k: getattr(self.network_config, k) for k in _SIZE_FIELDS}
            if from_spaces != from_config:
                raise ValueError(f"spaces give {from_spaces}, the network config {from_config}")
        self.network = PolicyNetwork(self.network_config)

    # -- Forward passes --------------------------------------------------------------------

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Action distribution inputs (inference and exploration)."""
        features = self.network.encode(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.network.action_dist_inputs(features)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Distribution inputs plus the features, reused by ``compute_values``."""
        features = self.network.encode(batch[Columns.OBS])
        return {
            Columns.ACTION_DIST_INPUTS: self.network.action_dist_inputs(features),
            Columns.EMBEDDINGS: features,
        }

    # -- ValueFunctionAPI ------------------------------------------------------------------

    def compute_values(
        self, batch: dict[str, Any], embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        """State values ``(B,)``; ``embeddings`` (from ``forward_train``) skip the encoders."""
        if embeddings is None:
            embeddings = self.network.encode(batch[Columns.OBS])
        return self.network.value(embeddings)

    # -- Action distributions --------------------------------------------------------------

    def get_inference_action_dist_cls(self) -> type[TorchDiagGaussian]:
        """Diagonal Gaussian; RLlib's deterministic form of it is the mean."""
        return TorchDiagGaussian

    def get_exploration_action_dist_cls(self) -> type[TorchDiagGaussian]:
        """Diagonal Gaussian over ``concat(mean, log_std)``."""
        return TorchDiagGaussian

    def get_train_action_dist_cls(self) -> type[TorchDiagGaussian]:
        """Diagonal Gaussian over ``concat(mean, log_std)``."""
        return TorchDiagGaussian


def build_rl_module_spec(
    observation_space: gym.Space[Any],
    action_space: gym.Space[Any],
    network_config_kwargs: Mapping[str, Any] | None = None,
) -> RLModuleSpec:
    """RLModuleSpec for ``PPOConfig().rl_module(rl_module_spec=...)``.

    Args:
        observation_space: The experiment's Dict observation space.
        action_space: The experiment's ``Box(-1, 1, (2,))`` action space.
        network_config_kwargs: Optional network fields (see
            :func:`network_config_from_spaces`).

    Returns:
        The spec (with the spaces set, so ``spec.build()`` works on its own).
    """
    network = network_config_from_spaces(observation_space, action_space, network_config_kwargs)
    return RLModuleSpec(
        module_class=CarlaPPOTorchRLModule,
        observation_space=observation_space,
        action_space=action_space,
        model_config={MODEL_CONFIG_NETWORK_KEY: network.to_dict()},
    )


def export_policy(
    algorithm_or_module: Any,
    path: str | os.PathLike[str],
    module_id: str = DEFAULT_MODULE_ID,
) -> PolicyNetwork:
    """Writes the trained network as a Ray-free ``save_policy`` file.

    For an ``Algorithm`` the weights come from the learner group (the freshest ones, also
    with remote learners).

    Args:
        algorithm_or_module: An RLlib ``Algorithm``, a ``MultiRLModule`` or a
            :class:`CarlaPPOTorchRLModule`.
        path: Destination file, readable by ``policy_network.load_policy``.
        module_id: Module to export from an Algorithm / MultiRLModule.

    Returns:
        The exported (CPU, eval mode) network.
    """
    config, state = module_weights(
        algorithm_or_module,
        module_id,
        CarlaPPOTorchRLModule,
        MODEL_CONFIG_NETWORK_KEY,
        prefix="network.",
    )
    network = PolicyNetwork(PolicyNetworkConfig.from_dict(config))
    network.load_state_dict(state, strict=True)
    save_policy(network, path)
    return network.eval()
