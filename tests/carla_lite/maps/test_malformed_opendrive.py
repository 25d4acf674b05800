"""Malformed OpenDRIVE through the whole load (parse, geometry, rasters): a MapLoadError
naming the element, never a raw KeyError/IndexError/ZeroDivisionError/RecursionError.

``test_opendrive.py`` has the parser's element-by-element cases on the small town and
``test_fuzz.py`` random mutations; this table adds minimal one-road maps for what those do
not reach (truncation, degenerate geometry, empty lane sections, far-away coordinates).
"""

from __future__ import annotations

import pytest

from carla_lite.maps import MapLoadError, load_road_map

_LANES = (
    '<laneSection s="0"><center><lane id="0" type="none"/></center><right>'
    '<lane id="-1" type="driving"><width sOffset="0" a="3.5"/></lane></right></laneSection>'
)


def _road(
    road_id: int = 1,
    *,
    geometry: str = "<line/>",
    length: str = "10",
    x: str = "0",
    y: str = "0",
    lanes: str = _LANES,
    link: str = "",
) -> str:
    return (
        f'<road id="{road_id}" length="{length}" junction="-1">{link}<planView>'
        f'<geometry s="0" x="{x}" y="{y}" hdg="0" length="{length}">{geometry}</geometry>'
        f"</planView><lanes>{lanes}</lanes></road>"
    )


def _drive(*elements: str) -> str:
    return "<OpenDRIVE><header/>" + "".join(elements or (_road(),)) + "</OpenDRIVE>"


_TWO_ROADS = _drive(
    _road(
        1, link='<link><successor elementType="road" elementId="2" contactPoint="start"/></link>'
    ),
    _road(2, x="10"),
)
_TWO_SECTIONS = _LANES.replace(
    '<lane id="-1" type="driving">',
    '<lane id="-1" type="driving"><link><successor id="-1"/></link>',
) + _LANES.replace('s="0"', 's="5"', 1).replace(
    '<lane id="-1" type="driving">',
    '<lane id="-1" type="driving"><link><predecessor id="-1"/></link>',
)
_JUNCTION = (
    '<junction id="7"><connection id="0" incomingRoad="1" connectingRoad="{road}" '
    'contactPoint="start"><laneLink from="-1" to="-1"/></connection></junction>'
)

