"""A PPO training yaml small enough for a test: one short iteration in seconds."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

CPU_YAML = REPO_ROOT / "ppo_example" / "ppo_config.yaml"


def tiny_ppo_yaml(
    directory: Path, *, envs_per_runner: int, n_vehicles: int, n_walkers: int
) -> Path:
    """``ppo_config.yaml`` with one env runner and 128-step iterations, written to
    ``directory/tiny.yaml``."""
    data = yaml.safe_load(CPU_YAML.read_text())
    data["env_runners"].update(num_env_runners=1, num_envs_per_env_runner=envs_per_runner)
    data["env_runners"]["rollout_fragment_length"] = 64
    data["training"].update(train_batch_size=128, minibatch_size=64, num_epochs=1)
    data["reporting"]["min_sample_timesteps_per_iteration"] = 128
    experiment = data["env_config"]["experiment"]
    experiment["background_activity"].update(n_vehicles=n_vehicles, n_walkers=n_walkers)
    experiment["route"]["length"] = 80.0
    path = directory / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
