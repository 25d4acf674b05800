"""Procedural OpenDRIVE 1.4 writer for carla_lite's built-in maps.

The maps are generated here (not copied from CARLA) so the project ships road networks it owns.
Every function is pure and deterministic: the same code always yields byte-identical XML, which
the test-suite compares with the committed ``builtin/*.xodr`` files.

Maps:

* ``LiteTown01``: a 5 x 4 node town grid (4 x 3 blocks of 90-110 m) with two-way roads, one
  3.5 m driving lane each way, shoulders and 4 m sidewalks; 4-way and T junctions with
  connecting roads for every straight/left/right movement; 2-way bends at the corners, so every
  driving lane has a successor; one traffic light per junction approach. Junction corners are
  shaped like CARLA's Town01/Town02: curbs turn on ~4.5 m, buildings stand behind the sidewalk
  with an almost square corner.
* ``LiteHighway01``: a ~2 km rounded-rectangle loop, 3 lanes per direction on a divided
  carriageway, with an off-ramp / on-ramp pair through junctions to a one-way collector road.

Geometry is built in the OpenDRIVE frame (x east, y north, heading counter-clockwise); the
loader negates y when moving into CARLA's frame.

Run ``python -m carla_lite.maps.generator --out carla_lite/maps/builtin`` to regenerate.
"""

from __future__ import annotations

import argparse
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------------------------
# Small OpenDRIVE model
# --------------------------------------------------------------------------------------------

_HEADER_DATE = "2025-01-01T00:00:00"  # fixed so the output is reproducible
_GEO_REFERENCE = "+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


def _num(value: float) -> str:
    """Formats a float compactly and reproducibly (9 decimals, no trailing zeros, no -0)."""
    text = f"{round(value, 9):.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Pose:
    """A point on a reference line: position [m] and heading [rad], OpenDRIVE frame."""

    x: float
    y: float
    hdg: float

    def offset(self, t: float) -> tuple[float, float]:
        """Point at lateral offset ``t`` (positive = left of the heading)."""
        return self.x - t * math.sin(self.hdg), self.y + t * math.cos(self.hdg)


@dataclass(frozen=True)
class Segment:
    """One planView primitive: a line (curvature 0) or a constant-curvature arc."""

    length: float
    curvature: float = 0.0

    def advance(self, pose: Pose, ds: float) -> Pose:
        """Pose reached after travelling ``ds`` metres along this segment from ``pose``."""
        k = self.curvature
        if abs(k) < 1e-12:
            return Pose(
                pose.x + ds * math.cos(pose.hdg), pose.y + ds * math.sin(pose.hdg), pose.hdg
            )
        hdg = pose.hdg + k * ds
        return Pose(
            pose.x + (math.sin(hdg) - math.sin(pose.hdg)) / k,
            pose.y - (math.cos(hdg) - math.cos(pose.hdg)) / k,
            hdg,
        )


def line(length: float) -> Segment:
    """A straight segment."""
    return Segment(length)


def arc(radius: float, angle: float) -> Segment:
    """A circular arc turning by ``angle`` rad (positive = left / counter-clockwise)."""
    return Segment(radius * abs(angle), math.copysign(1.0 / radius, angle))


@dataclass(frozen=True)
class RoadMark:
    """Marking on a lane's outer border (CARLA reads ``type``, ``color``, ``laneChange``)."""

    type: str = "none"
    color: str = "standard"
    width: float = 0.0
    lane_change: str = "none"


NO_MARK = RoadMark()
SOLID_WHITE = RoadMark("solid", "standard", 0.15)
BROKEN_WHITE = RoadMark("broken", "standard", 0.15, "both")
DOUBLE_YELLOW = RoadMark("solid solid", "yellow", 0.125)
CURB = RoadMark("curb", "standard", 0.152)


@dataclass(frozen=True)
class LaneTemplate:
    """Cross-section entry: type, width [m] and the mark on the lane's outer border."""

    type: str
    width: float
    mark: RoadMark = NO_MARK


@dataclass
class Lane:
    """A lane of one lane section, with its links to the neighbouring sections/roads."""

    id: int
    type: str
    width: float
    mark: RoadMark = NO_MARK
    predecessor: int | None = None
    successor: int | None = None


@dataclass(frozen=True)
class Link:
    """A road's predecessor or successor: a road (with contact point) or a junction."""

    element_type: str
    element_id: int
    contact: str | None = None


@dataclass(frozen=True)
class Signal:
    """A traffic light placed on a road at (s, t), valid for lanes from_lane..to_lane."""

    id: int
    s: float
    t: float
    orientation: str
    from_lane: int
    to_lane: int


