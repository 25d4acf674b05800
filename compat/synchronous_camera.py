#!/usr/bin/env python
"""Synchronous camera loop: an RGB and a depth camera on a vehicle, frames matched by id.

A client program in the style of CARLA's PythonAPI examples (synchronous mode, one queue per
sensor, each tick's data picked by frame id). Uses only the public ``carla`` API, so it runs
against CARLA 0.9.16 as well as carla_lite. Prints one ``RESULT {json}`` line and exits
non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import queue

import carla
import common
import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.connection_parser(__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=50, help="number of synchronous ticks")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--delta", type=float, default=0.05, help="fixed delta seconds")
    parser.add_argument("--timeout", type=float, default=20.0, help="client/sensor timeout [s]")
    return parser.parse_args(argv)


def depth_in_meters(image: carla.Image) -> np.ndarray:
    """CARLA's depth encoding: (R + G * 256 + B * 256²) / (256³ - 1) * 1000 m."""
    bgra = np.frombuffer(image.raw_data, dtype=np.uint8).reshape(image.height, image.width, 4)
    rgb = bgra[:, :, 2::-1].astype(np.float64)
    normalized = (rgb[:, :, 0] + rgb[:, :, 1] * 256.0 + rgb[:, :, 2] * 65536.0) / 16777215.0
    return 1000.0 * normalized


def run(args: argparse.Namespace) -> dict:
    client, world = common.connect(args)
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(args.tm_port)
    actors: list[carla.Actor] = []
    result: dict = {"ticks": 0, "matched": 0}
    try:
        common.set_synchronous(world, args.delta)
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
            rgb = common.retrieve(queues["sensor.camera.rgb"], frame, args.timeout)
            depth = common.retrieve(queues["sensor.camera.depth"], frame, args.timeout)
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
        common.clean_up(world, original_settings, actors, traffic_manager)
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
    return common.main(parse_args(argv), run, check, sensors=True)


if __name__ == "__main__":
    common.hard_exit(main())
