"""CarlaDQNTorchRLModule: RLlib 2.60 module APIs, SoftQ exploration, export, a real DQN run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from ray.rllib.algorithms.dqn import DQNConfig  # noqa: E402
from ray.rllib.algorithms.dqn.dqn_learner import (  # noqa: E402
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.core.columns import Columns  # noqa: E402

from dqn_example.dqn_model import (  # noqa: E402
    CarlaDQNTorchRLModule,
    build_rl_module_spec,
    export_q_network,
    module_from_checkpoint,
)
from dqn_example.q_network import QNetworkConfig, greedy_action, load_exported  # noqa: E402

pytestmark = pytest.mark.ray

OBS_SHAPE = (32, 32, 12)
NUM_ACTIONS = 29
NETWORK = QNetworkConfig(
    obs_shape=OBS_SHAPE, num_actions=NUM_ACTIONS, conv_filters=[[8, 5, 4], [16, 3, 2], [32, 4, 1]]
)
OBS_SPACE = gym.spaces.Box(0, 255, OBS_SHAPE, dtype=np.uint8)
ACT_SPACE: gym.spaces.Discrete = gym.spaces.Discrete(NUM_ACTIONS)


class TinyImageEnv(gym.Env[np.ndarray, np.int64]):
    """Random uint8 frames; action 0 pays 1, the rest 0; 10-step episodes."""

    observation_space = OBS_SPACE
    action_space = ACT_SPACE

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self._t = 0

    def _obs(self) -> np.ndarray:
        return self.np_random.integers(0, 256, OBS_SHAPE, dtype=np.uint8)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._t += 1
        return self._obs(), float(int(action) == 0), False, self._t >= 10, {}


def _module(temperature: float = 1.0, *, inference_only: bool = False) -> CarlaDQNTorchRLModule:
    spec = build_rl_module_spec(NETWORK, temperature=temperature)
    spec.observation_space = OBS_SPACE
    spec.action_space = ACT_SPACE
    spec.inference_only = inference_only
    module = spec.build()
    assert isinstance(module, CarlaDQNTorchRLModule)
    return module


def _obs_batch(batch: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, *OBS_SHAPE), dtype=torch.uint8, generator=gen)


def test_forward_inference_is_argmax_of_q_network() -> None:
    torch.manual_seed(0)
    module = _module()
    obs = _obs_batch(16)
    out = module.forward_inference({Columns.OBS: obs})
    with torch.no_grad():
        q = module.q_net(obs)
    assert torch.equal(out[Columns.ACTIONS], torch.argmax(q, dim=-1))
    torch.testing.assert_close(out[QF_PREDS], q)


def test_forward_exploration_samples_softmax() -> None:
    torch.manual_seed(0)
    obs = _obs_batch(1, seed=1).expand(4000, *OBS_SHAPE)

    # Huge temperature: softmax(Q / T) is ~uniform over the 29 actions.
    hot = _module(temperature=1e6)
    torch.manual_seed(123)
    actions = hot.forward_exploration({Columns.OBS: obs}, t=0)[Columns.ACTIONS]
    counts = np.bincount(actions.numpy(), minlength=NUM_ACTIONS)
    expected = len(obs) / NUM_ACTIONS
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 70.0, counts  # 28 dof: P(chi2 > 70) ~ 1e-5

    # Tiny temperature: always the greedy action.
    cold = _module(temperature=1e-6)
    cold.load_state_dict(hot.state_dict())
    greedy = cold.forward_inference({Columns.OBS: obs[:1]})[Columns.ACTIONS]
    actions = cold.forward_exploration({Columns.OBS: obs}, t=0)[Columns.ACTIONS]
    assert torch.all(actions == greedy)

    # T = 1: empirical frequencies follow softmax(Q).
    module = _module(temperature=1.0)
    with torch.no_grad():
        # Make the advantages a fixed ramp so Q spreads over a few units and the
        # distribution is neither uniform nor one-hot.
        last = module.q_net.advantage[-1]
        assert isinstance(last, torch.nn.Linear)
        last.weight.mul_(0.0)
        last.bias.copy_(torch.linspace(-2.0, 2.0, NUM_ACTIONS))
        probs = torch.softmax(module.q_net(obs[:1]), dim=-1)[0].numpy()
    torch.manual_seed(7)
    actions = module.forward_exploration({Columns.OBS: obs}, t=0)[Columns.ACTIONS]
    freq = np.bincount(actions.numpy(), minlength=NUM_ACTIONS) / len(obs)
    assert np.abs(freq - probs).max() < 0.03


def test_forward_train_outputs_for_the_dqn_learner() -> None:
    module = _module()
    module.make_target_networks()
    obs, next_obs = _obs_batch(5, seed=1), _obs_batch(5, seed=2)
    out = module.forward_train({Columns.OBS: obs, Columns.NEXT_OBS: next_obs})
    with torch.no_grad():
        torch.testing.assert_close(out[QF_PREDS], module.q_net(obs))
        torch.testing.assert_close(out[QF_NEXT_PREDS], module.q_net(next_obs))
        torch.testing.assert_close(out[QF_TARGET_NEXT_PREDS], module.q_net(next_obs))
    assert out[QF_PREDS].requires_grad and not out[QF_TARGET_NEXT_PREDS].requires_grad
    ((online, target),) = module.get_target_network_pairs()
    assert online is module.q_net and target is not online
    assert not any(p.requires_grad for p in target.parameters())


def test_inference_only_module_has_no_target_and_takes_learner_weights() -> None:
    learner_module = _module()
    learner_module.make_target_networks()
    runner_module = _module(inference_only=True)  # as on EnvRunners: no target network
    state = learner_module.get_state(inference_only=True)
    assert not any(k.startswith("_target_q_net") for k in state)
    runner_module.set_state(state)
    obs = _obs_batch(4)
    a = runner_module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS]
    b = learner_module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS]
    assert torch.equal(a, b)


def test_spaces_and_config_are_checked() -> None:
    spec = build_rl_module_spec(NETWORK)
    spec.observation_space = gym.spaces.Box(0, 255, (64, 64, 12), dtype=np.uint8)
    spec.action_space = ACT_SPACE
    with pytest.raises(ValueError, match="observation space shape"):
        spec.build()
    spec = build_rl_module_spec(NETWORK)
    spec.observation_space, spec.action_space = OBS_SPACE, gym.spaces.Discrete(5)
    with pytest.raises(ValueError, match="action space"):
        spec.build()
    with pytest.raises(ValueError, match="temperature"):
        build_rl_module_spec(NETWORK, temperature=0.0)


def test_export_then_load_gives_identical_greedy_actions(tmp_path: Path) -> None:
    torch.manual_seed(3)
    module = _module()
    path = tmp_path / "q.pt"
    export_q_network(module, path)
    net = load_exported(path)
    obs = _obs_batch(12, seed=5)
    expected = module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS].tolist()
    assert [greedy_action(net, o) for o in obs.numpy()] == expected


def test_minimal_dqn_training_run(ray_cluster: None, tmp_path: Path) -> None:
    config = (
        DQNConfig()
        .environment(TinyImageEnv, disable_env_checking=True)
        .framework("torch")
        .rl_module(rl_module_spec=build_rl_module_spec(NETWORK, temperature=1.0))
        .env_runners(num_env_runners=0, rollout_fragment_length=4)
        .learners(num_learners=0)
        .training(
            lr=2.5e-3,
            gamma=0.99,
            train_batch_size=8,
            num_steps_sampled_before_learning_starts=16,
            target_network_update_freq=8,
            double_q=True,
            dueling=True,
            n_step=1,
            replay_buffer_config={
                "type": "PrioritizedEpisodeReplayBuffer",
                "capacity": 200,
                "alpha": 0.6,
                "beta": 0.4,
            },
        )
        .reporting(min_sample_timesteps_per_iteration=32)
        .debugging(seed=0)
    )
    # Any: the test reaches into learner internals that mypy sees as Optional.
    algo: Any = config.build_algo()
    try:
        results = [algo.train() for _ in range(2)]
        learners = results[-1]["learners"]["default_policy"]
        assert np.isfinite(learners["qf_loss"])
        assert learners["num_target_updates"] >= 1
        # Observations stay compact uint8 in the replay buffer (cast happens in QNetwork).
        stored = algo.local_replay_buffer.episodes[0].get_observations(0)
        assert stored.dtype == np.uint8 and stored.shape == OBS_SHAPE

        # The export holds the learner's current online weights.
        path = tmp_path / "q.pt"
        exported = export_q_network(algo, path)
        learner_module = algo.learner_group._learner.module["default_policy"]
        obs = _obs_batch(6, seed=9)
        with torch.no_grad():
            torch.testing.assert_close(exported(obs), learner_module.q_net(obs))
        net = load_exported(path)
        expected = learner_module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS]
        assert [greedy_action(net, o) for o in obs.numpy()] == expected.tolist()

        # A checkpoint restores the same module (what dqn_inference_ray needs).
        algo.save_to_path(str(tmp_path / "ckpt"))
        restored = module_from_checkpoint(tmp_path / "ckpt")
        got = restored.forward_inference({Columns.OBS: obs})[Columns.ACTIONS]
        assert torch.equal(got, expected)
    finally:
        algo.stop()