@dataclass
class Road:
    """A road: reference line, a single lane section and its links."""

    id: int
    start: Pose
    segments: list[Segment]
    left: list[Lane]
    right: list[Lane]
    center_mark: RoadMark = NO_MARK
    junction: int = -1
    predecessor: Link | None = None
    successor: Link | None = None
    road_type: str = "town"
    speed_kmh: float = 30.0
    signals: list[Signal] = field(default_factory=list)

    @property
    def length(self) -> float:
        """Total reference-line length [m]."""
        return sum(seg.length for seg in self.segments)

    def pose_at(self, s: float) -> Pose:
        """Reference-line pose at arc length ``s``."""
        pose = self.start
        for seg in self.segments:
            if s <= seg.length:
                return seg.advance(pose, s)
            pose = seg.advance(pose, seg.length)
            s -= seg.length
        return pose

    def lane(self, lane_id: int) -> Lane:
        """The lane with id ``lane_id``."""
        for lane in (*self.left, *self.right):
            if lane.id == lane_id:
                return lane
        raise KeyError(f"road {self.id} has no lane {lane_id}")

    def half_widths(self) -> tuple[float, float]:
        """Total widths of the left and right sides [m]."""
        return sum(ln.width for ln in self.left), sum(ln.width for ln in self.right)


@dataclass(frozen=True)
class Connection:
    """One junction connection: incoming road -> connecting road, with its lane links."""

    incoming: int
    connecting: int
    lane_links: tuple[tuple[int, int], ...]
    contact: str = "start"


@dataclass
class Junction:
    """A junction: its connections and the traffic-light controllers it sequences."""

    id: int
    connections: list[Connection] = field(default_factory=list)
    controllers: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Controller:
    """A traffic-light controller (CARLA style: one signal per controller)."""

    id: int
    signal_id: int
    sequence: int


@dataclass
class OpenDriveMap:
    """Everything needed to write one .xodr file."""

    name: str
    roads: list[Road] = field(default_factory=list)
    junctions: list[Junction] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)


def make_side(
    templates: Sequence[LaneTemplate],
    sign: int,
    predecessor: Callable[[int], int | None] = lambda _k: None,
    successor: Callable[[int], int | None] = lambda _k: None,
) -> list[Lane]:
    """Builds one side of a road from a cross-section, innermost lane first.

    Args:
        templates: Lanes from the centre outwards.
        sign: ``-1`` for the right side (ids -1, -2, ...), ``+1`` for the left side.
        predecessor: Maps the lane index k (1-based, from the centre) to the linked lane id.
        successor: Same for the successor.

    Returns:
        The lanes, ordered from the centre outwards.
    """
    return [
        Lane(sign * k, tpl.type, tpl.width, tpl.mark, predecessor(k), successor(k))
        for k, tpl in enumerate(templates, start=1)
    ]


def lane_map(sign: int) -> Callable[[int], int]:
    """Lane link helper: maps lane index k (1-based from the centre) to lane id ``sign * k``."""
    return lambda k: sign * k


# --------------------------------------------------------------------------------------------
# XML writer
# --------------------------------------------------------------------------------------------


def _poly(parent: ET.Element, tag: str, s_key: str, s: float, a: float) -> None:
    """Adds a constant cubic polynomial record (``a`` + 0 s + 0 s^2 + 0 s^3)."""
    ET.SubElement(parent, tag, {s_key: _num(s), "a": _num(a), "b": "0", "c": "0", "d": "0"})


def _link_element(parent: ET.Element, tag: str, link: Link) -> None:
    attrs = {"elementType": link.element_type, "elementId": str(link.element_id)}
    if link.contact is not None:
        attrs["contactPoint"] = link.contact
    ET.SubElement(parent, tag, attrs)


def _road_mark(parent: ET.Element, mark: RoadMark) -> None:
    attrs = {"sOffset": "0", "type": mark.type, "material": "standard", "color": mark.color}
    if mark.width > 0.0:
        attrs["width"] = _num(mark.width)
    attrs["laneChange"] = mark.lane_change
    ET.SubElement(parent, "roadMark", attrs)


def _lane_element(parent: ET.Element, lane: Lane) -> None:
    elem = ET.SubElement(parent, "lane", {"id": str(lane.id), "type": lane.type, "level": "false"})
    if lane.predecessor is not None or lane.successor is not None:
        link = ET.SubElement(elem, "link")
        if lane.predecessor is not None:
            ET.SubElement(link, "predecessor", {"id": str(lane.predecessor)})
        if lane.successor is not None:
            ET.SubElement(link, "successor", {"id": str(lane.successor)})
    _poly(elem, "width", "sOffset", 0.0, lane.width)
    _road_mark(elem, lane.mark)


