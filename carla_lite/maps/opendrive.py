"""OpenDRIVE text -> validated plain records.

Everything the client's own parser could trip on is rejected here with a ``MapLoadError``:
the real CARLA client segfaults on malformed OpenDRIVE, so the server must never serve a
map that did not pass this module. Records keep OpenDRIVE's own frame (y left, heading
counter-clockwise); the flip to CARLA's frame happens in ``road_map``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from carla_lite.maps.errors import MapLoadError
from carla_lite.maps.georeference import GeoReference, GeoReferenceError, parse_geo_reference

MAX_TEXT_CHARS = 64 * 1024 * 1024
MAX_ELEMENTS = 2_000_000
# Coordinates and lengths beyond this are not a town: they would blow up rasters and floats.
MAX_ABS_COORD = 1.0e6
# [m] Shortest road or geometry: the client fails ``s <= road->GetLength()`` on a 1e-15 m
# road (1e-12 passes); real towns go down to 1e-3 m geometries.
MIN_LENGTH = 1.0e-6

GEOMETRY_KINDS = ("line", "arc", "spiral", "poly3", "paramPoly3")

# Attributes that must be finite numbers wherever they appear, including in elements this
# module does not otherwise interpret (roadMark, superelevation, objects...): the client
# parses them all.
_NUMERIC_ATTRS = frozenset(
    {
        "s", "t", "x", "y", "z", "u", "v", "hdg", "length", "a", "b", "c", "d", "sOffset",
        "ds", "curvature", "curvStart", "curvEnd", "aU", "bU", "cU", "dU", "aV", "bV", "cV",
        "dV", "zOffset", "hOffset", "pitch", "roll", "heading", "width", "height", "radius",
        "validLength", "north", "south", "east", "west", "tOffset", "soffset",
    }
)  # fmt: skip
_INT_ATTRS = frozenset({"fromLane", "toLane"})
_SPEED_TO_KMH = {"km/h": 1.0, "kmh": 1.0, "mph": 1.609344, "m/s": 3.6, "ms": 3.6}
_INT_RE = re.compile(r"^[+-]?\d{1,9}$")


@dataclass(frozen=True, slots=True)
class Poly3:
    """``a + b*ds + c*ds^2 + d*ds^3`` valid from ``s`` (absolute s, or sOffset for lanes)."""

    s: float
    a: float
    b: float
    c: float
    d: float


@dataclass(frozen=True, slots=True)
class Geometry:
    """One planView primitive.

    ``params``: line ``()``, arc ``(curvature,)``, spiral ``(curvStart, curvEnd)``, poly3
    ``(a, b, c, d)``, paramPoly3 ``(aU, bU, cU, dU, aV, bV, cV, dV)``.
    """

    s: float
    x: float
    y: float
    hdg: float
    length: float
    kind: str
    params: tuple[float, ...] = ()
    normalized: bool = True  # paramPoly3 pRange: True = [0, 1], False = arcLength


@dataclass(frozen=True, slots=True)
class RoadLink:
    element_type: str  # "road" or "junction"
    element_id: int
    contact_point: str | None  # "start" / "end" for road links


@dataclass(frozen=True, slots=True)
class Lane:
    id: int
    type: str
    widths: tuple[Poly3, ...]
    borders: tuple[Poly3, ...]
    predecessor: int | None = None
    successor: int | None = None


@dataclass(frozen=True, slots=True)
class LaneSection:
    s: float
    lanes: dict[int, Lane]  # includes the centre lane 0

    @property
    def left_ids(self) -> list[int]:
        """Positive lane ids, innermost first."""
        return sorted(i for i in self.lanes if i > 0)

    @property
    def right_ids(self) -> list[int]:
        """Negative lane ids, innermost first."""
        return sorted((i for i in self.lanes if i < 0), reverse=True)


@dataclass(frozen=True, slots=True)
class RoadType:
    s: float
    type: str
    max_kmh: float | None


@dataclass(frozen=True, slots=True)
class Validity:
    from_lane: int
    to_lane: int


@dataclass(frozen=True, slots=True)
class Signal:
    id: str
    s: float
    t: float
    z_offset: float
    h_offset: float
    orientation: str
    dynamic: bool
    type: str
    subtype: str
    validities: tuple[Validity, ...]
    name: str = ""


@dataclass(frozen=True, slots=True)
class SignalReference:
    id: str
    s: float
    t: float
    orientation: str
    validities: tuple[Validity, ...]


@dataclass(slots=True)
class Road:
    id: int
    name: str
    length: float
    junction: int
    rule: str  # "RHT" or "LHT"
    predecessor: RoadLink | None
    successor: RoadLink | None
    types: list[RoadType]
    geometries: list[Geometry]
    elevations: list[Poly3]
    lane_offsets: list[Poly3]
    sections: list[LaneSection]
    signals: list[Signal] = field(default_factory=list)
    signal_references: list[SignalReference] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LaneLink:
    from_lane: int
    to_lane: int


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    incoming_road: int
    connecting_road: int
    contact_point: str
    lane_links: tuple[LaneLink, ...]


@dataclass(slots=True)
class Junction:
    id: int
    name: str
    connections: list[Connection]
    controller_ids: list[str]


@dataclass(slots=True)
class Controller:
    id: str
    name: str
    signal_ids: list[str]


@dataclass(slots=True)
class OpenDrive:
    """A parsed and validated OpenDRIVE document."""

    name: str
    roads: dict[int, Road]
    junctions: dict[int, Junction]
    controllers: dict[str, Controller]
    geo_reference: GeoReference = field(default_factory=GeoReference)


class _Ctx:
    """Builds error messages that name the map and the element path."""

    __slots__ = ("map_name",)

    def __init__(self, map_name: str) -> None:
        self.map_name = map_name

    def error(self, where: str, what: str) -> MapLoadError:
        prefix = f"{self.map_name}: {where}: " if where else f"{self.map_name}: "
        return MapLoadError(prefix + what)

    def num(self, el: ET.Element, attr: str, where: str, default: float | None = None) -> float:
        raw = el.get(attr)
        if raw is None:
            if default is None:
                raise self.error(where, f"missing attribute '{attr}'")
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.error(where, f"attribute '{attr}' is not a number ({raw!r})") from None
        if not math.isfinite(value):
            raise self.error(where, f"attribute '{attr}' is not a finite number ({raw!r})")
        if abs(value) > MAX_ABS_COORD:
            raise self.error(
                where, f"attribute '{attr}' is out of range ({raw!r}; at most {MAX_ABS_COORD:g})"
            )
        return value

    def integer(self, el: ET.Element, attr: str, where: str, default: int | None = None) -> int:
        raw = el.get(attr)
        if raw is None:
            if default is None:
                raise self.error(where, f"missing attribute '{attr}'")
            return default
        if not _INT_RE.match(raw.strip()):
            raise self.error(where, f"attribute '{attr}' is not an integer ({raw!r})")
        return int(raw)

    def text(self, el: ET.Element, attr: str, where: str) -> str:
        raw = el.get(attr)
        if raw is None or not raw.strip():
            raise self.error(where, f"missing attribute '{attr}'")
        return raw.strip()

    def poly(self, el: ET.Element, s_attr: str, where: str) -> Poly3:
        return Poly3(
            self.num(el, s_attr, where),
            self.num(el, "a", where, 0.0),
            self.num(el, "b", where, 0.0),
            self.num(el, "c", where, 0.0),
            self.num(el, "d", where, 0.0),
        )


def parse_opendrive(name: str, text: str) -> OpenDrive:
    """Parse and validate an OpenDRIVE document.

    Args:
        name: Map name, used in error messages.
        text: The OpenDRIVE XML text.

    Returns:
        The validated records.

    Raises:
        MapLoadError: if the text is not a well-formed, self-consistent OpenDRIVE map.
    """
    ctx = _Ctx(name)
    root = _parse_xml(ctx, text)
    _count_elements(ctx, root)
    junctions = {}
    for jel in root.findall("junction"):
        junction = _parse_junction(ctx, jel)
        if junction.id in junctions:
            raise ctx.error(f"junction {junction.id}", "duplicate junction id")
        junctions[junction.id] = junction
    roads: dict[int, Road] = {}
    for rel in root.findall("road"):
        road = _parse_road(ctx, rel)
        if road.id in roads:
            raise ctx.error(f"road {road.id}", "duplicate road id")
        roads[road.id] = road
    if not roads:
        raise ctx.error("", "no <road> elements")
    controllers = {}
    for cel in root.findall("controller"):
        cid = ctx.text(cel, "id", "controller")
        where = f"controller {cid}"
        signal_ids = [ctx.text(c, "signalId", where + " control") for c in cel.findall("control")]
        controllers[cid] = Controller(cid, cel.get("name", ""), signal_ids)
    drive = OpenDrive(name, roads, junctions, controllers, _parse_geo_reference(ctx, root))
    _check_generic_attributes(ctx, root)
    _check_references(ctx, drive)
    return drive


def _parse_xml(ctx: _Ctx, text: str) -> ET.Element:
    if not isinstance(text, str):
        raise ctx.error("", f"OpenDRIVE text must be str, not {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ctx.error("", f"OpenDRIVE text too large ({len(text)} > {MAX_TEXT_CHARS} chars)")
    # DTDs can declare entities (billion laughs); OpenDRIVE never needs them.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ctx.error("", "DOCTYPE/ENTITY declarations are not allowed")
    if "\x00" in text:
        raise ctx.error("", "NUL character in text")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ctx.error("", f"malformed XML: {exc}") from None
    except (ValueError, UnicodeError) as exc:  # e.g. encoding declaration mismatch
        raise ctx.error("", f"malformed XML: {exc}") from None
    if root.tag != "OpenDRIVE":
        raise ctx.error("", f"root element is <{root.tag}>, expected <OpenDRIVE>")
    return root


def _parse_geo_reference(ctx: _Ctx, root: ET.Element) -> GeoReference:
    element = root.find("header/geoReference")
    try:
        return parse_geo_reference(element.text if element is not None else None)
    except GeoReferenceError as exc:
        raise ctx.error("header", str(exc)) from None


def _count_elements(ctx: _Ctx, root: ET.Element) -> None:
    for count, _ in enumerate(root.iter(), start=1):
        if count > MAX_ELEMENTS:
            raise ctx.error("", f"too many XML elements (> {MAX_ELEMENTS})")


def _check_generic_attributes(ctx: _Ctx, root: ET.Element) -> None:
    """Numeric attributes anywhere (even in elements not interpreted here) must be finite."""
    for top in root:
        prefix = f"{top.tag} {top.get('id', '?')}" if top.tag in ("road", "junction") else ""
        for el in top.iter():
            where = f"{prefix} <{el.tag}>" if prefix else f"<{el.tag}>"
            for attr in el.attrib:
                if attr in _NUMERIC_ATTRS:
                    ctx.num(el, attr, where)
                elif attr in _INT_ATTRS:
                    ctx.integer(el, attr, where)


def _parse_road(ctx: _Ctx, el: ET.Element) -> Road:
    road_id = ctx.integer(el, "id", "road")
    if road_id < 0:
        raise ctx.error(f"road {road_id}", "negative road id")
    where = f"road {road_id}"
    length = ctx.num(el, "length", where)
    if length <= 0.0:
        raise ctx.error(where, f"attribute 'length' must be positive ({length})")
    if length < MIN_LENGTH:
        raise ctx.error(where, f"attribute 'length' is below {MIN_LENGTH:g} m ({length:g})")
    junction = ctx.integer(el, "junction", where, -1)
    rule = (el.get("rule") or "RHT").strip().upper()
    if rule not in ("RHT", "LHT"):
        raise ctx.error(where, f"attribute 'rule' must be RHT or LHT ({rule!r})")
    predecessor = successor = None
    link = el.find("link")
    if link is not None:
        pel = link.find("predecessor")
        sel = link.find("successor")
        predecessor = (
            _parse_road_link(ctx, pel, where + " predecessor") if pel is not None else None
        )
        successor = _parse_road_link(ctx, sel, where + " successor") if sel is not None else None
    types = []
    for tel in el.findall("type"):
        s = ctx.num(tel, "s", where + " type")
        speed = tel.find("speed")
        max_kmh = None
        if speed is not None:
            max_kmh = _parse_speed(ctx, speed, where + " type speed")
        types.append(RoadType(s, tel.get("type", "unknown"), max_kmh))
    types.sort(key=lambda t: t.s)
    geometries = _parse_plan_view(ctx, el, where, length)
    elevations = [
        ctx.poly(e, "s", f"{where} elevation {i}")
        for i, e in enumerate(el.findall("elevationProfile/elevation"))
    ]
    _check_profile_start(ctx, [p.s for p in elevations], where + " elevationProfile", "s")
    lanes_el = el.find("lanes")
    if lanes_el is None:
        raise ctx.error(where, "missing <lanes>")
    lane_offsets = [
        ctx.poly(e, "s", f"{where} laneOffset {i}")
        for i, e in enumerate(lanes_el.findall("laneOffset"))
    ]
    _check_profile_start(ctx, [p.s for p in lane_offsets], where + " laneOffset", "s")
    sections = [
        _parse_section(ctx, sec, f"{where} laneSection {i}")
        for i, sec in enumerate(lanes_el.findall("laneSection"))
    ]
    if not sections:
        raise ctx.error(where, "no <laneSection>")
    starts = [sec.s for sec in sections]
    if abs(starts[0]) > 1e-6:
        raise ctx.error(where + " laneSection 0", f"must start at s=0 (s={starts[0]})")
    for i in range(1, len(starts)):
        if not starts[i - 1] < starts[i] < length + 1e-6:
            raise ctx.error(f"{where} laneSection {i}", f"s={starts[i]} not increasing within road")
    _check_inner_lane_links(ctx, sections, where)
    signals, references = _parse_signals(ctx, el, where)
    return Road(
        road_id, el.get("name", ""), length, junction, rule, predecessor, successor, types,
        geometries, elevations, lane_offsets, sections, signals, references,
    )  # fmt: skip


def _check_inner_lane_links(ctx: _Ctx, sections: list[LaneSection], where: str) -> None:
    """Lane links between a road's consecutive sections must name lanes that exist.

    The client follows them without a check: a successor naming a missing lane of the next
    section segfaults it.
    """
    for i in range(len(sections) - 1):
        here, after = sections[i], sections[i + 1]
        for lane in here.lanes.values():
            if lane.successor not in (None, 0) and lane.successor not in after.lanes:
                raise ctx.error(
                    f"{where} laneSection {i} lane {lane.id} successor",
                    f"links to missing lane {lane.successor} of laneSection {i + 1}",
                )
        for lane in after.lanes.values():
            if lane.predecessor not in (None, 0) and lane.predecessor not in here.lanes:
                raise ctx.error(
                    f"{where} laneSection {i + 1} lane {lane.id} predecessor",
                    f"links to missing lane {lane.predecessor} of laneSection {i}",
                )


def _parse_road_link(ctx: _Ctx, el: ET.Element, where: str) -> RoadLink:
    kind = ctx.text(el, "elementType", where)
    if kind not in ("road", "junction"):
        raise ctx.error(where, f"attribute 'elementType' must be road or junction ({kind!r})")
    element_id = ctx.integer(el, "elementId", where)
    contact = el.get("contactPoint")
    if kind == "road" and contact not in ("start", "end"):
        raise ctx.error(where, f"attribute 'contactPoint' must be start or end ({contact!r})")
    return RoadLink(kind, element_id, contact)


def _parse_speed(ctx: _Ctx, el: ET.Element, where: str) -> float | None:
    raw = (el.get("max") or "").strip()
    if raw.lower() in ("", "no limit", "undefined"):
        return None
    value = ctx.num(el, "max", where)
    unit = (el.get("unit") or "m/s").strip().lower()
    if unit not in _SPEED_TO_KMH:
        raise ctx.error(where, f"unknown speed unit {unit!r}")
    if value <= 0.0:
        raise ctx.error(where, f"attribute 'max' must be positive ({value})")
    return value * _SPEED_TO_KMH[unit]


def _parse_plan_view(ctx: _Ctx, el: ET.Element, where: str, length: float) -> list[Geometry]:
    gels = el.findall("planView/geometry")
    if not gels:
        raise ctx.error(where, "no <planView><geometry>")
    out = []
    for i, gel in enumerate(gels):
        gw = f"{where} geometry {i}"
        s = ctx.num(gel, "s", gw)
        glen = ctx.num(gel, "length", gw)
        if glen <= 0.0:
            raise ctx.error(gw, f"attribute 'length' must be positive ({glen})")
        if glen < MIN_LENGTH:
            raise ctx.error(gw, f"attribute 'length' is below {MIN_LENGTH:g} m ({glen:g})")
        x, y, hdg = ctx.num(gel, "x", gw), ctx.num(gel, "y", gw), ctx.num(gel, "hdg", gw)
        kinds = [child for child in gel if child.tag in GEOMETRY_KINDS]
        if len(kinds) != 1:
            raise ctx.error(
                gw, "must contain exactly one of <line>, <arc>, <spiral>, <poly3>, <paramPoly3>"
            )
        kel = kinds[0]
        normalized = True
        if kel.tag == "line":
            params: tuple[float, ...] = ()
        elif kel.tag == "arc":
            params = (ctx.num(kel, "curvature", gw + " arc"),)
        elif kel.tag == "spiral":
            params = (
                ctx.num(kel, "curvStart", gw + " spiral"),
                ctx.num(kel, "curvEnd", gw + " spiral"),
            )
        elif kel.tag == "poly3":
            params = tuple(ctx.num(kel, k, gw + " poly3", 0.0) for k in "abcd")
        else:
            names = ("aU", "bU", "cU", "dU", "aV", "bV", "cV", "dV")
            params = tuple(ctx.num(kel, k, gw + " paramPoly3", 0.0) for k in names)
            prange = (kel.get("pRange") or "normalized").strip()
            if prange not in ("normalized", "arcLength"):
                raise ctx.error(gw + " paramPoly3", f"attribute 'pRange' is invalid ({prange!r})")
            normalized = prange == "normalized"
        _check_curvature(ctx, kel.tag, params, gw)
        out.append(Geometry(s, x, y, hdg, glen, kel.tag, params, normalized))
    if abs(out[0].s) > 1e-6:
        raise ctx.error(where + " geometry 0", f"must start at s=0 (s={out[0].s})")
    for i in range(1, len(out)):
        if not out[i].s > out[i - 1].s:
            raise ctx.error(f"{where} geometry {i}", f"s={out[i].s} is not increasing")
    total = out[-1].s + out[-1].length
    if abs(total - length) > 0.01 + 1e-3 * length:
        raise ctx.error(where, f"geometry ends at s={total:.4f} but road length is {length:.4f}")
    return out


def _check_curvature(ctx: _Ctx, kind: str, params: tuple[float, ...], where: str) -> None:
    # A turning radius under ~1 cm is not a road and makes the client's sampling degenerate.
    if kind in ("arc", "spiral") and max(abs(p) for p in params) > 100.0:
        raise ctx.error(where, f"{kind} curvature is absurd ({params})")


def _parse_section(ctx: _Ctx, el: ET.Element, where: str) -> LaneSection:
    s = ctx.num(el, "s", where)
    lanes: dict[int, Lane] = {}
    for side in ("left", "center", "right"):
        for lel in el.findall(f"{side}/lane"):
            lane_id = ctx.integer(lel, "id", where + f" {side} lane")
            lw = f"{where} lane {lane_id}"
            if lane_id in lanes:
                raise ctx.error(lw, "duplicate lane id")
            expected_sign = {"left": 1, "center": 0, "right": -1}[side]
            if (lane_id > 0) - (lane_id < 0) != expected_sign:
                raise ctx.error(lw, f"lane id on the wrong side (<{side}>)")
            widths = tuple(ctx.poly(w, "sOffset", lw + " width") for w in lel.findall("width"))
            borders = tuple(ctx.poly(b, "sOffset", lw + " border") for b in lel.findall("border"))
            for recs, tag in ((widths, "width"), (borders, "border")):
                _check_profile_start(ctx, [r.s for r in recs], lw + f" {tag}", "sOffset")
            if lane_id != 0 and not widths and not borders:
                raise ctx.error(lw, "lane has no <width>")
            pred = succ = None
            link = lel.find("link")
            if link is not None:
                pel, sel = link.find("predecessor"), link.find("successor")
                pred = ctx.integer(pel, "id", lw + " predecessor") if pel is not None else None
                succ = ctx.integer(sel, "id", lw + " successor") if sel is not None else None
            lane_type = (lel.get("type") or "none").strip()
            lanes[lane_id] = Lane(lane_id, lane_type, widths, borders, pred, succ)
    if 0 not in lanes:
        raise ctx.error(where, "missing centre lane 0")
    left = sorted(i for i in lanes if i > 0)
    right = sorted(-i for i in lanes if i < 0)
    if left != list(range(1, len(left) + 1)) or right != list(range(1, len(right) + 1)):
        raise ctx.error(where, f"lane ids are not contiguous ({sorted(lanes)})")
    if not left and not right:
        raise ctx.error(where, "no lanes besides the centre lane")
    return LaneSection(s, lanes)


def _parse_validities(ctx: _Ctx, el: ET.Element, where: str) -> tuple[Validity, ...]:
    return tuple(
        Validity(ctx.integer(v, "fromLane", where), ctx.integer(v, "toLane", where))
        for v in el.findall("validity")
    )


def _parse_signals(
    ctx: _Ctx, el: ET.Element, where: str
) -> tuple[list[Signal], list[SignalReference]]:
    signals, refs = [], []
    for sel in el.findall("signals/signal"):
        sid = ctx.text(sel, "id", where + " signal")
        sw = f"{where} signal {sid}"
        _check_non_negative_s(ctx, sel, sw)
        signals.append(
            Signal(
                sid, ctx.num(sel, "s", sw), ctx.num(sel, "t", sw),
                ctx.num(sel, "zOffset", sw, 0.0), ctx.num(sel, "hOffset", sw, 0.0),
                (sel.get("orientation") or "+").strip(),
                (sel.get("dynamic") or "no").strip().lower() == "yes",
                (sel.get("type") or "").strip(), (sel.get("subtype") or "").strip(),
                _parse_validities(ctx, sel, sw), sel.get("name", ""),
            )
        )  # fmt: skip
    for rel in el.findall("signals/signalReference"):
        rid = ctx.text(rel, "id", where + " signalReference")
        rw = f"{where} signalReference {rid}"
        _check_non_negative_s(ctx, rel, rw)
        refs.append(
            SignalReference(
                rid, ctx.num(rel, "s", rw), ctx.num(rel, "t", rw),
                (rel.get("orientation") or "+").strip(), _parse_validities(ctx, rel, rw),
            )
        )  # fmt: skip
    for i, oel in enumerate(el.findall("objects/object")):
        _check_non_negative_s(ctx, oel, f"{where} object {oel.get('id', i)}")
    return signals, refs


def _check_non_negative_s(ctx: _Ctx, el: ET.Element, where: str) -> None:
    # The client asserts s >= 0 when placing signals and objects.
    if ctx.num(el, "s", where) < 0.0:
        raise ctx.error(where, f"attribute 's' is negative ({el.get('s')})")


def _parse_junction(ctx: _Ctx, el: ET.Element) -> Junction:
    jid = ctx.integer(el, "id", "junction")
    where = f"junction {jid}"
    connections = []
    for cel in el.findall("connection"):
        cid = cel.get("id", "?")
        cw = f"{where} connection {cid}"
        contact = cel.get("contactPoint")
        if contact not in ("start", "end"):
            raise ctx.error(cw, f"attribute 'contactPoint' must be start or end ({contact!r})")
        links = tuple(
            LaneLink(
                ctx.integer(ll, "from", cw + " laneLink"), ctx.integer(ll, "to", cw + " laneLink")
            )
            for ll in cel.findall("laneLink")
        )
        connections.append(
            Connection(
                cid, ctx.integer(cel, "incomingRoad", cw), ctx.integer(cel, "connectingRoad", cw),
                contact, links,
            )
        )  # fmt: skip
    controller_ids = [ctx.text(c, "id", where + " controller") for c in el.findall("controller")]
    return Junction(jid, el.get("name", ""), connections, controller_ids)


def _check_profile_start(ctx: _Ctx, values: list[float], where: str, attr: str) -> None:
    """Records must be sorted and, if any, start at 0.

    The client looks the record up for every s of the road and crashes (segfault or
    exception) when none covers the start.
    """
    if values and abs(values[0]) > 1e-6:
        raise ctx.error(
            f"{where} 0", f"attribute '{attr}' must be 0 for the first record ({values[0]})"
        )
    _check_sorted(ctx, values, where, attr)


def _check_sorted(ctx: _Ctx, values: list[float], where: str, attr: str) -> None:
    for i in range(1, len(values)):
        if values[i] < values[i - 1]:
            raise ctx.error(f"{where} {i}", f"attribute '{attr}' decreases ({values[i]})")


def _check_references(ctx: _Ctx, drive: OpenDrive) -> None:
    """Cross-element checks: links must point at things that exist."""
    roads, junctions = drive.roads, drive.junctions
    has_driving = False
    for road in roads.values():
        where = f"road {road.id}"
        if road.junction != -1 and road.junction not in junctions:
            raise ctx.error(where, f"attribute 'junction' names missing junction {road.junction}")
        for tag, link in (("predecessor", road.predecessor), ("successor", road.successor)):
            if link is None:
                continue
            if link.element_type == "road":
                target = roads.get(link.element_id)
                if target is None:
                    raise ctx.error(f"{where} {tag}", f"links to missing road {link.element_id}")
                section = (
                    target.sections[0] if link.contact_point == "start" else target.sections[-1]
                )
                own = road.sections[0] if tag == "predecessor" else road.sections[-1]
                for lane in own.lanes.values():
                    other = lane.predecessor if tag == "predecessor" else lane.successor
                    if other is not None and other != 0 and other not in section.lanes:
                        raise ctx.error(
                            f"{where} lane {lane.id} {tag}",
                            f"links to missing lane {other} of road {target.id}",
                        )
            elif link.element_id not in junctions:
                raise ctx.error(f"{where} {tag}", f"links to missing junction {link.element_id}")
        for sec in road.sections:
            has_driving = has_driving or any(ln.type == "driving" for ln in sec.lanes.values())
    for junction in junctions.values():
        for conn in junction.connections:
            cw = f"junction {junction.id} connection {conn.id}"
            for attr, rid in (
                ("incomingRoad", conn.incoming_road),
                ("connectingRoad", conn.connecting_road),
            ):
                if rid not in roads:
                    raise ctx.error(cw, f"attribute '{attr}' names missing road {rid}")
            incoming, connecting = roads[conn.incoming_road], roads[conn.connecting_road]
            inc_ids = set(incoming.sections[0].lanes) | set(incoming.sections[-1].lanes)
            con_sec = (
                connecting.sections[0] if conn.contact_point == "start" else connecting.sections[-1]
            )
            for ll in conn.lane_links:
                if ll.from_lane not in inc_ids or ll.to_lane not in con_sec.lanes:
                    raise ctx.error(
                        f"{cw} laneLink {ll.from_lane}->{ll.to_lane}", "names a missing lane"
                    )
    if not has_driving:
        raise ctx.error("", "no driving lanes")
    _check_signal_references(ctx, drive)


def _check_signal_references(ctx: _Ctx, drive: OpenDrive) -> None:
    # The client dereferences these ids without checking: a dangling one segfaults it.
    signal_ids: set[str] = set()
    for road in drive.roads.values():
        for sig in road.signals:
            if sig.id in signal_ids:
                raise ctx.error(f"road {road.id} signal {sig.id}", "duplicate signal id")
            signal_ids.add(sig.id)
    for road in drive.roads.values():
        for ref in road.signal_references:
            if ref.id not in signal_ids:
                raise ctx.error(
                    f"road {road.id} signalReference {ref.id}", "names a missing signal"
                )
    for controller in drive.controllers.values():
        for sid in controller.signal_ids:
            if sid not in signal_ids:
                raise ctx.error(
                    f"controller {controller.id} control", f"names missing signal {sid!r}"
                )
    for junction in drive.junctions.values():
        for cid in junction.controller_ids:
            if cid not in drive.controllers:
                raise ctx.error(
                    f"junction {junction.id} controller", f"names missing controller {cid!r}"
                )
