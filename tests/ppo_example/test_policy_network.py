"""PolicyNetwork (torch only): shapes, uint8 handling, config checks, save/load, TorchPolicy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ppo_example.inference import TorchPolicy
from ppo_example.policy_network import (
    ExportedPolicyError,
    PolicyNetwork,
    PolicyNetworkConfig,
    deterministic_action,
    load_policy,
    sampled_action,
    save_policy,
)

CONFIG = PolicyNetworkConfig(image_shape=(64, 64, 3), state_size=16)


def _obs(batch: int, shape: tuple[int, int, int] = (64, 64, 3), seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "birdview": rng.integers(0, 256, (batch, *shape), dtype=np.uint8),
        "state": rng.normal(size=(batch, 16)).astype(np.float32),
    }


def _tensors(obs: dict) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in obs.items()}


def test_output_shapes_and_initial_values() -> None:
    torch.manual_seed(0)
    net = PolicyNetwork(CONFIG)
    dist_inputs, value = net(_tensors(_obs(5)))
    assert dist_inputs.shape == (5, 4) and value.shape == (5,)
    assert dist_inputs.dtype == torch.float32
    # The log std half is the state-independent parameter at its initial value.
    assert torch.all(dist_inputs[:, 2:] == CONFIG.log_std_init)
    # Small output gain: initial means near zero (straight, coasting).
    assert dist_inputs[:, :2].abs().max() < 0.2


def test_uint8_image_is_scaled_like_float_in_0_255() -> None:
    torch.manual_seed(0)
    net = PolicyNetwork(CONFIG)
    obs = _tensors(_obs(3))
    as_float = {**obs, "birdview": obs["birdview"].float()}
    out_uint8, value_uint8 = net(obs)
    out_float, value_float = net(as_float)
    torch.testing.assert_close(out_uint8, out_float)
    torch.testing.assert_close(value_uint8, value_float)
    # The image matters (a blank image changes the output).
    blank = {**obs, "birdview": torch.zeros_like(obs["birdview"])}
    assert not torch.allclose(net(blank)[0], out_uint8)


def test_cnn_adapts_to_the_image_size() -> None:
    config = PolicyNetworkConfig(
        image_shape=(96, 80, 6), state_size=16, conv_filters=[[8, 4, 2], [16, 3, 2]]
    )
    net = PolicyNetwork(config)
    dist_inputs, value = net(_tensors(_obs(2, shape=(96, 80, 6))))
    assert dist_inputs.shape == (2, 4) and value.shape == (2,)
    with pytest.raises(ValueError, match="does not fit"):
        PolicyNetworkConfig(image_shape=(32, 32, 3), state_size=16)  # Nature stack needs 36 px


def test_wrong_observations_are_rejected() -> None:
    net = PolicyNetwork(CONFIG)
    obs = _tensors(_obs(2))
    with pytest.raises(ValueError, match="birdview"):
        net({**obs, "birdview": obs["birdview"][:, :32]})
    with pytest.raises(ValueError, match="state"):
        net({**obs, "state": obs["state"][:, :3]})
    with pytest.raises(ValueError, match="needs keys"):
        net({"state": obs["state"]})


def test_config_round_trip_and_unknown_keys() -> None:
    config = PolicyNetworkConfig(
        image_shape=[48, 48, 3],  # type: ignore[arg-type]  # YAML gives lists
        state_size=12,
        policy_hiddens=[64],
        log_std_init=-1.0,
    )
    assert PolicyNetworkConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown PolicyNetworkConfig keys"):
        PolicyNetworkConfig.from_dict({**config.to_dict(), "hidens": [1]})
    with pytest.raises(ValueError, match="missing"):
        PolicyNetworkConfig.from_dict({"image_shape": [48, 48, 3]})


def test_deterministic_action_is_the_clipped_mean() -> None:
    torch.manual_seed(0)
    net = PolicyNetwork(CONFIG)
    with torch.no_grad():
        # Push the means far outside [-1, 1] so the clip is exercised.
        net.policy_head[-1].bias.copy_(torch.tensor([3.0, -3.0]))  # type: ignore[operator]
    obs = _obs(4)
    actions = deterministic_action(net, obs)
    assert actions.dtype == np.float32 and actions.shape == (4, 2)
    np.testing.assert_array_equal(actions, np.tile([1.0, -1.0], (4, 1)))


def test_sampled_actions_spread_around_the_mean_with_the_policy_std(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = PolicyNetwork(CONFIG)
    with torch.no_grad():
        net.policy_head[-1].weight.zero_()  # type: ignore[operator]
        net.policy_head[-1].bias.copy_(torch.tensor([0.2, -0.3]))  # type: ignore[operator]
        net.log_std.copy_(torch.tensor([-2.0, -3.0]))
    obs = {k: np.repeat(v[:1], 4000, axis=0) for k, v in _obs(1).items()}
    actions = sampled_action(net, obs, torch.Generator().manual_seed(5))
    assert actions.dtype == np.float32 and actions.shape == (4000, 2)
    np.testing.assert_allclose(actions.mean(axis=0), [0.2, -0.3], atol=0.01)
    np.testing.assert_allclose(actions.std(axis=0), np.exp([-2.0, -3.0]), rtol=0.05)
    again = sampled_action(net, obs, torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(actions, again)  # seeded: repeatable
    path = tmp_path / "policy.pt"
    save_policy(net, path)
    single = {k: v[0] for k, v in obs.items()}
    draws = [TorchPolicy(path, sample=True, seed=s)(single) for s in range(3)]
    assert len({tuple(d.tolist()) for d in draws}) == 3  # different seeds, different draws
    assert TorchPolicy(path)(single).tolist() == pytest.approx([0.2, -0.3])


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = PolicyNetwork(CONFIG)
    with torch.no_grad():
        net.log_std.fill_(-1.3)  # a trained-looking value, not the init
    path = tmp_path / "sub" / "policy.pt"
    save_policy(net, path)
    # Plain containers only: loads with weights_only (no pickled code).
    assert torch.load(path, weights_only=True)["config"] == CONFIG.to_dict()
    loaded = load_policy(path)
    assert not loaded.training and loaded.config == CONFIG
    for (name, a), (_, b) in zip(
        net.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    obs = _obs(6, seed=3)
    np.testing.assert_array_equal(deterministic_action(loaded, obs), deterministic_action(net, obs))
    policy = TorchPolicy(path)
    single = {k: v[2] for k, v in obs.items()}
    np.testing.assert_allclose(policy(single), deterministic_action(net, obs)[2], atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        policy({**single, "state": single["state"][:3]})


def test_load_rejects_foreign_and_mismatched_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ExportedPolicyError, match="not an exported policy"):
        load_policy(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ExportedPolicyError, match="cannot read"):
        load_policy(garbage)
    path = tmp_path / "policy.pt"
    save_policy(PolicyNetwork(CONFIG), path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["state_size"] = 8
    torch.save(payload, path)
    with pytest.raises(ExportedPolicyError, match="do not match"):
        load_policy(path)
    with pytest.raises(FileNotFoundError):
        load_policy(tmp_path / "missing.pt")
