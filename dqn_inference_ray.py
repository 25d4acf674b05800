"""Run a trained DQN policy on CarlaEnv through RLlib: restore a Tune checkpoint's RL module.

Restores the module from a checkpoint directory (checkpoint_NNNNNN of a dqn_train.py trial),
runs greedy episodes (reset on terminated/truncated) and prints each episode's return and
distance driven; --video saves the drive as an MP4 (320 px BirdView, speed, action, reward).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from dqn_example.env_config import load_env_config
from dqn_example.inference import run_episodes
from rllib_integration.carla_env import CarlaEnv
from rllib_integration.drive_video import add_video_sensor


def greedy_from_module(module: Any) -> Any:
    """observation -> the module's greedy action (``forward_inference``)."""
    import torch

    def choose(obs: np.ndarray) -> int:
        batch = {"obs": torch.from_numpy(np.ascontiguousarray(obs)[None])}
        with torch.no_grad():
            out = module.forward_inference(batch)
        return int(out["actions"][0])

    return choose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configuration_file", help="the training yaml (for the env config)")
    parser.add_argument("checkpoint", help="a checkpoint_NNNNNN directory of a dqn_train.py run")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--video", default=None)
    args = parser.parse_args(argv)
    from dqn_example.dqn_model import module_from_checkpoint
    from dqn_inference import print_result

    module = module_from_checkpoint(args.checkpoint)
    env_config = load_env_config(args.configuration_file)
    if args.video:
        add_video_sensor(env_config)  # a 320 px BirdView for people; the agent's input is unchanged
    env = CarlaEnv(env_config)
    try:
        results = run_episodes(
            env,
            greedy_from_module(module),
            episodes=args.episodes,
            seed=args.seed,
            video_path=args.video,
            max_steps=args.max_steps,
            report=print_result,
        )
    except KeyboardInterrupt:
        print("\nshutdown by user")
        return 1
    finally:
        env.close()
    mean = sum(r.distance_m for r in results) / max(len(results), 1)
    print(f"mean distance {mean:.1f} m over {len(results)} episode(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
