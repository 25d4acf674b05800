"""QNetwork: the original §7.2.2 geometry, uint8 handling, export round trip, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dqn_example.q_network import (
    ORIGINAL_NETWORK,
    ExportedNetworkError,
    QNetwork,
    QNetworkConfig,
    cpu_network,
    greedy_action,
    load_exported,
    same_padding,
    save_exported,
)

SMALL = QNetworkConfig(
    obs_shape=(32, 32, 12), num_actions=29, conv_filters=[[8, 5, 4], [16, 3, 2], [32, 4, 1]]
)


def _rand_obs(cfg: QNetworkConfig, batch: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, *cfg.obs_shape), dtype=torch.uint8, generator=gen)


def test_original_geometry_matches_spec_layer_by_layer() -> None:
    # The §7.2.2 table: (in, out, kernel, stride, ZeroPad2d, output size).
    expected = [
        (12, 16, 5, 4, (0, 1, 0, 1), 75),
        (16, 32, 5, 2, (2, 2, 2, 2), 38),
        (32, 32, 5, 2, (1, 2, 1, 2), 19),
        (32, 64, 5, 1, (2, 2, 2, 2), 19),
        (64, 64, 5, 2, (2, 2, 2, 2), 10),
        (64, 128, 5, 2, (1, 2, 1, 2), 5),
        (128, 256, 5, 1, None, 1),
    ]
    geometry = ORIGINAL_NETWORK.layer_geometry()
    got = [
        (g["in_channels"], g["out_channels"], g["kernel"], g["stride"], g["padding"], g["out_hw"])
        for g in geometry
    ]
    assert got == [(i, o, k, s, p, (hw, hw)) for i, o, k, s, p, hw in expected]
    assert ORIGINAL_NETWORK.num_features == 256
    assert ORIGINAL_NETWORK.hiddens == [256, 512]
    assert ORIGINAL_NETWORK.num_actions == 29 and ORIGINAL_NETWORK.dueling

    net = QNetwork(ORIGINAL_NETWORK)
    # The real modules produce the same sizes as the computed geometry.
    x = torch.zeros(1, 12, 300, 300)
    for layer, g in zip(net.convs, geometry, strict=True):
        x = layer(x)
        assert tuple(x.shape[1:]) == (g["out_channels"], *g["out_hw"])
    # Parameter count: convs + two dueling heads (RLlib's unused 257-parameter
    # `_value_branch` is not part of the network).
    convs = sum(i * o * k * k + o for i, o, k, _, _, _ in expected)
    adv = (256 * 256 + 256) + (256 * 512 + 512) + (512 * 29 + 29)
    val = (256 * 256 + 256) + (256 * 512 + 512) + (512 * 1 + 1)
    assert convs == 1_221_392
    assert sum(p.numel() for p in net.parameters()) == convs + adv + val == 1_631_534
    head_shapes = [tuple(m.weight.shape) for m in net.advantage if isinstance(m, torch.nn.Linear)]
    assert head_shapes == [(256, 256), (512, 256), (29, 512)]
    head_shapes = [tuple(m.weight.shape) for m in net.value or [] if isinstance(m, torch.nn.Linear)]
    assert head_shapes == [(256, 256), (512, 256), (1, 512)]


def test_init_matches_original() -> None:
    net = QNetwork(SMALL)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            assert module.bias is not None and torch.all(module.bias == 0)
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    fan_in, fan_out = conv.in_channels * 25, conv.out_channels * 25
    bound = (6.0 / (fan_in + fan_out)) ** 0.5  # xavier_uniform
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.8 * bound


@pytest.mark.parametrize(("size", "k", "s"), [(300, 5, 4), (75, 5, 2), (84, 8, 4), (7, 3, 1)])
def test_same_padding_matches_tf(size: int, k: int, s: int) -> None:
    before, after, out = same_padding(size, k, s)
    assert out == -(-size // s)
    assert (size + before + after - k) // s + 1 == out
    assert after - before in (0, 1)


@pytest.mark.parametrize("size", [64, 72, 84, 96])
def test_cpu_network_collapses_to_1x1(size: int) -> None:
    cfg = cpu_network((size, size, 12), 29)
    assert cfg.layer_geometry()[-1]["out_hw"] == (1, 1)
    assert cfg.num_features == 256
    q = QNetwork(cfg)(_rand_obs(cfg, 2))
    assert q.shape == (2, 29)


def test_uint8_and_float_inputs_give_same_q() -> None:
    torch.manual_seed(0)
    net = QNetwork(SMALL).eval()
    obs = _rand_obs(SMALL, 4)
    with torch.no_grad():
        q_uint8 = net(obs)
        q_float = net(obs.float())
    assert q_uint8.dtype == torch.float32 and q_uint8.shape == (4, 29)
    torch.testing.assert_close(q_uint8, q_float, rtol=0, atol=0)


def test_dueling_combination() -> None:
    torch.manual_seed(0)
    net = QNetwork(SMALL).eval()
    obs = _rand_obs(SMALL, 3)
    with torch.no_grad():
        feats = net.features(obs)
        adv = net.advantage(feats)
        assert net.value is not None
        value = net.value(feats)
        expected = value + adv - adv.mean(dim=-1, keepdim=True)
        torch.testing.assert_close(net(obs), expected)
    plain = QNetwork(QNetworkConfig(**{**SMALL.to_dict(), "dueling": False}))
    assert plain.value is None
    assert plain(obs).shape == (3, 29)


def test_wrong_observation_shape_is_rejected() -> None:
    net = QNetwork(SMALL)
    with pytest.raises(ValueError, match="expected observations of shape"):
        net(torch.zeros(1, 12, 32, 32))
    with pytest.raises(ValueError, match="does not fit"):
        QNetworkConfig(obs_shape=(8, 8, 3), num_actions=2, conv_filters=[[8, 5, 4], [8, 5, 1]])


def test_config_dict_round_trip() -> None:
    for cfg in (ORIGINAL_NETWORK, SMALL, cpu_network((84, 84, 12), 29)):
        assert QNetworkConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        QNetworkConfig.from_dict({**SMALL.to_dict(), "bogus": 1})


def test_export_round_trip_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = QNetwork(SMALL).eval()
    path = tmp_path / "sub" / "q.pt"
    save_exported(net, path)
    # The file is plain data: loadable with weights_only=True.
    payload = torch.load(path, weights_only=True)
    assert payload["config"] == SMALL.to_dict()
    loaded = load_exported(path, expected_obs_shape=(32, 32, 12), expected_num_actions=29)
    assert not loaded.training
    obs = _rand_obs(SMALL, 5, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(obs), net(obs), rtol=0, atol=0)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_exported(tmp_path / "nope.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"definitely not a torch file")
    with pytest.raises(ExportedNetworkError, match="corrupt"):
        load_exported(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save(QNetwork(SMALL).state_dict(), foreign)  # a bare state dict, no config
    with pytest.raises(ExportedNetworkError, match="not an exported Q network"):
        load_exported(foreign)


def test_config_mismatch_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "q.pt"
    save_exported(QNetwork(SMALL), path)
    with pytest.raises(ExportedNetworkError, match="trained on observations"):
        load_exported(path, expected_obs_shape=(64, 64, 12))
    with pytest.raises(ExportedNetworkError, match="actions"):
        load_exported(path, expected_num_actions=5)
    # Weights that disagree with the stored config.
    payload = torch.load(path, weights_only=True)
    payload["config"]["hiddens"] = [128, 512]
    torch.save(payload, path)
    with pytest.raises(ExportedNetworkError, match="do not match its network config"):
        load_exported(path)


def test_greedy_action() -> None:
    torch.manual_seed(2)
    net = QNetwork(SMALL).eval()
    obs = _rand_obs(SMALL, 6, seed=4)
    with torch.no_grad():
        expected = torch.argmax(net(obs), dim=-1).tolist()
    got = [greedy_action(net, o) for o in obs.numpy()]
    assert got == expected
    assert all(isinstance(a, int) for a in got)
    with pytest.raises(ValueError, match="one observation"):
        greedy_action(net, np.zeros((1, 32, 32, 12), dtype=np.uint8))


def test_q_network_module_does_not_import_ray() -> None:
    # dqn_inference.py must run where Ray is not installed.
    code = "import sys, dqn_example.q_network; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"
