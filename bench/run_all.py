"""Every benchmark in one command: one JSON and a table, each figure next to its goal.

Runs the bench scripts one after another (each in its own process, as a user would), keeps
each script's full JSON under ``<out>.d/<bench>.json``, and writes ``<out>`` (default
``bench/results/run_all.json``) with one row per figure: value, goal, met. The goals are the
issues' (2 cores): a figure without one is reported with goal ``-``. Ratios are taken within
one script's run, never across runs (machines differ by 1.5x from run to run).

Usage: bench/run_all [--only BENCH ...] [--quick] [--out FILE]
``--quick`` runs every script with small sizes (a smoke run of this driver, not figures).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: bench name -> (script, full arguments, quick arguments)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "carla_lite": ("bench_carla_lite.py", [], ["--ticks", "200", "--tm-ticks", "100"]),
    "sensors": ("bench_sensors.py", ["--rounds", "3"], ["--rounds", "1", "--ticks", "50"]),
    "traffic_manager": (
        "bench_traffic_manager.py",
        ["--rounds", "3"],
        ["--rounds", "1", "--ticks", "200", "--env-steps", "100"],
    ),
    "birdview": ("bench_birdview.py", [], ["--frames", "50"]),
    "carla_env": (
        "bench_carla_env.py",
        ["--resets", "10000"],
        ["--steps", "200", "--resets", "20"],
    ),
    "envs_per_core": ("bench_envs_per_core.py", [], ["--counts", "1", "2", "--seconds", "3"]),
    "rllib_sampling": (
        "bench_ppo_training.py",
        ["--layouts", "1x1", "2x1", "--seconds", "120"],
        ["--layouts", "1x1", "--seconds", "20"],
    ),
    "road_map": ("bench_road_map.py", [], ["--calls", "200"]),
}


@dataclass(frozen=True)
class Figure:
    """One reported figure: where it comes from and its goal."""

    name: str
    bench: str
    value: Callable[[Mapping[str, Any]], float]
    goal: str = "-"  # "<op> <number>", e.g. ">= 500"; "-": reported only

    def met(self, value: float) -> bool | None:
        if self.goal == "-":
            return None
        op, number = self.goal.split()
        compare = {">=": operator.ge, "<=": operator.le}[op]
        return bool(compare(value, float(number)))


def _at(data: Mapping[str, Any], *keys: Any) -> Any:
    for key in keys:
        data = data[key]
    return data


def _tm_ticks(bench: Mapping[str, Any], name: str) -> float:
    """The median sync ticks/s of one bench_traffic_manager configuration."""
    return float(_at(bench, "sync_ticks_per_s", name, "median_ticks_per_s"))


def _layout(bench: Mapping[str, Any], runners: int) -> float:
    (row,) = [r for r in bench["layouts"] if r["env_runners"] == runners]
    return float(row["env_steps_per_s"])


def _growth(bench: Mapping[str, Any], process: str, resets: int) -> float:
    stats = bench["processes"]
    return float(
        stats[f"after_{resets}_resets"][process]["rss_mib"]
        - stats["after_10_resets"][process]["rss_mib"]
    )


FIGURES = [
    Figure(
        "server start to ready [s]",
        "carla_lite",
        lambda b: _at(b, "server_start_to_ready_s", "median"),
        "<= 2",
    ),
    Figure(
        "load_world LiteTown01 [s]",
        "carla_lite",
        lambda b: _at(b, "load_world_LiteTown01", "median_s"),
        "<= 1",
    ),
    Figure(
        "sync ticks/s, hero + collision sensor",
        "carla_lite",
        lambda b: _at(b, "sync_hero_collision_sensor", "ticks_per_s"),
        ">= 2000",
    ),
    Figure(
        "sync ticks/s, 50 TM vehicles",
        "traffic_manager",
        lambda b: _tm_ticks(b, "server_tm_50"),
        ">= 300",
    ),
    Figure(
        "sync ticks/s, 100 TM vehicles",
        "traffic_manager",
        lambda b: _tm_ticks(b, "server_tm_100"),
    ),
    Figure(
        "50 TM vehicles / no NPCs (same run)",
        "traffic_manager",
        lambda b: _at(b, "ratios", "server_tm_50_over_no_npcs", "value"),
        ">= 0.7",
    ),
    Figure(
        "server TM / client-side TM, 50 vehicles",
        "traffic_manager",
        lambda b: _at(b, "ratios", "server_tm_50_over_client_tm_50", "value"),
        ">= 3",
    ),
    Figure(
        "sync ticks/s, RGB camera 84x84",
        "sensors",
        lambda b: _at(b, "figures", "rgb_84x84", "ticks_per_s"),
        ">= 500",
    ),
    Figure(
        "sync ticks/s, RGB camera 800x600",
        "sensors",
        lambda b: _at(b, "figures", "rgb_800x600", "ticks_per_s"),
        ">= 100",
    ),
    Figure(
        "sync ticks/s, LiDAR 32 ch 100k pts/s",
        "sensors",
        lambda b: _at(b, "figures", "lidar_32ch_100k", "ticks_per_s"),
        ">= 300",
    ),
    Figure(
        "sync ticks/s, 30 walkers",
        "sensors",
        lambda b: _at(b, "figures", "walkers_30", "ticks_per_s"),
        ">= 500",
    ),
    Figure(
        "BirdView render 300 px [ms/frame]",
        "birdview",
        lambda b: _at(b, "300px", "render_ms"),
        "<= 1",
    ),
    Figure(
        "CarlaEnv steps/s, 300 px BirdView", "carla_env", lambda b: _at(b, "steps_per_s"), ">= 500"
    ),
    Figure(
        "CarlaEnv reset [ms, median]", "carla_env", lambda b: _at(b, "reset_ms", "median"), "<= 20"
    ),
    Figure(
        "CarlaEnv steps/s 20 NPCs / none (same run)",
        "traffic_manager",
        lambda b: _at(b, "ratios", "carla_env_20_npcs_over_0_npcs", "value"),
        ">= 0.8",
    ),
    Figure(
        "client RSS growth, resets 10 -> 1,000 [MiB]",
        "carla_env",
        lambda b: _growth(b, "client", 1000),
        "<= 5",
    ),
    Figure(
        "client RSS growth, resets 10 -> 10,000 [MiB]",
        "carla_env",
        lambda b: _growth(b, "client", 10_000),
        "<= 10",
    ),
    Figure(
        "server RSS growth, resets 10 -> 10,000 [MiB]",
        "carla_env",
        lambda b: _growth(b, "server", 10_000),
        "<= 10",
    ),
    Figure("RLlib PPO env steps/s, 1 env runner", "rllib_sampling", lambda b: _layout(b, 1)),
    Figure("RLlib PPO env steps/s, 2 env runners", "rllib_sampling", lambda b: _layout(b, 2)),
    Figure(
        "2 env runners / 1 (same run)",
        "rllib_sampling",
        lambda b: _layout(b, 2) / _layout(b, 1),
        ">= 1.3",
    ),
    Figure(
        "CarlaEnvs per core at real time (DQN env)",
        "envs_per_core",
        lambda b: _at(b, "envs_per_core"),
        ">= 2",
    ),
    Figure(
        "RPC round trips/s (official client)",
        "road_map",
        lambda b: _at(b, "rpc_round_trips_per_s"),
        ">= 1000",
    ),
]


def last_json(text: str) -> dict[str, Any]:
    """The JSON object a bench script printed last (scripts may print progress first)."""
    lines = text.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith("{"):
            try:
                found: dict[str, Any] = json.loads("\n".join(lines[start:]))
                return found
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the output")


def run_bench(name: str, quick: bool, out_dir: Path) -> dict[str, Any]:
    """One bench script's JSON (also kept in ``out_dir``); raises with its output's end."""
    script, full, short = BENCHES[name]
    command = [sys.executable, str(REPO / "bench" / script), *(short if quick else full)]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    start = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed (rc {done.returncode}):\n{done.stderr[-3000:]}")
    result = last_json(done.stdout)
    result["run_all_wall_s"] = round(time.monotonic() - start, 1)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    return result


def rows_for(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure whose bench ran: value, goal, met (None without a goal). A figure
    the run did not reach (e.g. 10,000 resets in a quick run) has value None."""
    rows = []
    for figure in FIGURES:
        if figure.bench not in results:
            continue
        try:
            value: float | None = float(figure.value(results[figure.bench]))
        except (KeyError, ValueError, ZeroDivisionError):
            value = None
        rows.append(
            {
                "figure": figure.name,
                "value": None if value is None else round(value, 3),
                "goal": figure.goal,
                "met": None if value is None else figure.met(value),
                "bench": figure.bench,
            }
        )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: figure, value, goal, met."""
    width = max(len(r["figure"]) for r in rows)
    lines = [f"{'figure':<{width}}  {'value':>10}  {'goal':>9}  met"]
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        value = "not run" if r["value"] is None else f"{r['value']:g}"
        lines.append(f"{r['figure']:<{width}}  {value:>10}  {r['goal']:>9}  {met}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), default=list(BENCHES))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "run_all.json")
    args = parser.parse_args(argv)
    out_dir = args.out.with_suffix(".d")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    for name in args.only:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = run_bench(name, args.quick, out_dir)
        except (RuntimeError, ValueError) as error:
            failures[name] = str(error)
            print(f"{name}: {error}", file=sys.stderr, flush=True)
    rows = rows_for(results)
    summary = {
        "benchmark": "run_all",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commit": _commit(),
        "figures": rows,
        "missed": [r["figure"] for r in rows if r["met"] is False],
        "failed_benches": failures,
        "wall_s": {name: r["run_all_wall_s"] for name, r in results.items()},
    }
    args.out.write_text(json.dumps(summary, indent=2))
    print(format_rows(rows) if rows else "no figures")
    print(json.dumps({"out": str(args.out), "missed": summary["missed"], "failed": list(failures)}))
    return 1 if failures else 0


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
