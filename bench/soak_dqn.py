"""DQN soak: the DQN example's env with 20 NPC vehicles and 30 walkers for an hour. JSON.

Builds CarlaEnv from dqn_example/dqn_config.yaml (DQNExperiment, 64 px BirdView, 4 stacked
frames) with ``--vehicles`` and ``--walkers`` NPCs, steps it with random actions for
``--seconds`` (or ``--ticks``), resetting at every episode end (a seeded reset, which
respawns the NPCs too, every ``--seed-every`` episodes). Every ``--window`` seconds it
records the client's and the server's RSS, descriptors and threads, the world's actors by
kind, this process's children, the episodes and the tick rate. Counted faults:

* hang: one step or reset longer than ``--hang-s`` (a watchdog thread notices it while it
  lasts; the soak goes on if the call returns);
* crash: a step or reset that raised (the env recovers on the next reset, as in training);
* leaks: growth from the first window after warm-up to the last (RSS, fds, threads, actors,
  child processes). A seeded reset respawns the NPCs, and a walker whose random place is
  taken is not spawned, so an actor count may dip by one; only growth would be a leak.

Usage: .venv/bin/python bench/soak_dqn.py [--seconds 3600] [--out bench/results/soak_dqn.json]
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

import gymnasium
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import child_pids, git_head, process_stats  # noqa: E402
from dqn_example.dqn_experiment import DQNExperiment  # noqa: E402
from rllib_integration.carla_env import CarlaEnv  # noqa: E402
from rllib_integration.errors import RllibIntegrationError  # noqa: E402
from rllib_integration.training.env_config import load_env_config  # noqa: E402

CONFIG = "dqn_example/dqn_config.yaml"
ACTOR_KINDS = ("vehicle.*", "walker.pedestrian.*", "controller.ai.walker", "sensor.*")


class Watchdog:
    """Counts calls that last longer than ``limit`` seconds, while they last."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._start = time.monotonic()
        self.hangs: list[dict[str, Any]] = []
        self._call: tuple[str, float] | None = None
        self._reported = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def enter(self, what: str) -> None:
        self._call, self._reported = (what, time.monotonic()), False

    def leave(self) -> None:
        self._call = None

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            call = self._call
            if call is not None and not self._reported and time.monotonic() - call[1] > self.limit:
                self._reported = True
                self.hangs.append({"call": call[0], "at_s": round(call[1] - self._start, 1)})
                print(f"HANG: {call[0]} over {self.limit} s", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stop.set()


def sample(env: CarlaEnv, tick: int, episodes: int, start: float) -> dict[str, Any]:
    world, server = env.core.world, env.core.server
    assert world is not None and server is not None and server.pid is not None
    actors = world.get_actors()
    return {
        "tick": tick,
        "elapsed_s": round(time.perf_counter() - start, 1),
        "client": process_stats(os.getpid()),
        "server": process_stats(server.pid),
        "server_pid": server.pid,
        "actors": {kind: len(actors.filter(kind)) for kind in ACTOR_KINDS},
        "children": len(child_pids()),
        "episodes": episodes,
        "ticks_per_s": round(tick / (time.perf_counter() - start), 1),
    }


def soak(args: argparse.Namespace) -> dict[str, Any]:
    env_config, _ = load_env_config(REPO / CONFIG, DQNExperiment, CONFIG)
    activity = env_config["experiment"]["background_activity"]
    activity.update(n_vehicles=args.vehicles, n_walkers=args.walkers)
    env = CarlaEnv(env_config)
    rng = np.random.default_rng(0)
    action_space = env.action_space
    assert isinstance(action_space, gymnasium.spaces.Discrete)  # DQNExperiment: Discrete(29)
    n_actions = int(action_space.n)
    watchdog = Watchdog(args.hang_s)
    crashes: list[str] = []
    endings: collections.Counter[str] = collections.Counter()
    windows: list[dict[str, Any]] = []
    start = time.perf_counter()
    next_window = args.window
    tick = episodes = 0

    def reset(seed: int | None) -> None:
        watchdog.enter("reset")
        try:
            env.reset(seed=seed)
        finally:
            watchdog.leave()

    try:
        reset(0)
        while True:
            elapsed = time.perf_counter() - start
            if (args.ticks and tick >= args.ticks) or (not args.ticks and elapsed >= args.seconds):
                break
            watchdog.enter("step")
            try:
                _, _, terminated, truncated, _ = env.step(int(rng.integers(n_actions)))
            except RllibIntegrationError as error:  # counted, then recover like a trainer
                crashes.append(f"tick {tick}: {type(error).__name__}: {error}")
                terminated, truncated = True, False
            finally:
                watchdog.leave()
            tick += 1
            if terminated or truncated:
                episodes += 1
                endings["terminated" if terminated else "truncated"] += 1
                reset(episodes if episodes % args.seed_every == 0 else None)
            if elapsed >= next_window:
                next_window += args.window
                windows.append(sample(env, tick, episodes, start))
                print(json.dumps(windows[-1]), file=sys.stderr, flush=True)
        windows.append(sample(env, tick, episodes, start))
    finally:
        watchdog.stop()
        env.close()
    return summarize(args, windows, tick, episodes, endings, crashes, watchdog.hangs, start)


def summarize(
    args: argparse.Namespace,
    windows: list[dict[str, Any]],
    ticks: int,
    episodes: int,
    endings: collections.Counter[str],
    crashes: list[str],
    hangs: list[dict[str, Any]],
    start: float,
) -> dict[str, Any]:
    """Growth from the first window after warm-up (a tenth of the run) to the last."""
    first = windows[min(len(windows) - 1, max(1, len(windows) // 10))]
    last = windows[-1]
    growth = {
        f"{process}_{key}": round(last[process][key] - first[process][key], 2)
        for process in ("client", "server")
        for key in ("rss_mib", "fds", "threads")
    }
    growth.update({kind: last["actors"][kind] - first["actors"][kind] for kind in ACTOR_KINDS})
    growth["children"] = last["children"] - first["children"]
    return {
        "benchmark": "soak_dqn",
        "commit": git_head(),
        "config": CONFIG,
        "seed_every": args.seed_every,
        "npc_vehicles": args.vehicles,
        "npc_walkers": args.walkers,
        "seconds": round(time.perf_counter() - start, 1),
        "ticks": ticks,
        "episodes": episodes,
        "endings": dict(endings),
        "ticks_per_s": round(ticks / (time.perf_counter() - start), 1),
        "hangs": hangs,
        "crashes": crashes,
        "server_restarts": len({w["server_pid"] for w in windows}) - 1,
        "growth_after_warmup": growth,
        "windows": windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--ticks", type=int, default=0, help="stop after N ticks instead")
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--walkers", type=int, default=30)
    parser.add_argument("--window", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--seed-every", type=int, default=5, help="a seeded reset every N")
    parser.add_argument("--hang-s", type=float, default=30.0, help="a call this long hangs")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    result = soak(args)
    print(json.dumps({k: v for k, v in result.items() if k != "windows"}, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
