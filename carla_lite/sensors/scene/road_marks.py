"""Lane markings: the OpenDRIVE ``roadMark`` records (or centre and edge lines where a road
has none) painted as thin strips just above the road."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps.geometry import RoadGeometry
from carla_lite.maps.rasters import DRIVING_LANE_TYPES
from carla_lite.sensors.scene.builder import MeshBuilder, strip
from carla_lite.sensors.scene.lanes import road_points, section_s
from carla_lite.sensors.scene.tags import TAG_ROADLINE

MARK_LIFT = 0.02  # [m] paint above the surface it is on
DASH, GAP = 3.0, 6.0  # [m] broken lines

_WHITE_RGB = (228, 228, 222)
_YELLOW_RGB = (222, 178, 40)
_PAINTED = ("solid", "broken", "solid solid", "solid broken", "broken solid", "broken broken")


@dataclass(frozen=True, slots=True)
class Mark:
    """One roadMark record of a lane boundary."""

    s: float  # start, absolute road s
    kind: str  # "solid", "broken", "solid solid", ... ("": unpainted)
    color: tuple[int, int, int]
    width: float


def road_marks(xodr: str) -> dict[tuple[int, int, int], list[Mark]]:
    """``(road id, lane section index, lane id) -> marks`` of the painted roadMark records."""
    out: dict[tuple[int, int, int], list[Mark]] = {}
    try:
        root = ET.fromstring(xodr)
    except ET.ParseError:  # the map loader validated the text; nothing to paint otherwise
        return out
    for road in root.iter("road"):
        try:
            road_id = int(road.get("id", ""))
        except ValueError:
            continue
        lanes_el = road.find("lanes")
        if lanes_el is None:
            continue
        for index, section in enumerate(lanes_el.findall("laneSection")):
            sec_s = float(section.get("s", "0"))
            for lane in section.iter("lane"):
                try:
                    lane_id = int(lane.get("id", ""))
                except ValueError:
                    continue
                marks = []
                for mark in lane.findall("roadMark"):
                    kind = mark.get("type", "none")
                    color = _YELLOW_RGB if mark.get("color") == "yellow" else _WHITE_RGB
                    width = float(mark.get("width", "0.15") or 0.15)
                    s = sec_s + float(mark.get("sOffset", "0"))
                    marks.append(Mark(s, kind if kind in _PAINTED else "", color, width))
                if marks:
                    out[(road_id, index, lane_id)] = marks
    return out


def default_marks(geom: RoadGeometry, index: int) -> dict[int, list[Mark]]:
    """Centre and edge lines for a road section without roadMark records."""
    section = geom.road.sections[index]
    start = float(geom.section_starts[index])
    driving = {lid for lid, lane in section.lanes.items() if lane.type in DRIVING_LANE_TYPES}
    out: dict[int, list[Mark]] = {}
    if geom.road.junction >= 0:
        return out  # connecting roads inside junctions are unpainted
    left = [lid for lid in section.left_ids if lid in driving]
    right = [lid for lid in section.right_ids if lid in driving]
    if left and right:
        out[0] = [Mark(start, "solid solid", _YELLOW_RGB, 0.12)]
    for ids in (section.left_ids, section.right_ids):
        for pos, lid in enumerate(ids):
            if lid not in driving:
                continue
            outer_is_driving = pos + 1 < len(ids) and ids[pos + 1] in driving
            kind = "broken" if outer_is_driving else "solid"
            out[lid] = [Mark(start, kind, _WHITE_RGB, 0.15)]
    return out


def _mark_strips(
    geom: RoadGeometry,
    index: int,
    lane_id: int,
    s: NDArray,
    offset: float,
    width: float,
) -> tuple[NDArray, NDArray] | None:
    """Paint strips along a lane boundary: one strip per row of ``s`` (D, k), k >= 2."""
    flat = s.ravel()
    edges = geom.lane_edges(index, flat)
    if lane_id == 0:
        t = geom.lane_offset.value(flat)
    elif lane_id in edges:
        t = edges[lane_id][1]
    else:
        return None
    t = t + offset
    z = geom.elevation.value(flat) + MARK_LIFT
    left = road_points(geom, flat, t - 0.5 * width, z).reshape(*s.shape, 3)
    right = road_points(geom, flat, t + 0.5 * width, z).reshape(*s.shape, 3)
    dashes, k = s.shape
    _, tris = strip(left[0], right[0])  # the layout of one strip
    base = (2 * k * np.arange(dashes, dtype=np.uint32))[:, None, None]
    all_verts = np.concatenate((left, right), axis=1).reshape(-1, 3)
    return all_verts, (tris[None] + base).reshape(-1, 3)


def add_lane_marks(
    b: MeshBuilder, geom: RoadGeometry, index: int, marks: dict[int, list[Mark]]
) -> None:
    """Paint ``marks`` (lane id -> its boundary's records) of one lane section."""
    start, end = float(geom.section_starts[index]), float(geom.section_ends[index])
    s_all = section_s(geom, index, 8.0)
    for lane_id, records in marks.items():
        for i, mark in enumerate(records):
            if not mark.kind:
                continue
            m0 = max(start, mark.s)
            m1 = min(end, records[i + 1].s if i + 1 < len(records) else end)
            if m1 - m0 < 0.1:
                continue
            parts = mark.kind.split()
            gap = 0.1  # between the two lines of a double line
            offsets = (
                [0.0]
                if len(parts) == 1
                else [-(0.5 * mark.width + 0.5 * gap), 0.5 * mark.width + 0.5 * gap]
            )
            for part, offset in zip(parts, offsets, strict=True):
                if part == "solid":
                    inside = s_all[(s_all > m0) & (s_all < m1)]
                    s = np.concatenate(([m0], inside, [m1]))[None, :]
                else:
                    starts = np.arange(m0, m1 - 0.5, DASH + GAP)
                    if not len(starts):
                        continue
                    ends = np.minimum(starts + DASH, m1)
                    if geom.ref.max_curvature() > 0.01:  # radius < 100 m: bend the dashes
                        s = np.stack((starts, 0.5 * (starts + ends), ends), axis=1)
                    else:
                        s = np.stack((starts, ends), axis=1)
                strips = _mark_strips(geom, index, lane_id, s, offset, mark.width)
                if strips is not None:
                    b.add(*strips, TAG_ROADLINE, mark.color)
