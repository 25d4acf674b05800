"""Ray-free driving with an exported PPO policy (``export_policy`` file): the mean action,
or actions sampled as in training."""

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
    sampled_action,
)

__all__ = ["TorchPolicy"]


class TorchPolicy:
    """Callable ``observation -> action`` over one unbatched observation, torch only.

    Args:
        path: File written by ``ppo_model.export_policy`` / ``policy_network.save_policy``.
        device: Where to run the network (``"cpu"``, ``"cuda:0"``...).
        sample: Draw actions from the policy's Gaussian (as RLlib does in training)
            instead of taking its mean.
        seed: Seeds the draws when ``sample`` is set.

    Attributes:
        network: The loaded :class:`PolicyNetwork` (eval mode).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        sample: bool = False,
        seed: int = 0,
    ) -> None:
        self.network: PolicyNetwork = load_policy(path, device)
        self.sample = sample
        self._generator = torch.Generator().manual_seed(seed)

    def __call__(self, observation: Mapping[str, Any]) -> np.ndarray:
        """The action (the mean, or a draw when ``sample``; clipped to ``[-1, 1]``) for one
        observation.

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
        if self.sample:
            return sampled_action(self.network, batch, self._generator)[0]
        return deterministic_action(self.network, batch)[0]