def _road_element(root: ET.Element, road: Road) -> None:
    elem = ET.SubElement(
        root,
        "road",
        {
            "name": f"Road {road.id}",
            "length": _num(road.length),
            "id": str(road.id),
            "junction": str(road.junction),
        },
    )
    link = ET.SubElement(elem, "link")
    if road.predecessor is not None:
        _link_element(link, "predecessor", road.predecessor)
    if road.successor is not None:
        _link_element(link, "successor", road.successor)
    rtype = ET.SubElement(elem, "type", {"s": "0", "type": road.road_type})
    ET.SubElement(rtype, "speed", {"max": _num(road.speed_kmh), "unit": "km/h"})

    plan = ET.SubElement(elem, "planView")
    pose, s = road.start, 0.0
    for seg in road.segments:
        geo = ET.SubElement(
            plan,
            "geometry",
            {
                "s": _num(s),
                "x": _num(pose.x),
                "y": _num(pose.y),
                "hdg": _num(pose.hdg),
                "length": _num(seg.length),
            },
        )
        if abs(seg.curvature) < 1e-12:
            ET.SubElement(geo, "line")
        else:
            ET.SubElement(geo, "arc", {"curvature": _num(seg.curvature)})
        pose = seg.advance(pose, seg.length)
        s += seg.length

    _poly(ET.SubElement(elem, "elevationProfile"), "elevation", "s", 0.0, 0.0)
    _poly(ET.SubElement(elem, "lateralProfile"), "superelevation", "s", 0.0, 0.0)

    lanes = ET.SubElement(elem, "lanes")
    _poly(lanes, "laneOffset", "s", 0.0, 0.0)
    section = ET.SubElement(lanes, "laneSection", {"s": "0"})
    if road.left:
        left = ET.SubElement(section, "left")
        for lane in sorted(road.left, key=lambda ln: -ln.id):  # outermost first, as CARLA
            _lane_element(left, lane)
    center = ET.SubElement(section, "center")
    center_lane = ET.SubElement(center, "lane", {"id": "0", "type": "none", "level": "false"})
    _road_mark(center_lane, road.center_mark)
    if road.right:
        right = ET.SubElement(section, "right")
        for lane in sorted(road.right, key=lambda ln: -ln.id):
            _lane_element(right, lane)

    ET.SubElement(elem, "objects")
    signals = ET.SubElement(elem, "signals")
    for sig in road.signals:
        sig_elem = ET.SubElement(
            signals,
            "signal",
            {
                "name": "Signal_3Light_Post01",
                "id": str(sig.id),
                "s": _num(sig.s),
                "t": _num(sig.t),
                "zOffset": "0",
                "hOffset": "0",
                "roll": "0",
                "pitch": "0",
                "orientation": sig.orientation,
                "dynamic": "yes",
                "country": "OpenDRIVE",
                "type": "1000001",
                "subtype": "-1",
                "value": "-1",
                "text": "",
                "height": "1.16",
                "width": "0.52",
            },
        )
        ET.SubElement(
            sig_elem, "validity", {"fromLane": str(sig.from_lane), "toLane": str(sig.to_lane)}
        )


