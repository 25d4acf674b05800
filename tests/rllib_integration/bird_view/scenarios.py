"""Client-side BirdView scenarios, run in a subprocess against a carla_lite server.

The official client can abort its process, so tests run these with
``python -m tests.rllib_integration.bird_view.scenarios <scenario> --port P --out DIR`` and
read back the images (``.npy``) and the ``RESULT {json}`` line this prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import carla
import numpy as np

from rllib_integration.sensors.bird_view import map_layer
from rllib_integration.sensors.bird_view_manager import BirdviewManager
from rllib_integration.sensors.sensor_interface import SensorInterface

#: The golden scenario: hero on LiteTown01's spawn point 3, a red traffic light 5 m ahead
#: and 3 m to the right, other actors placed relative to the hero (ahead [m], right [m],
#: yaw relative to the hero [deg]).
GOLDEN_SPAWN_POINT = 3
GOLDEN_ACTORS: tuple[tuple[str, float, float, float], ...] = (
    ("vehicle.audi.a2", 10.0, 0.0, 0.0),  # same lane, 10 m ahead
    ("vehicle.tesla.model3", 6.0, -3.5, 180.0),  # oncoming lane
    ("vehicle.yamaha.yzf", -5.0, 0.0, 0.0),  # a motorbike behind (2 wheels)
    ("walker.pedestrian.0001", 2.0, 4.5, 90.0),  # on the right sidewalk
)
GOLDEN_SIZES = (84, 300)
RADIUS = 15.0


def connect(port: int) -> tuple[carla.Client, carla.World]:
    client = carla.Client("127.0.0.1", port)
    client.set_timeout(20.0)
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = 0.05
    world.apply_settings(settings)
    return client, world


def relative(tf: carla.Transform, ahead: float, right: float, yaw: float) -> carla.Transform:
    """The transform ``ahead`` m in front of and ``right`` m to the right of ``tf``."""
    f = tf.get_forward_vector()
    r = tf.get_right_vector()
    loc = tf.location
    location = carla.Location(
        loc.x + ahead * f.x + right * r.x, loc.y + ahead * f.y + right * r.y, loc.z
    )
    return carla.Transform(location, carla.Rotation(yaw=tf.rotation.yaw + yaw))


def spawn(world: carla.World, blueprint_id: str, tf: carla.Transform, role: str = "") -> Any:
    blueprint = world.get_blueprint_library().find(blueprint_id)
    if role and blueprint.has_attribute("role_name"):
        blueprint.set_attribute("role_name", role)
    actor = world.try_spawn_actor(blueprint, tf)
    if actor is None:
        raise RuntimeError(f"could not spawn {blueprint_id} at {tf}")
    if blueprint_id.startswith("vehicle."):
        # Frozen in place, so every render sees the spawn transforms exactly.
        actor.set_simulate_physics(False)
    return actor


def set_lights(world: carla.World, state: carla.TrafficLightState) -> None:
    for light in world.get_actors().filter("traffic.traffic_light*"):
        light.set_state(state)
    world.freeze_all_traffic_lights(True)


def scene(
    world: carla.World, spawn_point: int, others: tuple[tuple[str, float, float, float], ...]
) -> tuple[Any, list[Any]]:
    hero_tf = world.get_map().get_spawn_points()[spawn_point]
    hero = spawn(world, "vehicle.tesla.model3", hero_tf, role="hero")
    actors = [spawn(world, bp, relative(hero_tf, a, r, y)) for bp, a, r, y in others]
    return hero, actors


def render(
    hero: Any,
    interface: SensorInterface,
    name: str,
    attributes: dict[str, Any],
    world: carla.World,
) -> tuple[BirdviewManager, np.ndarray, int]:
    manager = BirdviewManager(name, dict(attributes), interface, hero)
    frame = world.tick()
    interface.tick_pseudo_sensors(frame, world.get_snapshot())
    got_frame, image = interface.get_data(frame)[name]
    return manager, image, got_frame


def golden(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """RGB at 84 and 300 px, masks at 84 px, of the golden scene."""
    _, world = connect(args.port)
    set_lights(world, carla.TrafficLightState.Red)
    hero, _ = scene(world, GOLDEN_SPAWN_POINT, GOLDEN_ACTORS)
    interface = SensorInterface()
    common = {"type": "sensor.birdview", "radius": RADIUS, "cache_dir": args.cache_dir}
    for size in GOLDEN_SIZES:
        _, image, frame = render(hero, interface, f"bv{size}", {**common, "size": size}, world)
        np.save(args.out / f"golden_{size}.npy", image)
        result[f"frame_{size}"] = frame
    _, masks, _ = render(hero, interface, "masks", {**common, "size": 84, "masks": True}, world)
    np.save(args.out / "masks_84.npy", masks)
    result["hero_transform"] = _tf(hero.get_transform())


def geometry(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Hero plus a car 10 m ahead and a car 4 m to the right, at 300 px / 15 m."""
    _, world = connect(args.port)
    others = (("vehicle.tesla.model3", 10.0, 0.0, 0.0), ("vehicle.tesla.model3", 0.0, 4.0, 0.0))
    spawn_point = args.spawn_point
    if args.spawn_yaw is not None:
        yaws = [sp.rotation.yaw for sp in world.get_map().get_spawn_points()]
        spawn_point = next(
            i for i, yaw in enumerate(yaws) if abs((yaw - args.spawn_yaw + 180) % 360 - 180) < 1
        )
    hero, _ = scene(world, spawn_point, others)
    interface = SensorInterface()
    attributes = {"type": "sensor.birdview", "size": 300, "radius": RADIUS}
    attributes["cache_dir"] = args.cache_dir
    _, image, _ = render(hero, interface, "bv", attributes, world)
    np.save(args.out / "geometry.npy", image)
    result["extent_x"] = hero.bounding_box.extent.x
    result["hero_yaw"] = hero.get_transform().rotation.yaw


