#!/usr/bin/env python
"""Spawn traffic and pedestrians in batches, let them move, destroy them in a batch.

A client program in the style of CARLA's PythonAPI examples: vehicles spawned with
``client.apply_batch_sync`` (``SpawnActor`` then ``SetAutopilot`` on the ``FutureActor``),
walkers and their ``controller.ai.walker`` controllers spawned in batches and started with
``start`` / ``go_to_location`` / ``set_max_speed``, in synchronous (``--sync``, default) or
asynchronous (``--async``) mode. Uses only the public ``carla`` API. Prints one
``RESULT {json}`` line and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import random
import sys

import carla
import common

SpawnActor = carla.command.SpawnActor
SetAutopilot = carla.command.SetAutopilot
FutureActor = carla.command.FutureActor
DestroyActor = carla.command.DestroyActor


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.connection_parser(__doc__.splitlines()[0])
    parser.add_argument("-n", "--number-of-vehicles", type=int, default=8)
    parser.add_argument("-w", "--number-of-walkers", type=int, default=6)
    parser.add_argument("--ticks", type=int, default=60, help="ticks (or waits) to run")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--hybrid", action="store_true", help="Traffic Manager hybrid mode")
    parser.add_argument(
        "--respawn", action="store_true", help="respawn dormant vehicles (hybrid mode)"
    )
    parser.add_argument("--car-lights-on", action="store_true", help="TM updates car lights")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sync", dest="sync", action="store_true", default=True)
    mode.add_argument("--async", dest="sync", action="store_false")
    parser.add_argument("--timeout", type=float, default=20.0, help="client timeout [s]")
    return parser.parse_args(argv)


def ids_of(responses: list[carla.command.Response], what: str) -> list[int]:
    ids = []
    for response in responses:
        if response.error:
            print(f"{what}: {response.error}", file=sys.stderr)
        else:
            ids.append(response.actor_id)
    return ids


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    client, world = common.connect(args)
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(args.tm_port)
    traffic_manager.set_random_device_seed(args.seed)
    traffic_manager.set_global_distance_to_leading_vehicle(2.5)
    traffic_manager.global_percentage_speed_difference(10.0)
    if args.hybrid:
        traffic_manager.set_hybrid_physics_mode(True)
        traffic_manager.set_hybrid_physics_radius(70.0)
    if args.respawn:
        traffic_manager.set_respawn_dormant_vehicles(True)
        traffic_manager.set_boundaries_respawn_dormant_vehicles(25.0, 700.0)
    vehicle_ids: list[int] = []
    walker_ids: list[int] = []
    controller_ids: list[int] = []
    result: dict = {"mode": "sync" if args.sync else "async"}

    def step() -> None:
        if args.sync:
            world.tick()
        else:
            world.wait_for_tick()

    try:
        settings = world.get_settings()
        if args.sync:
            traffic_manager.set_synchronous_mode(True)
            settings.synchronous_mode = True
            settings.fixed_delta_seconds = 0.05
        else:
            settings.synchronous_mode = False
        world.apply_settings(settings)

        library = world.get_blueprint_library()
        vehicle_bps = [bp for bp in library.filter("vehicle.*") if bp.has_attribute("color")]
        vehicle_bps = vehicle_bps or list(library.filter("vehicle.*"))
        spawn_points = world.get_map().get_spawn_points()
        rng.shuffle(spawn_points)
        batch = []
        for transform in spawn_points[: args.number_of_vehicles]:
            bp = rng.choice(vehicle_bps)
            if bp.has_attribute("color"):
                bp.set_attribute("color", rng.choice(bp.get_attribute("color").recommended_values))
            bp.set_attribute("role_name", "autopilot")
            batch.append(
                SpawnActor(bp, transform).then(
                    SetAutopilot(FutureActor, True, traffic_manager.get_port())
                )
            )
        vehicle_ids = ids_of(client.apply_batch_sync(batch, args.sync), "vehicle")
        if args.car_lights_on:
            for vehicle in world.get_actors(vehicle_ids):
                traffic_manager.update_vehicle_lights(vehicle, True)

        # Walkers: random navigation locations, then one AI controller each.
        world.set_pedestrians_seed(args.seed)
        world.set_pedestrians_cross_factor(0.2)
        walker_bps = list(library.filter("walker.pedestrian.*"))
        batch = []
        speeds = []
        for _ in range(args.number_of_walkers):
            location = world.get_random_location_from_navigation()
            if location is None:
                continue
            bp = rng.choice(walker_bps)
            if bp.has_attribute("is_invincible"):
                bp.set_attribute("is_invincible", "false")
            speeds.append(float(bp.get_attribute("speed").recommended_values[1]))
            batch.append(SpawnActor(bp, carla.Transform(location)))
        walker_speed = []
        for response, speed in zip(client.apply_batch_sync(batch, True), speeds, strict=True):
            if response.error:
                print(f"walker: {response.error}", file=sys.stderr)
            else:
                walker_ids.append(response.actor_id)
                walker_speed.append(speed)
        controller_bp = library.find("controller.ai.walker")
        batch = [SpawnActor(controller_bp, carla.Transform(), wid) for wid in walker_ids]
        controller_ids = ids_of(client.apply_batch_sync(batch, True), "walker controller")
        # The controllers need a tick before they can be started (as in CARLA's example).
        step()
        controllers = world.get_actors(controller_ids)
        for controller, speed in zip(controllers, walker_speed, strict=False):
            controller.start()
            controller.go_to_location(world.get_random_location_from_navigation())
            controller.set_max_speed(speed)

        start = {a.id: a.get_location() for a in world.get_actors(vehicle_ids + walker_ids)}
        for _ in range(args.ticks):
            step()
        moved = {
            a.id: a.get_location().distance(start[a.id])
            for a in world.get_actors(vehicle_ids + walker_ids)
        }
        result.update(
            vehicles=len(vehicle_ids),
            walkers=len(walker_ids),
            controllers=len(controller_ids),
            vehicles_moved=sum(moved.get(i, 0.0) > 1.0 for i in vehicle_ids),
            walkers_moved=sum(moved.get(i, 0.0) > 0.5 for i in walker_ids),
        )
    finally:
        for controller in world.get_actors(controller_ids):
            controller.stop()
        responses = client.apply_batch_sync(
            [DestroyActor(x) for x in vehicle_ids + controller_ids + walker_ids], args.sync
        )
        result["destroyed"] = sum(not r.error for r in responses)
        if args.sync:
            traffic_manager.set_synchronous_mode(False)
        world.apply_settings(original_settings)
        if original_settings.synchronous_mode:
            world.tick()
        else:
            world.wait_for_tick()
        spawned = set(vehicle_ids + controller_ids + walker_ids)
        # world.get_actors() lists the latest snapshot's actors (the client's cache by id
        # keeps destroyed ones).
        result["left"] = sum(actor.id in spawned for actor in world.get_actors())
    return result


def check(result: dict, args: argparse.Namespace) -> list[str]:
    failures = []
    if result["vehicles"] < args.number_of_vehicles:
        failures.append(f"only {result['vehicles']} of {args.number_of_vehicles} vehicles")
    if result["walkers"] < args.number_of_walkers:
        failures.append(f"only {result['walkers']} of {args.number_of_walkers} walkers")
    if result["controllers"] != result["walkers"]:
        failures.append("not every walker has a controller")
    if result["vehicles"] and result["vehicles_moved"] == 0:
        failures.append("no vehicle moved on autopilot")
    if result["walkers"] and result["walkers_moved"] == 0:
        failures.append("no walker moved")
    total = result["vehicles"] + result["walkers"] + result["controllers"]
    if result["destroyed"] != total or result["left"]:
        failures.append(f"destroyed {result['destroyed']} of {total}; {result['left']} left")
    return failures


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), run, check)


if __name__ == "__main__":
    sys.exit(main())