def _bounds(roads: Sequence[Road]) -> tuple[float, float, float, float]:
    """(west, south, east, north) of all road surfaces, sampled every ~2 m."""
    xs: list[float] = []
    ys: list[float] = []
    for road in roads:
        left_w, right_w = road.half_widths()
        steps = max(2, math.ceil(road.length / 2.0))
        for i in range(steps + 1):
            pose = road.pose_at(road.length * i / steps)
            for t in (left_w, -right_w):
                x, y = pose.offset(t)
                xs.append(x)
                ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def to_xodr(odr: OpenDriveMap) -> str:
    """Serialises a map to OpenDRIVE 1.4 XML text.

    Args:
        odr: The map model.

    Returns:
        The complete document, ending with a newline.
    """
    root = ET.Element("OpenDRIVE")
    west, south, east, north = _bounds(odr.roads)
    header = ET.SubElement(
        root,
        "header",
        {
            "revMajor": "1",
            "revMinor": "4",
            "name": odr.name,
            "version": "1",
            "date": _HEADER_DATE,
            "north": _num(north),
            "south": _num(south),
            "east": _num(east),
            "west": _num(west),
            "vendor": "carla_lite",
        },
    )
    ET.SubElement(header, "geoReference").text = _GEO_REFERENCE
    for road in odr.roads:
        _road_element(root, road)
    for ctrl in odr.controllers:
        elem = ET.SubElement(
            root,
            "controller",
            {"name": f"ctrl{ctrl.id}", "id": str(ctrl.id), "sequence": str(ctrl.sequence)},
        )
        ET.SubElement(elem, "control", {"signalId": str(ctrl.signal_id), "type": ""})
    for junction in odr.junctions:
        attrs = {"id": str(junction.id), "name": f"junction{junction.id}"}
        elem = ET.SubElement(root, "junction", attrs)
        for index, conn in enumerate(junction.connections):
            conn_elem = ET.SubElement(
                elem,
                "connection",
                {
                    "id": str(index),
                    "incomingRoad": str(conn.incoming),
                    "connectingRoad": str(conn.connecting),
                    "contactPoint": conn.contact,
                },
            )
            for from_id, to_id in conn.lane_links:
                ET.SubElement(conn_elem, "laneLink", {"from": str(from_id), "to": str(to_id)})
        for sequence, ctrl_id in enumerate(junction.controllers):
            ET.SubElement(
                elem, "controller", {"id": str(ctrl_id), "type": "0", "sequence": str(sequence)}
            )
    ET.indent(root, space="    ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


class _Ids:
    """Sequential id allocator (roads, junctions, signals and controllers share one space)."""

    def __init__(self, start: int = 0) -> None:
        self._next = start

    def take(self) -> int:
        value = self._next
        self._next += 1
        return value


# --------------------------------------------------------------------------------------------
# LiteTown01: town grid
# --------------------------------------------------------------------------------------------

TOWN_LANE_WIDTH = 3.5
TOWN_SHOULDER_WIDTH = 0.5
# CARLA's Town01/Town02 sidewalks are 4 m wide (behind a 0.3 m shoulder): buildings stand
# that far back from the curb, which leaves room for a car that cuts a corner.
TOWN_SIDEWALK_WIDTH = 4.0
TOWN_SIDE = (
    LaneTemplate("driving", TOWN_LANE_WIDTH, SOLID_WHITE),
    LaneTemplate("shoulder", TOWN_SHOULDER_WIDTH, CURB),
    LaneTemplate("sidewalk", TOWN_SIDEWALK_WIDTH),
)
TOWN_HALF_WIDTH = TOWN_LANE_WIDTH + TOWN_SHOULDER_WIDTH + TOWN_SIDEWALK_WIDTH
# Connecting roads carry the driving lane only, plus shoulder and sidewalk where they run along
# the junction's outer edge (right turns, and straights past a missing T arm).
_JUNCTION_DRIVING = (LaneTemplate("driving", TOWN_LANE_WIDTH),)
_JUNCTION_WITH_SIDEWALK = (
    LaneTemplate("driving", TOWN_LANE_WIDTH),
    LaneTemplate("shoulder", TOWN_SHOULDER_WIDTH, CURB),
    LaneTemplate("sidewalk", TOWN_SIDEWALK_WIDTH),
)
TOWN_X_GAPS = (100.0, 110.0, 95.0, 105.0)
TOWN_Y_GAPS = (100.0, 90.0, 110.0)
# Radius of the turns' reference lines (the road centre lines). As at CARLA's Town01/Town02
# corners, the curb turns on a radius of ~4.5 m (8.5 - lane - shoulder), the right-turn
# lane's centre on 6.75 m, and the building corner behind the sidewalk is almost square
# (radius 8.5 - TOWN_HALF_WIDTH = 0.5 m).
TOWN_TURN_RADIUS = TOWN_HALF_WIDTH + 0.5
# Half size of a junction box (Town01: 11 m, Town02: 9 m): turns run straight for
# half - radius = 2 m at both ends, so a turn leaves and joins its roads' centre lines.
TOWN_JUNCTION_HALF = TOWN_TURN_RADIUS + 2.0

# Arm directions around a node: index * 90 degrees (E, N, W, S).
_DIRS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))
_STRAIGHT, _LEFT, _RIGHT = 0, 1, 3


@dataclass
class _Edge:
    """A road between two grid nodes; it starts at ``start_node``."""

    road: Road
    start_node: tuple[int, int]
    end_node: tuple[int, int]


def _heading(direction: int) -> float:
    return (direction % 4) * math.pi / 2.0


def _turn(half: float, radius: float, angle: float) -> list[Segment]:
    """A quarter turn across a junction box of half size ``half``: straight, arc, straight.

    Args:
        half: Half size of the box [m]; the turn starts and ends on the box's edges.
        radius: Radius of the arc [m], at most ``half``.
        angle: ``+pi/2`` for a left turn, ``-pi/2`` for a right turn.
    """
    lead = half - radius
    if lead < -1e-9:
        raise ValueError(f"turn radius {radius} m does not fit a junction of half size {half}")
    if lead < 1e-9:
        return [arc(radius, angle)]
    return [line(lead), arc(radius, angle), line(lead)]


