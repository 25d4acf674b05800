"""Learning benchmark, evaluation half: greedy policy vs uniform-random over the same episodes.

Runs dqn_inference.py twice (greedy with the exported Q-network, then --policy random) with
the same seeds, so both start every episode from the same spawn point, and prints JSON with
the mean distance driven per episode and the ratio. Train first, e.g.
  .venv/bin/python dqn_train.py dqn_example/dqn_config.yaml -n cpu_profile --stop-seconds 2700
Usage: .venv/bin/python bench/bench_learning_eval.py CONFIG Q_NETWORK [--episodes 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(config: str, network: str, policy: str, episodes: int, seed: int, out: Path) -> list:
    command = [sys.executable, str(REPO / "dqn_inference.py"), config, network]
    command += ["--policy", policy, "--episodes", str(episodes), "--seed", str(seed)]
    command += ["--json", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configuration_file")
    parser.add_argument("network")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("greedy", "random"):
            results = run(
                args.configuration_file, args.network, policy, args.episodes, args.seed,
                Path(tmp) / f"{policy}.json",
            )  # fmt: skip
            summary[policy] = {
                "mean_distance_m": round(statistics.mean(r["distance_m"] for r in results), 1),
                "mean_return": round(statistics.mean(r["episode_return"] for r in results), 1),
                "mean_steps": round(statistics.mean(r["steps"] for r in results), 1),
                "ended_by": sorted({r["ended_by"] for r in results}),
            }
    ratio = summary["greedy"]["mean_distance_m"] / max(summary["random"]["mean_distance_m"], 1e-9)
    print(
        json.dumps(
            {"episodes": args.episodes, **summary, "distance_ratio": round(ratio, 2)}, indent=2
        )
    )


if __name__ == "__main__":
    main()
