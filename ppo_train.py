#!/usr/bin/env python
"""Train the PPO example (PPOExperiment on CarlaEnv) with Ray Tune and RLlib's PPO.

Checkpoints every iteration and at the end into <directory>/<name>/<trial>/checkpoint_NNNNNN,
exports the trained policy for Ray-free inference (<trial>/policy.pt) and draws the learning
curve with the driving metrics (<trial>/learning_curve.png). One progress line per
iteration shows the return, route completion and collisions per km; TensorBoard has the
same. Without a stop option, training runs until the machine's RAM use reaches 85 % or
Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rllib_integration.training.tune_run import (
    TrainingJob,
    add_training_arguments,
    run_script,
    train,
)

POLICY_FILE = "policy.pt"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (the same options as dqn_train.py, without the cluster ones)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "configuration_file", help="training yaml, e.g. ppo_example/ppo_config.yaml"
    )
    add_training_arguments(parser, default_name="ppo_example")
    return parser.parse_args(argv)


def _export_policy(trial_dir: Path, checkpoint: str) -> list[str]:
    """The trained policy of the final checkpoint, for Ray-free inference."""
    from ppo_example.ppo_model import export_policy, module_from_checkpoint

    export_policy(module_from_checkpoint(checkpoint), trial_dir / POLICY_FILE)
    return [f"Policy for Ray-free inference: {trial_dir / POLICY_FILE}"]


def run(args: argparse.Namespace) -> int:
    """Train; returns the exit status."""
    from ppo_example.training_config import build_algorithm_config, load_training_config

    training_config = load_training_config(args.configuration_file)  # ConfigError: status 2

    from ray.rllib.algorithms.ppo import PPO

    job = TrainingJob(
        algorithm=PPO,
        label="PPO",
        env_config=training_config.env_config,
        build_config=lambda cpus, gpus: build_algorithm_config(
            training_config, num_cpus_available=cpus, num_gpus_available=gpus
        ),
        notes=training_config.notes,
        export=_export_policy,
        config_file=args.configuration_file,
    )
    return train(args, job)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: a yaml error is one line (status 2), Ctrl-C stops cleanly (130); "done."."""
    return run_script(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
