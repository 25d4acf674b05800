"""Pedestrian benchmark: navmesh build times per map and synchronous ticks/s with AI walkers.

* ``navmesh``: per map, the seconds to build the polygons, write the Detour file and check it
  with the wheel's Detour (what the server does once per map, on the first navigation request),
  with the polygon count and file size.
* ``ticks``: synchronous ``world.tick()`` rate through the official client on a fresh server
  (fixed_delta_seconds 0.05), as a user sees it: the client-side crowd (DetourCrowd in the
  client process, one ``apply_batch`` of walker states per tick) is part of every tick.
  Configurations: no actors; 30 walkers under ``controller.ai.walker``; the same plus 10
  vehicles on the server-side Traffic Manager. The goal (issue 8): >= 500 ticks/s with 30 AI
  walkers on a 2-core machine. ``connect_s`` is the client's ``get_world()`` on a fresh
  server, which downloads the navmesh the server builds then.

Each tick measurement runs in a child process (the official client), ``--rounds`` times
interleaved; rates are medians. Prints JSON; ``--out`` also writes it to a file.

Usage: .venv/bin/python bench/bench_walkers.py [--ticks 2000] [--rounds 3]
       [--out bench/results/walkers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import (  # noqa: E402
    connect_sync,
    free_port,
    spawn_ai_walkers,
    start_server,
    stop_server,
)

SHARED_TOWNS = REPO.parent / "shared" / "maps" / "carla_towns"
GOAL_TICKS_30_WALKERS = 500.0
CONFIGS = ("no_actors", "walkers_30", "walkers_30_tm_10")


def navmesh_times(towns: list[str]) -> dict[str, Any]:
    """Build, write and check each map's navmesh in this process."""
    from carla_lite.maps.catalog import BUILTIN_DIR
    from carla_lite.maps.road_map import load_road_map
    from carla_lite.navigation import build_polygons, write_navmesh
    from carla_lite.navigation.check import validate_file

    out: dict[str, Any] = {}
    for town in towns:
        path = BUILTIN_DIR / f"{town}.xodr"
        if not path.is_file():
            path = SHARED_TOWNS / f"{town}.xodr"
        road_map = load_road_map(town, path.read_text())
        start = time.perf_counter()
        polygons = build_polygons(road_map)
        built = time.perf_counter()
        data = write_navmesh(polygons.verts, polygons.polys, polygons.areas)
        written = time.perf_counter()
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            f.write(data)
            f.flush()
            check = validate_file(Path(f.name))
        checked = time.perf_counter()
        out[town] = {
            "polygons": len(polygons.polys),
            "bytes": len(data),
            "build_s": round(built - start, 3),
            "write_s": round(written - built, 3),
            "detour_check_s": round(checked - written, 3),
            "total_s": round(checked - start, 3),
            "detour_check_ok": check["ok"],
            "longest_path_polys": check.get("longest_path_polys"),
        }
        print(f"navmesh {town}: {out[town]}", file=sys.stderr, flush=True)
    return out


def child(config: str, port: int, ticks: int) -> dict[str, Any]:
    """One measurement, run in a child process against a server on ``port``."""
    import carla

    start = time.perf_counter()
    client, world = connect_sync(port)  # get_world() downloads the navmesh (built on demand)
    connect_s = time.perf_counter() - start
    walkers: list[int] = []
    extra: dict[str, Any] = {}
    if config == "walkers_30_tm_10":
        tm = client.get_trafficmanager(port + 3)
        tm.set_synchronous_mode(True)
        bp = world.get_blueprint_library().find("vehicle.tesla.model3")
        future = carla.command.FutureActor
        batch = [
            carla.command.SpawnActor(bp, p).then(
                carla.command.SetAutopilot(future, True, tm.get_port())
            )
            for p in world.get_map().get_spawn_points()[:10]
        ]
        extra["vehicles"] = sum(1 for r in client.apply_batch_sync(batch, True) if not r.error)
    if config.startswith("walkers_30"):
        assert world.get_random_location_from_navigation() is not None, "no navmesh"
        walkers, _controllers = spawn_ai_walkers(client, world, 30)
        extra["walkers"] = len(walkers)
    for _ in range(50):  # warm-up
        world.tick()
    before = {a.id: a.get_location() for a in world.get_actors(walkers)}
    start = time.perf_counter()
    for _ in range(ticks):
        world.tick()
    seconds = time.perf_counter() - start
    if walkers:
        after = {a.id: a.get_location() for a in world.get_actors(walkers)}
        extra["walkers_moved_2m"] = sum(
            1 for i, loc in after.items() if i in before and loc.distance(before[i]) > 2.0
        )
    return {"ticks_per_s": ticks / seconds, "connect_s": round(connect_s, 3), **extra}


def measure(config: str, ticks: int, town: str) -> dict[str, Any]:
    """Run ``child`` against a fresh server; return its result."""
    port = free_port()
    args = [f"--map={town}"]
    if not (REPO / "carla_lite" / "maps" / "builtin" / f"{town}.xodr").is_file():
        args.append(f"--maps-dir={SHARED_TOWNS}")
    with tempfile.TemporaryDirectory() as cache:
        proc, _ = start_server(port, *args, stderr=subprocess.DEVNULL)
        try:
            env = dict(os.environ, CARLA_CACHE_DIR=cache)
            done = subprocess.run(
                [sys.executable, __file__, "--child", config, str(port), str(ticks)],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
                cwd=REPO,
            )
        finally:
            stop_server(proc)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"rc {done.returncode}: {done.stderr[-500:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--towns", nargs="*", default=None)
    parser.add_argument("--tick-town", default="LiteTown01")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "PORT", "TICKS"))
    args = parser.parse_args()
    if args.child:
        config, port, ticks = args.child
        print(json.dumps(child(config, int(port), int(ticks))), flush=True)
        os._exit(0)  # skip the client's static destructors
    towns = args.towns
    if towns is None:
        towns = ["LiteTown01"]
        towns += [t for t in ("Town01", "Town10HD") if (SHARED_TOWNS / f"{t}.xodr").is_file()]
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "navmesh": navmesh_times(towns),
        "tick_town": args.tick_town,
        "ticks": args.ticks,
    }
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for round_index in range(args.rounds):
        for config in CONFIGS:
            result = measure(config, args.ticks, args.tick_town)
            runs[config].append(result)
            print(f"round {round_index} {config}: {result}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {}
    for config, results in runs.items():
        rates = [r["ticks_per_s"] for r in results if "ticks_per_s" in r]
        summary[config] = {
            "ticks_per_s_median": round(statistics.median(rates), 1) if rates else None,
            "ticks_per_s_runs": [round(r, 1) for r in rates],
            "errors": [r["error"] for r in results if "error" in r],
            **{k: v for k, v in results[-1].items() if k not in ("ticks_per_s", "error")},
            "connect_s_runs": [r.get("connect_s") for r in results],
        }
    report["configs"] = summary
    rate = summary["walkers_30"]["ticks_per_s_median"]
    report["goal"] = {
        "walkers_30_ticks_per_s": GOAL_TICKS_30_WALKERS,
        "met": rate is not None and rate >= GOAL_TICKS_30_WALKERS,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