def build_town(
    name: str = "LiteTown01",
    x_gaps: Sequence[float] = TOWN_X_GAPS,
    y_gaps: Sequence[float] = TOWN_Y_GAPS,
    junction_half: float = TOWN_JUNCTION_HALF,
    turn_radius: float = TOWN_TURN_RADIUS,
) -> OpenDriveMap:
    """Builds a town grid map model.

    Perimeter roads run counter-clockwise so the corner bends link end-to-start; interior
    roads run east or north. Nodes with three or four arms become junctions with one
    connecting road per legal movement and a traffic light per approach.

    Args:
        name: Map name written in the header.
        x_gaps: Distances between node columns [m].
        y_gaps: Distances between node rows [m].
        junction_half: Half size of each junction box [m].
        turn_radius: Radius of the turns' reference lines, in junctions and at the four
            corner bends [m]; at most ``junction_half``.

    Returns:
        The map model.
    """
    xs = [0.0]
    for gap in x_gaps:
        xs.append(xs[-1] + gap)
    ys = [0.0]
    for gap in y_gaps:
        ys.append(ys[-1] + gap)
    nx, ny = len(xs), len(ys)
    nodes = [(i, j) for j in range(ny) for i in range(nx)]
    ids = _Ids()
    odr = OpenDriveMap(name)
    half = junction_half

    def position(node: tuple[int, int]) -> tuple[float, float]:
        return xs[node[0]], ys[node[1]]

    # Edge roads; arms[node][direction] = the edge leaving the node that way.
    arms: dict[tuple[int, int], dict[int, _Edge]] = {node: {} for node in nodes}
    pairs: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for j in range(ny):
        for i in range(nx - 1):
            a, b = (i, j), (i + 1, j)
            pairs.append((b, a) if j == ny - 1 else (a, b))  # top row runs west
    for i in range(nx):
        for j in range(ny - 1):
            a, b = (i, j), (i, j + 1)
            pairs.append((b, a) if i == 0 else (a, b))  # left column runs south
    for start_node, end_node in pairs:
        (x0, y0), (x1, y1) = position(start_node), position(end_node)
        dist = math.hypot(x1 - x0, y1 - y0)
        ux, uy = (x1 - x0) / dist, (y1 - y0) / dist
        direction = _DIRS.index((round(ux), round(uy)))
        road = Road(
            ids.take(),
            Pose(x0 + half * ux, y0 + half * uy, _heading(direction)),
            [line(dist - 2.0 * half)],
            make_side(TOWN_SIDE, +1),
            make_side(TOWN_SIDE, -1),
            DOUBLE_YELLOW,
        )
        edge = _Edge(road, start_node, end_node)
        arms[start_node][direction] = edge
        arms[end_node][(direction + 2) % 4] = edge
        odr.roads.append(road)

    signal_sites: list[tuple[Junction, Road, bool]] = []
    for node in nodes:
        node_arms = arms[node]
        if len(node_arms) == 2:
            bend = _town_bend(ids.take(), node, node_arms, position(node), half, turn_radius)
            odr.roads.append(bend)
            continue
        junction = Junction(ids.take())
        odr.junctions.append(junction)
        odr.roads += _town_junction(
            ids, junction, node, node_arms, position(node), half, turn_radius
        )
        for direction in sorted(node_arms):
            edge = node_arms[direction]
            signal_sites.append((junction, edge.road, edge.end_node == node))

    # Traffic lights: one per approach, on the curb side just before the junction.
    signal_t = TOWN_LANE_WIDTH + TOWN_SHOULDER_WIDTH + 0.75
    for junction, road, at_end in signal_sites:
        sig = (
            Signal(ids.take(), road.length - 1.0, -signal_t, "+", -1, -1)
            if at_end
            else Signal(ids.take(), 1.0, signal_t, "-", 1, 1)
        )
        road.signals.append(sig)
        ctrl = Controller(ids.take(), sig.id, len(junction.controllers))
        junction.controllers.append(ctrl.id)
        odr.controllers.append(ctrl)
    return odr


