"""How many CarlaEnvs one core runs at real time: K env processes started at once. Prints JSON.

Each process builds the DQN example's env (``dqn_example/dqn_config.yaml``: a 64 px
BirdView, its own embedded carla_lite server, 20 Hz simulation), as RLlib's env runners
do, and steps it with random actions for ``--seconds``; every process starts its env at
the same moment (so the port reservation is exercised by K servers at once). Reported per
K: the aggregate and the slowest env's steps/s, and whether every env kept real time
(``timestep`` 0.05 s -> 20 steps/s). ``envs_per_core`` is the largest K whose slowest env
kept real time, divided by the core count.

Usage: .venv/bin/python bench/bench_envs_per_core.py [--counts 1 2 4 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIG = REPO / "dqn_example" / "dqn_config.yaml"


def run_env(start_at: float, seconds: float, seed: int, queue: Any) -> None:
    """One env: wait for the common start, reset, step for ``seconds``; report its rate."""
    import numpy as np

    from dqn_example.dqn_experiment import DQNExperiment
    from rllib_integration.carla_env import CarlaEnv
    from rllib_integration.training.env_config import load_env_config

    config, _ = load_env_config(CONFIG, DQNExperiment, str(CONFIG))
    try:
        env = CarlaEnv(config)
        time.sleep(max(0.0, start_at - time.time()))
        env.reset(seed=seed)
        timestep = float(env.core.config["timestep"])
        rng = np.random.default_rng(seed)
        steps = 0
        begin = time.perf_counter()
        while time.perf_counter() - begin < seconds:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            steps += 1
            if terminated or truncated:
                env.reset()
        rate = steps / (time.perf_counter() - begin)
        port = env.core.server.rpc_port if env.core.server is not None else None
        env.close()
        queue.put({"steps_per_s": rate, "timestep": timestep, "port": port})
    except Exception as exc:  # reported, not lost in the child
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def measure(count: int, seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 5.0 + 0.5 * count  # after every process has imported
    procs = [
        ctx.Process(target=run_env, args=(start_at, seconds, seed, queue)) for seed in range(count)
    ]
    for proc in procs:
        proc.start()
    rows = [queue.get(timeout=seconds + 180.0) for _ in procs]
    for proc in procs:
        proc.join(timeout=30.0)
    errors = [row["error"] for row in rows if "error" in row]
    rates = [row["steps_per_s"] for row in rows if "error" not in row]
    ports = [row["port"] for row in rows if "error" not in row]
    real_time = 1.0 / rows[0]["timestep"] if not errors else float("nan")
    return {
        "envs": count,
        "aggregate_steps_per_s": round(sum(rates), 1),
        "slowest_env_steps_per_s": round(min(rates), 1) if rates else 0.0,
        "real_time_steps_per_s": real_time,
        "all_real_time": not errors and min(rates) >= real_time,
        "distinct_ports": len(set(ports)) == len(ports),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    rows = [measure(count, args.seconds) for count in args.counts]
    cores = os.cpu_count() or 1
    kept = [row["envs"] for row in rows if row["all_real_time"]]
    result = {
        "benchmark": "envs_per_core",
        "cpus": cores,
        "config": str(CONFIG.relative_to(REPO)),
        "runs": rows,
        "envs_per_core": max(kept) / cores if kept else 0.0,
        # Every count kept real time: the figure is a lower bound.
        "at_least": bool(kept) and max(kept) == max(args.counts),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
