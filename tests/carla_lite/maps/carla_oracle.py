"""Run the real CARLA client's OpenDRIVE parser offline (in a subprocess: it can segfault).

Usage: ``python carla_oracle.py < request.json > answer.json`` where the request is
``{"name": str, "xodr_path": str, "points": [[x, y, z], ...], "lane_points": [[road, lane, s],
...], "waypoint_step": float}``. The answer has ``projections`` (one per point: nearest
driving waypoint), ``lane_points`` (``get_waypoint_xodr``) and ``waypoints``
(``generate_waypoints(step)``), all in CARLA's frame.
"""

from __future__ import annotations

import json
import sys


def _wp(wp) -> dict:
    tf = wp.transform
    return {
        "x": tf.location.x, "y": tf.location.y, "z": tf.location.z,
        "yaw": tf.rotation.yaw, "pitch": tf.rotation.pitch,
        "road_id": wp.road_id, "lane_id": wp.lane_id, "s": wp.s,
        "lane_type": str(wp.lane_type), "is_junction": wp.is_junction,
        "lane_width": wp.lane_width,
    }  # fmt: skip


def main() -> None:
    import carla

    req = json.load(sys.stdin)
    with open(req["xodr_path"], encoding="utf-8") as fh:
        cmap = carla.Map(req["name"], fh.read())
    projections = []
    for x, y, z in req["points"]:
        wp = cmap.get_waypoint(carla.Location(x, y, z), project_to_road=True)
        projections.append(_wp(wp) if wp is not None else None)
    lane_points = []
    for road_id, lane_id, s in req.get("lane_points", []):
        wp = cmap.get_waypoint_xodr(road_id, lane_id, s)
        lane_points.append(_wp(wp) if wp is not None else None)
    waypoints = [_wp(wp) for wp in cmap.generate_waypoints(req["waypoint_step"])]
    json.dump(
        {"projections": projections, "lane_points": lane_points, "waypoints": waypoints}, sys.stdout
    )


if __name__ == "__main__":
    main()