def _town_junction(
    ids: _Ids,
    junction: Junction,
    node: tuple[int, int],
    node_arms: dict[int, _Edge],
    center: tuple[float, float],
    half: float,
    radius: float,
) -> list[Road]:
    """Links the arms to ``junction`` and returns one connecting road per movement.

    Movements are every arm to every other arm (no U-turns): a straight line across the
    box, or for turns a quarter circle of ``radius`` between straight leads (``_turn``), so
    the connecting lane is tangent to the incoming and outgoing lanes.
    """
    roads: list[Road] = []
    for in_dir in sorted(node_arms):
        in_edge = node_arms[in_dir]
        in_at_end = in_edge.end_node == node
        if in_at_end:
            in_edge.road.successor = Link("junction", junction.id)
        else:
            in_edge.road.predecessor = Link("junction", junction.id)
        in_sign = -1 if in_at_end else 1  # lanes that flow into the junction
        travel = (in_dir + 2) % 4
        ux, uy = _DIRS[in_dir]
        for out_dir in sorted(node_arms):
            if out_dir == in_dir:
                continue  # no U-turns
            turn = (out_dir - travel) % 4
            right_arm_missing = (travel - 1) % 4 not in node_arms
            with_sidewalk = turn == _RIGHT or (turn == _STRAIGHT and right_arm_missing)
            templates = _JUNCTION_WITH_SIDEWALK if with_sidewalk else _JUNCTION_DRIVING
            out_edge = node_arms[out_dir]
            out_at_start = out_edge.start_node == node
            out_sign = -1 if out_at_start else 1  # lanes that flow out of the junction
            if turn == _STRAIGHT:
                segments = [line(2.0 * half)]
            else:
                segments = _turn(half, radius, math.pi / 2.0 if turn == _LEFT else -math.pi / 2.0)
            conn_road = Road(
                ids.take(),
                Pose(center[0] + half * ux, center[1] + half * uy, _heading(travel)),
                segments,
                [],
                make_side(templates, -1, lane_map(in_sign), lane_map(out_sign)),
                junction=junction.id,
                predecessor=Link("road", in_edge.road.id, "end" if in_at_end else "start"),
                successor=Link("road", out_edge.road.id, "start" if out_at_start else "end"),
            )
            roads.append(conn_road)
            lane_links = tuple((in_sign * k, -k) for k in range(1, len(templates) + 1))
            junction.connections.append(Connection(in_edge.road.id, conn_road.id, lane_links))
    return roads


def _town_bend(
    road_id: int,
    node: tuple[int, int],
    node_arms: dict[int, _Edge],
    center: tuple[float, float],
    half: float,
    radius: float,
) -> Road:
    """A quarter-turn road (``_turn``) joining the two arms of a corner node end-to-start."""
    (dir_a, edge_a), (dir_b, edge_b) = sorted(node_arms.items())
    if edge_a.end_node != node:
        (dir_a, edge_a), (dir_b, edge_b) = (dir_b, edge_b), (dir_a, edge_a)
    if edge_a.end_node != node or edge_b.start_node != node:
        raise ValueError(f"corner {node} must join an incoming and an outgoing road")
    travel = (dir_a + 2) % 4
    turn = (dir_b - travel) % 4
    ux, uy = _DIRS[dir_a]
    bend = Road(
        road_id,
        Pose(center[0] + half * ux, center[1] + half * uy, _heading(travel)),
        _turn(half, radius, math.pi / 2.0 if turn == _LEFT else -math.pi / 2.0),
        # Lane ids keep their side across the bend (end-to-start links).
        make_side(TOWN_SIDE, +1, lane_map(1), lane_map(1)),
        make_side(TOWN_SIDE, -1, lane_map(-1), lane_map(-1)),
        DOUBLE_YELLOW,
        predecessor=Link("road", edge_a.road.id, "end"),
        successor=Link("road", edge_b.road.id, "start"),
    )
    edge_a.road.successor = Link("road", road_id, "start")
    edge_b.road.predecessor = Link("road", road_id, "end")
    for lane in (*edge_a.road.left, *edge_a.road.right):
        lane.successor = lane.id
    for lane in (*edge_b.road.left, *edge_b.road.right):
        lane.predecessor = lane.id
    return bend


def lite_town01() -> str:
    """OpenDRIVE text of LiteTown01."""
    return to_xodr(build_town())


# --------------------------------------------------------------------------------------------
# LiteHighway01: divided motorway loop with an off-ramp / on-ramp pair
# --------------------------------------------------------------------------------------------

HIGHWAY_LANE_WIDTH = 3.5
HIGHWAY_SIDE = (
    LaneTemplate("median", 1.0),
    LaneTemplate("shoulder", 0.5, SOLID_WHITE),  # its outer border is the inner edge line
    LaneTemplate("driving", HIGHWAY_LANE_WIDTH, BROKEN_WHITE),
    LaneTemplate("driving", HIGHWAY_LANE_WIDTH, BROKEN_WHITE),
    LaneTemplate("driving", HIGHWAY_LANE_WIDTH, SOLID_WHITE),
    LaneTemplate("shoulder", 2.5),
)
_HIGHWAY_JUNCTION_SIDE = tuple(LaneTemplate(t.type, t.width) for t in HIGHWAY_SIDE)
_RAMP_SIDE = (LaneTemplate("driving", HIGHWAY_LANE_WIDTH), LaneTemplate("shoulder", 1.5))
_COLLECTOR_SIDE = (
    LaneTemplate("driving", HIGHWAY_LANE_WIDTH, SOLID_WHITE),
    LaneTemplate("shoulder", 1.5),
)
# Indices (1-based from the centre) of the outermost driving lane and the outer shoulder.
_HW_OUTER_DRIVING = 5
_HW_OUTER_SHOULDER = 6