CASES = [
    ("empty text", "", "Bad: malformed XML: no element found"),
    ("not xml", "road 1 length 10", "Bad: malformed XML: syntax error: line 1"),
    ("json", '{"roads": []}', "Bad: malformed XML"),
    ("truncated", _TWO_ROADS[: len(_TWO_ROADS) // 2], "Bad: malformed XML: unclosed token"),
    ("truncated in a tag", _TWO_ROADS[:40], "Bad: malformed XML"),
    ("wrong root", "<OpenDrive/>", "root element is <OpenDrive>, expected <OpenDRIVE>"),
    ("no road", "<OpenDRIVE><header/><junction id='1'/></OpenDRIVE>", "Bad: no <road> elements"),
    ("deep nesting, no road", "<OpenDRIVE>" + "<a>" * 20000 + "</a>" * 20000 + "</OpenDRIVE>",
     "Bad: no <road> elements"),
    ("geometry length 0", _drive(_road(length="0")),
     "road 1: attribute 'length' must be positive (0.0)"),
    ("geometry length negative", _drive(_road(length="-10")),
     "road 1: attribute 'length' must be positive (-10.0)"),
    ("road length 1e-15", _drive(_road(length="1e-15")),
     "road 1: attribute 'length' is below 1e-06 m (1e-15)"),
    ("geometry length 1e-9",
     _drive(_road().replace('hdg="0" length="10"', 'hdg="0" length="1e-9"')),
     "road 1 geometry 0: attribute 'length' is below 1e-06 m (1e-09)"),
    ("geometry length NaN", _drive(_road().replace('hdg="0" length="10"', 'hdg="0" length="NaN"')),
     "road 1 geometry 0: attribute 'length' is not a finite number ('NaN')"),
    ("geometry length text", _drive(_road().replace('hdg="0" length="10"', 'hdg="0" length="x"')),
     "road 1 geometry 0: attribute 'length' is not a number ('x')"),
    ("unknown geometry element", _drive(_road(geometry="<clothoid/>")),
     "road 1 geometry 0: must contain exactly one of <line>, <arc>, <spiral>"),
    ("two geometry elements", _drive(_road(geometry='<line/><arc curvature="0.1"/>')),
     "road 1 geometry 0: must contain exactly one of"),
    ("no geometry", _drive(_road().replace("<geometry", "<geometryX").replace(
        "</geometry>", "</geometryX>")), "road 1: no <planView><geometry>"),
    ("arc of absurd curvature", _drive(_road(geometry='<arc curvature="1e5"/>')),
     "road 1 geometry 0: arc curvature is absurd"),
    ("spiral curvature NaN", _drive(_road(geometry='<spiral curvStart="nan" curvEnd="0"/>')),
     "road 1 geometry 0 spiral: attribute 'curvStart' is not a finite number ('nan')"),
    ("paramPoly3 bad pRange", _drive(_road(geometry='<paramPoly3 bU="1" pRange="percent"/>')),
     "road 1 geometry 0 paramPoly3: attribute 'pRange' is invalid ('percent')"),
    ("lane link to a missing road", _TWO_ROADS.replace('elementId="2"', 'elementId="9"'),
     "road 1 successor: links to missing road 9"),
    ("lane link to a missing lane", _TWO_ROADS.replace(
        '<lane id="-1" type="driving"><width', '<lane id="-1" type="driving"><link>'
        '<successor id="-4"/></link><width', 1),
     "road 1 lane -1 successor: links to missing lane -4 of road 2"),
    ("inner lane successor to a missing lane", _drive(_road(lanes=_TWO_SECTIONS.replace(
        '<successor id="-1"/>', '<successor id="-5"/>'))),
     "road 1 laneSection 0 lane -1 successor: links to missing lane -5 of laneSection 1"),
    ("inner lane predecessor to a missing lane", _drive(_road(lanes=_TWO_SECTIONS.replace(
        '<predecessor id="-1"/>', '<predecessor id="-9"/>'))),
     "road 1 laneSection 1 lane -1 predecessor: links to missing lane -9 of laneSection 0"),
    ("lane link id not an int", _TWO_ROADS.replace(
        '<lane id="-1" type="driving"><width', '<lane id="-1" type="driving"><link>'
        '<successor id="left"/></link><width', 1),
     "road 1 laneSection 0 lane -1 successor: attribute 'id' is not an integer ('left')"),
    ("road link to a missing junction", _drive(_road(
        link='<link><predecessor elementType="junction" elementId="3"/></link>')),
     "road 1 predecessor: links to missing junction 3"),
    ("junction connection to a missing road", _drive(_road(), _JUNCTION.format(road=42)),
     "junction 7 connection 0: attribute 'connectingRoad' names missing road 42"),
    ("junction laneLink to a missing lane", _drive(
        _road(), _road(2, x="10"), _JUNCTION.format(road=2).replace('to="-1"', 'to="-3"')),
     "junction 7 connection 0 laneLink -1->-3: names a missing lane"),
    ("road in a missing junction", _drive(_road().replace('junction="-1"', 'junction="5"')),
     "road 1: attribute 'junction' names missing junction 5"),
    ("no lanes element", _drive(_road().replace(f"<lanes>{_LANES}</lanes>", "")),
     "road 1: missing <lanes>"),
    ("empty lanes", _drive(_road(lanes="")), "road 1: no <laneSection>"),
    ("empty lane section", _drive(_road(lanes='<laneSection s="0"/>')),
     "road 1 laneSection 0: missing centre lane 0"),
    ("centre lane only", _drive(_road(
        lanes='<laneSection s="0"><center><lane id="0" type="none"/></center></laneSection>')),
     "road 1 laneSection 0: no lanes besides the centre lane"),
    ("lane without width", _drive(_road(lanes=_LANES.replace('<width sOffset="0" a="3.5"/>', ""))),
     "road 1 laneSection 0 lane -1: lane has no <width>"),
    ("lane section beyond the road", _drive(_road(lanes=_LANES + _LANES.replace(
        's="0"', 's="50"', 1))), "road 1 laneSection 1: s=50.0 not increasing within road"),
    ("coordinate beyond 1e6", _drive(_road(x="1e7")),
     "road 1 geometry 0: attribute 'x' is out of range ('1e7'; at most 1e+06)"),
    ("coordinate inf", _drive(_road(y="-inf")),
     "road 1 geometry 0: attribute 'y' is not a finite number ('-inf')"),
    ("roads too far apart", _drive(_road(x="-900000", y="-900000"), _road(2, x="900000")),
     "map extent 1800014 m x 900008 m is too large (roads span x -900000 (road 1)..900010 "
     "(road 2) m"),
    ("geometry flung far away", _drive(_road(geometry='<poly3 d="100000"/>')),
     "too large (roads span x 0 (road 1)..11 (road 1) m, y -49890701 (road 1)"),
    ("no driving lane", _drive(_road().replace('type="driving"', 'type="sidewalk"')),
     "Bad: no driving lanes"),
    ("NUL character", _drive().replace("<header/>", "<header name='\x00'/>"),
     "Bad: NUL character in text"),
    ("lone surrogate", _drive().replace("<header/>", "<header name='\ud800'/>"),
     "Bad: malformed XML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_map_is_a_map_load_error_naming_the_element(text: str, expected: str) -> None:
    with pytest.raises(MapLoadError) as info:
        load_road_map("Bad", text)
    message = str(info.value)
    assert message.startswith("Bad: ")
    assert expected in message


def test_the_minimal_map_of_the_table_loads() -> None:
    """The table's cases differ from a valid map only by their defect."""
    assert load_road_map("Good", _drive()).name == "Good"
    assert load_road_map("GoodPair", _TWO_ROADS).name == "GoodPair"
    assert load_road_map("GoodSections", _drive(_road(lanes=_TWO_SECTIONS))).name
    junction = _drive(_road(), _road(2, x="10"), _JUNCTION.format(road=2))
    assert load_road_map("GoodJunction", junction).name == "GoodJunction"
