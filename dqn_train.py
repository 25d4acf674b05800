#!/usr/bin/env python
"""Train the DQN example (DQNExperiment on CarlaEnv) with Ray Tune and RLlib's DQN.

Checkpoints every iteration and at the end into <directory>/<name>/<trial>/checkpoint_NNNNNN,
exports the trained Q-network for Ray-free inference (<trial>/q_network.pt) and draws the
learning curve (<trial>/learning_curve.png). Ray's own output goes to <directory>/<name>/ray.log;
the console shows one line per iteration. Without a stop option, training runs until the
machine's RAM use reaches 85 % (the original's only criterion) or Ctrl-C.

With --auto it joins a running Ray cluster (`ray start --head`, or `ray up
dqn_example/dqn_autoscaler.yaml`) and spreads the env runners over its nodes, each runner
starting its own simulator servers (see dqn_example/cluster.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rllib_integration.training.tune_run import (
    TrainingJob,
    add_training_arguments,
    run_script,
    train,
)

Q_NETWORK_FILE = "q_network.pt"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (the original's options plus stop criteria)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "configuration_file", help="training yaml, e.g. dqn_example/dqn_config.yaml"
    )
    add_training_arguments(parser, default_name="dqn_example")
    parser.add_argument(
        "--auto",
        action="store_true",
        help="join a running Ray cluster (ray.init(address='auto')) and spread the env "
        "runners over its nodes",
    )
    parser.add_argument(
        "--num-env-runners",
        type=_runner_count,
        default=None,
        metavar="N|cluster",
        help="override env_runners.num_env_runners of the yaml; 'cluster': as many as the "
        "CPUs Ray sees hold next to the main process",
    )
    return parser.parse_args(argv)


def _runner_count(text: str) -> int | str:
    """``--num-env-runners``: an int >= 0 or ``cluster``."""
    if text == "cluster":
        return text
    try:
        count = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected an int >= 0 or 'cluster', got {text!r}"
        ) from error
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0 or 'cluster', got {count}")
    return count


def _export_q_network(trial_dir: Path, checkpoint: str) -> list[str]:
    """The trained Q-network of the final checkpoint, for Ray-free inference."""
    from dqn_example.dqn_model import export_q_network, module_from_checkpoint

    export_q_network(module_from_checkpoint(checkpoint), trial_dir / Q_NETWORK_FILE)
    return [f"Q-network for Ray-free inference: {trial_dir / Q_NETWORK_FILE}"]


def _autoscaled(training_config: Any, num_cpus: float, num_gpus: float) -> tuple[float, float]:
    """The resources to check the yaml against on a cluster that may still grow.

    A cluster started by ``ray up`` adds worker nodes when a placement group waits for
    resources, so a run larger than the nodes up now is not an error there: say what is
    missing and let Tune wait (``ray status`` shows the pending demand).
    """
    from dqn_example.training_config import required_resources

    cpus, gpus = required_resources(training_config)
    if cpus > num_cpus or gpus > num_gpus:
        print(
            f"The cluster has {num_cpus:g} CPUs and {num_gpus:g} GPUs now; this run reserves "
            f"{cpus:g} CPUs and {gpus:g} GPUs. Waiting for the autoscaler to add worker nodes "
            "(`ray status` shows the pending demand). A cluster without one waits forever: "
            "add nodes (`ray start --address=...`) or lower env_runners.num_env_runners",
            flush=True,
        )
    return max(cpus, num_cpus), max(gpus, num_gpus)


def _algorithm_config(
    args: argparse.Namespace, training_config: Any, num_cpus: float, num_gpus: float
) -> Any:
    """The ``DQNConfig`` for the resources Ray sees, with the cluster options applied."""
    from dqn_example import cluster
    from dqn_example.training_config import build_algorithm_config

    if args.num_env_runners is not None:
        count = (
            cluster.runners_for_cluster(training_config, num_cpus)
            if args.num_env_runners == "cluster"
            else int(args.num_env_runners)
        )
        cluster.set_num_env_runners(training_config, count)
        print(f"Env runners: {count} (--num-env-runners {args.num_env_runners})")
    if args.auto:
        cluster.check_learner_placement(
            training_config, cluster.head_node_resources().get("GPU", 0.0)
        )
        num_cpus, num_gpus = _autoscaled(training_config, num_cpus, num_gpus)
    config = build_algorithm_config(
        training_config, num_cpus_available=num_cpus, num_gpus_available=num_gpus
    )
    if args.auto:
        cluster.spread_over_cluster(config)
    return config


def _placement_line(result: Mapping[str, Any]) -> str | None:
    """Where the env runners are (``--auto``), from a training result."""
    from dqn_example.cluster import PLACEMENT_KEY, placement_summary

    placement = result.get(PLACEMENT_KEY)
    if isinstance(placement, dict) and "runners" in placement:
        return placement_summary(placement)
    return None


def run(args: argparse.Namespace) -> int:
    """Train; returns the exit status."""
    from dqn_example.training_config import load_training_config

    training_config = load_training_config(args.configuration_file)  # ConfigError: status 2

    from ray.rllib.algorithms.dqn import DQN

    from dqn_example import cluster

    job = TrainingJob(
        algorithm=DQN,
        label="DQN",
        env_config=training_config.env_config,
        build_config=lambda cpus, gpus: _algorithm_config(args, training_config, cpus, gpus),
        notes=training_config.notes,
        connect=cluster.connect if args.auto else None,
        local=not args.auto,
        export=_export_q_network,
        progress_note=_placement_line,
        config_file=args.configuration_file,
    )
    return train(args, job)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: a yaml error is one line (status 2), Ctrl-C stops cleanly (130); "done."."""
    return run_script(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
