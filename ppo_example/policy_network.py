"""Pure-torch actor-critic network of the PPO example, shared by training and inference.

This module imports nothing from Ray: ``ppo_example/inference.py`` loads an exported policy
with torch alone. The RLlib side (``ppo_example/ppo_model.py``) wraps the same
:class:`PolicyNetwork`, so the weights RLlib trains and the weights used for inference come
from one definition, and exporting is just saving this network's state.

Observations are dicts (the PPO experiment's ``gymnasium.spaces.Dict``):

* ``"birdview"``: ``(B, H, W, C)`` image in ``[0, 255]`` (uint8, as the env emits it).
  It is cast to float and scaled to ``[0, 1]`` inside the network (RLlib's default CNN
  path crashes on uint8 images; casting here also keeps rollouts compact uint8).
* ``"state"``: ``(B, N)`` float vector (speed, route points, previous action, ...). It is
  fed as is, so the experiment should keep its entries roughly in ``[-1, 1]``.

Architecture:

* Image encoder: conv stack (``[out_channels, kernel, stride]`` per layer, "valid"
  padding, ReLU; default the Nature-DQN stack 32 8x8/4, 64 4x4/2, 64 3x3/1, which takes
  64 px to 4x4x64), flatten, ``Linear + ReLU`` to ``image_features``. The flattened size
  comes from a dummy forward, so any image size the stack fits works (>= 36 px with the
  default stack).
* State encoder: an MLP (``Linear + ReLU`` per entry of ``state_hiddens``).
* Features: the concatenation of both encodings, shared by the two heads below.
* Policy head: MLP (``policy_hiddens``) to the action mean (unbounded; the deterministic
  action is the mean clipped to ``[-1, 1]``), plus a state-independent ``log_std``
  parameter (one per action dimension). ``log_std_init = -0.5`` (std ~0.61) explores
  across a good part of the ``[-1, 1]`` range without saturating the env's clipping
  from the first step; PPO then learns it.
* Value head: a separate MLP (``value_hiddens``) on the same features. Sharing the
  encoders keeps the CNN cost single on a CPU learner; separate MLPs keep the value
  loss from directly shaping the policy's last layers.

Initialisation follows common PPO practice: orthogonal weights (gain sqrt(2)) and zero
biases for hidden layers, gain 0.01 for the action-mean output (initial actions near 0,
i.e. straight and coasting) and gain 1 for the value output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rllib_integration.training.exported_network import (
    ExportedFileError,
    ExportFormat,
    load_exported_network,
    save_exported_network,
)

__all__ = [
    "EXPORT_FORMAT",
    "IMAGE_KEY",
    "STATE_KEY",
    "ExportedPolicyError",
    "PolicyNetwork",
    "PolicyNetworkConfig",
    "deterministic_action",
    "load_policy",
    "sampled_action",
    "save_policy",
]

#: Observation dict key of the BirdView image.
IMAGE_KEY = "birdview"
#: Observation dict key of the state vector.
STATE_KEY = "state"
#: Marker stored in exported files so that foreign ``.pt`` files are rejected clearly.
EXPORT_FORMAT = "rllib_integration.ppo_example.PolicyNetwork"
#: Version of the exported file layout (bump when the layout changes).
EXPORT_VERSION = 1

_CONFIG_FIELDS = (
    "image_shape",
    "state_size",
    "action_size",
    "conv_filters",
    "image_features",
    "state_hiddens",
    "policy_hiddens",
    "value_hiddens",
    "log_std_init",
)
_REQUIRED_FIELDS = ("image_shape", "state_size", "action_size")


class ExportedPolicyError(ExportedFileError):
    """An exported policy file is corrupt, foreign or does not match its config."""


_FILE_FORMAT = ExportFormat(EXPORT_FORMAT, EXPORT_VERSION, "policy", ExportedPolicyError)


def _default_conv_filters() -> list[list[int]]:
    return [[32, 8, 4], [64, 4, 2], [64, 3, 1]]


@dataclass
class PolicyNetworkConfig:
    """Everything needed to rebuild a :class:`PolicyNetwork` (stored in exported files).

    Attributes:
        image_shape: BirdView shape ``(H, W, C)`` (channels last, as the env emits).
        state_size: Length ``N`` of the state vector.
        action_size: Number of continuous action dimensions (2: steer, acceleration).
        conv_filters: ``[out_channels, kernel, stride]`` per conv layer ("valid" padding).
        image_features: Width of the linear layer after the flattened conv output.
        state_hiddens: Hidden sizes of the state-vector MLP (may be empty: raw vector).
        policy_hiddens: Hidden sizes of the action-mean MLP.
        value_hiddens: Hidden sizes of the value MLP.
        log_std_init: Initial value of every entry of the state-independent log std.
    """

    image_shape: tuple[int, int, int]
    state_size: int
    action_size: int = 2
    conv_filters: list[list[int]] = field(default_factory=_default_conv_filters)
    image_features: int = 256
    state_hiddens: list[int] = field(default_factory=lambda: [64, 64])
    policy_hiddens: list[int] = field(default_factory=lambda: [256, 256])
    value_hiddens: list[int] = field(default_factory=lambda: [256, 256])
    log_std_init: float = -0.5

    def __post_init__(self) -> None:
        # Normalise list/tuple inputs (YAML and JSON give lists) so that equality and
        # export round trips compare like with like.
        self.image_shape = tuple(int(v) for v in self.image_shape)  # type: ignore[assignment]
        self.state_size = int(self.state_size)
        self.action_size = int(self.action_size)
        self.conv_filters = [[int(v) for v in layer] for layer in self.conv_filters]
        self.image_features = int(self.image_features)
        self.state_hiddens = [int(v) for v in self.state_hiddens]
        self.policy_hiddens = [int(v) for v in self.policy_hiddens]
        self.value_hiddens = [int(v) for v in self.value_hiddens]
        self.log_std_init = float(self.log_std_init)
        if len(self.image_shape) != 3 or min(self.image_shape) <= 0:
            raise ValueError(f"image_shape must be (H, W, C) > 0, got {self.image_shape}")
        if self.state_size <= 0 or self.action_size <= 0:
            raise ValueError(
                f"state_size and action_size must be > 0, got {self.state_size}, {self.action_size}"
            )
        if not self.conv_filters:
            raise ValueError("conv_filters must hold at least one layer")
        for layer in self.conv_filters:
            if len(layer) != 3 or min(layer) <= 0:
                raise ValueError(
                    f"each conv filter must be [out_channels, kernel, stride] > 0, got {layer}"
                )
        sizes = [self.image_features, *self.state_hiddens, *self.policy_hiddens]
        if any(v <= 0 for v in [*sizes, *self.value_hiddens]):
            raise ValueError("image_features and all hidden sizes must be > 0")
        if not np.isfinite(self.log_std_init):
            raise ValueError(f"log_std_init must be finite, got {self.log_std_init}")
        # Fail at configuration time, not deep inside torch, when the image is too small.
        self.conv_output_hw()

    def conv_output_hw(self) -> tuple[int, int]:
        """Spatial size ``(H, W)`` after the conv stack.

        Raises:
            ValueError: A layer's kernel does not fit its input.
        """
        h, w, _ = self.image_shape
        for out_c, k, s in self.conv_filters:
            if h < k or w < k:
                raise ValueError(
                    f"conv layer [{out_c}, {k}, {s}] does not fit its {h}x{w} input for "
                    f"image_shape {self.image_shape}; use smaller kernels/strides"
                )
            h, w = (h - k) // s + 1, (w - k) // s + 1
        return h, w

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict (lists, ints, floats) safe for YAML, JSON and ``weights_only``."""
        return {
            "image_shape": list(self.image_shape),
            "state_size": self.state_size,
            "action_size": self.action_size,
            "conv_filters": [list(layer) for layer in self.conv_filters],
            "image_features": self.image_features,
            "state_hiddens": list(self.state_hiddens),
            "policy_hiddens": list(self.policy_hiddens),
            "value_hiddens": list(self.value_hiddens),
            "log_std_init": self.log_std_init,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyNetworkConfig:
        """Inverse of :meth:`to_dict`.

        Args:
            data: Dict with the dataclass fields (all but the required three optional).

        Returns:
            The config.

        Raises:
            ValueError: Unknown or missing keys, or invalid values.
        """
        unknown = set(data) - set(_CONFIG_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown PolicyNetworkConfig keys: {sorted(unknown)}; "
                f"valid: {', '.join(_CONFIG_FIELDS)}"
            )
        missing = set(_REQUIRED_FIELDS) - set(data)
        if missing:
            raise ValueError(f"missing PolicyNetworkConfig keys: {sorted(missing)}")
        return cls(**data)


def _linear(in_features: int, out_features: int, gain: float) -> nn.Linear:
    """Linear layer with orthogonal weights of ``gain`` and a zero bias."""
    linear = nn.Linear(in_features, out_features)
    nn.init.orthogonal_(linear.weight, gain=gain)
    nn.init.zeros_(linear.bias)
    return linear


_HIDDEN_GAIN = float(np.sqrt(2.0))  # ReLU gain


def _mlp(
    in_features: int, hiddens: list[int], out_features: int | None, out_gain: float = 1.0
) -> tuple[nn.Sequential, int]:
    """``Linear + ReLU`` per hidden size, then an optional linear output of ``out_gain``.

    Returns:
        ``(module, output_width)``.
    """
    layers: list[nn.Module] = []
    size = in_features
    for hidden in hiddens:
        layers += [_linear(size, hidden, _HIDDEN_GAIN), nn.ReLU()]
        size = hidden
    if out_features is not None:
        layers.append(_linear(size, out_features, out_gain))
        size = out_features
    return nn.Sequential(*layers), size


class PolicyNetwork(nn.Module):
    """Image + state encoders, action-mean head, free log std and value head.

    Args:
        config: The network description.

    Attributes:
        config: The :class:`PolicyNetworkConfig` the network was built from.
        num_features: Width of the shared feature vector (:meth:`encode`'s output).
    """

    def __init__(self, config: PolicyNetworkConfig) -> None:
        super().__init__()
        self.config = config
        h, w, c = config.image_shape
        convs: list[nn.Module] = []
        in_c = c
        for out_c, k, s in config.conv_filters:
            conv = nn.Conv2d(in_c, out_c, k, s)
            nn.init.orthogonal_(conv.weight, gain=_HIDDEN_GAIN)
            assert conv.bias is not None  # Conv2d(bias=True) by default
            nn.init.zeros_(conv.bias)
            convs += [conv, nn.ReLU()]
            in_c = out_c
        self.convs = nn.Sequential(*convs, nn.Flatten())
        # A dummy forward gives the flattened size for any image size the stack fits.
        with torch.no_grad():
            flat = int(self.convs(torch.zeros(1, c, h, w)).shape[1])
        self.image_fc = nn.Sequential(_linear(flat, config.image_features, _HIDDEN_GAIN), nn.ReLU())
        self.state_mlp, state_width = _mlp(config.state_size, config.state_hiddens, None)
        self.num_features = config.image_features + state_width
        self.policy_head, _ = _mlp(
            self.num_features, config.policy_hiddens, config.action_size, out_gain=0.01
        )
        self.log_std = nn.Parameter(torch.full((config.action_size,), config.log_std_init))
        self.value_head, _ = _mlp(self.num_features, config.value_hiddens, 1, out_gain=1.0)

    def _check(self, obs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The image and state tensors of ``obs``, shape-checked."""
        try:
            image, state = obs[IMAGE_KEY], obs[STATE_KEY]
        except KeyError as exc:
            raise ValueError(
                f"observation dict needs keys {IMAGE_KEY!r} and {STATE_KEY!r}, got {sorted(obs)}"
            ) from exc
        if image.dim() != 4 or tuple(image.shape[1:]) != self.config.image_shape:
            raise ValueError(
                f"expected {IMAGE_KEY!r} of shape (B, *{self.config.image_shape}), "
                f"got {tuple(image.shape)}"
            )
        if state.dim() != 2 or state.shape[1] != self.config.state_size:
            raise ValueError(
                f"expected {STATE_KEY!r} of shape (B, {self.config.state_size}), "
                f"got {tuple(state.shape)}"
            )
        return image, state

    def encode(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Shared features ``(B, num_features)`` of an observation batch.

        Args:
            obs: ``{"birdview": (B, H, W, C) uint8/float in [0, 255], "state": (B, N)}``.
        """
        image, state = self._check(obs)
        # NHWC [0, 255] -> NCHW [0, 1] here, so callers (and RLlib's rollouts) keep uint8.
        x = image.permute(0, 3, 1, 2).float() / 255.0
        image_features = self.image_fc(self.convs(x))
        state_features = self.state_mlp(state.float())
        return torch.cat([image_features, state_features], dim=-1)

    def action_mean(self, features: torch.Tensor) -> torch.Tensor:
        """Unclipped action mean ``(B, action_size)`` from :meth:`encode`'s features."""
        return self.policy_head(features)

    def action_dist_inputs(self, features: torch.Tensor) -> torch.Tensor:
        """``concat(mean, log_std)`` of shape ``(B, 2 * action_size)``.

        This is the layout RLlib's ``TorchDiagGaussian.from_logits`` expects.
        """
        mean = self.action_mean(features)
        return torch.cat([mean, self.log_std.expand_as(mean)], dim=-1)

    def value(self, features: torch.Tensor) -> torch.Tensor:
        """State values ``(B,)`` from :meth:`encode`'s features."""
        return self.value_head(features).squeeze(-1)

    def forward(self, obs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Distribution inputs and values of an observation batch.

        Args:
            obs: See :meth:`encode`.

        Returns:
            ``(action_dist_inputs (B, 2 * action_size), value (B,))``.
        """
        features = self.encode(obs)
        return self.action_dist_inputs(features), self.value(features)


def deterministic_action(
    network: PolicyNetwork, observation_dict_batch: Mapping[str, Any]
) -> np.ndarray:
    """The deterministic actions (mean clipped to ``[-1, 1]``) of a batch of observations.

    Args:
        network: The policy network.
        observation_dict_batch: ``{"birdview": (B, H, W, C), "state": (B, N)}`` numpy
            arrays or tensors.

    Returns:
        ``(B, action_size)`` float32 array.
    """
    with torch.no_grad():
        mean = network.action_mean(network.encode(_tensors(network, observation_dict_batch)))
    return mean.clamp(-1.0, 1.0).cpu().numpy().astype(np.float32, copy=False)


def _tensors(network: PolicyNetwork, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The observation batch as tensors on the network's device."""
    device = next(network.parameters()).device
    return {key: torch.as_tensor(value, device=device) for key, value in batch.items()}


def sampled_action(
    network: PolicyNetwork,
    observation_dict_batch: Mapping[str, Any],
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Actions drawn from the policy's Gaussian (as in training), clipped to ``[-1, 1]``.

    Args:
        network: The policy network.
        observation_dict_batch: See :func:`deterministic_action`.
        generator: Seeded CPU generator for repeatable draws (None: torch's global one).

    Returns:
        ``(B, action_size)`` float32 array.
    """
    with torch.no_grad():
        mean = network.action_mean(network.encode(_tensors(network, observation_dict_batch)))
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        action = mean + network.log_std.exp() * noise
    return action.clamp(-1.0, 1.0).cpu().numpy().astype(np.float32, copy=False)


def save_policy(network: PolicyNetwork, path: str | os.PathLike[str]) -> None:
    """Writes one self-describing file: the config dict and the (CPU) state dict.

    The file holds only plain containers and tensors, so it loads with
    ``torch.load(path, weights_only=True)`` (no pickled code runs on load).

    Args:
        network: The network to export.
        path: Destination file (parent directories are created).
    """
    save_exported_network(network, network.config.to_dict(), path, _FILE_FORMAT)


def load_policy(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> PolicyNetwork:
    """Rebuilds a network written by :func:`save_policy` (eval mode).

    Args:
        path: The exported file.
        device: Where to place the network.

    Returns:
        The network, in eval mode, on ``device``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ExportedPolicyError: The file is unreadable, not an exported policy, or its
            weights do not match its config.
    """
    return load_exported_network(
        path, _FILE_FORMAT, PolicyNetworkConfig.from_dict, PolicyNetwork, device
    )
