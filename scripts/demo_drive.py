"""Start carla_lite, drive a hero car with a simple lane-keeping controller among NPC traffic.

Usage: .venv/bin/python scripts/demo_drive.py [--ticks N] [--npcs N] [--map NAME]
It uses only the official carla client API, so it runs unchanged against a real CARLA 0.9.16
started by hand (pass --port and --no-server).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import carla

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import connect_sync, free_port, start_server, stop_server  # noqa: E402


def steer_towards(vehicle: carla.Vehicle, target: carla.Location) -> float:
    t = vehicle.get_transform()
    heading = math.radians(t.rotation.yaw)
    bearing = math.atan2(target.y - t.location.y, target.x - t.location.x)
    error = (bearing - heading + math.pi) % (2 * math.pi) - math.pi
    return max(-1.0, min(1.0, 2.0 * error))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=600)
    parser.add_argument("--npcs", type=int, default=15)
    parser.add_argument("--map", default="LiteTown01")
    parser.add_argument("--port", type=int, default=0, help="0: start carla_lite on a free port")
    parser.add_argument("--no-server", action="store_true", help="connect to a running server")
    args = parser.parse_args()
    port = args.port or free_port()
    server = None
    if not args.no_server:
        server, _ = start_server(port, f"--map={args.map}", echo=True)
    try:
        client, world = connect_sync(port, timeout=20.0)
        tm = client.get_trafficmanager(port + 3)
        tm.set_synchronous_mode(True)
        tm.set_random_device_seed(0)
        lib = world.get_blueprint_library()
        spawn = world.get_map().get_spawn_points()
        rng = random.Random(0)
        rng.shuffle(spawn)
        hero = world.spawn_actor(lib.find("vehicle.lincoln.mkz_2017"), spawn[0])
        collisions: list[str] = []
        sensor = world.spawn_actor(
            lib.find("sensor.other.collision"), carla.Transform(), attach_to=hero
        )
        sensor.listen(lambda e: collisions.append(e.other_actor.type_id))
        cars = lib.filter("vehicle.*")
        batch = [
            carla.command.SpawnActor(rng.choice(cars), tf).then(
                carla.command.SetAutopilot(carla.command.FutureActor, True, port + 3)
            )
            for tf in spawn[1 : 1 + args.npcs]
        ]
        npcs = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
        print(f"map {world.get_map().name}: hero + {len(npcs)} NPCs", flush=True)
        carla_map = world.get_map()
        travelled, last = 0.0, hero.get_location()
        start = time.perf_counter()
        for step in range(args.ticks):
            waypoint = carla_map.get_waypoint(hero.get_location())
            ahead = waypoint.next(6.0)
            target = ahead[0].transform.location if ahead else waypoint.transform.location
            speed = hero.get_velocity().length()
            hero.apply_control(
                carla.VehicleControl(
                    throttle=0.6 if speed < 8.0 else 0.0, steer=steer_towards(hero, target)
                )
            )
            world.tick()
            loc = hero.get_location()
            travelled += loc.distance(last)
            last = loc
            if step % 100 == 0 or step == args.ticks - 1:
                print(
                    f"tick {step:5d}  speed {speed * 3.6:5.1f} km/h  travelled {travelled:7.1f} m"
                    f"  collisions {len(collisions)}",
                    flush=True,
                )
        rate = args.ticks / (time.perf_counter() - start)
        print(f"done: {travelled:.1f} m in {args.ticks} ticks, {rate:.0f} ticks/s", flush=True)
        sensor.destroy()
        client.apply_batch_sync([carla.command.DestroyActor(i) for i in [*npcs, hero.id]], True)
    finally:
        if server is not None:
            stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
