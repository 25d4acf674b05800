"""dqn_train.py end to end on carla_lite: smoke train, restore, directory rules, callbacks.

Each run is a subprocess (the official client can abort the process it runs in); budgets are
tiny: 32 px BirdView, 40-step episodes, learning after 32 steps, ~64 steps per iteration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CPU_YAML = REPO_ROOT / "dqn_example" / "dqn_config.yaml"


def _tiny_yaml(tmp_path: Path) -> Path:
    data = yaml.safe_load(CPU_YAML.read_text())
    data["training"]["learning_starts"] = 32
    data["training"]["train_batch_size"] = 32
    data["training"]["replay_ratio"] = 2  # 1 batch of 32 per 16 steps
    data["training"]["replay_buffer"]["capacity"] = 1000
    data["reporting"]["min_sample_timesteps_per_iteration"] = 64
    data["env_config"]["carla"]["timeout"] = 10.0
    experiment = data["env_config"]["experiment"]
    experiment["hero"]["sensors"]["birdview"]["size"] = 32
    experiment["others"].update(max_time_idle=20, max_time_episode=40)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _train(config: Path, directory: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO_ROOT / "dqn_train.py"), str(config), "--tboff"]
    command += ["-d", str(directory), *flags]
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )


def _trials(directory: Path) -> list[Path]:
    return sorted(p for p in (directory / "dqn_example").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    tmp_path = tmp_path_factory.mktemp("train")
    config, directory = _tiny_yaml(tmp_path), tmp_path / "runs"
    done = _train(config, directory, "--stop-iters", "2", "--keep-checkpoints", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    return config, directory, done.stdout


def test_smoke_train_writes_checkpoints_network_and_curve(trained: tuple[Path, Path, str]) -> None:
    _, directory, stdout = trained
    (trial,) = _trials(directory)
    # One checkpoint per iteration, the older one deleted (--keep-checkpoints 1).
    assert sorted(p.name for p in trial.glob("checkpoint_*")) == ["checkpoint_000001"]
    assert (trial / "q_network.pt").is_file() and (trial / "learning_curve.png").is_file()
    assert (trial / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    progress = [line for line in stdout.splitlines() if line.startswith("iter ")]
    assert len(progress) == 2 and "env steps" in progress[0] and "return mean" in progress[0]
    assert f"Q-network for Ray-free inference: {trial / 'q_network.pt'}" in stdout
    assert stdout.rstrip().endswith("done.")

    results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    last = results[-1]
    assert last["training_iteration"] == 2
    assert last["env_runners"]["num_env_steps_sampled_lifetime"] >= 128
    # Learning started (learning_starts 32) and the callback logged the original's metric.
    assert last["learners"]["default_policy"]["num_module_steps_trained"] > 0
    assert last["env_runners"]["heading_deviation"] >= 0.0

    from dqn_example.q_network import load_exported

    network = load_exported(trial / "q_network.pt")
    assert network is not None


def test_directory_rules_restore_and_overwrite(trained: tuple[Path, Path, str]) -> None:
    config, directory, _ = trained
    (first,) = _trials(directory)

    again = _train(config, directory, "--stop-iters", "1")
    assert again.returncode != 0
    assert "is not empty. To start a new training instance" in again.stderr
    assert again.stdout.rstrip().endswith("done.")

    both = _train(config, directory, "--restore", "--overwrite")
    assert both.returncode != 0
    assert "Both 'overwrite' and 'restore' cannot be True at the same time" in both.stderr

    restored = _train(config, directory, "--restore", "--stop-iters", "1")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"Warm start from {first / 'checkpoint_000001'}" in restored.stdout
    second = next(p for p in _trials(directory) if p != first)
    assert (second / "checkpoint_000000").is_dir() and (second / "q_network.pt").is_file()

    overwritten = _train(config, directory, "--overwrite", "--stop-iters", "1")
    assert overwritten.returncode == 0, overwritten.stdout + overwritten.stderr
    assert f"Removing all contents inside '{directory / 'dqn_example'}'" in overwritten.stdout
    (only,) = _trials(directory)
    assert only not in (first, second)


def test_bad_config_fails_before_ray(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {lr: fast}\n")
    done = _train(bad, tmp_path / "runs")
    assert done.returncode == 2
    assert "error: bad.yaml:" in done.stderr and "training.lr" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_restore_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    done = _train(_tiny_yaml(tmp_path), tmp_path / "runs", "--restore")
    assert done.returncode == 1
    assert "Could not find any checkpoint" in done.stderr


def test_inference_scripts_without_and_with_ray(
    trained: tuple[Path, Path, str], tmp_path: Path
) -> None:
    config, directory, _ = trained
    trial = _trials(directory)[0]
    # A `ray` that cannot be imported: dqn_inference.py must run on torch alone.
    fake = tmp_path / "no_ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('ray must not be imported here')\n")
    video = tmp_path / "episode.mp4"
    command = [sys.executable, str(REPO_ROOT / "dqn_inference.py"), str(config)]
    command += [str(trial / "q_network.pt"), "--episodes", "2", "--max-steps", "30"]
    command += ["--video", str(video), "--json", str(tmp_path / "greedy.json")]
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{REPO_ROOT}"}
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    episodes = json.loads((tmp_path / "greedy.json").read_text())
    assert [e["episode"] for e in episodes] == [0, 1]
    assert all(e["steps"] <= 30 and e["distance_m"] >= 0 for e in episodes)
    assert "episode 0: return" in done.stdout and "mean distance" in done.stdout
    assert video.is_file() and video.stat().st_size > 1000

    checkpoint = sorted(trial.glob("checkpoint_*"))[-1]
    command = [sys.executable, str(REPO_ROOT / "dqn_inference_ray.py"), str(config)]
    command += [str(checkpoint), "--episodes", "1", "--max-steps", "20"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "episode 0: return" in done.stdout


@pytest.mark.slow
def test_gpu_profile_trains_on_cpu_with_the_original_network(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO_ROOT / "dqn_example" / "dqn_config_gpu.yaml").read_text())
    # This machine has 2 CPUs and no GPU: same network and input, smaller resources.
    data["env_runners"].update(num_env_runners=0, num_cpus_per_env_runner=1)
    data["learners"]["num_gpus_per_learner"] = 0
    data["training"].update(learning_starts=16, train_batch_size=32, replay_ratio=2)
    data["training"]["replay_buffer"]["capacity"] = 200
    data["reporting"]["min_sample_timesteps_per_iteration"] = 48
    data["env_config"]["experiment"]["others"].update(max_time_idle=20, max_time_episode=40)
    config = tmp_path / "gpu_tiny.yaml"
    config.write_text(yaml.safe_dump(data))
    done = _train(config, tmp_path / "runs", "--stop-iters", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (trial,) = _trials(tmp_path / "runs")
    from dqn_example.q_network import ORIGINAL_NETWORK, load_exported

    network = load_exported(trial / "q_network.pt", expected_obs_shape=(300, 300, 12))
    assert network.config.conv_filters == ORIGINAL_NETWORK.conv_filters
