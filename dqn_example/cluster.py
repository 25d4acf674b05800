"""Training on a running Ray cluster: ``dqn_train.py --auto``.

``--auto`` joins the cluster (``ray.init(address="auto")``: ``RAY_ADDRESS``, else the cluster
the last ``ray start`` on this machine created) and spreads the env runners over its nodes:

* the trial's placement group uses Ray's ``SPREAD`` strategy, so its bundles (the main
  process's and one per runner) go to distinct nodes as evenly as Ray's scheduler manages;
  RLlib's default ``PACK`` would fill the head first. SPREAD is best effort: with 2 runners
  on 2 nodes both may land next to each other, the main process counting as the third
  bundle;
* the main process (algorithm, replay buffer and, with ``num_learners: 0``, the learner) is
  pinned to the head node through Ray's ``node:__internal_head__`` resource: Tune writes the
  checkpoints from that process into ``--directory``, which is a path on the head's disk
  (a worker node could not write there);
* every runner builds its own ``CarlaEnv`` objects, and each env launches its own carla_lite
  on first reset, on the runner's node. Ports come from the host-wide port registry
  (``rllib_integration.ports``), so runners sharing a host never pick the same ones.

Where the runners landed, with the pids and RPC ports of the servers they started, is
reported in every training result under ``env_runner_placement`` (see
:func:`record_placement`) and printed once by ``dqn_train.py``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from rllib_integration.errors import ConfigError
from rllib_integration.training.callbacks import carla_envs

if TYPE_CHECKING:
    from ray.rllib.algorithms.dqn import DQNConfig

    from dqn_example.training_config import TrainingConfig

#: A resource only the head node has (Ray sets it on every head); the main process asks
#: for a sliver of it so that it, and the checkpoints it writes, stay on the head.
HEAD_NODE_RESOURCE = "node:__internal_head__"
HEAD_NODE_SHARE = 0.001
#: The result key of :func:`record_placement`.
PLACEMENT_KEY = "env_runner_placement"
#: What to do when there is no cluster to join.
START_HINT = (
    "start one with `ray start --head` (on AWS: `ray up dqn_example/dqn_autoscaler.yaml`), "
    "or point RAY_ADDRESS at its head (<ip>:6379)"
)


class ClusterNotFoundError(RuntimeError):
    """``--auto`` found no Ray cluster to join."""


def connect(address: str = "auto") -> None:
    """Join a running Ray cluster.

    Args:
        address: passed to ``ray.init``; ``"auto"`` reads ``RAY_ADDRESS`` or finds the
            cluster started by ``ray start`` on this machine.

    Raises:
        ClusterNotFoundError: no cluster found; the message says how to start one.
    """
    import ray

    try:
        ray.init(address=address)
    except ConnectionError as error:
        where = os.environ.get("RAY_ADDRESS") or address
        raise ClusterNotFoundError(
            f"--auto found no running Ray cluster ({where}: {error}); {START_HINT}"
        ) from error


def runners_for_cluster(training_config: TrainingConfig, num_cpus: float) -> int:
    """How many env runners the cluster's CPUs hold next to the main process and learners.

    Args:
        training_config: the validated yaml (its per-runner and main-process CPUs).
        num_cpus: CPUs Ray sees (``ray.cluster_resources()["CPU"]``).

    Raises:
        ConfigError: not even one runner fits.
    """
    raw = training_config.raw
    per_runner = float(raw["env_runners"]["num_cpus_per_env_runner"])
    taken = float(raw["resources"]["num_cpus_for_main_process"])
    taken += raw["learners"]["num_learners"]  # one CPU each, as required_resources counts
    count = int((num_cpus - taken) // per_runner)
    if count < 1:
        raise ConfigError(
            f"--num-env-runners cluster: {num_cpus:g} CPUs hold no env runner of "
            f"{per_runner:g} CPUs next to the main process ({taken:g} CPUs); add nodes or "
            "lower env_runners.num_cpus_per_env_runner"
        )
    return count


def set_num_env_runners(training_config: TrainingConfig, count: int) -> None:
    """Override ``env_runners.num_env_runners`` of a validated yaml (``--num-env-runners``)."""
    if count < 0:
        raise ConfigError(f"--num-env-runners: must be >= 0, got {count}")
    training_config.raw["env_runners"]["num_env_runners"] = count


def check_learner_placement(training_config: TrainingConfig, head_gpus: float) -> None:
    """Refuse a learner GPU that would have to be on a head without GPUs.

    With ``num_learners: 0`` the learner lives in the main process, which ``--auto`` keeps on
    the head node; its GPU must then be the head's.

    Raises:
        ConfigError: naming the key that moves the learner to a GPU worker.
    """
    learners = training_config.raw["learners"]
    wanted = float(learners["num_gpus_per_learner"])
    if learners["num_learners"] == 0 and wanted > head_gpus:
        raise ConfigError(
            f"{training_config.path.name}: with --auto the main process stays on the head "
            f"node (it writes the checkpoints), and with learners.num_learners 0 the learner "
            f"and its {wanted:g} GPU(s) live there too, but the head has {head_gpus:g}. Set "
            "learners.num_learners: 1 so the learner runs on a GPU worker"
        )


def head_node_resources() -> dict[str, float]:
    """The resources of the cluster's head node (empty if Ray reports none as head)."""
    import ray

    for node in ray.nodes():
        resources = node.get("Resources") or {}
        if node.get("Alive") and HEAD_NODE_RESOURCE in resources:
            return {str(k): float(v) for k, v in resources.items()}
    return {}


