#!/usr/bin/env python
"""Several sensors synchronised by frame: every sensor's data of each tick, on one queue.

A client program in the style of CARLA's PythonAPI examples (``sensor_synchronization.py``):
in synchronous mode, an RGB camera, a lidar, a semantic lidar, a radar, a GNSS and an IMU on
one vehicle put ``(frame, name)`` on a shared queue; after each ``world.tick()`` the program
waits for one item per sensor and checks that every item belongs to that tick. Uses only the
public ``carla`` API. Prints one ``RESULT {json}`` line and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import sys

import carla

SENSORS = {
    "rgb": (
        "sensor.camera.rgb",
        {"image_size_x": "128", "image_size_y": "96", "fov": "90"},
    ),
    "lidar": (
        "sensor.lidar.ray_cast",
        {"channels": "16", "range": "50", "points_per_second": "20000"},
    ),
    "semantic_lidar": (
        "sensor.lidar.ray_cast_semantic",
        {"channels": "16", "range": "50", "points_per_second": "20000"},
    ),
    "radar": ("sensor.other.radar", {"horizontal_fov": "30", "points_per_second": "1500"}),
    "gnss": ("sensor.other.gnss", {}),
    "imu": ("sensor.other.imu", {}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="IP of the host server")
    parser.add_argument("-p", "--port", type=int, default=2000, help="TCP port (default 2000)")
    parser.add_argument("--tm-port", type=int, default=8000, help="Traffic Manager port")
    parser.add_argument("--town", default=None, help="load this map first (default: keep)")
    parser.add_argument("--ticks", type=int, default=40, help="number of synchronous ticks")
    parser.add_argument("--delta", type=float, default=0.05, help="fixed delta seconds")
    parser.add_argument("--timeout", type=float, default=20.0, help="client/sensor timeout [s]")
    return parser.parse_args(argv)


def load_town(client: carla.Client, town: str | None) -> carla.World:
    world = client.get_world()
    if town and world.get_map().name.split("/")[-1] != town:
        world = client.load_world(town)
    return world


def sensor_callback(data: carla.SensorData, sensor_queue: queue.Queue, name: str) -> None:
    """Runs on the client's streaming thread: hand (frame, name, summary) to the main loop."""
    if isinstance(
        data, (carla.LidarMeasurement, carla.SemanticLidarMeasurement, carla.RadarMeasurement)
    ):
        summary = float(len(data))
    elif isinstance(data, carla.GnssMeasurement):
        summary = data.latitude
    elif isinstance(data, carla.IMUMeasurement):
        summary = data.accelerometer.z
    else:
        summary = float(data.width * data.height)
    sensor_queue.put((data.frame, name, summary))


def run(args: argparse.Namespace) -> dict:
    client = carla.Client(args.host, args.port)
    client.set_timeout(args.timeout)
    world = load_town(client, args.town)
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(args.tm_port)
    actors: list[carla.Actor] = []
    result: dict = {"ticks": 0, "complete": 0, "mismatched": 0, "summary": {}}
    try:
        settings = world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = args.delta
        world.apply_settings(settings)
        traffic_manager.set_synchronous_mode(True)

        library = world.get_blueprint_library()
        vehicle = world.spawn_actor(
            library.filter("vehicle.*")[0], world.get_map().get_spawn_points()[2]
        )
        actors.append(vehicle)
        vehicle.set_autopilot(True, traffic_manager.get_port())

        sensor_queue: queue.Queue = queue.Queue()
        mount = carla.Transform(carla.Location(x=0.5, z=2.0))
        for name, (blueprint_id, attributes) in SENSORS.items():
            bp = library.find(blueprint_id)
            for key, value in attributes.items():
                bp.set_attribute(key, value)
            if bp.has_attribute("rotation_frequency"):
                bp.set_attribute("rotation_frequency", str(1.0 / args.delta))
            sensor = world.spawn_actor(bp, mount, attach_to=vehicle)
            actors.append(sensor)
            sensor.listen(lambda data, n=name: sensor_callback(data, sensor_queue, n))

        for _ in range(args.ticks):
            world.tick()
            frame = world.get_snapshot().frame
            result["ticks"] += 1
            names = set()
            for _ in SENSORS:
                data_frame, name, summary = sensor_queue.get(True, args.timeout)
                if data_frame != frame:
                    result["mismatched"] += 1
                names.add(name)
                result["summary"].setdefault(name, []).append(summary)
            if names == set(SENSORS):
                result["complete"] += 1
        result["summary"] = {
            name: sum(values) / len(values) for name, values in result["summary"].items()
        }
    finally:
        for actor in actors:
            if isinstance(actor, carla.Sensor):
                actor.stop()
        for actor in reversed(actors):
            actor.destroy()
        traffic_manager.set_synchronous_mode(False)
        world.apply_settings(original_settings)
    return result


def check(result: dict, args: argparse.Namespace) -> list[str]:
    failures = []
    if result["complete"] != args.ticks:
        failures.append(f"{result['complete']} of {args.ticks} ticks had every sensor")
    if result["mismatched"]:
        failures.append(f"{result['mismatched']} measurements of another frame")
    summary = result["summary"]
    if summary.get("lidar", 0.0) <= 0.0 or summary.get("semantic_lidar", 0.0) <= 0.0:
        failures.append("the lidars returned no points")
    if abs(summary.get("imu", 0.0) - 9.81) > 2.0:
        failures.append(f"IMU vertical acceleration {summary.get('imu')} not about 9.81")
    if not math.isfinite(summary.get("gnss", math.nan)):
        failures.append(f"GNSS latitude {summary.get('gnss')}")
    return failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except (RuntimeError, queue.Empty) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    failures = check(result, args)
    result["failures"] = failures
    print("RESULT " + json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The 0.9.16 client may abort in its static destructors when a process exits right
    # after a sensor stopped streaming (with CARLA too); everything is already cleaned up.
    os._exit(code)
