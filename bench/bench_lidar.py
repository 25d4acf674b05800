"""Ray-cast sensor benchmark: milliseconds per tick of one sensor's ``measure`` (in process).

LiteTown01 with 20 vehicles at the first 20 spawn points, all driving on at 8 m/s so the
bodies' BVH is rebuilt every tick, as in a running world. The sensor rides on the first
vehicle (2.4 m up for the lidars, on the bumper for the radar and the obstacle detector).
Configurations:

* ``lidar_32ch_100k``: ``sensor.lidar.ray_cast``, 32 channels, 100,000 points/s, 20 Hz
  rotation, 50 m range, CARLA's default drop-off (45 % of the rays are never cast);
* ``lidar_32ch_100k_no_dropoff``: the same casting every ray;
* ``semantic_lidar_32ch_100k``: ``sensor.lidar.ray_cast_semantic`` with those settings;
* ``radar_default``: ``sensor.other.radar`` (30x30 degrees, 100 m, 1,500 points/s);
* ``obstacle_default``: ``sensor.other.obstacle`` (5 m, radius 0.5).

Each runs at ``fixed_delta_seconds`` 0.05 (5,000 lidar rays a tick) and 0.01 (1,000). Prints
JSON: per configuration and delta, the median and mean ms per tick, the rays of a tick's sweep
(before the lidar's drop-off) and the points or detections returned per tick, and the one-off
cost of the static scene and its BVH.

Usage: .venv/bin/python bench/bench_lidar.py [--ticks 400] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sensor_traffic import HERO, SENSOR, Traffic  # noqa: E402
from carla_lite.maps import RoadMap, load_road_map  # noqa: E402
from carla_lite.maps.catalog import BUILTIN_DIR  # noqa: E402
from carla_lite.sensors import raycast  # noqa: E402
from carla_lite.sensors.base import Sensor, SensorSpec  # noqa: E402
from carla_lite.sensors.registry import create_sensor  # noqa: E402

TOWN = "LiteTown01"
VEHICLES = 20
WARMUP = 10
LIDAR = {"channels": "32", "points_per_second": "100000", "rotation_frequency": "20"}
CONFIGS: dict[str, tuple[str, dict[str, str], tuple[float, float, float]]] = {
    "lidar_32ch_100k": ("sensor.lidar.ray_cast", {**LIDAR, "range": "50"}, (0.0, 0.0, 2.4)),
    "lidar_32ch_100k_no_dropoff": (
        "sensor.lidar.ray_cast",
        {**LIDAR, "range": "50", "dropoff_general_rate": "0"},
        (0.0, 0.0, 2.4),
    ),
    "semantic_lidar_32ch_100k": (
        "sensor.lidar.ray_cast_semantic",
        {**LIDAR, "range": "50"},
        (0.0, 0.0, 2.4),
    ),
    "radar_default": ("sensor.other.radar", {}, (2.5, 0.0, 0.8)),
    "obstacle_default": ("sensor.other.obstacle", {}, (2.5, 0.0, 0.8)),
}
DELTAS = (0.05, 0.01)


def _payload(measurement: Any) -> int:
    for name in ("points", "detections"):
        data = getattr(measurement, name, None)
        if data is not None:
            return len(data)
    return 1


def run(road_map: RoadMap, name: str, dt: float, ticks: int) -> dict[str, Any]:
    blueprint, attributes, mount = CONFIGS[name]
    traffic = Traffic(road_map, mount, vehicles=VEHICLES)
    sensor = create_sensor(SensorSpec(SENSOR, blueprint, attributes, parent_id=HERO))
    assert isinstance(sensor, Sensor)
    times: list[float] = []
    returned = 0
    for i in range(WARMUP + ticks):
        frame = traffic.tick(dt)
        start = time.perf_counter()
        out = sensor.measure(frame) if sensor.due(dt) else []
        elapsed = time.perf_counter() - start
        if i >= WARMUP:
            times.append(elapsed)
            returned += sum(_payload(m) for m in out)
    per_tick_rays = None
    if "lidar" in name:
        per_laser = round(100000 * dt / 32)
        per_tick_rays = per_laser * 32
    elif name.startswith("radar"):
        per_tick_rays = int(1500 * dt)
    return {
        "ms_median": round(1e3 * statistics.median(times), 3),
        "ms_mean": round(1e3 * statistics.fmean(times), 3),
        "rays_per_tick": per_tick_rays,
        "returned_per_tick": round(returned / ticks, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    road_map = load_road_map(TOWN, (BUILTIN_DIR / f"{TOWN}.xodr").read_text())
    start = time.perf_counter()
    static = raycast.static_caster(road_map)
    setup = time.perf_counter() - start
    results: dict[str, Any] = {
        "town": TOWN,
        "vehicles": VEHICLES,
        "static_triangles": static.triangle_count,
        "static_scene_and_bvh_s": round(setup, 3),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "configs": {},
    }
    for name in CONFIGS:
        results["configs"][name] = {
            f"dt_{dt}": run(road_map, name, dt, args.ticks) for dt in DELTAS
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
