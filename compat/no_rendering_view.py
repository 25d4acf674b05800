#!/usr/bin/env python
"""A top-down view of the world in no-rendering mode, drawn with numpy and PIL into a PNG.

A client program in the style of CARLA's PythonAPI examples (``no_rendering_mode.py``),
without a window: it switches ``settings.no_rendering_mode`` on, spawns a few vehicles on
autopilot, reads the same data the original draws (the roads from ``map.get_topology()`` and
``map.generate_waypoints``, lane markings, spawn points, traffic lights with their states and
trigger volumes, speed-limit signs, vehicles and walkers from ``world.get_actors()`` with their
bounding boxes) and writes the last tick's view as a PNG. Uses only the public ``carla`` API.
Prints one ``RESULT {json}`` line and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import carla
import common
import numpy as np
from PIL import Image, ImageDraw

COLOURS = {
    "background": (46, 52, 54),
    "road": (136, 138, 133),
    "marking": (238, 238, 236),
    "spawn": (114, 159, 207),
    "hero": (252, 175, 62),
    "vehicle": (52, 101, 164),
    "walker": (233, 185, 110),
    "tl_red": (239, 41, 41),
    "tl_yellow": (252, 233, 79),
    "tl_green": (138, 226, 52),
    "tl_other": (186, 189, 182),
    "speed": (255, 255, 255),
}
LIGHT_COLOURS = {
    carla.TrafficLightState.Red: "tl_red",
    carla.TrafficLightState.Yellow: "tl_yellow",
    carla.TrafficLightState.Green: "tl_green",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.connection_parser(__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=40, help="number of synchronous ticks")
    parser.add_argument("-n", "--number-of-vehicles", type=int, default=4)
    parser.add_argument("--pixels-per-meter", type=float, default=2.0)
    parser.add_argument("--output", type=Path, default=Path("_out/no_rendering_view.png"))
    parser.add_argument("--timeout", type=float, default=20.0, help="client timeout [s]")
    return parser.parse_args(argv)


class TopDown:
    """World (x, y) to pixels: x to the right, y down (CARLA's y already points south)."""

    def __init__(self, waypoints: list[carla.Waypoint], pixels_per_meter: float) -> None:
        xs = [w.transform.location.x for w in waypoints]
        ys = [w.transform.location.y for w in waypoints]
        margin = 30.0
        self.x0, self.y0 = min(xs) - margin, min(ys) - margin
        self.scale = pixels_per_meter
        width = int((max(xs) - self.x0 + margin) * self.scale)
        height = int((max(ys) - self.y0 + margin) * self.scale)
        self.image = Image.new("RGB", (width, height), COLOURS["background"])
        self.draw = ImageDraw.Draw(self.image)

    def pixel(self, location: carla.Location | carla.Vector3D) -> tuple[float, float]:
        return ((location.x - self.x0) * self.scale, (location.y - self.y0) * self.scale)

    def lateral(self, transform: carla.Transform, shift: float) -> tuple[float, float]:
        right = transform.get_right_vector()
        location = transform.location + carla.Location(x=right.x * shift, y=right.y * shift)
        return self.pixel(location)

    def polygon(self, corners: list[carla.Location], colour: str) -> None:
        self.draw.polygon([self.pixel(c) for c in corners], fill=COLOURS[colour])


def draw_roads(view: TopDown, topology: list, step: float) -> None:
    """Each topology segment as a lane-wide polygon, then its lane markings."""
    for entry, _exit in topology:
        lane = [entry]
        for _ in range(5000):
            nxt = [w for w in lane[-1].next(step) if w.road_id == entry.road_id]
            if not nxt or nxt[0].lane_id != entry.lane_id:
                break
            lane.append(nxt[0])
        left = [view.lateral(w.transform, -0.5 * w.lane_width) for w in lane]
        right = [view.lateral(w.transform, 0.5 * w.lane_width) for w in lane]
        if len(lane) > 1:
            view.draw.polygon(left + right[::-1], fill=COLOURS["road"])
        for w in lane:
            if w.left_lane_marking.type != carla.LaneMarkingType.NONE and not w.is_junction:
                x, y = view.lateral(w.transform, -0.5 * w.lane_width)
                view.draw.point((x, y), fill=COLOURS["marking"])


def draw_actors(view: TopDown, world: carla.World, hero_id: int) -> dict:
    actors = world.get_actors()
    counts = {"vehicles": 0, "walkers": 0, "traffic_lights": 0, "speed_limits": 0}
    for light in actors.filter("traffic.traffic_light*"):
        counts["traffic_lights"] += 1
        transform = light.get_transform()
        centre = transform.transform(light.trigger_volume.location)
        colour = LIGHT_COLOURS.get(light.state, "tl_other")
        x, y = view.pixel(centre)
        r = max(2.0, view.scale)
        view.draw.ellipse((x - r, y - r, x + r, y + r), fill=COLOURS[colour])
    for sign in actors.filter("traffic.speed_limit*"):
        counts["speed_limits"] += 1
        x, y = view.pixel(sign.get_location())
        view.draw.text((x, y), sign.type_id.split(".")[-1], fill=COLOURS["speed"])
    for vehicle in actors.filter("vehicle.*"):
        counts["vehicles"] += 1
        corners = vehicle.bounding_box.get_world_vertices(vehicle.get_transform())
        # The bottom four corners (the box's vertices alternate in z).
        bottom = sorted(corners, key=lambda c: c.z)[:4]
        centre = vehicle.get_location()
        bottom.sort(key=lambda c: math.atan2(c.y - centre.y, c.x - centre.x))
        view.polygon(bottom, "hero" if vehicle.id == hero_id else "vehicle")
    for walker in actors.filter("walker.pedestrian.*"):
        counts["walkers"] += 1
        x, y = view.pixel(walker.get_location())
        view.draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=COLOURS["walker"])
    return counts


