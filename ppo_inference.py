#!/usr/bin/env python
"""Drive routes with an exported PPO policy, without Ray.

Runs episodes of the PPO example (PPOExperiment: a new route each episode) with the policy
exported by ppo_train.py (<trial>/policy.pt), deterministic (the action mean), and prints
each episode's route completion, driving score and infractions. --video saves the drive as
an MP4 (a 320 px BirdView with the route, speed, action and reward); --policy random runs
uniform actions instead, the baseline. For a fixed, seeded benchmark, see evaluate.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configuration_file", help="the training yaml (for the env config)")
    parser.add_argument("network", nargs="?", default=None, help="the exported policy.pt")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--policy", choices=("deterministic", "random"), default="deterministic")
    parser.add_argument("--video", default=None, help="save the drive as this MP4")
    parser.add_argument("--json", default=None, help="write the per-episode results here")
    args = parser.parse_args(argv)
    if args.policy == "deterministic" and not args.network:
        parser.error("the network (policy.pt) is needed unless --policy random")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the episodes; 0 on success, 2 on a config or network error."""
    args = parse_args(argv)
    from ppo_example.ppo_experiment import PPOExperiment
    from rllib_integration.carla_env import CarlaEnv
    from rllib_integration.drive_video import DriveVideo, add_video_sensor
    from rllib_integration.errors import ConfigError
    from rllib_integration.training.env_config import load_env_config

    try:
        env_config, notes = load_env_config(
            args.configuration_file, PPOExperiment, "ppo_example/ppo_config.yaml"
        )
        if args.video:
            add_video_sensor(env_config)
        env = CarlaEnv(env_config)
        policy = _policy(args, env)
    except (ConfigError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}")
    timestep = float(env.core.config["timestep"])
    video = DriveVideo(args.video, fps=1.0 / timestep) if args.video else None
    results: list[dict[str, Any]] = []
    try:
        for episode in range(args.episodes):
            observation, _ = env.reset(seed=args.seed + episode)
            total, steps = 0.0, 0
            while True:
                action = policy(observation)
                observation, reward, terminated, truncated, _ = env.step(action)
                total += reward
                steps += 1
                if video is not None:
                    video.add(env, action, reward)
                if terminated or truncated:
                    break
            record = env.experiment.task.record  # type: ignore[attr-defined]
            results.append(
                {"episode": episode, "return": total, "steps": steps, **record.to_dict()}
            )
            print(
                f"episode {episode}: {record.status}, route {record.route_completion:5.1f} %, "
                f"driving score {record.driving_score:5.1f}, return {total:7.2f}, "
                f"{steps} steps",
                flush=True,
            )
    except KeyboardInterrupt:
        print("\nshutdown by user")
        return 1
    finally:
        if video is not None:
            video.close()
        env.close()
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    if video is not None:
        print(f"video: {args.video}")
    return 0


def _policy(args: argparse.Namespace, env: Any) -> Any:
    if args.policy == "random":
        space = env.action_space
        space.seed(args.seed)
        return lambda _obs: space.sample()
    from ppo_example.inference import TorchPolicy

    return TorchPolicy(args.network)


if __name__ == "__main__":
    sys.exit(main())
