"""Sensor benchmark: synchronous ticks/s through the official client, as a user's loop sees it.

Each configuration runs against a fresh carla_lite server on LiteTown01 (fixed_delta_seconds
0.05): a hero vehicle at the first spawn point, and then

* ``hero_only``: nothing else (the baseline of this run);
* ``rgb_84x84`` / ``rgb_800x600``: one RGB camera on the hero;
* ``lidar_32ch_100k``: a 32-channel LiDAR at 100,000 points/s (rotation 20 Hz);
* ``walkers_30``: 30 pedestrians under ``controller.ai.walker`` (the client-side crowd);

Sensor loops do what RL code does each step: ``frame = world.tick()`` then block on the
listener's queue until the message of that frame arrives (a message of another frame is an
error: the run fails). Configurations run in ``--rounds`` interleaved rounds; rates are
medians. Prints JSON (each figure next to the issue's goal); ``--out`` also writes it.

Usage: .venv/bin/python bench/bench_sensors.py [--ticks 500] [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import connect_sync, free_port, start_server, stop_server  # noqa: E402

TOWN = "LiteTown01"
DT = 0.05
WARMUP = 20
#: Goals of issue 8 on 2 cores (synchronous ticks/s).
GOALS = {"rgb_84x84": 500.0, "rgb_800x600": 100.0, "lidar_32ch_100k": 300.0, "walkers_30": 500.0}
SENSORS: dict[str, tuple[str, dict[str, str]]] = {
    "rgb_84x84": ("sensor.camera.rgb", {"image_size_x": "84", "image_size_y": "84"}),
    "rgb_800x600": ("sensor.camera.rgb", {"image_size_x": "800", "image_size_y": "600"}),
    "lidar_32ch_100k": (
        "sensor.lidar.ray_cast",
        {
            "channels": "32",
            "points_per_second": "100000",
            "rotation_frequency": "20",
            "range": "50",
        },
    ),
}
CONFIGS = ("hero_only", *SENSORS, "walkers_30")


def _spawn_walkers(world: Any, count: int) -> list[Any]:
    """``count`` walkers with started AI controllers, spawned in batches as CARLA's examples do."""
    import carla

    lib = world.get_blueprint_library()
    walker_bps = lib.filter("walker.pedestrian.*")
    controller_bp = lib.find("controller.ai.walker")
    spots = []
    while len(spots) < count * 2 and len(spots) < 500:
        location = world.get_random_location_from_navigation()
        if location is not None:
            spots.append(location)
    if not spots:
        raise RuntimeError("get_random_location_from_navigation found no walkable location")
    walkers = []
    for i, location in enumerate(spots):
        if len(walkers) == count:
            break
        bp = walker_bps[i % len(walker_bps)]
        actor = world.try_spawn_actor(bp, carla.Transform(location + carla.Location(z=1.0)))
        if actor is not None:
            walkers.append(actor)
    world.tick()
    controllers = [
        world.spawn_actor(controller_bp, carla.Transform(), attach_to=w) for w in walkers
    ]
    world.tick()
    for controller in controllers:
        controller.start()
        controller.go_to_location(world.get_random_location_from_navigation())
        controller.set_max_speed(1.4)
    return walkers + controllers


def measure(config: str, ticks: int) -> dict[str, Any]:
    """Ticks/s of one configuration on a fresh server."""
    import carla

    port = free_port()
    proc, _ = start_server(port, f"--map={TOWN}")
    try:
        _client, world = connect_sync(port, delta=DT)
        lib = world.get_blueprint_library()
        hero = world.spawn_actor(
            lib.find("vehicle.tesla.model3"), world.get_map().get_spawn_points()[0]
        )
        inbox: queue.Queue[Any] = queue.Queue()
        sensor = None
        extra: dict[str, Any] = {}
        if config in SENSORS:
            bp_id, attributes = SENSORS[config]
            bp = lib.find(bp_id)
            for key, value in attributes.items():
                bp.set_attribute(key, value)
            sensor = world.spawn_actor(
                bp, carla.Transform(carla.Location(x=1.5, z=2.4)), attach_to=hero
            )
            sensor.listen(inbox.put)
        elif config == "walkers_30":
            extra["actors"] = len(_spawn_walkers(world, 30))
        points = 0
        start = 0.0
        for i in range(WARMUP + ticks):
            if i == WARMUP:
                start = time.perf_counter()
            frame = world.tick()
            if sensor is not None:
                data = inbox.get(timeout=10.0)
                if data.frame != frame:
                    raise RuntimeError(f"{config}: got frame {data.frame} for tick {frame}")
                if config.startswith("lidar") and i >= WARMUP:
                    points += len(data)
        elapsed = time.perf_counter() - start
        result = {"ticks_per_s": ticks / elapsed, **extra}
        if points:
            result["lidar_points_per_tick"] = points / ticks
        if sensor is not None:
            sensor.stop()
            sensor.destroy()
        return result
    finally:
        stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in args.configs}
    errors: dict[str, str] = {}
    for _ in range(args.rounds):
        for config in args.configs:
            if config in errors:
                continue
            try:
                samples[config].append(measure(config, args.ticks))
            except Exception as exc:  # one broken config must not hide the rest: in the JSON
                errors[config] = f"{type(exc).__name__}: {exc}"
    figures: dict[str, Any] = {}
    for config, runs in samples.items():
        if not runs:
            continue
        rate = statistics.median(r["ticks_per_s"] for r in runs)
        entry: dict[str, Any] = {"ticks_per_s": round(rate, 1), "rounds": len(runs)}
        for key in runs[0]:
            if key != "ticks_per_s":
                entry[key] = runs[0][key]
        if config in GOALS:
            entry["goal_ticks_per_s"] = GOALS[config]
            entry["goal_met"] = rate >= GOALS[config]
        figures[config] = entry
    baseline = figures.get("hero_only", {}).get("ticks_per_s")
    if baseline:
        for entry in figures.values():
            entry["ratio_to_hero_only"] = round(entry["ticks_per_s"] / baseline, 3)
    report = {
        "benchmark": "sensors",
        "town": TOWN,
        "fixed_delta_seconds": DT,
        "ticks": args.ticks,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": figures,
        "errors": errors,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
