"""Compare RoadMap against the real CARLA client's own OpenDRIVE parser (``carla.Map``).

The client can segfault on bad input, so it only ever sees known-good files and runs in a
subprocess (``carla_oracle.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from carla_lite.maps import SURFACE_DRIVING, RoadMap, load_road_map

from .conftest import DATA, TOWNS

ORACLE = Path(__file__).with_name("carla_oracle.py")


def _oracle(name: str, path: Path, road_map: RoadMap, step: float) -> dict:
    pytest.importorskip("carla")
    request = {
        "name": name,
        "xodr_path": str(path),
        "points": [[p.x, p.y, p.z - 0.5] for p in road_map.spawn_points],
        "waypoint_step": step,
    }
    proc = subprocess.run(
        [sys.executable, str(ORACLE)], input=json.dumps(request), capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _yaw_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def _check_against_client(name: str, path: Path, step: float, spawn_tolerance: float) -> None:
    road_map = load_road_map(name, path.read_text(encoding="utf-8"))
    answer = _oracle(name, path, road_map, step)
    wps = answer["waypoints"]
    assert wps
    xs = np.array([w["x"] for w in wps])
    ys = np.array([w["y"] for w in wps])
    zs = np.array([w["z"] for w in wps])
    # Lane centres: our lane_point at the client's (road, lane, s) is the client's waypoint.
    ours = [road_map.lane_point(w["road_id"], w["lane_id"], w["s"]) for w in wps]
    pos_err = np.hypot([p.x for p in ours] - xs, [p.y for p in ours] - ys)
    # Client waypoints face the driving direction; lane_point faces +s.
    flip = np.array([180.0 if w["lane_id"] > 0 else 0.0 for w in wps])
    yaw_err = _yaw_diff(np.array([p.yaw for p in ours]) + flip, np.array([w["yaw"] for w in wps]))
    assert pos_err.max() < 0.01
    assert yaw_err.max() < 0.1
    assert np.abs(np.array([p.z for p in ours]) - zs).max() < 0.01
    # The rasters: every client driving waypoint is on our driving surface at its height.
    assert (road_map.surface(xs, ys) == SURFACE_DRIVING).all()
    h_err = np.abs(road_map.ground_height(xs, ys, zs) - zs)
    # Cells where junction roads disagree on height by a few cm are the only misses.
    assert np.percentile(h_err, 99) < 0.05 and h_err.max() < 0.3
    # Spawn points project onto a driving lane of the same direction. The client's
    # projection walks chords between sampled waypoints, hence the looser distance.
    proj = answer["projections"]
    assert all(p is not None and p["lane_type"] == "Driving" for p in proj)
    sp = road_map.spawn_points
    dist = np.hypot([p.x for p in sp] - np.array([p["x"] for p in proj]),
                    [p.y for p in sp] - np.array([p["y"] for p in proj]))  # fmt: skip
    assert dist.max() < spawn_tolerance
    assert _yaw_diff(np.array([p.yaw for p in sp]), np.array([p["yaw"] for p in proj])).max() < 2.0
    assert not any(p["is_junction"] for p in proj)


def test_small_town_matches_client() -> None:
    _check_against_client("small_town", DATA / "small_town.xodr", 2.0, 0.15)


@pytest.mark.parametrize("town", ["Town01", "Town04"])
def test_town_matches_client(town: str) -> None:
    path = TOWNS / f"{town}.xodr"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    _check_against_client(town, path, 5.0, 0.75)


BUILTIN = sorted((Path(__file__).parents[3] / "carla_lite" / "maps" / "builtin").glob("*.xodr"))


@pytest.mark.parametrize("path", BUILTIN, ids=[p.stem for p in BUILTIN])
def test_builtin_maps_match_client(path: Path) -> None:
    _check_against_client(path.stem, path, 5.0, 0.75)
