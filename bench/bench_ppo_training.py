"""PPO training throughput (env steps/s) and the learner's share of the time. Prints JSON.

Runs ppo_train.py on ppo_example/ppo_config.yaml for a fixed time per layout (env runners x
envs per runner; learning included, as in real training) and reads Tune's result.json:
env steps/s between the first and the last iteration, and RLlib's timers (sampling,
learner update) of the last iteration. Usage:
.venv/bin/python bench/bench_ppo_training.py [--layouts 1x1 1x2 2x1 2x2] [--seconds 150]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.training_runs import example_yaml, train_results  # noqa: E402


def measure(runners: int, envs: int, seconds: float, work: Path) -> dict[str, float]:
    data = example_yaml("ppo_example/ppo_config.yaml")
    data["env_runners"]["num_env_runners"] = runners
    data["env_runners"]["num_envs_per_env_runner"] = envs
    # Two cores: the driver and the runners share them.
    data["env_runners"]["num_cpus_per_env_runner"] = 1.0 / max(runners, 1)
    results = train_results("ppo_train.py", data, seconds, work, f"layout_{runners}x{envs}")
    first, last = results[0], results[-1]
    steps = last["num_env_steps_sampled_lifetime"] - first["num_env_steps_sampled_lifetime"]
    elapsed = last["time_total_s"] - first["time_total_s"]
    timers = last["timers"]
    iteration = timers["training_iteration"]
    return {
        "env_runners": runners,
        "envs_per_runner": envs,
        "env_steps_per_s": round(steps / elapsed, 1) if elapsed > 0 else 0.0,
        "iterations": len(results),
        "sampling_s_per_iteration": round(timers["env_runner_sampling_timer"], 2),
        "learner_s_per_iteration": round(timers["learner_update_timer"], 2),
        "learner_share": round(timers["learner_update_timer"] / iteration, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layouts", nargs="+", default=["1x1", "1x2", "2x1", "2x2"])
    parser.add_argument("--seconds", type=float, default=150.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts:
            runners, envs = (int(n) for n in layout.split("x"))
            rows.append(measure(runners, envs, args.seconds, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "ppo_training", "cpus": os.cpu_count(), "layouts": rows}))


if __name__ == "__main__":
    main()
