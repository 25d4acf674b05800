"""Pure-torch dueling Q network of the DQN example, shared by training and inference.

This module deliberately imports nothing from Ray: ``dqn_inference.py`` loads an exported
network with torch alone, exactly as the original ``dqn_inference_model.py`` did. The RLlib
side (``dqn_example/dqn_model.py``) wraps the same :class:`QNetwork` for the online and the
target Q function, so the weights trained by RLlib and the weights used for inference come
from one definition and cannot drift apart.

Architecture (the original's RLlib 1.1 ``VisionNetwork`` + ``DQNTorchModel``):

* A stack of convolutions, each followed by ReLU. Every layer but the last uses TF-style
  "same" zero padding (``out = ceil(in / stride)``; an odd amount of padding puts the extra
  pixel right/bottom); the last one uses "valid" padding and is meant to collapse the image
  to 1x1. Its output is flattened into the feature vector (for a 1x1 output this is the
  original's squeeze).
* Dueling heads: an advantage stream and a value stream, each ``Linear+ReLU`` per entry of
  ``hiddens`` followed by a linear output layer; ``Q = V + (A - mean(A))``. Without
  dueling, the advantage stream alone is the Q head (as in RLlib 1.1).
* Observations are ``(B, H, W, C)`` in ``[0, 255]`` (uint8 or float). They are converted to
  float but NOT rescaled: the original fed raw pixel values to the first convolution and
  the reference hyper-parameters (lr 0.0025, Xavier init) were tuned for that.

Two profiles are provided: :data:`ORIGINAL_NETWORK` (the exact 300x300x12 network, meant
for a GPU learner) and :func:`cpu_network` (a small Atari-style stack for 64-96 px
BirdViews that keeps an SGD step affordable on a few CPU cores).
"""

from __future__ import annotations

import math
import os
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
    "ORIGINAL_NETWORK",
    "ExportedNetworkError",
    "QNetwork",
    "QNetworkConfig",
    "cpu_network",
    "greedy_action",
    "load_exported",
    "same_padding",
    "save_exported",
]

#: Marker stored in exported files so that foreign ``.pt`` files are rejected clearly.
EXPORT_FORMAT = "rllib_integration.dqn_example.QNetwork"
#: Version of the exported file layout (bump when the layout changes).
EXPORT_VERSION = 1


class ExportedNetworkError(ExportedFileError):
    """An exported network file is corrupt, foreign or does not match its expectations."""


_FILE_FORMAT = ExportFormat(EXPORT_FORMAT, EXPORT_VERSION, "Q network", ExportedNetworkError)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TF "same" padding of one spatial dimension.

    Args:
        size: Input size (pixels).
        kernel: Kernel size.
        stride: Stride.

    Returns:
        ``(pad_before, pad_after, out_size)``; the odd pixel goes after (right/bottom),
        as TF and RLlib 1.1's ``same_padding`` do.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    before = total // 2
    return before, total - before, out


def _valid_size(size: int, kernel: int, stride: int) -> int:
    """Output size of a "valid" (unpadded) convolution."""
    return (size - kernel) // stride + 1


