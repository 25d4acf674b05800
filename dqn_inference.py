"""Run a trained DQN policy on CarlaEnv with torch only (no Ray): greedy episodes.

Loads the Q-network that dqn_train.py exports (<trial>/q_network.pt), runs episodes (reset
on terminated/truncated), prints each episode's return and distance driven, and can save the
drive as an MP4 (--video: a 320 px BirdView with speed, action and reward). --policy random
runs the uniform-random baseline.
"""

from __future__ import annotations

import argparse
import json
import sys

from dqn_example.env_config import load_env_config
from dqn_example.inference import EpisodeResult, random_policy, run_episodes
from dqn_example.q_network import greedy_action, load_exported
from rllib_integration.carla_env import CarlaEnv
from rllib_integration.drive_video import add_video_sensor


def pick_device(device: str) -> str:
    """``auto``: CUDA if available, else CPU; a CUDA device that is missing is an error."""
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("Torch cuda check failed, your drivers might not be correctly installed")
    return device


def print_result(result: EpisodeResult) -> None:
    print(
        f"episode {result.episode}: return {result.episode_return:9.2f}  distance "
        f"{result.distance_m:7.1f} m  steps {result.steps:5d}  ({result.ended_by})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configuration_file", help="the training yaml (for the env config)")
    parser.add_argument("network", help="the exported Q-network (q_network.pt)")
    parser.add_argument("-d", "--device", default="auto", help="auto, cpu or cuda:N")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--max-steps", type=int, default=None, help="cut episodes after N steps")
    parser.add_argument(
        "--video", default=None, help="save the drive as this MP4 (320 px BirdView, action, reward)"
    )
    parser.add_argument("--policy", choices=("greedy", "random"), default="greedy")
    parser.add_argument("--json", default=None, help="write the per-episode results here")
    args = parser.parse_args(argv)
    env_config = load_env_config(args.configuration_file)
    if args.video:
        add_video_sensor(env_config)  # a 320 px BirdView for people; the agent's input is unchanged
    env = CarlaEnv(env_config)
    try:
        if args.policy == "greedy":
            height, width, channels = env.observation_space.shape  # type: ignore[misc]
            network = load_exported(
                args.network,
                pick_device(args.device),
                expected_obs_shape=(height, width, channels),
                expected_num_actions=int(env.action_space.n),  # type: ignore[attr-defined]
            )
            policy = lambda obs: greedy_action(network, obs)  # noqa: E731
        else:
            policy = random_policy(int(env.action_space.n), args.seed)  # type: ignore[attr-defined]
        results = run_episodes(
            env,
            policy,
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
    if args.json:
        with open(args.json, "w") as out:
            json.dump([r.as_dict() for r in results], out, indent=2)
    mean = sum(r.distance_m for r in results) / max(len(results), 1)
    print(f"mean distance {mean:.1f} m over {len(results)} episode(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
