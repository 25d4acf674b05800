"""``dqn_train.py --auto`` on a real two-node Ray cluster of this machine.

The head has 2 CPUs, the worker 1; the run asks for the main process (1 CPU, kept on the
head) and as many env runners of 1 CPU as the cluster holds (2), so one runner must land on
each node, and each starts its own carla_lite. The env runners report their node and the
servers they started in the training result (``env_runner_placement``); afterwards none of
those servers runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import RayCluster, ray_env, tiny_cluster_yaml
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _server_running(pid: int) -> bool:
    """Whether ``pid`` is still a carla_lite process (a reused pid is something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    zombie = any(line.startswith("State:") and "Z" in line for line in status.splitlines())
    return b"carla_lite" in cmdline and not zombie


def test_auto_spreads_env_runners_over_both_nodes(
    two_node_cluster: RayCluster, tmp_path: Path
) -> None:
    nodes = two_node_cluster.node_ids()
    assert set(nodes) == {"head", "worker"}, nodes

    # The yaml samples in the main process; --num-env-runners cluster fills the 3 CPUs.
    config = tiny_cluster_yaml(tmp_path, num_env_runners=0)
    command = [sys.executable, str(REPO_ROOT / "dqn_train.py"), str(config), "--auto"]
    command += ["--num-env-runners", "cluster", "--tboff", "-d", str(tmp_path / "runs")]
    command += ["--stop-iters", "1"]
    env = ray_env(RAY_ADDRESS=two_node_cluster.address)
    start = time.monotonic()
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=420, check=False
    )
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    assert done.stdout.rstrip().endswith("done.")
    assert "Env runners: 2 (--num-env-runners cluster)" in done.stdout

    (trial,) = [p for p in (tmp_path / "runs" / "dqn_example").iterdir() if p.is_dir()]
    results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    assert results[-1]["training_iteration"] == 1
    assert (trial / "checkpoint_000000").is_dir()  # written by the head-pinned main process
    placement = results[-1]["env_runner_placement"]
    runners = json.loads(placement["runners"])
    print(f"two-node run: {elapsed:.1f} s; runners: {json.dumps(runners)}")

    assert placement["num_env_runners"] == 2 and placement["num_nodes"] == 2
    assert {runner["runner"] for runner in runners} == {1, 2}
    assert {runner["node_id"] for runner in runners} == {nodes["head"], nodes["worker"]}
    # Each runner started its own carla_lite, on its own ports.
    servers = [server for runner in runners for server in runner["servers"]]
    assert [len(runner["servers"]) for runner in runners] == [1, 1]
    assert all(server["pid"] for server in servers)
    assert len({server["pid"] for server in servers}) == 2
    assert len({server["rpc_port"] for server in servers}) == 2
    assert {runner["pid"] for runner in runners}.isdisjoint(server["pid"] for server in servers)
    assert "env runners: 2 on 2 node(s), 2 simulator server(s)" in done.stdout

    # The runners stopped their servers (or the servers followed their dead parent).
    deadline = time.monotonic() + 15.0
    while any(_server_running(server["pid"]) for server in servers):
        assert time.monotonic() < deadline, f"carla_lite left running: {servers}"
        time.sleep(0.2)
    # The cluster is still up for the next driver.
    assert all(node.process.poll() is None for node in two_node_cluster.nodes)


def test_resources_beyond_the_cluster_wait_for_the_autoscaler_note(
    two_node_cluster: RayCluster, tmp_path: Path
) -> None:
    """More runners than the cluster holds: a note (not an error), then Tune waits."""
    command = [sys.executable, str(REPO_ROOT / "dqn_train.py")]
    command += [str(tiny_cluster_yaml(tmp_path, num_env_runners=4)), "--auto", "--tboff"]
    command += ["-d", str(tmp_path / "runs"), "--stop-iters", "1"]
    env = ray_env(RAY_ADDRESS=two_node_cluster.address)
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120.0
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "Waiting for the autoscaler" in line or time.monotonic() > deadline:
                break
        text = "".join(seen)
        assert "The cluster has 3 CPUs and 0 GPUs now; this run reserves 5 CPUs" in text, text
        assert process.poll() is None  # waiting, not failed
    finally:
        # SIGINT: the driver's Ctrl-C path (Tune stops the pending trial, ray disconnects).
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
