"""Camera benchmark: milliseconds per frame of one camera's ``measure`` (in process).

LiteTown01 with 20 vehicles at the first 20 spawn points driving on at 8 m/s, back to
their spawn points every 100 frames (their instance data is uploaded every frame, as in a
running world). The camera rides on the
first vehicle, 1.6 m up at the windscreen, looking ahead. Each configuration times
``measure`` (render, readback into numpy, the measurement record) and, separately, the
stream encoding (``measurement_codec.encode``, the bytes a client receives):

* ``rgb_84x84`` and ``rgb_800x600``: ``sensor.camera.rgb`` (the issue's two targets);
* ``semantic_84x84``, ``depth_84x84``, ``semantic_800x600``: the other common cameras.

Prints JSON: per configuration the median and mean ms of ``measure`` and of encoding, the
one-off cost of the first frame (static scene build and upload, shader compilation), the
OpenGL renderer and the CPU count. llvmpipe renders on ``LP_NUM_THREADS`` threads (default:
every core).

Usage: .venv/bin/python bench/bench_cameras.py [--frames 300] [--out FILE]
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
from carla_lite.protocol import measurement_codec  # noqa: E402
from carla_lite.sensors.base import Sensor, SensorSpec  # noqa: E402
from carla_lite.sensors.gl_renderer import renderer  # noqa: E402
from carla_lite.sensors.registry import create_sensor  # noqa: E402

TOWN = "LiteTown01"
VEHICLES = 20
DT = 0.05  # [s]
LOOP = 100  # frames between returns to the spawn points (40 m of driving)
WARMUP = 10
MOUNT = (0.8, 0.0, 1.6)  # [m] on the hero, in its frame
#: name -> (blueprint, image_size_x, image_size_y)
CONFIGS: dict[str, tuple[str, int, int]] = {
    "rgb_84x84": ("sensor.camera.rgb", 84, 84),
    "rgb_800x600": ("sensor.camera.rgb", 800, 600),
    "semantic_84x84": ("sensor.camera.semantic_segmentation", 84, 84),
    "depth_84x84": ("sensor.camera.depth", 84, 84),
    "semantic_800x600": ("sensor.camera.semantic_segmentation", 800, 600),
}


def run(road_map: RoadMap, name: str, frames: int) -> dict[str, Any]:
    blueprint, width, height = CONFIGS[name]
    traffic = Traffic(road_map, MOUNT, vehicles=VEHICLES, loop=LOOP)
    attributes = {"image_size_x": str(width), "image_size_y": str(height), "fov": "90"}
    sensor = create_sensor(SensorSpec(SENSOR, blueprint, attributes, parent_id=HERO))
    assert isinstance(sensor, Sensor)
    measure: list[float] = []
    encode: list[float] = []
    start = time.perf_counter()
    sensor.measure(traffic.tick(DT))
    first = time.perf_counter() - start
    for i in range(WARMUP + frames):
        frame = traffic.tick(DT)
        start = time.perf_counter()
        [out] = sensor.measure(frame)
        mid = time.perf_counter()
        message = measurement_codec.encode(out, lambda _i: None)
        end = time.perf_counter()
        if i >= WARMUP:
            measure.append(mid - start)
            encode.append(end - mid)
    return {
        "first_frame_ms": round(1e3 * first, 1),
        "measure_ms_median": round(1e3 * statistics.median(measure), 3),
        "measure_ms_mean": round(1e3 * statistics.fmean(measure), 3),
        "encode_ms_median": round(1e3 * statistics.median(encode), 3),
        "message_bytes": len(message),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    road_map = load_road_map(TOWN, (BUILTIN_DIR / f"{TOWN}.xodr").read_text())
    results: dict[str, Any] = {
        "town": TOWN,
        "vehicles": VEHICLES,
        "renderer": renderer().info.get("GL_RENDERER"),
        "lp_num_threads": os.environ.get("LP_NUM_THREADS"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "configs": {name: run(road_map, name, args.frames) for name in CONFIGS},
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
