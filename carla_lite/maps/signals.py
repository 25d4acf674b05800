"""Traffic lights: where each light stands, the area it controls, grouped by junction.

Sources are OpenDRIVE ``<signal dynamic="yes" type="1000001">`` elements. A light is assigned
to a junction by, in order: a junction ``<controller>`` listing it, a ``<signalReference>`` on
one of the junction's connecting roads, the junction at the nearer end of the light's road,
the nearest junction. The trigger box covers the controlled driving lanes of the incoming
road over the last ``TRIGGER_LENGTH`` metres before the junction (the stop line), oriented
along the traffic.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from carla_lite.geom import Transform
from carla_lite.maps.geometry import RoadGeometry
from carla_lite.maps.opendrive import OpenDrive, Road, Signal, Validity
from carla_lite.maps.rasters import DRIVING_LANE_TYPES

TRAFFIC_LIGHT_TYPE = "1000001"
TRIGGER_LENGTH = 9.0  # [m] of lane before the junction in which a vehicle obeys the light


@dataclass(frozen=True, slots=True)
class OrientedBox:
    """A rectangle on the ground (CARLA frame): centre, heading and half extents [m, deg]."""

    cx: float
    cy: float
    yaw_deg: float
    half_length: float
    half_width: float


@dataclass(slots=True)
class SignalSite:
    """One traffic light.

    Attributes:
        signal_id: The OpenDRIVE signal id.
        pose: Where the light stands (CARLA frame).
        trigger: The area before the stop line where a vehicle counts as at this light.
        road_id: The incoming road the trigger lies on.
    """

    signal_id: str
    pose: Transform
    trigger: OrientedBox
    road_id: int


@dataclass(slots=True)
class SignalGroup:
    """The traffic lights of one junction, which cycle together."""

    junction_id: int
    sites: list[SignalSite] = field(default_factory=list)


def build_signal_groups(
    drive: OpenDrive, geometries: Mapping[int, RoadGeometry]
) -> list[SignalGroup]:
    """Find the traffic lights of a map and group them by junction.

    Args:
        drive: The parsed map.
        geometries: Road id -> evaluated geometry.

    Returns:
        Groups sorted by junction id, sites sorted by signal id. Junctions without lights
        get no group.
    """
    lights: dict[str, tuple[Road, Signal]] = {}
    for road_id in sorted(drive.roads):
        road = drive.roads[road_id]
        for sig in road.signals:
            if sig.dynamic and sig.type == TRAFFIC_LIGHT_TYPE:
                lights.setdefault(sig.id, (road, sig))
    if not lights or not drive.junctions:
        return []
    references: dict[str, list[tuple[Road, tuple[Validity, ...]]]] = defaultdict(list)
    for road_id in sorted(drive.roads):
        road = drive.roads[road_id]
        for ref in road.signal_references:
            if ref.id in lights:
                references[ref.id].append((road, ref.validities))
    owner = _assign_junctions(drive, geometries, lights, references)
    groups: dict[int, SignalGroup] = {}
    for sid in sorted(lights, key=_natural_key):
        road, sig = lights[sid]
        junction_id = owner[sid]
        incoming, lanes = _controlled_lanes(drive, junction_id, road, sig, references[sid])
        trigger = _trigger_box(geometries[incoming], junction_id, lanes)
        site = SignalSite(sid, _signal_pose(geometries[road.id], sig), trigger, incoming)
        groups.setdefault(junction_id, SignalGroup(junction_id)).sites.append(site)
    return [groups[j] for j in sorted(groups)]


def _natural_key(text: str) -> tuple[int, int | str]:
    return (0, int(text)) if re.fullmatch(r"-?\d+", text) else (1, text)


def _assign_junctions(
    drive: OpenDrive,
    geometries: Mapping[int, RoadGeometry],
    lights: Mapping[str, tuple[Road, Signal]],
    references: Mapping[str, list[tuple[Road, tuple[Validity, ...]]]],
) -> dict[str, int]:
    owner: dict[str, int] = {}
    for jid in sorted(drive.junctions):
        for cid in drive.junctions[jid].controller_ids:
            controller = drive.controllers.get(cid)
            for sid in controller.signal_ids if controller else ():
                if sid in lights:
                    owner.setdefault(sid, jid)
    centres: dict[int, tuple[float, float]] | None = None
    for sid, (road, sig) in lights.items():
        if sid in owner:
            continue
        in_junction = [r.junction for r, _ in references.get(sid, ()) if r.junction != -1]
        if in_junction:
            owner[sid] = in_junction[0]
            continue
        ends = [road.successor, road.predecessor]
        if sig.s < road.length / 2:
            ends.reverse()
        linked = [e.element_id for e in ends if e is not None and e.element_type == "junction"]
        if linked:
            owner[sid] = linked[0]
            continue
        if centres is None:
            centres = _junction_centres(drive, geometries)
        x, y, _ = geometries[road.id].points(np.array([sig.s]), np.array([sig.t]))
        owner[sid] = min(
            centres, key=lambda j: math.hypot(centres[j][0] - x[0], centres[j][1] - y[0])
        )
    return owner


def _junction_centres(
    drive: OpenDrive, geometries: Mapping[int, RoadGeometry]
) -> dict[int, tuple[float, float]]:
    points: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for road in drive.roads.values():
        if road.junction in drive.junctions:
            x, y, _ = geometries[road.id].ref.evaluate(np.array([road.length / 2]))
            points[road.junction].append((float(x[0]), float(y[0])))
    for jid, junction in drive.junctions.items():
        if not points[jid]:  # a junction with no connecting roads: use its incoming roads
            for conn in junction.connections:
                x, y, _ = geometries[conn.incoming_road].ref.evaluate(np.array([0.0]))
                points[jid].append((float(x[0]), float(y[0])))
    return {
        jid: (float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts])))
        for jid, pts in points.items()
        if pts
    }


def _lanes_of(validities: tuple[Validity, ...]) -> set[int]:
    lanes: set[int] = set()
    for v in validities:
        lo, hi = sorted((v.from_lane, v.to_lane))
        lanes.update(i for i in range(max(lo, -64), min(hi, 64) + 1) if i != 0)
    return lanes


def _controlled_lanes(
    drive: OpenDrive,
    junction_id: int,
    road: Road,
    sig: Signal,
    refs: list[tuple[Road, tuple[Validity, ...]]],
) -> tuple[int, set[int]]:
    """The incoming road and its lanes that a light controls."""
    junction = drive.junctions.get(junction_id)
    incoming: dict[int, set[int]] = defaultdict(set)
    if junction is not None:
        for ref_road, validities in refs:
            if ref_road.junction != junction_id:
                continue
            lanes = _lanes_of(validities)
            for conn in junction.connections:
                if conn.connecting_road == ref_road.id:
                    incoming[conn.incoming_road].update(
                        ll.from_lane for ll in conn.lane_links if ll.to_lane in lanes
                    )
    incoming = defaultdict(set, {rid: lanes for rid, lanes in incoming.items() if lanes})
    if incoming:
        rid = road.id if road.id in incoming else min(incoming)
        return rid, incoming[rid]
    lanes = _lanes_of(sig.validities)
    if not lanes:
        # No usable validity: every driving lane of the light's road flowing into the junction.
        forward = _enters_at_end(road, junction_id)
        lhs = road.rule == "LHT"
        section = road.sections[-1] if forward else road.sections[0]
        lanes = {
            lid for lid, lane in section.lanes.items()
            if lid != 0 and lane.type in DRIVING_LANE_TYPES and ((lid < 0) != lhs) == forward
        }  # fmt: skip
    return road.id, lanes


def _enters_at_end(road: Road, junction_id: int) -> bool:
    """Whether traffic reaches the junction at the road's end (s = length)."""
    succ, pred = road.successor, road.predecessor
    if succ is not None and succ.element_type == "junction" and succ.element_id == junction_id:
        return True
    if pred is not None and pred.element_type == "junction" and pred.element_id == junction_id:
        return False
    return (road.rule == "LHT") is False


