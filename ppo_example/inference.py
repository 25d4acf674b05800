"""Ray-free deterministic driving with an exported PPO policy (``export_policy`` file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ppo_example.policy_network import (
    IMAGE_KEY,
    STATE_KEY,
    PolicyNetwork,
    deterministic_action,
    load_policy,
)

__all__ = ["TorchPolicy"]


class TorchPolicy:
    """Callable ``observation -> action`` over one unbatched observation, torch only.

    Args:
        path: File written by ``ppo_model.export_policy`` / ``policy_network.save_policy``.
        device: Where to run the network (``"cpu"``, ``"cuda:0"``...).

    Attributes:
        network: The loaded :class:`PolicyNetwork` (eval mode).
    """

    def __init__(self, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> None:
        self.network: PolicyNetwork = load_policy(path, device)

    def __call__(self, observation: Mapping[str, Any]) -> np.ndarray:
        """The deterministic action (mean clipped to ``[-1, 1]``) for one observation.

        Args:
            observation: ``{"birdview": (H, W, C) uint8, "state": (N,) float}``, as
                the env's ``reset``/``step`` return it.

        Returns:
            ``(action_size,)`` float32 array ``[steer, acceleration]``.

        Raises:
            ValueError: A key is missing or a shape does not match the network.
        """
        config = self.network.config
        expected = {IMAGE_KEY: config.image_shape, STATE_KEY: (config.state_size,)}
        batch = {}
        for key, shape in expected.items():
            if key not in observation:
                raise ValueError(f"observation lacks {key!r} (has {sorted(observation)})")
            value = np.asarray(observation[key])
            if value.shape != shape:
                raise ValueError(f"observation {key!r} has shape {value.shape}, expected {shape}")
            # Contiguous copy: env buffers may be views that torch cannot wrap as is.
            batch[key] = np.ascontiguousarray(value)[None]
        return deterministic_action(self.network, batch)[0]