HIGHWAY_LONG = 380.0  # bottom/top straights [m]
HIGHWAY_SHORT = 130.0  # east/west straights [m]
HIGHWAY_RADIUS = 150.0  # corner arcs [m]
HIGHWAY_JUNCTION_LENGTH = 90.0
HIGHWAY_LEAD = 40.0  # straight between a corner and a ramp junction [m]
RAMP_RADIUS = 80.0
RAMP_SHIFT = 20.0  # lateral distance between the ramp start and the collector road [m]
RAMP_LEAD = 5.0  # straight part of a ramp before it starts to curve [m]
HIGHWAY_SPEED = 90.0
RAMP_SPEED = 60.0


def _highway_road(road_id: int, start: Pose, segments: list[Segment]) -> Road:
    return Road(
        road_id,
        start,
        segments,
        make_side(HIGHWAY_SIDE, +1),
        make_side(HIGHWAY_SIDE, -1),
        NO_MARK,
        road_type="motorway",
        speed_kmh=HIGHWAY_SPEED,
    )


def _ramp_segments(turn_first: float) -> list[Segment]:
    """An S-curve of two opposite arcs shifting sideways by RAMP_SHIFT within a junction.

    Args:
        turn_first: ``-1`` to swerve right first (off-ramp), ``+1`` to swerve left first.

    Returns:
        Segments of total length HIGHWAY_JUNCTION_LENGTH along the highway direction.
    """
    theta = math.acos(1.0 - RAMP_SHIFT / (2.0 * RAMP_RADIUS))
    along = 2.0 * RAMP_RADIUS * math.sin(theta)
    tail = HIGHWAY_JUNCTION_LENGTH - RAMP_LEAD - along
    curve = [arc(RAMP_RADIUS, turn_first * theta), arc(RAMP_RADIUS, -turn_first * theta)]
    if turn_first < 0:
        return [line(RAMP_LEAD), *curve, line(tail)]
    return [line(tail), *curve, line(RAMP_LEAD)]


