"""What the examples' RL modules share: their model config, their weights, their checkpoints.

Each example wraps one Ray-free torch network in an RLlib module that keeps it as an
attribute (``q_net``, ``network``) next to its config (``network_config``), and stores
``XConfig.to_dict()`` in the spec's ``model_config`` under one key. From that shape this
module reads the model config in ``setup``, takes the trained network's config and weights
out of an ``Algorithm`` or a module (for the Ray-free export), and loads a module from a
checkpoint directory.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

import torch
from ray.rllib.core import (
    COMPONENT_LEARNER,
    COMPONENT_LEARNER_GROUP,
    COMPONENT_RL_MODULE,
    DEFAULT_MODULE_ID,
)
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

__all__ = ["model_config_dict", "module_from_checkpoint", "module_weights", "unwrap_module"]

ModuleT = TypeVar("ModuleT")


def model_config_dict(raw: Any, network_key: str, spec_builder: str) -> dict[str, Any]:
    """A module's ``model_config`` as a dict holding ``network_key``.

    Args:
        raw: ``self.model_config`` in ``setup``.
        network_key: the key of the network config, required.
        spec_builder: the function that builds a valid spec, named in the error.

    Raises:
        ValueError: ``network_key`` is missing.
    """
    raw = raw or {}
    # RLlib may hand over a DefaultModelConfig dataclass when no dict was merged in.
    model_config: dict[str, Any] = dict(raw) if isinstance(raw, dict) else dataclasses.asdict(raw)
    if network_key not in model_config:
        raise ValueError(
            f"model_config lacks {network_key!r}; build the spec with {spec_builder}()"
        )
    return model_config


def unwrap_module(module: Any, module_id: str, module_class: type[ModuleT]) -> ModuleT:
    """The single-agent module (from a MultiRLModule if needed), type-checked.

    Raises:
        TypeError: it is not a ``module_class``.
    """
    if isinstance(module, MultiRLModule):
        module = module[module_id]
    module = module.unwrapped() if isinstance(module, RLModule) else module
    if not isinstance(module, module_class):
        raise TypeError(f"expected a {module_class.__name__}, got {type(module).__name__}")
    return module


def _network_config_of(
    algo: Any, module_id: str, module_class: type[Any], network_key: str
) -> dict[str, Any]:
    """The algorithm's network config dict, from its config when possible.

    Reading the user's spec avoids pulling a whole module over from a remote EnvRunner
    (what ``Algorithm.get_module`` does when there is no local one).
    """
    spec = getattr(algo.config, "_rl_module_spec", None)
    if isinstance(spec, RLModuleSpec) and isinstance(spec.model_config, dict):
        network = spec.model_config.get(network_key)
        if network is not None:
            return dict(network)
    module = unwrap_module(algo.get_module(module_id), module_id, module_class)
    return dict(module.network_config.to_dict())


def module_weights(
    algorithm_or_module: Any,
    module_id: str,
    module_class: type[Any],
    network_key: str,
    prefix: str,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The trained network's config dict and its (CPU) state dict.

    For an ``Algorithm`` the weights are taken from the learner group (the freshest ones,
    also with remote learners).

    Args:
        algorithm_or_module: An RLlib ``Algorithm``, a ``MultiRLModule`` or a module.
        module_id: Module to export from an Algorithm / MultiRLModule.
        module_class: The example's module class.
        network_key: The ``model_config`` key of the network config.
        prefix: The network's attribute in the module (``"q_net."``): only its weights are
            kept, without the prefix, ready for the Ray-free network's ``load_state_dict``.
    """
    if hasattr(algorithm_or_module, "learner_group"):
        algo = algorithm_or_module
        config = _network_config_of(algo, module_id, module_class, network_key)
        weights = algo.learner_group.get_weights(module_ids=[module_id])[module_id]
    else:
        module = unwrap_module(algorithm_or_module, module_id, module_class)
        config = dict(module.network_config.to_dict())
        weights = module.state_dict()
    state = {
        key[len(prefix) :]: torch.as_tensor(value).detach().cpu()
        for key, value in weights.items()
        if key.startswith(prefix)
    }
    return config, state


def module_from_checkpoint(
    checkpoint_dir: str | os.PathLike[str], module_id: str = DEFAULT_MODULE_ID
) -> RLModule:
    """Loads the RL module from an Algorithm checkpoint (or a module checkpoint) directory.

    Args:
        checkpoint_dir: An ``Algorithm.save_to_path`` / Tune ``checkpoint_000NNN``
            directory, or directly ``.../learner_group/learner/rl_module/<module_id>``.
        module_id: Module to load from an Algorithm checkpoint.

    Returns:
        The module, with its trained weights (parts only a learner builds, such as a
        target network, are not restored).

    Raises:
        FileNotFoundError: Neither layout is found under ``checkpoint_dir``.
    """
    root = os.path.abspath(os.fspath(checkpoint_dir))  # RLlib reads bare paths as URIs
    nested = os.path.join(
        root, COMPONENT_LEARNER_GROUP, COMPONENT_LEARNER, COMPONENT_RL_MODULE, module_id
    )
    for candidate in (nested, root):
        # Every Checkpointable dir holds this pickle; it names the module class to build.
        if os.path.isfile(os.path.join(candidate, RLModule.CLASS_AND_CTOR_ARGS_FILE_NAME)):
            return RLModule.from_checkpoint(candidate)
    raise FileNotFoundError(
        f"no RL module checkpoint under {root!r} (looked for {nested!r} and the dir itself)"
    )