@dataclass
class QNetworkConfig:
    """Everything needed to rebuild a :class:`QNetwork` (stored in exported files).

    Attributes:
        obs_shape: Observation shape ``(H, W, C)`` (channels last, as CarlaEnv emits).
        num_actions: Number of discrete actions (29 for DQNExperiment).
        conv_filters: ``[out_channels, kernel, stride]`` per conv layer. All but the last
            use TF-"same" zero padding, the last uses "valid" padding.
        hiddens: Hidden sizes of the advantage and value streams.
        dueling: Whether to use the dueling combination ``V + (A - mean(A))``.
    """

    obs_shape: tuple[int, int, int]
    num_actions: int
    conv_filters: list[list[int]]
    hiddens: list[int] = field(default_factory=lambda: [256, 512])
    dueling: bool = True

    def __post_init__(self) -> None:
        # Normalise list/tuple inputs (YAML and JSON give lists) so that equality and
        # export round trips compare like with like.
        self.obs_shape = tuple(int(v) for v in self.obs_shape)  # type: ignore[assignment]
        self.num_actions = int(self.num_actions)
        self.conv_filters = [[int(v) for v in layer] for layer in self.conv_filters]
        self.hiddens = [int(v) for v in self.hiddens]
        self.dueling = bool(self.dueling)
        if len(self.obs_shape) != 3 or min(self.obs_shape) <= 0:
            raise ValueError(f"obs_shape must be (H, W, C) > 0, got {self.obs_shape}")
        if self.num_actions <= 0:
            raise ValueError(f"num_actions must be > 0, got {self.num_actions}")
        if not self.conv_filters:
            raise ValueError("conv_filters must hold at least one layer")
        for layer in self.conv_filters:
            if len(layer) != 3 or min(layer) <= 0:
                raise ValueError(
                    f"each conv filter must be [out_channels, kernel, stride] > 0, got {layer}"
                )
        if any(h <= 0 for h in self.hiddens):
            raise ValueError(f"hiddens must be positive, got {self.hiddens}")
        # Fail at configuration time, not deep inside torch, when the image is too small
        # for the final "valid" convolution.
        self.layer_geometry()

    def layer_geometry(self) -> list[dict[str, Any]]:
        """Per-layer geometry: channels, kernel, stride, ZeroPad2d padding, output size.

        Returns:
            One dict per conv layer with keys ``in_channels``, ``out_channels``,
            ``kernel``, ``stride``, ``padding`` (``(left, right, top, bottom)`` or
            ``None`` for "valid") and ``out_hw`` (``(H, W)``).

        Raises:
            ValueError: The final "valid" convolution does not fit the image.
        """
        h, w, c = self.obs_shape
        layers = []
        for i, (out_c, k, s) in enumerate(self.conv_filters):
            if i < len(self.conv_filters) - 1:
                top, bottom, oh = same_padding(h, k, s)
                left, right, ow = same_padding(w, k, s)
                padding: tuple[int, int, int, int] | None = (left, right, top, bottom)
            else:
                oh, ow = _valid_size(h, k, s), _valid_size(w, k, s)
                padding = None
                if oh <= 0 or ow <= 0:
                    raise ValueError(
                        f"final 'valid' conv (kernel {k}) does not fit its {h}x{w} input "
                        f"for obs_shape {self.obs_shape}"
                    )
            layers.append(
                {
                    "in_channels": c,
                    "out_channels": out_c,
                    "kernel": k,
                    "stride": s,
                    "padding": padding,
                    "out_hw": (oh, ow),
                }
            )
            h, w, c = oh, ow, out_c
        return layers

    @property
    def num_features(self) -> int:
        """Size of the flattened conv output fed to the heads."""
        last = self.layer_geometry()[-1]
        oh, ow = last["out_hw"]
        return int(last["out_channels"] * oh * ow)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict (lists, ints, bools) safe for YAML, JSON and ``weights_only``."""
        return {
            "obs_shape": list(self.obs_shape),
            "num_actions": self.num_actions,
            "conv_filters": [list(layer) for layer in self.conv_filters],
            "hiddens": list(self.hiddens),
            "dueling": self.dueling,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QNetworkConfig:
        """Inverse of :meth:`to_dict`.

        Args:
            data: Dict with the dataclass fields (``hiddens``/``dueling`` optional).

        Returns:
            The config.

        Raises:
            ValueError: Unknown or missing keys, or invalid values.
        """
        known = {"obs_shape", "num_actions", "conv_filters", "hiddens", "dueling"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown QNetworkConfig keys: {sorted(unknown)}")
        missing = {"obs_shape", "num_actions", "conv_filters"} - set(data)
        if missing:
            raise ValueError(f"missing QNetworkConfig keys: {sorted(missing)}")
        return cls(**data)


#: The exact network of the original example (§7.2.2): 300x300x12 BirdView stack, 29
#: actions, the yaml's conv_filters with the last layer overridden to 256 channels (RLlib
#: 1.1 derived ``num_outputs = 256`` for DQN) and "valid" padding, dueling heads [256, 512].
ORIGINAL_NETWORK = QNetworkConfig(
    obs_shape=(300, 300, 12),
    num_actions=29,
    conv_filters=[
        [16, 5, 4],
        [32, 5, 2],
        [32, 5, 2],
        [64, 5, 1],
        [64, 5, 2],
        [128, 5, 2],
        [256, 5, 1],
    ],
    hiddens=[256, 512],
    dueling=True,
)


def cpu_network(obs_shape: tuple[int, int, int], num_actions: int) -> QNetworkConfig:
    """The CPU profile: an Atari-style conv stack sized for 64-96 px BirdViews.

    Layers: ``[32, 8, 4]``, ``[64, 4, 2]``, ``[64, 3, 2]`` (all "same"), then a "valid"
    256-channel conv whose kernel equals the remaining spatial size, so the image collapses
    to 1x1x256 exactly like the original's last layer and the dueling heads
    ([256, 512]) are unchanged. For 64 px the stack is 64->16->8->4->1 (last kernel 4), for
    84 px 84->21->11->6->1 (kernel 6), for 96 px 96->24->12->6->1 (kernel 6). The third
    layer uses stride 2 (Atari uses 1) to keep that last kernel, which dominates the
    parameter count, small. Measured with ``bench/bench_learner.py`` (batch 64, 2 CPU
    threads, double-DQN step): ~163 ms at 84 px and ~115 ms at 64 px, against ~1.5 s for
    the original 300 px network (9-13x cheaper; 1.1M / 0.77M parameters vs 1.63M).

    Args:
        obs_shape: ``(H, W, C)``; H and W should be at least ~32 px.
        num_actions: Number of discrete actions.

    Returns:
        The config.
    """
    h, w, _ = (int(v) for v in obs_shape)
    stack = [[32, 8, 4], [64, 4, 2], [64, 3, 2]]
    for _, k, s in stack:
        h = same_padding(h, k, s)[2]
        w = same_padding(w, k, s)[2]
    # A square kernel over min(h, w): square inputs end at 1x1; non-square ones keep a
    # small strip that the flatten still handles.
    return QNetworkConfig(
        obs_shape=tuple(obs_shape),  # type: ignore[arg-type]
        num_actions=num_actions,
        conv_filters=[*stack, [256, min(h, w), 1]],
        hiddens=[256, 512],
        dueling=True,
    )


class _ConvLayer(nn.Module):
    """Optional ZeroPad2d + Conv2d + ReLU (the original's ``SlimConv2d``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        padding: tuple[int, int, int, int] | None,
    ) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d(padding) if padding is not None else nn.Identity()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
        # Same initialisation as the original (xavier_uniform, bias 0).
        nn.init.xavier_uniform_(self.conv.weight)
        assert self.conv.bias is not None  # Conv2d(bias=True) by default
        nn.init.zeros_(self.conv.bias)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies pad, conv and ReLU."""
        return self.act(self.conv(self.pad(x)))


def _linear(in_features: int, out_features: int) -> nn.Linear:
    """Linear layer with PyTorch's default weight init and a zero bias (``SlimFC``)."""
    linear = nn.Linear(in_features, out_features)
    nn.init.zeros_(linear.bias)
    return linear


