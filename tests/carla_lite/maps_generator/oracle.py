"""Client-side oracle: loads an .xodr with the real ``carla`` client and reports facts as JSON.

Run as ``python oracle.py MAP_NAME XODR_PATH PROBES_JSON``. The client's OpenDRIVE parser may
segfault on malformed input, so tests run this in a subprocess.

``PROBES_JSON`` is a list of ``[road_id, x, y]`` points in CARLA's frame; for each, the road id
that ``Map.get_waypoint`` returns is reported.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter

import carla

STEP = 2.0
FOLLOW_METRES = 1000.0
MAX_STARTS = 160


def _yaw_delta(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def follow(start: carla.Waypoint, seed: int) -> dict[str, float]:
    """Follows ``next(STEP)`` for FOLLOW_METRES, cycling branch choices deterministically."""
    wp = start
    max_jump = 0.0
    max_turn = 0.0
    travelled = 0.0
    step = 0
    while travelled < FOLLOW_METRES:
        nexts = wp.next(STEP)
        if not nexts:
            return {
                "dead_end": 1.0,
                "travelled": travelled,
                "max_jump": max_jump,
                "max_turn": max_turn,
                "road": wp.road_id,
                "lane": wp.lane_id,
                "s": wp.s,
            }
        nxt = nexts[(seed + step) % len(nexts)]
        jump = wp.transform.location.distance(nxt.transform.location)
        max_jump = max(max_jump, jump)
        max_turn = max(max_turn, _yaw_delta(wp.transform.rotation.yaw, nxt.transform.rotation.yaw))
        travelled += STEP
        step += 1
        wp = nxt
    return {"dead_end": 0.0, "travelled": travelled, "max_jump": max_jump, "max_turn": max_turn}


def main() -> None:
    name, path, probes_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, encoding="utf-8") as handle:
        xodr = handle.read()
    with open(probes_path, encoding="utf-8") as handle:
        probes = json.load(handle)
    cmap = carla.Map(name, xodr)
    report: dict[str, object] = {}
    topology = cmap.get_topology()
    report["topology_edges"] = len(topology)
    waypoints = cmap.generate_waypoints(STEP)
    driving = [wp for wp in waypoints if wp.lane_type == carla.LaneType.Driving]
    report["driving_waypoints"] = len(driving)
    report["spawn_points"] = len(cmap.get_spawn_points())

    stride = max(1, len(driving) // MAX_STARTS)
    runs = [follow(wp, i) for i, wp in enumerate(driving[::stride])]
    report["follow_runs"] = len(runs)
    report["dead_ends"] = [r for r in runs if r["dead_end"]]
    report["max_jump"] = max(r["max_jump"] for r in runs)
    report["max_turn"] = max(r["max_turn"] for r in runs)

    # Every lane segment can also be entered from somewhere (no orphan starts).
    report["no_predecessor"] = sorted(
        {(a.road_id, a.lane_id) for a, _ in topology if not a.previous(STEP)}
    )

    # Junctions and their driving connections.
    junctions: dict[int, int] = {}
    for wp in driving:
        if wp.is_junction:
            junction = wp.get_junction()
            if junction.id not in junctions:
                junctions[junction.id] = len(junction.get_waypoints(carla.LaneType.Driving))
    report["junction_connections"] = sorted(junctions.values())

    # Markings seen from outside junctions, in the driving direction.
    marks: Counter[str] = Counter()
    neighbours: Counter[str] = Counter()
    for wp in driving:
        if wp.is_junction:
            continue
        left, right = wp.left_lane_marking, wp.right_lane_marking
        marks[f"{left.type}/{left.color}|{right.type}/{right.color}|{wp.lane_change}"] += 1
        for side, other in (("left", wp.get_left_lane()), ("right", wp.get_right_lane())):
            if other is None:
                neighbours[f"{side}:None"] += 1
                continue
            same_dir = (other.lane_id > 0) == (wp.lane_id > 0)
            neighbours[f"{side}:{other.lane_type}:{'same' if same_dir else 'opposite'}"] += 1
    report["markings"] = dict(marks)
    report["neighbours"] = dict(neighbours)

    # Lane types reachable sideways (sidewalks).
    side_types: Counter[str] = Counter()
    for wp in driving[::stride]:
        other = wp.get_right_lane()
        while other is not None and other.lane_id * wp.lane_id > 0:
            side_types[str(other.lane_type)] += 1
            other = other.get_right_lane()
    report["side_lane_types"] = dict(side_types)

    # Every lane entering a junction should see a traffic light just ahead of its end.
    approaches = 0
    unlit: list[list[int]] = []
    for entry, exit_ in topology:
        if entry.is_junction or entry.lane_type != carla.LaneType.Driving:
            continue
        after = exit_.next(1.0)
        if not after or not after[0].is_junction:
            continue
        approaches += 1
        before = exit_.previous(8.0)
        probe = before[0] if before else entry
        lights = probe.get_landmarks_of_type(12.0, "1000001", False)
        if not lights:
            unlit.append([exit_.road_id, exit_.lane_id])
    report["junction_approaches"] = approaches
    report["approaches_without_light"] = unlit

    report["landmarks_1000001"] = len(cmap.get_all_landmarks_of_type("1000001"))
    report["landmarks"] = len(cmap.get_all_landmarks())

    wrong = []
    for road_id, x, y in probes:
        wp = cmap.get_waypoint(carla.Location(x=x, y=y, z=0.0), project_to_road=True)
        if wp is None or wp.road_id != road_id:
            wrong.append([road_id, None if wp is None else wp.road_id])
    report["probe_count"] = len(probes)
    report["probe_wrong"] = wrong
    report["lane_length"] = sum(
        wp.transform.location.distance(n.transform.location)
        for wp in driving
        for n in wp.next(STEP)[:1]
        if not math.isnan(wp.s)
    )
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
