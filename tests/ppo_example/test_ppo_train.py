"""ppo_train.py and ppo_inference.py end to end on carla_lite (tiny budgets).

Each run is a subprocess (the official client can abort the process it runs in).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, run_python
from tests.ppo_example.tiny_config import CPU_YAML, tiny_ppo_yaml

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO_ROOT / script), *args]
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    tmp_path = tmp_path_factory.mktemp("ppo")
    config = tiny_ppo_yaml(tmp_path, envs_per_runner=2, n_vehicles=4, n_walkers=2)
    directory = tmp_path / "runs"
    done = _run("ppo_train.py", str(config), "--tboff", "-d", str(directory), "--stop-iters", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    (trial,) = [p for p in (directory / "ppo_example").iterdir() if p.is_dir()]
    return config, trial, done.stdout


def test_two_iterations_write_checkpoints_policy_and_curve(
    trained: tuple[Path, Path, str],
) -> None:
    _, trial, stdout = trained
    assert (trial / "policy.pt").is_file()
    assert (trial / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(trial.glob("checkpoint_*"))) == 2
    progress = [line for line in stdout.splitlines() if line.startswith("iter ")]
    assert len(progress) == 2, stdout
    # Ray's start-up chatter is in ray.log, not on the console.
    assert "Ray's log:" in stdout and "WARNING" not in stdout
    results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    runners = results[-1]["env_runners"]
    assert runners["num_env_steps_sampled_lifetime"] >= 256
    if runners.get("num_episodes_lifetime", 0) > 0:  # driving metrics come with episodes
        assert 0.0 <= runners["route_completion"] <= 100.0
        assert "| route" in progress[-1]


def test_exported_policy_acts_like_the_rllib_module(trained: tuple[Path, Path, str]) -> None:
    config, trial, _ = trained
    checkpoint = sorted(trial.glob("checkpoint_*"))[-1]
    result = run_python(
        f"""
        import numpy as np, torch
        from ray.rllib.core.columns import Columns
        from ppo_example.inference import TorchPolicy
        from ppo_example.ppo_experiment import PPOExperiment
        from ppo_example.ppo_model import module_from_checkpoint
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.training.env_config import load_env_config

        env_config, _ = load_env_config({str(config)!r}, PPOExperiment, "")
        env = CarlaEnv(env_config)
        module = module_from_checkpoint({str(checkpoint)!r})
        policy = TorchPolicy({str(trial / "policy.pt")!r})
        gaps = []
        try:
            observation, _ = env.reset(seed=3)
            for _ in range(20):
                batch = {{k: torch.as_tensor(v[None]) for k, v in observation.items()}}
                with torch.no_grad():
                    inputs = module.forward_inference({{Columns.OBS: batch}})
                mean = inputs[Columns.ACTION_DIST_INPUTS][0, :2].numpy()
                action = policy(observation)
                gaps.append(float(np.abs(np.clip(mean, -1, 1) - action).max()))
                observation, *_ = env.step(action)
        finally:
            env.close()
        result["max_gap"] = max(gaps)
        """,
        timeout=240,
    )
    assert result["max_gap"] < 1e-5


def test_inference_drives_routes_and_writes_a_readable_video(
    trained: tuple[Path, Path, str], tmp_path: Path
) -> None:
    config, trial, _ = trained
    video, report = tmp_path / "drive.mp4", tmp_path / "episodes.json"
    done = _run(
        "ppo_inference.py", str(config), str(trial / "policy.pt"), "--episodes", "1",
        "--video", str(video), "--json", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (episode,) = json.loads(report.read_text())
    assert 0.0 <= episode["route_completion"] <= 100.0 and episode["steps"] > 0
    import cv2

    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert ok and frame.shape[:2] == (320, 320)  # not the 64 px observation
    assert frames == episode["steps"]


def test_config_errors_are_one_line_before_ray(tmp_path: Path) -> None:
    data = yaml.safe_load(CPU_YAML.read_text())
    del data["training"]["num_epochs"]
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump(data))
    done = _run("ppo_train.py", str(missing), "--tboff", "-d", str(tmp_path / "runs"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: missing.yaml: missing key(s) training.num_epochs (every hyper-parameter must "
        "be explicit; see ppo_example/ppo_config.yaml)"
    ]
    data = yaml.safe_load(CPU_YAML.read_text())
    data["env_config"]["carla"]["server"] = "carla"
    real = tmp_path / "carla.yaml"
    real.write_text(yaml.safe_dump(data))
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "ppo_train.py"), str(real), "--tboff"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in __import__("os").environ.items() if k != "CARLA_ROOT"},
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "CARLA_ROOT is not set" in line
    assert not (tmp_path / "runs").exists()
