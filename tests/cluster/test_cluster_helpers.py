"""dqn_example/cluster.py without a cluster: placement request, runner counts, reports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from dqn_example import cluster
from dqn_example.training_config import build_algorithm_config, load_training_config
from rllib_integration.errors import ConfigError
from tests.cluster.conftest import tiny_cluster_yaml
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.ray


def test_spread_keeps_the_main_process_on_the_head_and_spreads_the_runners(
    tmp_path: Path,
) -> None:
    from ray.rllib.algorithms.dqn import DQN

    training = load_training_config(tiny_cluster_yaml(tmp_path, num_env_runners=3))
    config = build_algorithm_config(training, num_cpus_available=4, num_gpus_available=0)
    plain = DQN.default_resource_request(config)
    assert plain.strategy == "PACK"  # RLlib's default: fill one node first

    request = DQN.default_resource_request(cluster.spread_over_cluster(config))
    assert request.strategy == "SPREAD"
    main, *runners = request.bundles
    assert main == {"CPU": 1, cluster.HEAD_NODE_RESOURCE: cluster.HEAD_NODE_SHARE}
    assert runners == [{"CPU": 1}] * 3  # free to go to any node
    assert config.callbacks_on_train_result is cluster.record_placement


def test_runners_for_cluster_counts_what_fits(tmp_path: Path) -> None:
    training = load_training_config(tiny_cluster_yaml(tmp_path))
    assert cluster.runners_for_cluster(training, 8.0) == 7  # 1 CPU for the main process
    training.raw["env_runners"]["num_cpus_per_env_runner"] = 2
    assert cluster.runners_for_cluster(training, 8.0) == 3
    with pytest.raises(ConfigError, match="hold no env runner of 2 CPUs"):
        cluster.runners_for_cluster(training, 2.0)
    cluster.set_num_env_runners(training, 5)
    assert training.raw["env_runners"]["num_env_runners"] == 5
    with pytest.raises(ConfigError, match=">= 0"):
        cluster.set_num_env_runners(training, -1)


def test_learner_gpu_on_a_cpu_head_is_refused_with_the_key_to_change() -> None:
    training = load_training_config(REPO_ROOT / "dqn_example" / "dqn_config_gpu.yaml")
    assert training.raw["learners"]["num_learners"] == 0
    assert training.raw["learners"]["num_gpus_per_learner"] > 0
    with pytest.raises(ConfigError, match=r"learners\.num_learners: 1"):
        cluster.check_learner_placement(training, head_gpus=0.0)
    cluster.check_learner_placement(training, head_gpus=1.0)  # a GPU head is fine
    training.raw["learners"]["num_learners"] = 1
    cluster.check_learner_placement(training, head_gpus=0.0)  # learner on a GPU worker


def test_describe_env_runner_lists_the_servers_its_envs_started() -> None:
    def carla_env(pid: int | None, port: int) -> SimpleNamespace:
        server = SimpleNamespace(pid=pid, rpc_port=port) if pid else None
        env = SimpleNamespace(core=SimpleNamespace(server=server))
        return SimpleNamespace(unwrapped=env)

    # RLlib's runner.env: a wrapper around a SyncVectorEnv holding the (wrapped) CarlaEnvs.
    vector = SimpleNamespace(envs=[carla_env(4242, 20000), carla_env(None, 0)])
    runner = SimpleNamespace(worker_index=3, env=SimpleNamespace(unwrapped=vector))
    import ray

    ray_context = SimpleNamespace(get_node_id=lambda: "ab" * 28)
    original = ray.get_runtime_context, ray.util.get_node_ip_address
    ray.get_runtime_context = lambda: ray_context  # type: ignore[assignment]
    ray.util.get_node_ip_address = lambda: "10.0.0.7"
    try:
        described = cluster.describe_env_runner(runner)
        # A runner without an env yet (asked for before it built one) has no servers.
        bare = cluster.describe_env_runner(SimpleNamespace(worker_index=1, env=None))
    finally:
        # Unpatched, ray.get_runtime_context() would start a local Ray in this process.
        ray.get_runtime_context, ray.util.get_node_ip_address = original
    assert described["runner"] == 3 and described["node_id"] == "ab" * 28
    assert described["node_ip"] == "10.0.0.7"
    assert described["pid"] == os.getpid()
    # The env that has not reset yet has no server and is left out.
    assert described["rss_mib"] > 10  # this very process
    (server,) = described["servers"]
    assert (server["pid"], server["rpc_port"]) == (4242, 20000)
    assert bare["servers"] == []
    assert not ray.is_initialized()


def test_record_placement_and_its_summary_line() -> None:
    runners = [
        {
            "runner": 2,
            "node_id": "b" * 56,
            "node_ip": "10.0.0.2",
            "pid": 12,
            "servers": [{"pid": 22, "rpc_port": 1}],
        },
        {
            "runner": 1,
            "node_id": "a" * 56,
            "node_ip": "10.0.0.1",
            "pid": 11,
            "servers": [{"pid": 21, "rpc_port": 4}],
        },
    ]
    group = SimpleNamespace(
        num_remote_env_runners=lambda: 2,
        foreach_env_runner=lambda func, local_env_runner: list(runners),
    )
    result: dict[str, object] = {}
    cluster.record_placement(algorithm=SimpleNamespace(env_runner_group=group), result=result)
    placement = result[cluster.PLACEMENT_KEY]
    assert isinstance(placement, dict)
    assert (placement["num_env_runners"], placement["num_nodes"], placement["num_servers"]) == (
        2,
        2,
        2,
    )
    assert [r["runner"] for r in json.loads(placement["runners"])] == [1, 2]
    assert cluster.placement_summary(placement) == (
        "env runners: 2 on 2 node(s), 2 simulator server(s) - "
        "node 10.0.0.1 (aaaaaaaa): runner 1 (pid 11, servers 21); "
        "node 10.0.0.2 (bbbbbbbb): runner 2 (pid 12, servers 22)"
    )
    # No remote runners (num_env_runners 0): nothing to report.
    local_only = SimpleNamespace(num_remote_env_runners=lambda: 0)
    empty: dict[str, object] = {}
    cluster.record_placement(algorithm=SimpleNamespace(env_runner_group=local_only), result=empty)
    assert empty == {}


def test_runner_count_flag() -> None:
    import dqn_train

    assert dqn_train.parse_args(["x.yaml", "--num-env-runners", "4"]).num_env_runners == 4
    assert dqn_train.parse_args(["x.yaml", "--num-env-runners", "cluster"]).num_env_runners == (
        "cluster"
    )
    assert dqn_train.parse_args(["x.yaml"]).num_env_runners is None
    for bad in ("-1", "many"):
        with pytest.raises(SystemExit):
            dqn_train.parse_args(["x.yaml", "--num-env-runners", bad])