def cache(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Build the sensor twice (a reset); report cache counters and timings."""
    _, world = connect(args.port)
    # Runs several times on one server: reuse the hero a previous run left.
    heroes = [
        a for a in world.get_actors().filter("vehicle.*") if a.attributes.get("role_name") == "hero"
    ]
    hero = heroes[0] if heroes else scene(world, 0, ())[0]
    attributes = {"type": "sensor.birdview", "size": 84, "radius": RADIUS}
    attributes["cache_dir"] = args.cache_dir
    timings = []
    for i in range(2):
        interface = SensorInterface()
        start = time.perf_counter()
        manager = BirdviewManager(f"bv{i}", dict(attributes), interface, hero)
        timings.append(time.perf_counter() - start)
        result[f"stats_{i}"] = map_layer.cache_stats()
        manager.destroy()
        manager.destroy()  # idempotent
    result["timings"] = timings
    result["files"] = sorted(p.name for p in Path(args.cache_dir).iterdir())


class CountingWorld:
    """A ``carla.World`` stand-in that counts ``get_actors`` calls and their ids."""

    def __init__(self, world: carla.World) -> None:
        self._world = world
        self.calls: list[int | None] = []

    def get_actors(self, ids: list[int] | None = None) -> Any:
        self.calls.append(None if ids is None else len(ids))
        return self._world.get_actors() if ids is None else self._world.get_actors(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)


class Parent:
    """The hero as the sensor sees it: ``id`` and a counting ``get_world``."""

    def __init__(self, hero: Any, world: CountingWorld) -> None:
        self.id = hero.id
        self._world = world

    def get_world(self) -> CountingWorld:
        return self._world


def actors_lookup(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Count ``get_actors`` calls over frames without and then with a new actor."""
    _, world = connect(args.port)
    hero, _ = scene(world, 0, (("vehicle.audi.a2", 10.0, 0.0, 0.0),))
    counting = CountingWorld(world)
    interface = SensorInterface()
    attributes = {"type": "sensor.birdview", "size": 84, "radius": RADIUS}
    attributes["cache_dir"] = args.cache_dir
    manager = BirdviewManager("bv", attributes, interface, Parent(hero, counting))
    per_frame = []
    images = []
    for step in range(6):
        if step == 3:  # a new actor: one lookup of just its id
            spawn(world, "vehicle.audi.a2", relative(hero.get_transform(), 5.0, -3.5, 180.0))
        frame = world.tick()
        manager.tick(frame, world.get_snapshot())
        per_frame.append(list(counting.calls))
        counting.calls.clear()
        images.append(interface.get_data(frame)["bv"][1])
    result["calls_per_frame"] = per_frame
    result["refreshes"] = manager.catalogue_refreshes
    blue = np.array([114, 159, 207], dtype=np.uint8)
    result["blue_pixels"] = [int(np.all(img == blue, axis=2).sum()) for img in images]


SCENARIOS = {
    "golden": golden,
    "geometry": geometry,
    "cache": cache,
    "actors_lookup": actors_lookup,
}


def _tf(tf: carla.Transform) -> list[float]:
    return [tf.location.x, tf.location.y, tf.location.z, tf.rotation.yaw]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--spawn-point", type=int, default=0)
    parser.add_argument("--spawn-yaw", type=float, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    SCENARIOS[args.scenario](args, result)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    # The 0.9.16 client can abort in its static destructors at exit: skip them.
    os._exit(0)


if __name__ == "__main__":
    main()