def _mlp_head(in_features: int, hiddens: list[int], out_features: int) -> nn.Sequential:
    """Linear+ReLU per hidden size, then a linear output.

    Weights keep PyTorch's default init and biases start at 0, as RLlib 1.1's ``SlimFC``.
    """
    layers: list[nn.Module] = []
    size = in_features
    for hidden in hiddens:
        layers += [_linear(size, hidden), nn.ReLU()]
        size = hidden
    layers.append(_linear(size, out_features))
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    """Conv encoder + (dueling) Q head built from a :class:`QNetworkConfig`.

    Args:
        config: The network description.
    """

    def __init__(self, config: QNetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.convs = nn.Sequential(
            *(
                _ConvLayer(
                    g["in_channels"], g["out_channels"], g["kernel"], g["stride"], g["padding"]
                )
                for g in config.layer_geometry()
            )
        )
        features = config.num_features
        self.advantage = _mlp_head(features, config.hiddens, config.num_actions)
        self.value: nn.Sequential | None = (
            _mlp_head(features, config.hiddens, 1) if config.dueling else None
        )

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """Conv features of a ``(B, H, W, C)`` batch, flattened to ``(B, F)``."""
        # Cast inside the network so replay buffers can keep compact uint8 frames; no
        # scaling to [0, 1], matching the original network (see the module docstring).
        x = obs.float().permute(0, 3, 1, 2)
        return torch.flatten(self.convs(x), start_dim=1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q values.

        Args:
            obs: ``(B, H, W, C)`` uint8 or float tensor with values in ``[0, 255]``.

        Returns:
            ``(B, num_actions)`` float Q values.
        """
        if obs.dim() != 4 or tuple(obs.shape[1:]) != self.config.obs_shape:
            raise ValueError(
                f"expected observations of shape (B, {', '.join(map(str, self.config.obs_shape))})"
                f", got {tuple(obs.shape)}"
            )
        feats = self.features(obs)
        advantages = self.advantage(feats)
        if self.value is None:
            return advantages
        value = self.value(feats)
        return value + (advantages - advantages.mean(dim=-1, keepdim=True))


def save_exported(network: QNetwork, path: str | os.PathLike[str]) -> None:
    """Writes one self-describing file: the config dict and the (CPU) state dict.

    The file contains only plain containers and tensors, so it loads with
    ``torch.load(path, weights_only=True)`` (no pickled code is executed on load).

    Args:
        network: The network to export.
        path: Destination file (parent directories are created).
    """
    save_exported_network(network, network.config.to_dict(), path, _FILE_FORMAT)


def load_exported(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    expected_obs_shape: tuple[int, int, int] | None = None,
    expected_num_actions: int | None = None,
) -> QNetwork:
    """Rebuilds a network written by :func:`save_exported` (eval mode).

    Args:
        path: The exported file.
        device: Where to place the network.
        expected_obs_shape: If given, the stored observation shape must equal it.
        expected_num_actions: If given, the stored number of actions must equal it.

    Returns:
        The network, in eval mode, on ``device``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ExportedNetworkError: The file is unreadable, not an exported network, its weights
            do not match its config, or it does not match the expectations.
    """

    def check(config: QNetworkConfig) -> str | None:
        if expected_obs_shape is not None and config.obs_shape != tuple(expected_obs_shape):
            return (
                f"was trained on observations {config.obs_shape}, "
                f"expected {tuple(expected_obs_shape)}"
            )
        if expected_num_actions is not None and config.num_actions != expected_num_actions:
            return f"has {config.num_actions} actions, expected {expected_num_actions}"
        return None

    return load_exported_network(
        path, _FILE_FORMAT, QNetworkConfig.from_dict, QNetwork, device, check=check
    )


def greedy_action(network: QNetwork, obs: np.ndarray) -> int:
    """Greedy action for ONE observation (the original ``CustomDQNModel.forward``).

    Args:
        network: The Q network.
        obs: ``(H, W, C)`` array (uint8 or float, values in ``[0, 255]``).

    Returns:
        ``argmax_a Q(obs, a)`` as a python int.

    Raises:
        ValueError: ``obs`` has the wrong shape.
    """
    if tuple(obs.shape) != network.config.obs_shape:
        raise ValueError(
            f"expected one observation of shape {network.config.obs_shape}, got {obs.shape}"
        )
    device = next(network.parameters()).device
    with torch.no_grad():
        batch = torch.as_tensor(np.ascontiguousarray(obs), device=device).unsqueeze(0)
        return int(torch.argmax(network(batch), dim=-1).item())
