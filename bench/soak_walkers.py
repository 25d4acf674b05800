"""Walker soak: AI walkers among Traffic Manager vehicles for a long synchronous run.

A fresh carla_lite server on ``--town``; ``--vehicles`` NPCs on the server-side Traffic Manager
and ``--walkers`` pedestrians under ``controller.ai.walker`` (cross factor ``--cross``), all
through the official client, ticked ``--ticks`` times at 0.05 s. Every ``--window`` ticks it
records how many walkers and vehicles still exist, how many walkers moved more than 1 m in
the window (stuck or frozen ones do not), whether any position is not finite, and the tick
rate so far. A walker the client's crowd finds run over by a vehicle is declared dead
(``set_actor_dead``) and removed 10 s later, as in CARLA. Prints JSON; ``--out`` also writes
it to a file.

Usage: .venv/bin/python bench/soak_walkers.py [--ticks 20000]
       [--out bench/results/soak_walkers.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


def soak(args: argparse.Namespace) -> dict[str, Any]:
    import carla

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CARLA_CACHE_DIR"] = tmp  # the client's file cache: this run's navmesh
        proc, _ = start_server(port, f"--map={args.town}", log_path=Path(tmp) / "server.log")
        try:
            client, world = connect_sync(port)
            tm = client.get_trafficmanager(port + 3)
            tm.set_synchronous_mode(True)
            tm.set_random_device_seed(1)
            lib = world.get_blueprint_library()
            car = lib.find("vehicle.tesla.model3")
            future = carla.command.FutureActor
            batch = [
                carla.command.SpawnActor(car, p).then(
                    carla.command.SetAutopilot(future, True, tm.get_port())
                )
                for p in world.get_map().get_spawn_points()[: args.vehicles]
            ]
            vehicles = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
            world.set_pedestrians_seed(1)
            world.set_pedestrians_cross_factor(args.cross)
            walkers, _controllers = spawn_ai_walkers(client, world, args.walkers)
            windows = []
            start = time.perf_counter()
            prev = {a.id: a.get_location() for a in world.get_actors(walkers)}
            done = 0
            while done < args.ticks:
                for _ in range(args.window):
                    world.tick()
                done += args.window
                actors = world.get_actors()
                now = {a.id: a.get_location() for a in actors.filter("walker.*")}
                window = {
                    "ticks": done,
                    "walkers": len(now),
                    "walkers_moved_1m": sum(
                        1 for i, loc in now.items() if i in prev and loc.distance(prev[i]) > 1.0
                    ),
                    "non_finite": sum(
                        1 for loc in now.values() if not all(map(math.isfinite, (loc.x, loc.y)))
                    ),
                    "vehicles": len(actors.filter("vehicle.*")),
                    "ticks_per_s": round(done / (time.perf_counter() - start), 1),
                }
                prev = now
                windows.append(window)
                print(json.dumps(window), file=sys.stderr, flush=True)
            return {
                "town": args.town,
                "walkers": len(walkers),
                "vehicles": len(vehicles),
                "cross_factor": args.cross,
                "windows": windows,
                "server_alive": proc.poll() is None,
            }
        finally:
            stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--town", default="LiteTown01")
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--walkers", type=int, default=30)
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--cross", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    report = soak(args)
    text = json.dumps(report, indent=1)
    print(text, flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    os._exit(0)  # skip the client's static destructors


if __name__ == "__main__":
    main()
