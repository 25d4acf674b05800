"""A real two-node Ray cluster on this machine, started with ``ray start`` on loopback.

Each node is a ``ray start --block`` process in its own process group: Ray's daemons (GCS,
raylet, agents) and the workers the raylet forks stay in that group, so the fixture stops
exactly what it started (SIGTERM to ``ray start``, which drains and stops its node, then
SIGKILL to whatever of the group is left). ``ray stop`` is never used: it stops every Ray
process of the machine, other users' included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, ephemeral_port

#: ``ray`` with the node address kept on loopback (see loopback_ray.py).
RAY_CLI = [sys.executable, "-m", "tests.cluster.loopback_ray"]
CPU_YAML = REPO_ROOT / "dqn_example" / "dqn_config.yaml"
STARTED = "Ray runtime started."
START_TIMEOUT = 90.0  # [s] a node is up in ~5 s on 2 idle cores, much slower under load
STOP_TIMEOUT = 45.0  # [s] ray start drains for up to 30 s on SIGTERM
OBJECT_STORE_BYTES = 150 * 1024 * 1024  # per node; Ray's default would be 30 % of the RAM


def ray_env(**extra: str) -> dict[str, str]:
    """The environment of every Ray process of the test cluster (and of its drivers).

    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: Ray's address lookup answers 127.0.0.1, so
    every process binds and connects on loopback only (see loopback_ray.py).
    """
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        **extra,
    )
    # The workers import the project from the repo (Ray copies the driver's sys.path too).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def tiny_cluster_yaml(tmp_path: Path, num_env_runners: int = 2) -> Path:
    """The CPU profile shrunk to one short iteration, with remote env runners."""
    data = yaml.safe_load(CPU_YAML.read_text())
    data["env_runners"].update(num_env_runners=num_env_runners, num_cpus_per_env_runner=1)
    data["resources"]["num_cpus_for_main_process"] = 1
    data["training"].update(learning_starts=32, train_batch_size=32, replay_ratio=2)
    data["training"]["replay_buffer"]["capacity"] = 1000
    data["reporting"]["min_sample_timesteps_per_iteration"] = 64
    data["env_config"]["carla"]["timeout"] = 20.0
    experiment = data["env_config"]["experiment"]
    experiment["hero"]["sensors"]["birdview"]["size"] = 32
    experiment["others"].update(max_time_idle=20, max_time_episode=40)
    path = tmp_path / "tiny_cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class RayNode:
    """One ``ray start --block`` process and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def group_members(self) -> list[int]:
        """Pids still in this node's process group."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) == self.process.pid:
                    members.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
        return members

    def stop(self) -> None:
        """SIGTERM ``ray start`` (it stops its node), then SIGKILL what is left of the group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + 10.0
        while self.group_members() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.group_members():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def start_node(name: str, args: list[str], log_dir: Path, env: dict[str, str]) -> RayNode:
    """Run ``ray start --block ARGS`` and wait for its "started" line."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*RAY_CLI, "start", "--block", "--disable-usage-stats", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    node = RayNode(name, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while STARTED not in node.log():
        if process.poll() is not None or time.monotonic() > deadline:
            node.stop()
            raise RuntimeError(f"ray start ({name}) did not come up:\n{node.log()[-4000:]}")
        time.sleep(0.2)
    return node


@dataclass
class RayCluster:
    """A head and a worker node on 127.0.0.1, with what the test needs to reach them."""

    address: str
    temp_dir: Path
    nodes: list[RayNode] = field(default_factory=list)

    def node_ids(self) -> dict[str, str]:
        """``{"head": id, "worker": id}`` of the alive nodes, asked from a separate driver."""
        script = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, log_to_driver=False)\n"
            "nodes = [n for n in ray.nodes() if n['Alive']]\n"
            "print('NODES ' + json.dumps([[n['NodeID'], "
            "'node:__internal_head__' in n['Resources']] for n in nodes]))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env=ray_env(),
            cwd=REPO_ROOT,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("NODES ")]
        assert done.returncode == 0 and lines, done.stdout + done.stderr
        ids: dict[str, str] = {}
        for node_id, is_head in json.loads(lines[-1][len("NODES ") :]):
            ids["head" if is_head else "worker"] = node_id
        return ids


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[RayCluster]:
    """Head: 2 CPUs; worker: 1 CPU and its own resources; both on 127.0.0.1."""
    # A short path: Ray's unix sockets live under it (108-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="rayc", dir="/tmp"))
    port = ephemeral_port()
    cluster = RayCluster(address=f"127.0.0.1:{port}", temp_dir=temp_dir)
    common = [f"--temp-dir={temp_dir}", f"--object-store-memory={OBJECT_STORE_BYTES}"]
    try:
        head_args = [
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--dashboard-port={ephemeral_port()}",
            f"--ray-client-server-port={ephemeral_port()}",
        ]
        worker_args = [f"--address={cluster.address}", "--num-cpus=1", "--num-gpus=0"]
        for name, args in (("head", head_args), ("worker", worker_args)):
            # Ports every node of a host would otherwise share by default.
            args = [
                *args,
                *common,
                f"--dashboard-agent-listen-port={ephemeral_port()}",
                f"--dashboard-agent-grpc-port={ephemeral_port()}",
                f"--metrics-export-port={ephemeral_port()}",
                f"--runtime-env-agent-port={ephemeral_port()}",
                "--resources=" + json.dumps({f"{name}_node": 1}),
            ]
            cluster.nodes.append(start_node(name, args, temp_dir, ray_env()))
        yield cluster
    finally:
        for node in reversed(cluster.nodes):  # the worker first, the GCS (head) last
            node.stop()
        leftovers = {node.name: node.group_members() for node in cluster.nodes}
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not any(leftovers.values()), f"Ray processes left: {leftovers}"
