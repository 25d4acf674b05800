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
import math
import queue

import carla
import common

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
    parser = common.connection_parser(__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=40, help="number of synchronous ticks")
    parser.add_argument("--delta", type=float, default=0.05, help="fixed delta seconds")
    parser.add_argument("--timeout", type=float, default=20.0, help="client/sensor timeout [s]")
    return parser.parse_args(argv)


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
    client, world = common.connect(args)
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(args.tm_port)
    actors: list[carla.Actor] = []
    result: dict = {"ticks": 0, "complete": 0, "mismatched": 0, "summary": {}}
    try:
        common.set_synchronous(world, args.delta)
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
        common.clean_up(world, original_settings, actors, traffic_manager)
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
    return common.main(parse_args(argv), run, check, sensors=True)


if __name__ == "__main__":
    common.hard_exit(main())
