"""Tests for the procedural OpenDRIVE generator and the committed built-in maps."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from carla_lite.maps import generator
from carla_lite.maps.generator import OpenDriveMap

BUILTIN = Path(generator.__file__).resolve().parent / "builtin"
ORACLE = Path(__file__).resolve().parent / "oracle.py"
MODELS = {"LiteTown01": generator.build_town, "LiteHighway01": generator.build_highway}


@pytest.mark.parametrize("name", sorted(generator.BUILTIN_MAPS))
def test_output_is_deterministic_and_matches_committed_file(name: str) -> None:
    text = generator.BUILTIN_MAPS[name]()
    assert text == generator.BUILTIN_MAPS[name]()
    committed = (BUILTIN / f"{name}.xodr").read_text(encoding="utf-8")
    # If this fails, regenerate: python -m carla_lite.maps.generator --out carla_lite/maps/builtin
    assert text == committed


def test_cli_writes_every_builtin(tmp_path: Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.xodr" for name in generator.BUILTIN_MAPS
    )


@pytest.mark.parametrize("name", sorted(generator.BUILTIN_MAPS))
def test_links_reference_existing_elements(name: str) -> None:
    root = ET.fromstring(generator.BUILTIN_MAPS[name]())
    roads = {r.get("id"): r for r in root.iter("road")}
    junctions = {j.get("id"): j for j in root.iter("junction")}
    assert len(set(roads) | set(junctions)) == len(roads) + len(junctions)  # ids unique
    for road in roads.values():
        for tag in ("predecessor", "successor"):
            link = road.find(f"link/{tag}")
            if link is None:
                continue
            target = roads if link.get("elementType") == "road" else junctions
            assert link.get("elementId") in target, (road.get("id"), tag)
            if link.get("elementType") == "road":
                assert link.get("contactPoint") in ("start", "end")
    for junction in junctions.values():
        for conn in junction.iter("connection"):
            conn_road = roads[conn.get("connectingRoad")]
            assert conn_road.get("junction") == junction.get("id")
            incoming = roads[conn.get("incomingRoad")]
            in_lanes = {ln.get("id") for ln in incoming.iter("lane")}
            conn_lanes = {ln.get("id") for ln in conn_road.iter("lane")}
            for lane_link in conn.iter("laneLink"):
                assert lane_link.get("from") in in_lanes
                assert lane_link.get("to") in conn_lanes


def test_town_model_shape() -> None:
    odr = generator.build_town()
    junction_sizes = sorted(len(j.connections) for j in odr.junctions)
    # 5 x 4 nodes: 4 corner bends, 10 T junctions (6 movements), 6 crossings (12 movements).
    assert junction_sizes == [6] * 10 + [12] * 6
    signals = [s for road in odr.roads for s in road.signals]
    assert len(signals) == 10 * 3 + 6 * 4 == len(odr.controllers)
    assert all(r.road_type == "town" and r.speed_kmh == 30.0 for r in odr.roads)


def _probes(odr: OpenDriveMap) -> list[list[float]]:
    """Midpoints of the first right driving lane of every ordinary road, in CARLA's frame."""
    probes = []
    for road in odr.roads:
        if road.junction != -1:
            continue
        t = 0.0
        for lane in sorted(road.right, key=lambda ln: -ln.id):
            if lane.type == "driving":
                t -= lane.width / 2.0
                break
            t -= lane.width
        x, y = road.pose_at(road.length / 2.0).offset(t)
        probes.append([road.id, x, -y])
    return probes


def _run_oracle(name: str, tmp_path: Path) -> dict[str, Any]:
    pytest.importorskip("carla")
    xodr = tmp_path / f"{name}.xodr"
    xodr.write_text(generator.BUILTIN_MAPS[name](), encoding="utf-8")
    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps(_probes(MODELS[name]())), encoding="utf-8")
    # The client's parser may segfault on bad input: keep it out of the test process.
    proc = subprocess.run(
        [sys.executable, str(ORACLE), name, str(xodr), str(probes)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.fixture(scope="module")
def town_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run_oracle("LiteTown01", tmp_path_factory.mktemp("town"))


@pytest.fixture(scope="module")
def highway_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run_oracle("LiteHighway01", tmp_path_factory.mktemp("highway"))


def _check_drivable(report: dict[str, Any]) -> None:
    assert report["topology_edges"] > 0
    assert report["follow_runs"] >= 100
    assert report["dead_ends"] == []
    assert report["no_predecessor"] == []
    # 2 m steps are measured on the reference line; lanes outside a 12 m turn stretch them.
    assert report["max_jump"] < 2.5
    assert report["max_turn"] < 20.0
    assert report["probe_count"] > 0
    assert report["probe_wrong"] == []


def test_town_is_drivable_forever(town_report: dict[str, Any]) -> None:
    _check_drivable(town_report)


def test_town_junctions(town_report: dict[str, Any]) -> None:
    assert town_report["junction_connections"] == [6] * 10 + [12] * 6


def test_town_markings_and_sidewalks(town_report: dict[str, Any]) -> None:
    # Looking along the lane: double yellow centre line on the left, white edge line right.
    assert town_report["markings"] == {
        "SolidSolid/Yellow|Solid/White|NONE": town_report["markings"][
            "SolidSolid/Yellow|Solid/White|NONE"
        ]
    }
    assert set(town_report["neighbours"]) == {"left:Driving:opposite", "right:Shoulder:same"}
    assert town_report["side_lane_types"]["Sidewalk"] > 0


def test_town_traffic_lights(town_report: dict[str, Any]) -> None:
    assert town_report["landmarks_1000001"] == 54
    assert town_report["junction_approaches"] > 0
    assert town_report["approaches_without_light"] == []


def test_highway_is_drivable_forever(highway_report: dict[str, Any]) -> None:
    _check_drivable(highway_report)


def test_highway_junctions_and_lane_changes(highway_report: dict[str, Any]) -> None:
    # Each ramp junction: 3 + 3 through lanes and one ramp lane.
    assert highway_report["junction_connections"] == [7, 7]
    marks = highway_report["markings"]
    assert marks["Solid/White|Broken/White|Right"] > 0  # inner lane
    assert marks["Broken/White|Broken/White|Both"] > 0  # middle lane
    assert marks["Broken/White|Solid/White|Left"] > 0  # outer lane
    assert highway_report["neighbours"]["left:Driving:same"] > 0
    assert highway_report["neighbours"]["right:Driving:same"] > 0
    assert "opposite" not in " ".join(highway_report["neighbours"])  # divided carriageway
    assert highway_report["landmarks_1000001"] == 0


def test_highway_model_shape() -> None:
    odr = generator.build_highway()
    loop = [r for r in odr.roads if r.junction == -1 and r.road_type == "motorway"]
    total = sum(r.length for r in loop) + 2 * generator.HIGHWAY_JUNCTION_LENGTH
    assert 1500.0 <= total <= 2100.0
    arcs = [seg for r in odr.roads for seg in r.segments if seg.curvature]
    assert all(1.0 / abs(seg.curvature) >= 80.0 for seg in arcs)
    loop_arcs = [seg for r in loop for seg in r.segments if seg.curvature]
    assert all(1.0 / abs(seg.curvature) >= 150.0 for seg in loop_arcs)
    assert math.isclose(sum(seg.length * seg.curvature for seg in loop_arcs), 2 * math.pi)