def spread_over_cluster(config: DQNConfig) -> DQNConfig:
    """Spread the trial's bundles over the nodes and keep the main process on the head.

    Also registers :func:`record_placement` as an ``on_train_result`` callback.
    """
    config.resources(
        placement_strategy="SPREAD",
        custom_resources_for_main_process={HEAD_NODE_RESOURCE: HEAD_NODE_SHARE},
    )
    config.callbacks(on_train_result=record_placement)
    return config


def describe_env_runner(env_runner: Any) -> dict[str, Any]:
    """Where one env runner runs and which simulator servers its envs started.

    Runs inside the env runner (through ``foreach_env_runner``).

    Returns:
        ``{"runner": index, "node_id": hex, "node_ip": str, "hostname": str, "pid": int,
        "rss_mib": float,
        "servers": [{"pid": int | None, "rpc_port": int, "rss_mib": float | None}, ...]}``;
        an env that has not started its server yet (no reset so far) is left out; the
        resident memory is None where it cannot be read (an external server).
    """
    import socket

    import ray

    servers = []
    for carla_env in carla_envs(getattr(env_runner, "env", None)):
        core = getattr(carla_env, "core", None)
        server = getattr(core, "server", None)
        if server is not None:
            servers.append(
                {"pid": server.pid, "rpc_port": server.rpc_port, "rss_mib": _rss_mib(server.pid)}
            )
    return {
        "runner": int(getattr(env_runner, "worker_index", 0)),
        "node_id": ray.get_runtime_context().get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "rss_mib": _rss_mib(os.getpid()),
        "servers": servers,
    }


def _rss_mib(pid: int | None) -> float | None:
    """Resident memory of a process [MiB] (psutil comes with Ray), None if unreadable."""
    if pid is None:
        return None
    import psutil

    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except (psutil.Error, OSError):
        return None


def record_placement(*, algorithm: Any, result: dict[str, Any], **kwargs: Any) -> None:
    """``on_train_result``: add where the remote env runners are to the result.

    Adds ``result["env_runner_placement"] = {"num_env_runners", "num_nodes", "num_servers",
    "runners"}``; ``runners`` is a JSON list of :func:`describe_env_runner` dicts, kept as a
    string so that Tune's TensorBoard logger skips it instead of warning.
    """
    group = getattr(algorithm, "env_runner_group", None)
    if group is None or group.num_remote_env_runners() == 0:
        return
    runners = group.foreach_env_runner(describe_env_runner, local_env_runner=False)
    runners = sorted(runners, key=lambda runner: runner["runner"])
    result[PLACEMENT_KEY] = {
        "num_env_runners": len(runners),
        "num_nodes": len({runner["node_id"] for runner in runners}),
        "num_servers": sum(len(runner["servers"]) for runner in runners),
        "runners": json.dumps(runners),
    }


def placement_summary(placement: dict[str, Any]) -> str:
    """One line for the console from a result's ``env_runner_placement``."""
    runners = json.loads(placement["runners"])
    per_node: dict[str, list[str]] = {}
    for runner in runners:
        pids = ",".join(str(server["pid"]) for server in runner["servers"]) or "none yet"
        node = f"{runner.get('node_ip', '?')} ({runner['node_id'][:8]})"
        per_node.setdefault(node, []).append(
            f"runner {runner['runner']} (pid {runner['pid']}, servers {pids})"
        )
    nodes = "; ".join(f"node {node}: " + ", ".join(items) for node, items in per_node.items())
    return (
        f"env runners: {placement['num_env_runners']} on {placement['num_nodes']} node(s), "
        f"{placement['num_servers']} simulator server(s) - {nodes}"
    )