def build_highway(name: str = "LiteHighway01") -> OpenDriveMap:
    """Builds the motorway loop model.

    The reference line runs counter-clockwise along the median, so right lanes (ids < 0)
    carry counter-clockwise traffic on the outside of the loop and left lanes clockwise
    traffic inside it. On the bottom straight two junctions host an off-ramp and an on-ramp
    for the outer carriageway, joined by a one-way collector road.

    Args:
        name: Map name written in the header.

    Returns:
        The map model.
    """
    ids = _Ids()
    odr = OpenDriveMap(name)
    jl = HIGHWAY_JUNCTION_LENGTH
    x_j1 = HIGHWAY_LEAD  # off-ramp junction spans [x_j1, x_j1 + jl] on the bottom straight
    x_j2 = HIGHWAY_LONG - HIGHWAY_LEAD - jl  # on-ramp junction
    half_top = HIGHWAY_LONG / 2.0
    quarter = math.pi / 2.0

    between = _highway_road(ids.take(), Pose(x_j1 + jl, 0.0, 0.0), [line(x_j2 - x_j1 - jl)])
    loop_a = _highway_road(
        ids.take(),
        Pose(x_j2 + jl, 0.0, 0.0),
        [
            line(HIGHWAY_LEAD),
            arc(HIGHWAY_RADIUS, quarter),
            line(HIGHWAY_SHORT),
            arc(HIGHWAY_RADIUS, quarter),
            line(half_top),
        ],
    )
    loop_b = _highway_road(
        ids.take(),
        loop_a.pose_at(loop_a.length),
        [
            line(half_top),
            arc(HIGHWAY_RADIUS, quarter),
            line(HIGHWAY_SHORT),
            arc(HIGHWAY_RADIUS, quarter),
            line(HIGHWAY_LEAD),
        ],
    )
    # The two halves of the loop join end-to-start; lane ids carry straight over.
    loop_a.successor = Link("road", loop_b.id, "start")
    loop_b.predecessor = Link("road", loop_a.id, "end")
    for lane in (*loop_a.left, *loop_a.right):
        lane.successor = lane.id
    for lane in (*loop_b.left, *loop_b.right):
        lane.predecessor = lane.id

    collector_t = -(sum(t.width for t in HIGHWAY_SIDE[: _HW_OUTER_DRIVING - 1]) + RAMP_SHIFT)
    collector = Road(
        ids.take(),
        Pose(x_j1 + jl, collector_t, 0.0),
        [line(x_j2 - x_j1 - jl)],
        [],
        make_side(_COLLECTOR_SIDE, -1),
        SOLID_WHITE,
        road_type="town",
        speed_kmh=RAMP_SPEED,
    )
    odr.roads += [between, loop_a, loop_b, collector]

    def straight_pair(junction: Junction, x0: float, before: Road, after: Road) -> None:
        """Both carriageways through a junction: ``before`` ends at x0, ``after`` starts."""
        n = len(HIGHWAY_SIDE)
        for start, hdg, incoming, outgoing, in_sign, out_sign in (
            (x0, 0.0, before, after, -1, -1),
            (x0 + jl, math.pi, after, before, 1, 1),
        ):
            road = Road(
                ids.take(),
                Pose(start, 0.0, hdg),
                [line(jl)],
                [],
                make_side(_HIGHWAY_JUNCTION_SIDE, -1, lane_map(in_sign), lane_map(out_sign)),
                junction=junction.id,
                predecessor=Link("road", incoming.id, "end" if in_sign < 0 else "start"),
                successor=Link("road", outgoing.id, "start" if out_sign < 0 else "end"),
                road_type="motorway",
                speed_kmh=HIGHWAY_SPEED,
            )
            odr.roads.append(road)
            junction.connections.append(
                Connection(incoming.id, road.id, tuple((in_sign * k, -k) for k in range(1, n + 1)))
            )

    ramp_lanes = {1: _HW_OUTER_DRIVING, 2: _HW_OUTER_SHOULDER}  # ramp lane k <-> highway lane

    # Off-ramp junction: loop_b -> between, and loop_b's outer lane -> collector.
    off = Junction(ids.take())
    odr.junctions.append(off)
    loop_b.successor = Link("junction", off.id)
    between.predecessor = Link("junction", off.id)
    collector.predecessor = Link("junction", off.id)
    straight_pair(off, x_j1, loop_b, between)
    off_ramp = Road(
        ids.take(),
        Pose(x_j1, -sum(t.width for t in HIGHWAY_SIDE[: _HW_OUTER_DRIVING - 1]), 0.0),
        _ramp_segments(-1.0),
        [],
        make_side(_RAMP_SIDE, -1, lambda k: -ramp_lanes[k], lambda k: -k),
        junction=off.id,
        predecessor=Link("road", loop_b.id, "end"),
        successor=Link("road", collector.id, "start"),
        road_type="motorway",
        speed_kmh=RAMP_SPEED,
    )
    odr.roads.append(off_ramp)
    off.connections.append(
        Connection(loop_b.id, off_ramp.id, tuple((-ramp_lanes[k], -k) for k in ramp_lanes))
    )

    # On-ramp junction: between -> loop_a, and collector -> loop_a's outer lane (a merge).
    on = Junction(ids.take())
    odr.junctions.append(on)
    between.successor = Link("junction", on.id)
    loop_a.predecessor = Link("junction", on.id)
    collector.successor = Link("junction", on.id)
    straight_pair(on, x_j2, between, loop_a)
    on_ramp = Road(
        ids.take(),
        Pose(x_j2, collector_t, 0.0),
        _ramp_segments(1.0),
        [],
        make_side(_RAMP_SIDE, -1, lambda k: -k, lambda k: -ramp_lanes[k]),
        junction=on.id,
        predecessor=Link("road", collector.id, "end"),
        successor=Link("road", loop_a.id, "start"),
        road_type="motorway",
        speed_kmh=RAMP_SPEED,
    )
    odr.roads.append(on_ramp)
    on.connections.append(Connection(collector.id, on_ramp.id, tuple((-k, -k) for k in ramp_lanes)))
    return odr


def lite_highway01() -> str:
    """OpenDRIVE text of LiteHighway01."""
    return to_xodr(build_highway())


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

BUILTIN_MAPS: dict[str, Callable[[], str]] = {
    "LiteTown01": lite_town01,
    "LiteHighway01": lite_highway01,
}


def write_builtin(out_dir: Path) -> list[Path]:
    """Writes every built-in map to ``out_dir/<name>.xodr``.

    Args:
        out_dir: Target folder (created if missing).

    Returns:
        The written paths, in BUILTIN_MAPS order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for map_name, build in BUILTIN_MAPS.items():
        path = out_dir / f"{map_name}.xodr"
        path.write_text(build(), encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m carla_lite.maps.generator --out DIR``."""
    parser = argparse.ArgumentParser(description="Write carla_lite's built-in OpenDRIVE maps.")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "builtin",
        help="output folder (default: the package's builtin/ folder)",
    )
    args = parser.parse_args(argv)
    for path in write_builtin(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
