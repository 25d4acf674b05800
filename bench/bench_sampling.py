"""Sampling throughput of the DQN training loop (env steps/s) with N env runners. Prints JSON.

Runs dqn_train.py on the CPU profile for a fixed time per runner count (learning included, as
in real training: the replay ratio of the yaml) and reads the sampled steps from Tune's
result.json. Usage: .venv/bin/python bench/bench_sampling.py [--runners 1 2] [--seconds 120]
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


def measure(runners: int, seconds: float, work: Path) -> dict[str, float]:
    data = example_yaml("dqn_example/dqn_config.yaml")
    data["env_runners"]["num_env_runners"] = runners
    # Two cores: the driver and the runners share them.
    data["env_runners"]["num_cpus_per_env_runner"] = 0.5 if runners else 1
    data["resources"]["num_cpus_for_main_process"] = 1
    results = train_results("dqn_train.py", data, seconds, work, f"runners_{runners}")
    first, last = results[0], results[-1]
    steps = (
        last["env_runners"]["num_env_steps_sampled_lifetime"]
        - first["env_runners"]["num_env_steps_sampled_lifetime"]
    )
    elapsed = last["time_total_s"] - first["time_total_s"]
    trained = last["learners"]["default_policy"].get("num_module_steps_trained_lifetime", 0)
    return {
        "env_runners": runners,
        "env_steps_per_s": round(steps / elapsed, 1) if elapsed > 0 else 0.0,
        "iterations": len(results),
        "module_steps_trained": trained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, args.seconds, Path(tmp)) for n in args.runners]
    print(
        json.dumps({"cpus": os.cpu_count(), "profile": "dqn_config.yaml", "runs": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
