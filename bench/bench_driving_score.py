"""The route benchmark of issue 10: every policy on the same held-out routes. Prints JSON.

Runs evaluate.py for random, autopilot and, when given, the trained PPO and DQN networks on
one seeded set of routes (default: LiteTown01, 10 routes of 500 m, seed 1000, 20 NPC
vehicles and 20 walkers), then writes one JSON with every policy's means and routes, a
combined table and a grouped bar chart. Usage:
.venv/bin/python bench/bench_driving_score.py --ppo POLICY.pt [--ppo-sampled]
    [--dqn Q_NETWORK.pt] [--routes 10] [--seed 1000] [--out bench/results/driving_score.json]
``--ppo-sampled`` adds a row for the same PPO policy driving with sampled actions (as in
training) next to its mean actions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rllib_integration.driving_score.report import write_bar_chart  # noqa: E402

#: The issue's goals for the PPO agent after one hour of training.
PPO_GOALS = {"route_completion": 60.0, "driving_score": 40.0}
GOALS = {"ppo": PPO_GOALS, "ppo_sampled": PPO_GOALS}


def evaluate(
    label: str, network: str | None, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """evaluate.py's JSON for one row: ``label`` is a policy, or ``ppo_sampled``."""
    out = work / f"{label}.json"
    policy = "ppo" if label == "ppo_sampled" else label
    command = [sys.executable, str(REPO / "evaluate.py"), "--policy", policy]
    command += ["--town", args.town, "--routes", str(args.routes), "--seed", str(args.seed)]
    command += ["--length", str(args.length), "--vehicles", str(args.vehicles)]
    command += ["--walkers", str(args.walkers), "--json", str(out)]
    if network:
        command += ["--network", network]
    if label == "ppo_sampled":
        command.append("--sample")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    print(done.stdout, file=sys.stderr, flush=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ppo", default=None, help="exported PPO policy (policy.pt)")
    parser.add_argument("--ppo-sampled", action="store_true", help="also PPO with sampled actions")
    parser.add_argument("--dqn", default=None, help="exported Q-network (q_network.pt)")
    parser.add_argument("--town", default="LiteTown01")
    parser.add_argument("--routes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--length", type=float, default=500.0)
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--walkers", type=int, default=20)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "driving_score.json"))
    args = parser.parse_args()
    policies: list[tuple[str, str | None]] = [("random", None), ("autopilot", None)]
    if args.ppo:
        policies.append(("ppo", args.ppo))
        if args.ppo_sampled:
            policies.append(("ppo_sampled", args.ppo))
    if args.dqn:
        policies.append(("dqn", args.dqn))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for policy, network in policies:
            results[policy] = evaluate(policy, network, args, Path(tmp))
    table = []
    for policy, result in results.items():
        row = {
            "policy": policy,
            "route_completion": round(result["route_completion"], 1),
            "infraction_penalty": round(result["infraction_penalty"], 3),
            "driving_score": round(result["driving_score"], 1),
            "collisions_per_km": round(result["infractions_per_km"]["collisions"], 2),
            "infractions_per_km": round(result["infractions_per_km"]["infractions"], 2),
            "driven_km": round(result["driven_km"], 2),
        }
        for key, goal in GOALS.get(policy, {}).items():
            row[f"{key}_goal"] = goal
            row[f"{key}_met"] = result[key] >= goal
        table.append(row)
    out = Path(args.out)
    summary = {
        "benchmark": "driving_score",
        "town": args.town,
        "routes": args.routes,
        "route_length_m": args.length,
        "seed": args.seed,
        "npc_vehicles": args.vehicles,
        "npc_walkers": args.walkers,
        "table": table,
        "policies": results,
    }
    out.write_text(json.dumps(summary, indent=2))
    write_bar_chart(
        out.with_suffix(".png"),
        {policy: result for policy, result in results.items()},
        f"{args.town}: {args.routes} routes of {args.length:.0f} m, {args.vehicles} vehicles, "
        f"{args.walkers} walkers",
    )
    print(json.dumps({"benchmark": "driving_score", "table": table}))


if __name__ == "__main__":
    main()
