"""The RL-module helpers: model config, weights for the export, checkpoint lookup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ray")

from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_integration.training.rl_modules import (
    model_config_dict,
    module_from_checkpoint,
    module_weights,
    unwrap_module,
)

pytestmark = pytest.mark.ray


class _Config:
    def to_dict(self) -> dict[str, Any]:
        return {"width": 3}


class _Module(nn.Module):
    """The examples' shape: the network under one attribute, its config next to it."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 2)
        self.other = nn.Linear(1, 1)
        self.network_config = _Config()


@dataclass
class _DefaultModelConfig:
    fcnet_hiddens: tuple[int, ...] = (256,)


def test_model_config_dict_needs_the_network_key() -> None:
    assert model_config_dict({"net": {"width": 3}, "x": 1}, "net", "m.spec") == {
        "net": {"width": 3},
        "x": 1,
    }
    with pytest.raises(ValueError, match=r"lacks 'net'; build the spec with m\.spec\(\)"):
        model_config_dict(None, "net", "m.spec")
    # What RLlib hands over when no dict was merged in.
    with pytest.raises(ValueError, match="lacks 'net'"):
        model_config_dict(_DefaultModelConfig(), "net", "m.spec")


def test_unwrap_module_checks_the_class() -> None:
    module = _Module()
    assert unwrap_module(module, "default_policy", _Module) is module
    with pytest.raises(TypeError, match="expected a _Module, got Linear"):
        unwrap_module(nn.Linear(1, 1), "default_policy", _Module)


def test_module_weights_of_a_module_keep_the_network_only() -> None:
    module = _Module()
    config, state = module_weights(module, "default_policy", _Module, "net_cfg", prefix="net.")
    assert config == {"width": 3}
    assert set(state) == {"weight", "bias"}
    assert torch.equal(state["weight"], module.net.weight)


def test_module_weights_of_an_algorithm_come_from_the_learners_and_the_spec() -> None:
    weights = {"net.weight": np.ones((2, 3), np.float32), "other.bias": np.zeros(1)}
    algo = SimpleNamespace(
        config=SimpleNamespace(_rl_module_spec=RLModuleSpec(model_config={"net_cfg": {"w": 9}})),
        learner_group=SimpleNamespace(get_weights=lambda module_ids: {module_ids[0]: weights}),
        get_module=lambda module_id: pytest.fail("the spec holds the config"),
    )
    config, state = module_weights(algo, "default_policy", _Module, "net_cfg", prefix="net.")
    assert config == {"w": 9}
    assert list(state) == ["weight"] and isinstance(state["weight"], torch.Tensor)
    # Without the key in the spec, the config comes from the algorithm's module.
    algo.config._rl_module_spec = RLModuleSpec(model_config={})
    algo.get_module = lambda module_id: _Module()
    assert module_weights(algo, "default_policy", _Module, "net_cfg", "net.")[0] == {"width": 3}


def test_module_from_checkpoint_names_both_layouts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"learner_group.*and the dir itself"):
        module_from_checkpoint(tmp_path)
