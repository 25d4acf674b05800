"""Route soak: the PPO example's env driven by a policy for many ticks, episode after episode.

Builds CarlaEnv from ppo_example/ppo_config.yaml (PPOExperiment: a new route per episode, 20
NPC vehicles and 20 walkers, the BirdView and the driving score every tick) and steps it
``--ticks`` times with random actions or an exported policy (``--policy policy.pt``),
resetting at every episode end. Every ``--window`` ticks it records the process's RSS, its
open file descriptors and threads, the episodes finished and how they ended, and the tick
rate; at the end, whether RSS stayed flat (growth over the second half). Prints JSON;
``--out`` also writes it.

Usage: .venv/bin/python bench/soak_routes.py [--ticks 20000] [--policy policy.pt]
       [--out bench/results/soak_routes.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import process_stats  # noqa: E402
from ppo_example.ppo_experiment import PPOExperiment  # noqa: E402
from rllib_integration.carla_env import CarlaEnv  # noqa: E402
from rllib_integration.training.env_config import load_env_config  # noqa: E402


def soak(args: argparse.Namespace) -> dict[str, Any]:
    env_config, _ = load_env_config(
        REPO / "ppo_example" / "ppo_config.yaml", PPOExperiment, "ppo_example/ppo_config.yaml"
    )
    env = CarlaEnv(env_config)
    if args.policy:
        from ppo_example.inference import TorchPolicy

        policy: Any = TorchPolicy(args.policy)
    else:
        env.action_space.seed(0)
        policy = lambda _obs: env.action_space.sample()  # noqa: E731
    endings: collections.Counter[str] = collections.Counter()
    windows = []
    completion = []
    start = time.perf_counter()
    try:
        observation, _ = env.reset(seed=0)
        for tick in range(1, args.ticks + 1):
            observation, _, terminated, truncated, _ = env.step(policy(observation))
            if not np.all(np.isfinite(observation["state"])):
                raise RuntimeError(f"non-finite state at tick {tick}")
            if terminated or truncated:
                record = env.experiment.task.record
                endings[record.status] += 1
                completion.append(record.route_completion)
                observation, _ = env.reset()
            if tick % args.window == 0:
                stats = process_stats(os.getpid())
                windows.append(
                    {
                        "tick": tick,
                        "rss_mib": round(stats["rss_mib"], 1),
                        "fds": stats["fds"],
                        "threads": threading.active_count(),
                        "os_threads": stats["threads"],
                        "episodes": sum(endings.values()),
                        "ticks_per_s": round(tick / (time.perf_counter() - start), 1),
                    }
                )
                print(json.dumps(windows[-1]), file=sys.stderr, flush=True)
    finally:
        env.close()
    half = windows[len(windows) // 2]
    return {
        "benchmark": "soak_routes",
        "ticks": args.ticks,
        "policy": args.policy or "random",
        "episodes": sum(endings.values()),
        "endings": dict(endings),
        "mean_route_completion": round(float(np.mean(completion)), 1) if completion else None,
        "ticks_per_s": round(args.ticks / (time.perf_counter() - start), 1),
        "rss_growth_second_half_mib": round(windows[-1]["rss_mib"] - half["rss_mib"], 1),
        "fd_growth_second_half": windows[-1]["fds"] - half["fds"],
        "os_thread_growth_second_half": windows[-1]["os_threads"] - half["os_threads"],
        "windows": windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--policy", default=None, help="exported PPO policy (policy.pt)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    result = soak(args)
    text = json.dumps(result)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    main()
