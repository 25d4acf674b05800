"""Sensor soak: a hero with a camera, a LiDAR and a collision sensor, respawned every episode.

A fresh carla_lite server on ``--town`` with ``--vehicles`` Traffic Manager NPCs; through the
official client, in synchronous mode (0.05 s), the loop RL code runs: spawn a hero with an
84x84 RGB camera, a 32-channel LiDAR and a collision sensor, tick ``--episode`` times taking
each sensor's message of the tick's frame (a missing or wrong frame is counted as a fault),
then destroy the sensors and the hero and start again, for ``--ticks`` ticks in all. Every
``--window`` ticks it records the server's resident memory, open file descriptors and
threads, the actors alive, and the tick rate. The verdict compares the last window with the
first (after warm-up): memory growth in MiB, descriptors and threads leaked, faults. Prints
JSON; ``--out`` also writes it.

Usage: .venv/bin/python bench/soak_sensors.py [--ticks 20000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import queue
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
    process_stats,
    start_server,
    stop_server,
)


def _spawn_hero(world: Any, lib: Any, spawn: Any, inbox: queue.Queue[Any]) -> list[Any]:
    import carla

    hero = world.try_spawn_actor(lib.find("vehicle.tesla.model3"), spawn)
    if hero is None:
        return []
    camera = lib.find("sensor.camera.rgb")
    camera.set_attribute("image_size_x", "84")
    camera.set_attribute("image_size_y", "84")
    lidar = lib.find("sensor.lidar.ray_cast")
    lidar.set_attribute("channels", "32")
    lidar.set_attribute("points_per_second", "100000")
    lidar.set_attribute("rotation_frequency", "20")
    mount = carla.Transform(carla.Location(x=1.5, z=2.4))
    sensors = [
        world.spawn_actor(camera, mount, attach_to=hero),
        world.spawn_actor(lidar, mount, attach_to=hero),
        world.spawn_actor(lib.find("sensor.other.collision"), carla.Transform(), attach_to=hero),
    ]
    for i, sensor in enumerate(sensors[:2]):
        sensor.listen(lambda data, i=i: inbox.put((i, data.frame)))
    sensors[2].listen(lambda event: None)
    hero.apply_control(carla.VehicleControl(throttle=0.4))
    return [*sensors, hero]


def soak(args: argparse.Namespace) -> dict[str, Any]:
    import carla

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc, _ = start_server(port, f"--map={args.town}", log_path=Path(tmp) / "server.log")
        try:
            client, world = connect_sync(port)
            tm = client.get_trafficmanager(port + 3)
            tm.set_synchronous_mode(True)
            lib = world.get_blueprint_library()
            spawns = world.get_map().get_spawn_points()
            car = lib.find("vehicle.audi.a2")
            batch = [
                carla.command.SpawnActor(car, p).then(
                    carla.command.SetAutopilot(carla.command.FutureActor, True, tm.get_port())
                )
                for p in spawns[1 : 1 + args.vehicles]
            ]
            client.apply_batch_sync(batch, True)
            inbox: queue.Queue[Any] = queue.Queue()
            windows: list[dict[str, Any]] = []
            faults: list[str] = []
            episodes = 0
            actors: list[Any] = []
            started = time.perf_counter()
            window_start = started
            for tick in range(1, args.ticks + 1):
                if not actors or tick % args.episode == 0:
                    for sensor in actors[:-1]:
                        sensor.stop()
                    client.apply_batch_sync([carla.command.DestroyActor(a) for a in actors])
                    while not inbox.empty():
                        inbox.get()
                    actors = _spawn_hero(world, lib, spawns[0], inbox)
                    episodes += 1
                frame = world.tick()
                if actors:
                    got: dict[int, int] = {}
                    deadline = time.monotonic() + 5.0
                    while len(got) < 2 and time.monotonic() < deadline:
                        try:
                            i, data_frame = inbox.get(timeout=0.5)
                        except queue.Empty:
                            continue
                        if data_frame == frame:
                            got[i] = data_frame
                    if len(got) < 2:
                        faults.append(f"tick {tick}: sensors {sorted(got)} of 2 on frame {frame}")
                if tick % args.window == 0:
                    now = time.perf_counter()
                    windows.append(
                        {
                            "tick": tick,
                            "ticks_per_s": round(args.window / (now - window_start), 1),
                            "actors": len(world.get_actors()),
                            **process_stats(proc.pid),
                        }
                    )
                    window_start = now
            elapsed = time.perf_counter() - started
            for sensor in actors[:-1]:
                sensor.stop()
            client.apply_batch_sync([carla.command.DestroyActor(a) for a in actors])
        finally:
            stop_server(proc)
    first, last = windows[min(1, len(windows) - 1)], windows[-1]
    return {
        "benchmark": "soak_sensors",
        "town": args.town,
        "ticks": args.ticks,
        "episodes": episodes,
        "vehicles": args.vehicles,
        "ticks_per_s": round(args.ticks / elapsed, 1),
        "faults": len(faults),
        "first_faults": faults[:5],
        "rss_growth_mib": round(last["rss_mib"] - first["rss_mib"], 1),
        "fd_growth": last["fds"] - first["fds"],
        "thread_growth": last["threads"] - first["threads"],
        "actors_first_last": [first["actors"], last["actors"]],
        "windows": windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--town", default="LiteTown01")
    parser.add_argument("--ticks", type=int, default=20000)
    parser.add_argument("--episode", type=int, default=500)
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = soak(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
