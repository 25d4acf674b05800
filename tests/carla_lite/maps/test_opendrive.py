"""Parsing and validation: good maps load, bad ones raise a MapLoadError that says why."""

from __future__ import annotations

import re

import pytest

from carla_lite.maps import MapLoadError
from carla_lite.maps.opendrive import parse_opendrive

from .conftest import town_text


def test_small_town_records(small_town_text: str) -> None:
    drive = parse_opendrive("small", small_town_text)
    assert sorted(drive.roads) == [1, 2, 4, 10, 11]
    kinds = [g.kind for g in drive.roads[2].geometries]
    assert kinds == ["arc", "spiral", "paramPoly3", "poly3", "paramPoly3"]
    assert drive.roads[2].geometries[2].normalized is False
    assert drive.roads[10].junction == 100
    assert drive.junctions[100].controller_ids == ["900"]
    assert drive.controllers["900"].signal_ids == ["500"]
    sig = drive.roads[1].signals[0]
    assert (sig.id, sig.dynamic, sig.type) == ("500", True, "1000001")
    assert drive.roads[4].types[0].max_kmh == pytest.approx(25 * 1.609344)
    section = drive.roads[1].sections[0]
    assert section.left_ids == [1, 2, 3] and section.right_ids == [-1, -2, -3]


@pytest.mark.parametrize("town", ["Town01", "Town02", "Town04", "Town10HD"])
def test_real_towns_parse(town: str) -> None:
    drive = parse_opendrive(town, town_text(town))
    assert drive.roads and drive.junctions


def _lane_id(old: int, new: int):
    pattern = '<lane id="{}" type="shoulder"'
    return lambda t: _sub(t, pattern.format(old), pattern.format(new))


def _element(kind: str, old: int, new: int):
    pattern = 'elementType="{}" elementId="{}"'
    return lambda t: _sub(t, pattern.format(kind, old), pattern.format(kind, new))


def _sub(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


BAD_CASES = [
    ("not xml", lambda t: "<OpenDRIVE><road", "malformed XML"),
    ("wrong root", lambda t: "<foo/>", "root element is <foo>"),
    ("no roads", lambda t: '<OpenDRIVE><header/></OpenDRIVE>', "no <road>"),
    ("entity", lambda t: '<!DOCTYPE x [<!ENTITY a "b">]>' + t, "DOCTYPE"),
    ("length nan", lambda t: _sub(t, 'length="100.0"', 'length="abc"'),
     "road 1: attribute 'length' is not a number ('abc')"),
    ("geometry length", lambda t: _sub(t, 'hdg="0.0" length="100.0"', 'hdg="0.0" length="-1"'),
     "road 1 geometry 0: attribute 'length' must be positive"),
    ("inf", lambda t: _sub(t, 'x="100.0"', 'x="inf"'), "is not a finite number"),
    ("missing hdg", lambda t: _sub(t, 'hdg="0.0" length="100.0"', 'length="100.0"'),
     "road 1 geometry 0: missing attribute 'hdg'"),
    ("duplicate lane", _lane_id(2, 3),
     "road 1 laneSection 0 lane 3: duplicate lane id"),
    ("gap in lanes", _lane_id(2, 5),
     "lane ids are not contiguous"),
    ("missing road link", _element("road", 2, 77),
     "road 10 successor: links to missing road 77"),
    ("missing junction", _element("junction", 100, 9),
     "road 1 successor: links to missing junction 9"),
    ("connection road", lambda t: _sub(t, 'connectingRoad="11"', 'connectingRoad="12"'),
     "junction 100 connection 2: attribute 'connectingRoad' names missing road 12"),
    ("road id", lambda t: _sub(t, 'id="4" junction', 'id="x4" junction'), "is not an integer"),
    ("no driving", lambda t: t.replace('type="driving"', 'type="shoulder"'), "no driving lanes"),
    ("controller", lambda t: _sub(t, 'control signalId="500"', 'control signalId="501"'),
     "controller 900 control: names missing signal '501'"),
    ("late width", lambda t: _sub(t, '<width sOffset="0" a="3.5"', '<width sOffset="2" a="3.5"'),
     "attribute 'sOffset' must be 0 for the first record"),
    ("geometry order", lambda t: re.sub(r'<geometry s="40\.0', '<geometry s="-40.0', t),
     "road 2 geometry 1: s=-40.0 is not increasing"),
    ("geometry short", lambda t: _sub(t, 'length="100.0" id="1"', 'length="150.0" id="1"'),
     "geometry ends at s=100.0000 but road length is 150.0000"),
    ("signal s", lambda t: _sub(t, 's="95.0"', 's="-1"'),
     "road 1 signal 500: attribute 's' is negative"),
]  # fmt: skip


@pytest.mark.parametrize("label,mutate,message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_maps_are_rejected_with_a_useful_message(
    small_town_text: str,
    label: str,
    mutate,
    message: str,
) -> None:
    with pytest.raises(MapLoadError) as info:
        parse_opendrive("Town99", mutate(small_town_text))
    assert str(info.value).startswith("Town99: ")
    assert message in str(info.value)


def test_text_size_cap() -> None:
    from carla_lite.maps import opendrive

    with pytest.raises(MapLoadError, match="too large"):
        parse_opendrive("big", " " * (opendrive.MAX_TEXT_CHARS + 1))


def test_non_str_is_rejected() -> None:
    with pytest.raises(MapLoadError, match="must be str"):
        parse_opendrive("bytes", b"<OpenDRIVE/>")  # type: ignore[arg-type]
