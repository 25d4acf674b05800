"""A bad map reaches a client as a RuntimeError with the server's reason; nothing is lost.

The official 0.9.16 client segfaults on a malformed OpenDRIVE it parses itself, so the server
validates first: ``generate_opendrive_world`` with a bad string and ``load_world`` of a bad
file in a maps folder are refused with the MapLoadError's message, and the world the client
had keeps ticking, with its actors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, ServerProcess, checked_server, run_client

HIGHWAY = (REPO_ROOT / "carla_lite" / "maps" / "builtin" / "LiteHighway01.xodr").read_text()
#: A valid XML map the client itself fails on (``s <= road->GetLength()``) after loading it.
TINY_ROAD = (
    '<OpenDRIVE><header/><road id="1" length="1e-15" junction="-1"><planView><geometry s="0" '
    'x="0" y="0" hdg="0" length="1e-15"><line/></geometry></planView><lanes><laneSection '
    's="0"><center><lane id="0" type="none"/></center><right><lane id="-1" type="driving">'
    '<width sOffset="0" a="3.5"/></lane></right></laneSection></lanes></road></OpenDRIVE>'
)
#: A lane successor between a road's two sections naming a lane that is not there.
_SECTION = (
    '<laneSection s="{s}"><center><lane id="0" type="none"/></center><right><lane id="-1" '
    'type="driving"><link>{link}</link><width sOffset="0" a="3.5"/></lane></right></laneSection>'
)
TWO_SECTIONS = (
    '<OpenDRIVE><header/><road id="1" length="10" junction="-1"><planView><geometry s="0" '
    'x="0" y="0" hdg="0" length="10"><line/></geometry></planView><lanes>'
    + _SECTION.format(s=0, link='<successor id="-5"/>')
    + _SECTION.format(s=5, link='<predecessor id="-1"/>')
    + "</lanes></road></OpenDRIVE>"
)

#: (label, OpenDRIVE string sent by generate_opendrive_world, expected part of the error)
BAD_STRINGS = [
    ("truncated", HIGHWAY[: len(HIGHWAY) // 2], "OpenDriveMap: malformed XML: "),
    ("not xml", "this is not OpenDRIVE", "OpenDriveMap: malformed XML: syntax error"),
    ("no road", "<OpenDRIVE><header/></OpenDRIVE>", "OpenDriveMap: no <road> elements"),
    (
        "zero-length geometry",
        HIGHWAY.replace('hdg="0" length="120">', 'hdg="0" length="0">', 1),
        "geometry 0: attribute 'length' must be positive (0.0)",
    ),
    ("road of 1e-15 m", TINY_ROAD, "OpenDriveMap: road 1: attribute 'length' is below 1e-06 m"),
    (
        "inner lane link to a missing lane",  # the client segfaulted on it
        TWO_SECTIONS,
        "road 1 laneSection 0 lane -1 successor: links to missing lane -5 of laneSection 1",
    ),
]


@pytest.fixture
def bad_maps_server(tmp_path: Path) -> Iterator[ServerProcess]:
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "Truncated.xodr").write_text(HIGHWAY[:3000])
    (maps / "Latin1.xodr").write_bytes(b'<OpenDRIVE><header name="caf\xe9"/></OpenDRIVE>')
    with checked_server(tmp_path, f"--maps-dir={maps}") as proc:
        yield proc


def test_bad_maps_are_refused_and_the_world_keeps_working(bad_maps_server: ServerProcess) -> None:
    assert 'hdg="0" length="120">' in HIGHWAY
    result = run_client(
        bad_maps_server.port,
        f"""
        world = synchronous_world(client)
        blueprint = world.get_blueprint_library().find("vehicle.tesla.model3")
        hero = world.spawn_actor(blueprint, world.get_map().get_spawn_points()[0])
        world.tick()
        errors = {{}}
        for label, xodr in {[(label, text) for label, text, _ in BAD_STRINGS]!r}:
            try:
                client.generate_opendrive_world(xodr)
                errors[label] = None
            except RuntimeError as e:
                errors[label] = str(e)
        for town in ["Truncated", "Latin1"]:
            try:
                client.load_world(town)
                errors[town] = None
            except RuntimeError as e:
                errors[town] = str(e)
        result["errors"] = errors
        world = client.get_world()
        result["map"] = world.get_map().name
        frames = [world.tick() for _ in range(3)]
        result["frames_increase"] = frames == sorted(set(frames))
        result["hero_alive"] = world.get_actor(hero.id) is not None
        result["available"] = sorted(m.rsplit("/", 1)[-1] for m in client.get_available_maps())
        """,
        timeout=110,
    )
    errors = result["errors"]
    for label, _, expected in BAD_STRINGS:
        assert errors[label] is not None, f"{label}: accepted"
        assert expected in errors[label], (label, errors[label])
    assert "Truncated.xodr: Truncated: malformed XML: unclosed token" in errors["Truncated"]
    assert "Latin1: cannot read " in errors["Latin1"]
    assert "'utf-8' codec can't decode byte 0xe9" in errors["Latin1"]
    for town in ("Truncated", "Latin1"):
        assert "rpc::rpc_error" not in errors[town]
        assert errors[town].endswith("(map LiteTown01 stays loaded)")
    assert result["map"].endswith("LiteTown01")
    assert result["frames_increase"] is True
    assert result["hero_alive"] is True
    assert {"Truncated", "Latin1", "LiteTown01"} <= set(result["available"])
