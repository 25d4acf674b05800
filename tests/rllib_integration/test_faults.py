"""Faults a long RL run meets, short versions (the long ones are in bench/):

* the server frozen (SIGSTOP) mid-episode: a ``ServerLostError`` naming host:port within the
  configured timeout, no hang; the next reset runs on a fresh server;
* the training process killed: no server left running;
* many resets with NPCs and walkers: no leaked actors, descriptors, threads or processes;
* an RLlib training run whose simulator is SIGKILLed mid-run keeps training (RLlib's
  sub-environment restarts, configured in the examples).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_python
from tests.ppo_example.tiny_config import tiny_ppo_yaml

PRELUDE = """
        import os, signal
        from dqn_example.dqn_experiment import DQNExperiment
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.errors import ServerLostError
        from rllib_integration.training.env_config import load_env_config

        def dqn_config(n_vehicles=0, n_walkers=0, **carla):
            path = "dqn_example/dqn_config.yaml"
            config, _ = load_env_config(path, DQNExperiment, path)
            activity = config["experiment"]["background_activity"]
            activity.update(n_vehicles=n_vehicles, n_walkers=n_walkers)
            config["carla"].update(carla)
            return config

        def gone(pid):
            return not os.path.exists(f"/proc/{pid}")
"""


def test_a_frozen_server_is_a_lost_server_within_the_timeout() -> None:
    result = run_python(
        PRELUDE
        + """
        timeout = 3.0
        env = CarlaEnv(dqn_config(n_vehicles=5, timeout=timeout))
        try:
            env.reset(seed=0)
            for _ in range(20):
                env.step(1)
            server = env.core.server
            frozen = server.pid
            result["where"] = f"{server.host}:{server.rpc_port}"
            os.killpg(frozen, signal.SIGSTOP)
            start = time.monotonic()
            try:
                for _ in range(1000):
                    env.step(1)
            except ServerLostError as exc:
                result["message"] = str(exc)
            result["seconds"] = time.monotonic() - start
            env.reset(seed=1)
            for _ in range(20):
                env.step(1)
            result["new_server"] = env.core.server.pid != frozen and env.core.server.alive()
            deadline = time.monotonic() + 20
            while not gone(frozen) and time.monotonic() < deadline:
                time.sleep(0.1)
            result["frozen_gone"] = gone(frozen)
        finally:
            env.close()
        """,
        timeout=180,
    )
    assert result["where"] in result["message"]
    assert "lost the embedded server" in result["message"]
    assert result["seconds"] < 3.0 + 5.0, "no hang past the configured timeout"
    assert result["new_server"] is True
    assert result["frozen_gone"] is True, "the frozen server was stopped, not left behind"


def test_killing_the_training_process_leaves_no_server() -> None:
    script = (
        "import sys, time\n"
        "sys.path.insert(0, '.')\n"
        "from dqn_example.dqn_experiment import DQNExperiment\n"
        "from rllib_integration.carla_env import CarlaEnv\n"
        "from rllib_integration.training.env_config import load_env_config\n"
        "path = 'dqn_example/dqn_config.yaml'\n"
        "config, _ = load_env_config(path, DQNExperiment, path)\n"
        "env = CarlaEnv(config)\n"
        "env.reset(seed=0)\n"
        "print(env.core.server.pid, flush=True)\n"
        "while True:\n"
        "    env.step(1)\n"
    )
    trainer = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert trainer.stdout is not None
        server_pid = int(trainer.stdout.readline())
        assert os.path.exists(f"/proc/{server_pid}")
        time.sleep(1.0)  # mid-episode
        trainer.kill()
        trainer.wait(timeout=30)
        deadline = time.monotonic() + 15.0
        while os.path.exists(f"/proc/{server_pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{server_pid}"), "the server outlived its trainer"
    finally:
        if trainer.poll() is None:
            trainer.kill()


def test_resets_with_npcs_and_walkers_leak_nothing() -> None:
    result = run_python(
        PRELUDE
        + """
        from bench.servers import process_stats

        env = CarlaEnv(dqn_config(n_vehicles=20, n_walkers=30))
        samples = []
        try:
            env.reset(seed=0)
            for i in range(1, 201):
                env.reset(seed=i if i % 2 else None)  # with a seed the NPCs respawn too
                for _ in range(5):
                    env.step(1)
                if i in (50, 200):
                    world = env.core.world
                    actors = world.get_actors()
                    samples.append({
                        "vehicles": len(actors.filter("vehicle.*")),
                        "walkers": len(actors.filter("walker.pedestrian.*")),
                        "controllers": len(actors.filter("controller.ai.walker")),
                        "sensors": len(actors.filter("sensor.*")),
                        "client": process_stats(os.getpid()),
                        "server": process_stats(env.core.server.pid),
                        "children": len(os.listdir(f"/proc/{os.getpid()}/task")),
                    })
        finally:
            env.close()
        result["samples"] = samples
        """,
        timeout=600,
    )
    early, late = result["samples"]
    for key in ("vehicles", "walkers", "controllers", "sensors"):
        assert early[key] == late[key], (key, early, late)
    assert late["vehicles"] == 21  # 20 NPCs + the hero: none left over from earlier episodes
    for process in ("client", "server"):
        assert late[process]["fds"] == early[process]["fds"], (process, early, late)
        assert late[process]["threads"] == early[process]["threads"], (process, early, late)
        assert late[process]["rss_mib"] - early[process]["rss_mib"] < 16.0, (process, early, late)


def _servers_with(token: str) -> list[int]:
    """carla_lite servers whose environment carries ``token`` (inherited from the trainer
    through Ray's raylet and workers, which are not all its descendants)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if b"carla_lite" in command and token.encode() in environ.split(b"\0"):
            found.append(int(entry))
    return sorted(found)


ITERATIONS = 12


@pytest.mark.ray
@pytest.mark.slow
def test_training_keeps_going_when_its_simulator_is_killed(tmp_path: Path) -> None:
    config = tiny_ppo_yaml(tmp_path, envs_per_runner=1, n_vehicles=2, n_walkers=0)
    directory = tmp_path / "runs"
    command = [sys.executable, str(REPO_ROOT / "ppo_train.py"), str(config), "--tboff"]
    command += ["-d", str(directory), "-n", "faults", "--stop-iters", str(ITERATIONS)]
    token = f"FAULT_TEST_TOKEN={uuid.uuid4().hex}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "FAULT_TEST_TOKEN": token.split("=")[1]}
    trainer = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    killed: list[int] = []
    timeline: list[tuple[int, int]] = []
    try:
        deadline = time.monotonic() + 240
        while len(killed) < 2 and trainer.poll() is None and time.monotonic() < deadline:
            servers = [pid for pid in _servers_with(token) if pid not in killed]
            results = list(directory.glob("faults/*/result.json"))
            iterations = len(results[0].read_text().splitlines()) if results else 0
            if servers and iterations >= 1 + 3 * len(killed):
                os.killpg(servers[0], signal.SIGKILL)  # mid-run, as a crash would
                killed.append(servers[0])
                timeline.append((iterations, servers[0]))
            time.sleep(0.05)
        output, _ = trainer.communicate(timeout=300)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    text = output.decode(errors="replace")
    assert trainer.returncode == 0, text[-4000:]
    assert len(killed) == 2, f"killed at (iteration, pid) {timeline}; output:\n{text[-3000:]}"
    (trial,) = [p for p in (directory / "faults").iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    assert len(rows) == ITERATIONS, "every iteration ran despite the two simulator crashes"
    assert rows[-1]["env_runners"]["num_env_steps_sampled_lifetime"] >= ITERATIONS * 128
    assert (trial / "policy.pt").is_file()
    deadline = time.monotonic() + 15.0
    while _servers_with(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_with(token) == [], "no server outlives the training"