def run(args: argparse.Namespace) -> dict:
    client, world = common.connect(args)
    original_settings = world.get_settings()
    traffic_manager = client.get_trafficmanager(args.tm_port)
    vehicles: list[carla.Actor] = []
    result: dict = {}
    try:
        settings = world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = 0.05
        settings.no_rendering_mode = True
        world.apply_settings(settings)
        traffic_manager.set_synchronous_mode(True)
        result["no_rendering_mode"] = world.get_settings().no_rendering_mode

        town_map = world.get_map()
        spawn_points = town_map.get_spawn_points()
        library = world.get_blueprint_library()
        for transform in spawn_points[: args.number_of_vehicles]:
            vehicle = world.try_spawn_actor(library.filter("vehicle.*")[0], transform)
            if vehicle is not None:
                vehicles.append(vehicle)
                vehicle.set_autopilot(True, traffic_manager.get_port())
        for _ in range(args.ticks):
            world.tick()

        waypoints = town_map.generate_waypoints(2.0)
        view = TopDown(waypoints, args.pixels_per_meter)
        draw_roads(view, town_map.get_topology(), 2.0)
        for transform in spawn_points:
            x, y = view.pixel(transform.location)
            view.draw.point((x, y), fill=COLOURS["spawn"])
        counts = draw_actors(view, world, vehicles[0].id if vehicles else -1)
        result.update(counts)
        result["spawned"] = len(vehicles)
        result["waypoints"] = len(waypoints)
        result["frame"] = world.get_snapshot().frame

        args.output.parent.mkdir(parents=True, exist_ok=True)
        view.image.save(args.output)
        pixels = np.asarray(view.image).reshape(-1, 3)
        result["road_pixels"] = int(np.all(pixels == COLOURS["road"], axis=1).sum())
        result["vehicle_pixels"] = int(
            np.all(pixels == COLOURS["vehicle"], axis=1).sum()
            + np.all(pixels == COLOURS["hero"], axis=1).sum()
        )
        result["size"] = list(view.image.size)
        result["output"] = str(args.output)
    finally:
        for vehicle in vehicles:
            vehicle.destroy()
        traffic_manager.set_synchronous_mode(False)
        world.apply_settings(original_settings)
    return result


def check(result: dict, args: argparse.Namespace) -> list[str]:
    failures = []
    if not result["no_rendering_mode"]:
        failures.append("no_rendering_mode did not stick")
    if result["spawned"] < args.number_of_vehicles:
        failures.append(f"spawned {result['spawned']} of {args.number_of_vehicles} vehicles")
    if result["vehicles"] < result["spawned"]:
        failures.append(f"world.get_actors() lists {result['vehicles']} vehicles")
    if result["road_pixels"] < 0.02 * result["size"][0] * result["size"][1]:
        failures.append(f"only {result['road_pixels']} road pixels")
    if result["spawned"] and result["vehicle_pixels"] == 0:
        failures.append("no vehicle drawn")
    with Image.open(result["output"]) as image:
        if list(image.size) != result["size"]:
            failures.append("the PNG does not read back")
    return failures


def main(argv: list[str] | None = None) -> int:
    return common.main(parse_args(argv), run, check)


if __name__ == "__main__":
    sys.exit(main())
