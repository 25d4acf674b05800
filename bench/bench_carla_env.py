"""CarlaEnv benchmark on the embedded server: step rate with a BirdView observation, reset
time, and the client's and the server's RSS, open descriptors and threads after 10, 100,
1,000 and 10,000 resets (those not above ``--resets`` are skipped). Prints JSON.

Usage: .venv/bin/python bench/bench_carla_env.py [--size 300] [--steps 2000] [--resets 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import process_stats
from rllib_integration.carla_env import CarlaEnv
from tests.rllib_integration.experiments import BirdViewExperiment

CHECKPOINTS = (10, 100, 1_000, 10_000)


def stats(env: CarlaEnv) -> dict[str, dict[str, float]]:
    """``process_stats`` of this process and of the env's server."""
    server = env.core.server
    assert server is not None and server.pid is not None
    return {"client": process_stats(os.getpid()), "server": process_stats(server.pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--resets", type=int, default=1000)
    args = parser.parse_args()
    config = {
        "carla": {"server": "embedded"},
        "experiment": {
            "type": BirdViewExperiment,
            "town": "LiteTown01",
            "others": {"max_steps": 10**9, "size": args.size},
        },
    }
    env = CarlaEnv(config)
    try:
        start = time.perf_counter()
        env.reset(seed=0)
        first_reset = time.perf_counter() - start
        for _ in range(50):
            env.step(1)
        steps = 0
        start = time.perf_counter()
        while steps < args.steps:
            _, _, terminated, truncated, _ = env.step([1, 1, 2, 3][steps % 4])
            steps += 1
            if terminated or truncated:
                env.reset()
        step_rate = steps / (time.perf_counter() - start)
        reset_ms = []
        processes = {}
        for i in range(1, args.resets + 1):
            start = time.perf_counter()
            env.reset()
            reset_ms.append((time.perf_counter() - start) * 1000)
            env.step(1)
            if i in CHECKPOINTS or i == args.resets:
                processes[f"after_{i}_resets"] = stats(env)
        print(
            json.dumps(
                {
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "birdview_size_px": args.size,
                    "steps_per_s": round(step_rate, 1),
                    "first_reset_s": round(first_reset, 3),
                    "reset_ms": {
                        "median": round(statistics.median(reset_ms), 2),
                        "p90": round(sorted(reset_ms)[int(0.9 * len(reset_ms))], 2),
                    },
                    "client_rss_mib": {
                        k: round(v["client"]["rss_mib"], 1) for k, v in processes.items()
                    },
                    "processes": processes,
                },
                indent=2,
            )
        )
    finally:
        env.close()


if __name__ == "__main__":
    main()
