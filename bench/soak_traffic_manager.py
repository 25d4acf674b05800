"""Soak: NPC traffic from carla_lite's Traffic Manager for a long synchronous run.

The official client spawns NPCs on autopilot (with collision sensors) on a map and ticks for
``--ticks``; every ``--window`` ticks it records the tick rate, the server's resident memory,
the share of NPCs that moved more than 10 m, the vehicle-vehicle crashes (distinct pairs) and
the NPCs the Traffic Manager removed as stuck (as CARLA's does). A hang shows as the client's
10 s timeout. Prints JSON (``--out`` also writes it).

Usage: .venv/bin/python bench/soak_traffic_manager.py [--ticks 200000] [--npcs 50]
       [--map LiteTown01] [--maps-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import carla

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import free_port, start_server, stop_server  # noqa: E402


def rss_mib(pid: int) -> float:
    """Resident memory of a process [MiB] (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def alive(world: carla.World, ids: list[int]) -> list[carla.Actor]:
    """The actors of ``ids`` still in the simulation.

    The client's actor cache (and ``is_alive``) keeps actors the server destroyed, as the
    Traffic Manager does with stuck vehicles, so ``world.get_actors(ids)`` alone over-counts;
    the full actor list is the server's truth.
    """
    present = {a.id for a in world.get_actors().filter("vehicle.*")}
    return [a for a in world.get_actors(ids) if a.id in present]


def soak(client: carla.Client, tm_port: int, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = 0.05
    world.apply_settings(settings)
    tm = client.get_trafficmanager(tm_port)
    tm.set_synchronous_mode(True)
    tm.set_random_device_seed(args.seed)
    lib = world.get_blueprint_library()
    blueprints = sorted(lib.filter("vehicle.*"), key=lambda b: b.id)
    spawn = world.get_map().get_spawn_points()
    rng = random.Random(args.seed)
    rng.shuffle(spawn)
    batch = [
        carla.command.SpawnActor(rng.choice(blueprints), spawn[i]).then(
            carla.command.SetAutopilot(carla.command.FutureActor, True, tm_port)
        )
        for i in range(min(args.npcs, len(spawn)))
    ]
    ids = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    crashes: set[tuple[int, int]] = set()
    sensors = []
    for actor in world.get_actors(ids):
        sensor = world.spawn_actor(lib.find("sensor.other.collision"), carla.Transform(), actor)

        def on_hit(event: Any, me: int = actor.id) -> None:
            if event.other_actor.type_id.startswith("vehicle."):
                crashes.add((min(me, event.other_actor.id), max(me, event.other_actor.id)))

        sensor.listen(on_hit)
        sensors.append(sensor)
    last = {a.id: a.get_location() for a in world.get_actors(ids)}
    moved = dict.fromkeys(last, 0.0)
    windows = []
    start = time.perf_counter()
    window_start = start
    for tick in range(1, args.ticks + 1):
        world.tick()
        if tick % 200 == 0:
            for actor in alive(world, ids):
                location = actor.get_location()
                moved[actor.id] = moved.get(actor.id, 0.0) + location.distance(last[actor.id])
                last[actor.id] = location
        if tick % args.window == 0:
            now = time.perf_counter()
            alive_ids = [a.id for a in alive(world, ids)]
            windows.append(
                {
                    "tick": tick,
                    "ticks_per_s": round(args.window / (now - window_start), 1),
                    "server_rss_mib": round(rss_mib(pid), 1),
                    "npcs_alive": len(alive_ids),
                    "moving_share": round(
                        sum(moved[i] > 10.0 for i in alive_ids) / max(len(alive_ids), 1), 3
                    ),
                    "crash_pairs_so_far": len(crashes),
                }
            )
            print(json.dumps(windows[-1]), file=sys.stderr, flush=True)
            moved = dict.fromkeys(alive_ids, 0.0)
            window_start = now
    for sensor in sensors:
        sensor.stop()
        sensor.destroy()
    rss = [w["server_rss_mib"] for w in windows]
    sim_hours = args.ticks * 0.05 / 3600.0
    return {
        "npcs": len(ids),
        "ticks": args.ticks,
        "wall_s": round(time.perf_counter() - start, 1),
        "crash_pairs": len(crashes),
        "crash_pairs_per_npc_hour": round(len(crashes) / max(len(ids) * sim_hours, 1e-9), 2),
        "npcs_removed_as_stuck": len(ids) - windows[-1]["npcs_alive"] if windows else 0,
        "min_moving_share": min(w["moving_share"] for w in windows) if windows else None,
        "server_rss_mib_first_last": [rss[0], rss[-1]] if rss else None,
        "windows": windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--npcs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--map", default="LiteTown01")
    parser.add_argument("--maps-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    port = free_port()
    extra = [f"--map={args.map}"]
    if args.maps_dir is not None:
        extra.append(f"--maps-dir={args.maps_dir}")
    server, _ready_s = start_server(port, *extra)
    try:
        client = carla.Client("127.0.0.1", port)
        client.set_timeout(10.0)
        result = {
            "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
            "map": args.map,
            **soak(client, port + 3, args, server.pid),
        }
    finally:
        stop_server(server)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
