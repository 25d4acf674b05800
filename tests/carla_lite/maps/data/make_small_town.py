"""Regenerate ``small_town.xodr``: one junction, every geometry kind, sidewalks, a light.

Run from the repository root: ``python tests/carla_lite/maps/data/make_small_town.py``.
Geometry start poses are chained with carla_lite's own evaluator so the roads are continuous.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from carla_lite.maps.geometry import ReferenceLine
from carla_lite.maps.opendrive import Geometry

OUT = Path(__file__).with_name("small_town.xodr")


def chain(
    x: float, y: float, hdg: float, parts: list[tuple[str, float, tuple, bool]]
) -> list[Geometry]:
    geoms, s = [], 0.0
    for kind, length, params, normalized in parts:
        g = Geometry(s, x, y, hdg, length, kind, params, normalized)
        geoms.append(g)
        ex, ey, eh = ReferenceLine([g]).evaluate(np.array([s + length]))
        x, y, hdg, s = float(ex[0]), float(ey[0]), float(eh[0]), s + length
    return geoms


def arc_len(cu: tuple, cv: tuple, p_max: float) -> float:
    p = np.linspace(0.0, p_max, 200001)
    du = cu[1] + 2 * cu[2] * p + 3 * cu[3] * p**2
    dv = cv[1] + 2 * cv[2] * p + 3 * cv[3] * p**2
    return float(np.trapezoid(np.hypot(du, dv), p))


def geometry_xml(g: Geometry) -> str:
    head = f'<geometry s="{g.s!r}" x="{g.x!r}" y="{g.y!r}" hdg="{g.hdg!r}" length="{g.length!r}">'
    if g.kind == "line":
        body = "<line/>"
    elif g.kind == "arc":
        body = f'<arc curvature="{g.params[0]!r}"/>'
    elif g.kind == "spiral":
        body = f'<spiral curvStart="{g.params[0]!r}" curvEnd="{g.params[1]!r}"/>'
    elif g.kind == "poly3":
        a, b, c, d = g.params
        body = f'<poly3 a="{a!r}" b="{b!r}" c="{c!r}" d="{d!r}"/>'
    else:
        names = ("aU", "bU", "cU", "dU", "aV", "bV", "cV", "dV")
        attrs = " ".join(f'{n}="{v!r}"' for n, v in zip(names, g.params, strict=True))
        prange = "normalized" if g.normalized else "arcLength"
        body = f'<paramPoly3 {attrs} pRange="{prange}"/>'
    return f"      {head}{body}</geometry>"


def lane(lid: int, kind: str, width: float, link: str = "") -> str:
    return (
        f'<lane id="{lid}" type="{kind}" level="false">{link}'
        f'<width sOffset="0" a="{width}" b="0" c="0" d="0"/></lane>'
    )


def lanes(sidewalks: bool, left: bool = True, offset: str = "") -> str:
    lft = [lane(1, "driving", 3.5)] if left else []
    rgt = [lane(-1, "driving", 3.5)]
    if sidewalks:
        lft += [lane(2, "shoulder", 0.5), lane(3, "sidewalk", 2.0)] if left else []
        rgt += [lane(-2, "shoulder", 0.5), lane(-3, "sidewalk", 2.0)]
    left_xml = f"<left>{''.join(reversed(lft))}</left>" if lft else ""
    offset = offset or '<laneOffset s="0" a="0" b="0" c="0" d="0"/>'
    return (
        f'<lanes>{offset}<laneSection s="0">{left_xml}'
        f'<center><lane id="0" type="none" level="false"/></center>'
        f"<right>{''.join(rgt)}</right></laneSection></lanes>"
    )


def road(
    rid: int,
    geoms: list[Geometry],
    junction: int,
    link: str,
    lanes_xml: str,
    elevation: str = '<elevation s="0" a="2.0" b="0" c="0" d="0"/>',
    extra: str = "",
    speed: str = '<type s="0" type="town"><speed max="40" unit="km/h"/></type>',
) -> str:
    length = geoms[-1].s + geoms[-1].length
    plan = "\n".join(geometry_xml(g) for g in geoms)
    return (
        f'  <road name="Road {rid}" length="{length!r}" id="{rid}" junction="{junction}">\n'
        f"    <link>{link}</link>{speed}\n    <planView>\n{plan}\n    </planView>\n"
        f"    <elevationProfile>{elevation}</elevationProfile>\n"
        f"    {lanes_xml}{extra}\n  </road>\n"
    )


def main() -> None:
    pp_u, pp_v = (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 0.002, -0.00003)
    poly3 = (0.0, 0.0, -0.001, 0.0)
    r1 = chain(0.0, 0.0, 0.0, [("line", 100.0, (), True)])
    r10 = chain(100.0, 0.0, 0.0, [("line", 20.0, (), True)])
    r11 = chain(100.0, 0.0, 0.0, [("arc", 15.0 * math.pi / 2, (-1 / 15.0,), True)])
    r2 = chain(120.0, 0.0, 0.0, [
        ("arc", 40.0, (0.02,), True),
        ("spiral", 30.0, (0.02, -0.01), True),
        ("paramPoly3", arc_len(pp_u, pp_v, 40.0), pp_u + pp_v, False),
        ("poly3", arc_len((0, 1, 0, 0), poly3, 30.0), poly3, True),
        ("paramPoly3", 25.0, (0.0, 25.0, 0.0, 0.0, 0.0, 0.0, 4.0, -2.0), True),
    ])  # fmt: skip
    end11 = ReferenceLine(r11).evaluate(np.array([r11[0].length]))
    r4 = chain(
        float(end11[0][0]), float(end11[1][0]), float(end11[2][0]), [("line", 50.0, (), True)]
    )
    signal = (
        '<signals><signal name="light" id="500" s="95.0" t="-6.5" zOffset="0.5" hOffset="0"'
        ' orientation="+" dynamic="yes" country="OpenDRIVE" type="1000001" subtype="-1"'
        ' value="-1" height="1.0" width="0.5"><validity fromLane="-1" toLane="-1"/></signal>'
        "</signals>"
    )
    ref = (
        '<signals><signalReference id="500" s="2.0" t="0" orientation="+">'
        '<validity fromLane="-1" toLane="-1"/></signalReference></signals>'
    )
    offset2 = (
        '<laneOffset s="0" a="0" b="0" c="0" d="0"/>'
        '<laneOffset s="120" a="0" b="0" c="0.002" d="-0.00003"/>'
    )
    xml = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<OpenDRIVE>\n'
        '  <header revMajor="1" revMinor="4" name="small_town" version="1"/>\n',
        road(1, r1, -1, '<successor elementType="junction" elementId="100"/>', lanes(True),
             '<elevation s="0" a="0" b="0.02" c="0" d="0"/>', signal),
        road(10, r10, 100,
             '<predecessor elementType="road" elementId="1" contactPoint="end"/>'
             '<successor elementType="road" elementId="2" contactPoint="start"/>',
             lanes(False), extra=ref),
        road(11, r11, 100,
             '<predecessor elementType="road" elementId="1" contactPoint="end"/>'
             '<successor elementType="road" elementId="4" contactPoint="start"/>',
             lanes(False, left=False)),
        road(2, r2, -1, '<predecessor elementType="junction" elementId="100"/>',
             lanes(True, offset=offset2),
             speed='<type s="0" type="motorway"/>'),
        road(4, r4, -1, '<predecessor elementType="junction" elementId="100"/>', lanes(True),
             speed='<type s="0" type="town"><speed max="25" unit="mph"/></type>'),
        '  <controller name="ctrl" id="900" sequence="0"><control signalId="500" type="0"/>'
        "</controller>\n"
        '  <junction id="100" name="junction100">\n'
        '    <connection id="0" incomingRoad="1" connectingRoad="10" contactPoint="start">'
        '<laneLink from="-1" to="-1"/></connection>\n'
        '    <connection id="1" incomingRoad="2" connectingRoad="10" contactPoint="end">'
        '<laneLink from="1" to="1"/></connection>\n'
        '    <connection id="2" incomingRoad="1" connectingRoad="11" contactPoint="start">'
        '<laneLink from="-1" to="-1"/></connection>\n'
        '    <controller id="900" type="0" sequence="0"/>\n'
        "  </junction>\n</OpenDRIVE>\n",
    ]  # fmt: skip
    OUT.write_text("".join(xml), encoding="utf-8")


if __name__ == "__main__":
    main()
