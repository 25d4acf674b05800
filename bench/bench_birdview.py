"""BirdView benchmark: map-layer render/load times and per-frame cost. Prints JSON.

Usage: .venv/bin/python bench/bench_birdview.py [--vehicles 20] [--frames 500]

Starts a carla_lite server (LiteTown01), spawns a hero and ``--vehicles`` Traffic-Manager
vehicles, then for 84, 192 and 300 px (radius 15 m) reports:
  map_render_s   rendering the static layer (empty disk cache),
  map_disk_s     loading it from the disk cache (fresh process state),
  map_memory_s   getting it from the in-process cache (what every env reset costs),
  render_ms      ``BirdViewRenderer.render`` alone (warp + actors), median per frame,
  masks_ms       ``render_masks`` alone,
  tick_ms        ``BirdviewManager.tick`` (snapshot parsing + render + delivery).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import carla

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import free_port, start_server, stop_server  # noqa: E402
from rllib_integration.sensors.bird_view import map_layer  # noqa: E402
from rllib_integration.sensors.bird_view_manager import BirdviewManager  # noqa: E402
from rllib_integration.sensors.sensor_interface import SensorInterface  # noqa: E402

SIZES = (84, 192, 300)
RADIUS = 15.0


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 4)


def bench(client: carla.Client, port: int, n_vehicles: int, frames: int) -> dict[str, Any]:
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = 0.05
    world.apply_settings(settings)
    tm = client.get_trafficmanager(port + 3)
    tm.set_synchronous_mode(True)
    tm.set_random_device_seed(0)
    lib = world.get_blueprint_library()
    spawn = world.get_map().get_spawn_points()
    hero_bp = lib.find("vehicle.tesla.model3")
    hero_bp.set_attribute("role_name", "hero")
    hero = world.spawn_actor(hero_bp, spawn[0])
    hero.set_autopilot(True, port + 3)
    rng = random.Random(0)
    points = spawn[1:]
    rng.shuffle(points)
    # Vehicles near the hero first, so the image has ~n_vehicles to draw.
    points.sort(key=lambda p: p.location.distance(spawn[0].location))
    cars = list(lib.filter("vehicle.*"))
    batch = [
        carla.command.SpawnActor(rng.choice(cars), points[i]).then(
            carla.command.SetAutopilot(carla.command.FutureActor, True, port + 3)
        )
        for i in range(n_vehicles)
    ]
    spawned = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    for _ in range(10):
        world.tick()

    carla_map = world.get_map()
    results: dict[str, Any] = {"vehicles": len(spawned)}
    with tempfile.TemporaryDirectory() as cache_dir:
        for size in SIZES:
            ppm = size / (2 * RADIUS) / 2**0.5
            map_layer.clear_memory_cache()
            render_s, layer = timed(lambda: map_layer.load_map_layer(carla_map, ppm, cache_dir))  # noqa: B023
            map_layer.clear_memory_cache()
            disk_s, _ = timed(lambda: map_layer.load_map_layer(carla_map, ppm, cache_dir))  # noqa: B023
            memory_s, _ = timed(lambda: map_layer.load_map_layer(carla_map, ppm, cache_dir))  # noqa: B023

            interface = SensorInterface()
            attributes = {"type": "sensor.birdview", "size": size, "radius": RADIUS}
            manager = BirdviewManager("bv", {**attributes, "cache_dir": cache_dir}, interface, hero)
            renderer = manager.renderer
            assert renderer is not None
            render_t: list[float] = []
            masks_t: list[float] = []
            tick_t: list[float] = []
            in_view = []
            for _ in range(frames):
                frame = world.tick()
                snapshot = world.get_snapshot()
                t, _ = timed(lambda: manager.tick(frame, snapshot))  # noqa: B023
                tick_t.append(t)
                interface.get_data(frame)
                # Re-render the same frame with the renderer alone (no snapshot parsing).
                hero_tf = snapshot.find(hero.id).get_transform()
                actors, lights = _shapes(manager, snapshot)
                in_view.append(len(actors))
                t, _ = timed(lambda: renderer.render(hero_tf, actors, lights))  # noqa: B023
                render_t.append(t)
                t, _ = timed(lambda: renderer.render_masks(hero_tf, actors, lights))  # noqa: B023
                masks_t.append(t)
            manager.destroy()
            results[f"{size}px"] = {
                "map_raster_px": layer.labels.shape[0],
                "map_pixels_per_meter": round(layer.pixels_per_meter, 4),
                "map_render_s": round(render_s, 3),
                "map_disk_s": round(disk_s, 3),
                "map_memory_s": round(memory_s, 6),
                "render_ms": median_ms(render_t),
                "render_ms_p95": round(1000 * sorted(render_t)[int(0.95 * frames)], 4),
                "masks_ms": median_ms(masks_t),
                "tick_ms": median_ms(tick_t),
                "actors_passed": max(in_view),
            }
    client.apply_batch_sync([carla.command.DestroyActor(i) for i in spawned], True)
    return results


def _shapes(manager: BirdviewManager, snapshot: Any) -> tuple[list[Any], list[Any]]:
    """The actor and light shapes ``tick`` builds, rebuilt for the renderer-only timing."""
    from rllib_integration.sensors.bird_view import ActorShape, TrafficLightShape

    actors, lights = [], []
    for actor_snapshot in snapshot:
        entry = manager._catalogue.get(actor_snapshot.id)
        if entry is None:
            continue
        if entry.kind is not None:
            tf = actor_snapshot.get_transform()
            actors.append(
                ActorShape(
                    entry.kind,
                    tf.location.x,
                    tf.location.y,
                    tf.rotation.yaw,
                    entry.extent_x,
                    entry.extent_y,
                )
            )
        elif entry.light is not None:
            lights.append(TrafficLightShape(*entry.position, int(entry.light.get_state())))
    return actors, lights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=20)
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    port = free_port()
    proc, _ = start_server(port)
    try:
        client = carla.Client("127.0.0.1", port)
        client.set_timeout(20.0)
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "map": "LiteTown01",
            "radius_m": RADIUS,
            **bench(client, port, args.vehicles, args.frames),
        }
    finally:
        stop_server(proc)
    print(json.dumps(results, indent=2), flush=True)
    # The 0.9.16 client can abort in its static destructors at exit: skip them.
    os._exit(0)


if __name__ == "__main__":
    main()
