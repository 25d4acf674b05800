"""carla_lite benchmark: server start, load_world, synchronous tick rates. Prints JSON.

Usage: .venv/bin/python bench/bench_carla_lite.py [--ticks N] [--tm-vehicles N]
The official carla client drives the server from this process, as a user's script would.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import carla

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import free_port, start_server, stop_server  # noqa: E402


def sync_world(client: carla.Client, dt: float = 0.05) -> carla.World:
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = dt
    world.apply_settings(settings)
    return world


#: Timed blocks per figure; the median is reported (a single block catches any hiccup).
ROUNDS = 3


def bench_hero(client: carla.Client, ticks: int) -> dict[str, float]:
    world = sync_world(client)
    lib = world.get_blueprint_library()
    spawn = world.get_map().get_spawn_points()
    hero = world.spawn_actor(lib.find("vehicle.lincoln.mkz_2017"), spawn[0])
    sensor = world.spawn_actor(
        lib.find("sensor.other.collision"), carla.Transform(), attach_to=hero
    )
    sensor.listen(lambda event: None)
    for _ in range(20):
        world.tick()
    tick_only = [_rate(ticks, world.tick) for _ in range(ROUNDS)]
    steps = iter(range(ROUNDS * ticks))

    def controlled_tick() -> None:
        i = next(steps)
        if i % 200 == 0:  # back to the start before it reaches the end of the road
            hero.set_transform(spawn[0])
        # A different control each step, as an RL agent sends: one RPC more per tick.
        hero.apply_control(carla.VehicleControl(throttle=0.3 + 0.1 * (i % 3), steer=0.0))
        world.tick()
        hero.get_transform()

    with_control = [_rate(ticks, controlled_tick) for _ in range(ROUNDS)]
    sensor.stop()
    sensor.destroy()
    hero.destroy()
    world.tick()
    return {
        "ticks_per_s": round(statistics.median(tick_only), 1),
        "ticks_per_s_with_control": round(statistics.median(with_control), 1),
        "rounds": {"ticks_per_s": tick_only, "ticks_per_s_with_control": with_control},
    }


def _rate(ticks: int, tick: Callable[[], Any]) -> float:
    """Calls of ``tick`` per second over ``ticks`` calls."""
    start = time.perf_counter()
    for _ in range(ticks):
        tick()
    return round(ticks / (time.perf_counter() - start), 1)


def bench_traffic(client: carla.Client, port: int, n: int, ticks: int) -> dict[str, float]:
    world = sync_world(client)
    tm = client.get_trafficmanager(port + 3)
    tm.set_synchronous_mode(True)
    tm.set_random_device_seed(0)
    lib = world.get_blueprint_library()
    cars = [
        bp for bp in lib.filter("vehicle.*") if bp.get_attribute("number_of_wheels").as_int() == 4
    ]
    spawn = world.get_map().get_spawn_points()
    rng = random.Random(0)
    rng.shuffle(spawn)
    batch = [
        carla.command.SpawnActor(rng.choice(cars), spawn[i]).then(
            carla.command.SetAutopilot(carla.command.FutureActor, True, port + 3)
        )
        for i in range(min(n, len(spawn)))
    ]
    ids = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    for _ in range(20):
        world.tick()
    start = time.perf_counter()
    for _ in range(ticks):
        world.tick()
    rate = ticks / (time.perf_counter() - start)
    client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
    return {"vehicles": len(ids), "ticks_per_s": round(rate, 1)}


def bench_load_world(client: carla.Client, repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.load_world("LiteTown01")
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--tm-vehicles", type=int, default=50)
    parser.add_argument("--tm-ticks", type=int, default=500)
    args = parser.parse_args()
    starts = []
    for _ in range(3):
        proc, took = start_server(free_port())
        starts.append(took)
        stop_server(proc)
    port = free_port()
    proc, _ = start_server(port)
    try:
        client = carla.Client("127.0.0.1", port)
        client.set_timeout(20.0)
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "server_start_to_ready_s": {
                "median": round(statistics.median(starts), 3),
                "max": round(max(starts), 3),
            },
            "sync_hero_collision_sensor": bench_hero(client, args.ticks),
            "load_world_LiteTown01": bench_load_world(client, 5),
            "sync_traffic_manager": bench_traffic(client, port, args.tm_vehicles, args.tm_ticks),
        }
    finally:
        stop_server(proc)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
