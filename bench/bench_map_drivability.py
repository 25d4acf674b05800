"""Map drivability: how often a simple waypoint follower hits the static world. Prints JSON.

Usage: .venv/bin/python bench/bench_map_drivability.py [--drives 12] [--seconds 20] [--seed 0]
    [--speed 8] [--follower reproject|carrot] [--maps LiteTown01 Town01 Town04 Town10HD]
    [--towns-dir /work/shared/maps/carla_towns] [--details]

For each map a carla_lite server process is started and driven through the official carla
client. A follower (pure pursuit on a look-ahead point 6 m down the lane graph, random choice
at branches, speed held near 8 m/s) drives from seeded spawn points in synchronous mode. A drive
counts as a hit when its collision sensor reports an ``other_actor`` whose ``type_id`` starts
with ``static.`` (buildings, i.e. whatever lies off the road and sidewalk). The comparison
between carla_lite's own towns and CARLA's tells whether the built-in maps are as forgiving to
imperfect drivers as the maps RL agents are usually trained on.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import carla

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.servers import REPO, connect_sync, free_port, start_server, stop_server

DEFAULT_TOWNS = REPO.parent / "shared" / "maps" / "carla_towns"
LOOK_AHEAD = 6.0  # [m] pure-pursuit look-ahead along the lane graph
TARGET_STEP = 1.0  # [m] the look-ahead point advances in steps this long
RESYNC_DISTANCE = 15.0  # [m] farther than this from the look-ahead point: re-project
TARGET_SPEED = 8.0  # [m/s]
MAX_STEER_DEG = 70.0  # CARLA's default front-wheel steer limit for cars
BLUEPRINT = "vehicle.lincoln.mkz_2017"
DT = 0.05


def _lane_key(waypoint: carla.Waypoint) -> tuple[int, int]:
    return waypoint.road_id, waypoint.lane_id


@dataclass
class Follower:
    """Pure pursuit towards a point kept ``LOOK_AHEAD`` metres ahead along the lanes."""

    carla_map: carla.Map
    rng: random.Random
    wheelbase: float
    reproject: bool = True
    target_speed: float = TARGET_SPEED
    target: carla.Waypoint | None = None  # carrot mode's look-ahead point
    branch: tuple[int, int] | None = None  # reproject mode's chosen (road, lane) at a branch
    roads: list[int] = field(default_factory=list)  # road ids the route went through

    def control(self, tf: carla.Transform, speed: float) -> carla.VehicleControl | None:
        """The control for this tick, or None when the lane graph ends (a dead end)."""
        target = self._reprojected(tf.location) if self.reproject else self._carrot(tf.location)
        if target is None:
            return None
        return carla.VehicleControl(
            steer=self._steer(tf, target.transform.location), **self._pedals(speed)
        )

    def _reprojected(self, loc: carla.Location) -> carla.Waypoint | None:
        """``get_waypoint(location).next(6 m)`` afresh every tick.

        Inside a junction the projection may land on any overlapping connecting lane, as it
        does for many hand-written CARLA agents; a branch once chosen is kept while offered.
        """
        here = self.carla_map.get_waypoint(loc)
        if here is None:
            return None
        candidates = here.next(LOOK_AHEAD)
        if len(candidates) > 1 and self.branch not in [_lane_key(w) for w in candidates]:
            self.branch = _lane_key(self.rng.choice(candidates))
        kept = [w for w in candidates if _lane_key(w) == self.branch] or candidates
        return self._record(kept[0] if kept else None)

    def _carrot(self, loc: carla.Location) -> carla.Waypoint | None:
        """A look-ahead point advanced along the lane graph, never re-projected."""
        if self.target is None or self.target.transform.location.distance(loc) > RESYNC_DISTANCE:
            here = self.carla_map.get_waypoint(loc)
            self.target = None if here is None else self._choose(here.next(LOOK_AHEAD))
        while self.target is not None and self.target.transform.location.distance(loc) < LOOK_AHEAD:
            self.target = self._choose(self.target.next(TARGET_STEP))
        return self.target

    def _choose(self, candidates: list[carla.Waypoint]) -> carla.Waypoint | None:
        if not candidates:
            return None
        return self._record(candidates[0] if len(candidates) == 1 else self.rng.choice(candidates))

    def _record(self, chosen: carla.Waypoint | None) -> carla.Waypoint | None:
        if chosen is not None and (not self.roads or self.roads[-1] != chosen.road_id):
            self.roads.append(chosen.road_id)
        return chosen

    def _steer(self, tf: carla.Transform, point: carla.Location) -> float:
        dx, dy = point.x - tf.location.x, point.y - tf.location.y
        alpha = math.atan2(dy, dx) - math.radians(tf.rotation.yaw)
        distance = max(math.hypot(dx, dy), 1e-3)
        delta = math.atan2(2.0 * self.wheelbase * math.sin(alpha), distance)
        return max(-1.0, min(1.0, math.degrees(delta) / MAX_STEER_DEG))

    def _pedals(self, speed: float) -> dict[str, float]:
        error = self.target_speed - speed
        if error >= 0.0:
            return {"throttle": min(1.0, 0.3 + 0.5 * error), "brake": 0.0}
        if error > -0.5:
            return {"throttle": 0.0, "brake": 0.0}
        return {"throttle": 0.0, "brake": min(1.0, -0.3 * error)}


def drive(
    world: carla.World,
    carla_map: carla.Map,
    spawn: carla.Transform,
    seed: int,
    ticks: int,
    args: argparse.Namespace,
) -> dict | None:
    """One drive from ``spawn``; None when the vehicle could not be spawned there."""
    lib = world.get_blueprint_library()
    vehicle = world.try_spawn_actor(lib.find(BLUEPRINT), spawn)
    if vehicle is None:
        return None
    sensor = world.spawn_actor(
        lib.find("sensor.other.collision"), carla.Transform(), attach_to=vehicle
    )
    hits: list[tuple[str, float, float]] = []
    sensor.listen(
        lambda e: hits.append(
            (e.other_actor.type_id if e.other_actor else "", e.transform.location.x,
             e.transform.location.y)
        )
    )  # fmt: skip
    wheelbase = 1.2 * vehicle.bounding_box.extent.x  # carla_lite's cars: 1.2 half lengths
    follower = Follower(
        carla_map, random.Random(seed), wheelbase, args.follower == "reproject", args.speed
    )
    metres, last = 0.0, spawn.location
    ended = "time"
    try:
        for _ in range(ticks):
            world.tick()
            tf = vehicle.get_transform()
            metres += tf.location.distance(last)
            last = tf.location
            if any(kind.startswith("static.") for kind, _, _ in hits):
                ended = "static"
                break
            v = vehicle.get_velocity()
            control = follower.control(tf, math.hypot(v.x, v.y))
            if control is None:
                ended = "dead_end"
                break
            vehicle.apply_control(control)
    finally:
        sensor.stop()
        sensor.destroy()
        vehicle.destroy()
        world.tick()
    static = [(round(x, 1), round(y, 1)) for kind, x, y in hits if kind.startswith("static.")]
    return {
        "static_hit": bool(static),
        "hit_at": static[0] if static else None,
        "ended": ended,
        "metres": round(metres, 1),
        "roads": follower.roads,
    }


def bench_map(map_name: str, maps_dir: Path | None, args: argparse.Namespace) -> dict:
    """All drives on one map, on a fresh server."""
    port = free_port()
    extra = [f"--map={map_name}"]
    if maps_dir is not None:
        extra.append(f"--maps-dir={maps_dir}")
    proc, _ = start_server(port, *extra)
    try:
        _client, world = connect_sync(port, delta=DT)  # the client must outlive the world
        carla_map = world.get_map()
        spawns = carla_map.get_spawn_points()
        rng = random.Random(args.seed)
        order = rng.sample(range(len(spawns)), len(spawns))
        ticks = round(args.seconds / DT)
        drives = []
        for index in order:
            if len(drives) == args.drives:
                break
            result = drive(world, carla_map, spawns[index], args.seed + index, ticks, args)
            if result is not None:
                drives.append({"spawn": index, **result})
        settings = world.get_settings()
        settings.synchronous_mode = False
        world.apply_settings(settings)
    finally:
        stop_server(proc)
    return {
        "drives": len(drives),
        "static_hits": sum(d["static_hit"] for d in drives),
        "mean_metres": round(sum(d["metres"] for d in drives) / max(1, len(drives)), 1),
        "details": drives,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drives", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=TARGET_SPEED, help="target speed [m/s]")
    parser.add_argument("--maps", nargs="+", default=["LiteTown01", "Town01", "Town04", "Town10HD"])
    parser.add_argument("--towns-dir", type=Path, default=DEFAULT_TOWNS)
    parser.add_argument(
        "--follower",
        choices=("reproject", "carrot"),
        default="reproject",
        help="reproject: get_waypoint(location).next(6 m) every tick (the simple follower); "
        "carrot: a look-ahead point advanced along the lane graph (a steadier driver)",
    )
    parser.add_argument("--details", action="store_true", help="include every drive")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for map_name in args.maps:
        maps_dir = None
        if not map_name.startswith("Lite"):
            if not (args.towns_dir / f"{map_name}.xodr").is_file():
                results[map_name] = {"skipped": f"{args.towns_dir} has no {map_name}.xodr"}
                continue
            maps_dir = args.towns_dir
        start = time.perf_counter()
        result = bench_map(map_name, maps_dir, args)
        result["wall_s"] = round(time.perf_counter() - start, 1)
        if not args.details:
            result["hit_at"] = [d["hit_at"] for d in result["details"] if d["static_hit"]]
            del result["details"]
        results[map_name] = result
        print(f"{map_name}: {result['static_hits']}/{result['drives']}", file=sys.stderr)
    summary = {
        "seed": args.seed, "seconds": args.seconds, "speed": args.speed, "follower": args.follower
    }  # fmt: skip
    print(json.dumps({**summary, "maps": results}, indent=2))


if __name__ == "__main__":
    main()