def _trigger_box(geom: RoadGeometry, junction_id: int, lanes: set[int]) -> OrientedBox:
    road = geom.road
    lane_ids = [lid for lid in lanes if lid != 0]
    if lane_ids:
        # Lanes driven along +s (negative ids in right-hand traffic) meet the junction at
        # the road's end; the others at its start.
        along = sum(1 if (lid < 0) != (road.rule == "LHT") else -1 for lid in lane_ids)
        at_end = along > 0 if along != 0 else _enters_at_end(road, junction_id)
    else:
        at_end = _enters_at_end(road, junction_id)
    length = min(TRIGGER_LENGTH, road.length)
    s_lo, s_hi = (road.length - length, road.length) if at_end else (0.0, length)
    s_mid = 0.5 * (s_lo + s_hi)
    index = geom.section_index(s_mid)
    edges = geom.lane_edges(index, np.array([s_mid]))
    present = [lid for lid in lane_ids if lid in edges] or [
        lid for lid in edges if road.sections[index].lanes[lid].type in DRIVING_LANE_TYPES
    ]
    if present:
        ts = [float(v[0]) for lid in present for v in edges[lid]]
        t_lo, t_hi = min(ts), max(ts)
    else:
        t_lo = t_hi = 0.0
    x, y, hdg = geom.points(np.array([s_mid]), np.array([0.5 * (t_lo + t_hi)]))
    yaw = -math.degrees(float(hdg[0])) + (0.0 if at_end else 180.0)
    return OrientedBox(
        float(x[0]), -float(y[0]), _wrap(yaw), 0.5 * length, max(0.5 * (t_hi - t_lo), 0.5)
    )


def _signal_pose(geom: RoadGeometry, sig: Signal) -> Transform:
    s = min(max(sig.s, 0.0), geom.road.length)
    x, y, hdg = geom.points(np.array([s]), np.array([sig.t]))
    z = float(geom.elevation.value(np.array([s]))[0]) + sig.z_offset
    heading = float(hdg[0]) + sig.h_offset + (math.pi if sig.orientation == "-" else 0.0)
    return Transform(float(x[0]), -float(y[0]), z, 0.0, _wrap(-math.degrees(heading)), 0.0)


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0
