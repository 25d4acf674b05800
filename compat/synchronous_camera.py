#!/usr/bin/env python
"""Synchronous camera loop: an RGB and a depth camera on a vehicle, frames matched by id.

A client program in the style of CARLA's PythonAPI examples (synchronous mode, one queue per
sensor, each tick's data picked by frame id). Uses only the public ``carla`` API, so it runs
against CARLA 0.9.16 as well as carla_lite. Prints one ``RESULT {json}`` line and exits
non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys

import carla
import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="IP of the host server")
    parser.add_argument("-p", "--port", type=int, default=2000, help="TCP port (default 2000)")
    parser.add_argument("--tm-port", type=int, default=8000, help="Traffic Manager port")
    parser.add_argument("--town", default=None, help="load this map first (default: keep)")
    parser.add_argument("--ticks", type=int, default=50, help="number of synchronous ticks")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--delta", type=float, default=0.05, help="fixed delta seconds")
    parser.add_argument("--timeout", type=float, default=20.0, help="client/sensor timeout [s]")
    return parser.parse_args(argv)


def load_town(client: carla.Client, town: str | None) -> carla.World:
    world = client.get_world()
    if town and world.get_map().name.split("/")[-1] != town:
        world = client.load_world(town)
    return world


def depth_in_meters(image: carla.Image) -> np.ndarray:
    """CARLA's depth encoding: (R + G * 256 + B * 256²) / (256³ - 1) * 1000 m."""
    bgra = np.frombuffer(image.raw_data, dtype=np.uint8).reshape(image.height, image.width, 4)
    rgb = bgra[:, :, 2::-1].astype(np.float64)
    normalized = (rgb[:, :, 0] + rgb[:, :, 1] * 256.0 + rgb[:, :, 2] * 65536.0) / 16777215.0
    return 1000.0 * normalized


def retrieve(sensor_queue: queue.Queue, frame: int, timeout: float) -> carla.SensorData:
    """The queued measurement of ``frame`` (older ones are dropped)."""
    while True:
        data = sensor_queue.get(timeout=timeout)
        if data.frame == frame:
            return data
        if data.frame > frame:
            raise RuntimeError(f"sensor skipped frame {frame} (got {data.frame})")


def run(args: argparse.Namespace) -> dict:
    client = carla.Client(args.host, args.port)
    client.set_timeout(args.timeout)
    world = load_town(client, args.town)
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(args.tm_port)
    actors: list[carla.Actor] = []
    result: dict = {"ticks": 0, "matched": 0}
    try:
        settings = world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = args.delta
        world.apply_settings(settings)
        traffic_manager.set_synchronous_mode(True)

        library = world.get_blueprint_library()
        vehicle_bp = library.filter("vehicle.*")[0]
        spawn_point = world.get_map().get_spawn_points()[0]
        vehicle = world.spawn_actor(vehicle_bp, spawn_point)
        actors.append(vehicle)
        vehicle.set_autopilot(True, traffic_manager.get_port())

        camera_transform = carla.Transform(carla.Location(x=1.5, z=2.4))
        queues: dict[str, queue.Queue] = {}
        for name in ("sensor.camera.rgb", "sensor.camera.depth"):
            bp = library.find(name)
            bp.set_attribute("image_size_x", str(args.width))
            bp.set_attribute("image_size_y", str(args.height))
            bp.set_attribute("fov", "90")
            camera = world.spawn_actor(bp, camera_transform, attach_to=vehicle)
            actors.append(camera)
            queues[name] = queue.Queue()
            camera.listen(queues[name].put)

        spectator = world.get_spectator()
        rgb_std: list[float] = []
        depth_median: list[float] = []
        for _ in range(args.ticks):
            # The spectator follows the car from above and behind, as the examples' views do.
            view = vehicle.get_transform()
            behind = view.transform(carla.Location(x=-6.0, z=3.0))
            spectator.set_transform(
                carla.Transform(behind, carla.Rotation(pitch=-15.0, yaw=view.rotation.yaw))
            )
            frame = world.tick()
            snapshot = world.get_snapshot()
            if snapshot.frame != frame:
                raise RuntimeError(f"snapshot frame {snapshot.frame} != tick frame {frame}")
            rgb = retrieve(queues["sensor.camera.rgb"], frame, args.timeout)
            depth = retrieve(queues["sensor.camera.depth"], frame, args.timeout)
            result["ticks"] += 1
            if rgb.frame == depth.frame == frame:
                result["matched"] += 1
            pixels = np.frombuffer(rgb.raw_data, dtype=np.uint8)
            rgb_std.append(float(pixels.reshape(-1, 4)[:, :3].std()))
            depth_median.append(float(np.median(depth_in_meters(depth))))
        result["rgb_std_min"] = min(rgb_std)
        result["depth_median_m"] = float(np.median(depth_median))
        result["distance_m"] = vehicle.get_location().distance(spawn_point.location)
        result["spectator_gap_m"] = spectator.get_location().distance(vehicle.get_location())
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
    if result["matched"] != args.ticks:
        failures.append(f"{result['matched']} of {args.ticks} ticks had both images")
    if result["rgb_std_min"] <= 0.0:
        failures.append("an RGB image is uniform")
    if not 3.0 < result["spectator_gap_m"] < 12.0:
        failures.append(f"the spectator is {result['spectator_gap_m']:.1f} m from the car")
    if not 0.0 < result["depth_median_m"] < 1000.0:
        failures.append(f"depth median {result['depth_median_m']} m out of (0, 1000)")
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
