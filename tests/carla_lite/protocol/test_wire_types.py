"""msgpack record conversions: shapes, strict types, and command decoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from carla_lite.geom import BoundingBox, Transform, Vector3
from carla_lite.protocol import wire_types as wt
from carla_lite.protocol.wire_types import CommandType, WireError


def roundtrip(value: object) -> object:
    """Through msgpack as the server packs and unpacks it."""
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


def test_response_wrappers() -> None:
    assert wt.ok(5) == [[1, 5]]
    assert wt.error("nope") == [[0, ["nope"]]]
    assert wt.ok_void() == [[False]]
    assert wt.error_void("bad") == [[True, ["bad"]]]


def test_transform_roundtrip_and_types() -> None:
    t = Transform(1, 2, 3, 4, 5, 6)
    wire = wt.transform_to_wire(t)
    assert wire == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert all(type(v) is float for part in wire for v in part)
    assert wt.transform_from_wire(roundtrip(wire)) == t
    # ints are accepted for float fields; missing trailing parts default to zero.
    assert wt.transform_from_wire([[1, 2, 3]]) == Transform(1.0, 2.0, 3.0)
    with pytest.raises(WireError, match=r"Transform\.location\.x"):
        wt.transform_from_wire([["a", 0, 0], [0, 0, 0]])
    with pytest.raises(WireError):
        wt.transform_from_wire([[True, 0, 0], [0, 0, 0]])
    with pytest.raises(WireError):
        wt.transform_from_wire("nope")


def test_location_and_bbox() -> None:
    assert wt.location_to_wire(Vector3(1, 2, 3)) == [1.0, 2.0, 3.0]
    assert wt.location_from_wire([1.5, -2, 0]) == Vector3(1.5, -2.0, 0.0)
    bb = BoundingBox(Vector3(0, 0, 0.7), Vector3(2.4, 1.0, 0.75))
    wire = wt.bbox_to_wire(bb, 42)
    assert wire == [[0.0, 0.0, 0.7], [2.4, 1.0, 0.75], [0.0, 0.0, 0.0], 42]
    assert type(wire[3]) is int


def test_episode_settings_defaults_and_wire() -> None:
    s = wt.EpisodeSettings()
    assert s.to_wire() == [
        False,
        False,
        [False],
        True,
        0.01,
        10,
        0.0,
        True,
        3000.0,
        2000.0,
        True,
    ]
    captured = [True, True, [True, 0.05], True, 0.01, 10, 0.0, True, 3000.0, 2000.0, True]
    got = wt.EpisodeSettings.from_wire(captured)
    assert got.synchronous_mode is True and got.fixed_delta_seconds == 0.05
    assert got.to_wire() == captured
    short = wt.EpisodeSettings.from_wire([True])
    assert short.synchronous_mode is True and short.max_substeps == 10
    assert wt.EpisodeSettings.from_wire([False, False, [True, 1]]).fixed_delta_seconds == 1.0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1, False], "synchronous_mode"),
        ([False, False, 0.05], "fixed_delta_seconds"),
        ([False, False, [True]], "fixed_delta_seconds"),
        ([False, False, [False], True, 0.01, 10.0], "max_substeps"),
        ([False, False, [False], True, "x"], "max_substep_delta_time"),
        ("settings", "EpisodeSettings"),
    ],
)
def test_episode_settings_strict(raw: object, field: str) -> None:
    with pytest.raises(WireError, match=field):
        wt.EpisodeSettings.from_wire(raw)


def test_vehicle_control() -> None:
    captured = [0.8, 0.0, 0.0, False, False, False, 0]
    c = wt.VehicleControl.from_wire(captured)
    assert c == wt.VehicleControl(throttle=0.8)
    assert c.to_wire() == captured
    wire = wt.VehicleControl(1, -1, 0, True, True, True, 3).to_wire()
    assert [type(v) for v in wire] == [float, float, float, bool, bool, bool, int]
    with pytest.raises(WireError, match="hand_brake"):
        wt.VehicleControl.from_wire([0.0, 0.0, 0.0, 1])
    with pytest.raises(WireError, match="gear"):
        wt.VehicleControl.from_wire([0.0, 0.0, 0.0, False, False, False, 1.0])


def test_walker_control() -> None:
    w = wt.WalkerControl()
    assert w.to_wire() == [[1.0, 0.0, 0.0], 0.0, False]
    got = wt.WalkerControl.from_wire([[0, 1, 0], 1.4, True])
    assert got == wt.WalkerControl(Vector3(0.0, 1.0, 0.0), 1.4, True)


def test_weather() -> None:
    w = wt.WeatherParameters()
    wire = w.to_wire()
    assert len(wire) == 14 and all(type(v) is float for v in wire)
    assert wire[12] == pytest.approx(0.0331)
    got = wt.WeatherParameters.from_wire(list(range(14)))
    assert got.cloudiness == 0.0 and got.dust_storm == 13.0
    with pytest.raises(WireError, match="fog_density"):
        wt.WeatherParameters.from_wire([0.0] * 6 + [None])


def test_weather_defaults_match_client() -> None:
    import carla

    client_default = carla.WeatherParameters()
    ours = wt.WeatherParameters()
    for name in ours.__dataclass_fields__:
        assert getattr(ours, name) == pytest.approx(getattr(client_default, name)), name


def test_actor_definition() -> None:
    wire = wt.actor_definition_to_wire(
        3,
        "vehicle.test.car",
        "vehicle,car",
        [("role_name", 4, "autopilot", ("autopilot", "hero"), True, False)],
    )
    assert wire == [
        3,
        "vehicle.test.car",
        "vehicle,car",
        [["role_name", 4, "autopilot", ["autopilot", "hero"], True, False]],
    ]


def test_actor_description_roundtrip() -> None:
    raw = [7, "vehicle.test.car", [["color", 5, "0,0,0"], ["role_name", 4, "hero"]]]
    desc = wt.actor_description_from_wire(raw)
    assert desc == wt.ActorDescription(
        7, "vehicle.test.car", {"color": (5, "0,0,0"), "role_name": (4, "hero")}
    )
    assert wt.actor_description_to_wire(desc) == raw
    # std::string accepts bin as well.
    assert wt.actor_description_from_wire([1, b"walker.x", []]).id == "walker.x"
    with pytest.raises(WireError, match=r"attributes\[0\]"):
        wt.actor_description_from_wire([1, "x", [["a", "1", "v"]]])


def test_actor_record_types() -> None:
    desc = wt.ActorDescription(1, "sensor.camera.rgb", {})
    bb = BoundingBox(Vector3(), Vector3(0.1, 0.1, 0.1))
    wire = wt.actor_to_wire(5, 2, desc, bb, b"\x0e", bytes(24))
    assert wire[:2] == [5, 2]
    assert type(wire[4]) is bytes and type(wire[5]) is bytes
    packed = msgpack.packb(wire, use_bin_type=True)
    assert b"\xc4\x01\x0e" in packed  # semantic_tags as bin8
    assert b"\xc4\x18" + bytes(24) in packed  # token as bin8 of 24
    with pytest.raises(WireError):
        wt.actor_to_wire(5, 0, desc, bb, b"", b"short")


def _cmd(index: int, payload: list[Any]) -> list[Any]:
    return [[index, payload]]


def test_decode_spawn_actor_with_do_after() -> None:
    desc = [3, "vehicle.test.car", [["role_name", 4, "hero"]]]
    tf = [[1.0, 2.0, 0.5], [0.0, 90.0, 0.0]]
    do_after = [
        _cmd(16, [0, True]),
        _cmd(2, [0, [0.5, 0.0, 0.0, False, False, False, 0]]),
    ]
    raw = roundtrip(_cmd(0, [desc, tf, [False], 240, "", do_after]))
    cmd = wt.decode_command(raw)
    assert cmd.type is CommandType.SpawnActor
    assert cmd.description is not None and cmd.description.id == "vehicle.test.car"
    assert cmd.transform == Transform(1.0, 2.0, 0.5, 0.0, 90.0, 0.0)
    assert cmd.parent is None
    assert [c.type for c in cmd.do_after] == [
        CommandType.SetAutopilot,
        CommandType.ApplyVehicleControl,
    ]
    assert cmd.do_after[0].enabled is True and cmd.do_after[0].actor_id == 0
    with_parent = wt.decode_command(_cmd(0, [desc, tf, [True, 9], 0, "", []]))
    assert with_parent.parent == 9


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        (_cmd(1, [12]), lambda c: c.actor_id == 12),
        (
            _cmd(2, [4, [0.8, 0.1, 0.0, False, True, False, 2]]),
            lambda c: c.control == wt.VehicleControl(0.8, 0.1, 0.0, False, True, False, 2),
        ),
        (
            _cmd(4, [4, [[0.0, 1.0, 0.0], 1.2, False]]),
            lambda c: c.control == wt.WalkerControl(Vector3(0, 1, 0), 1.2, False),
        ),
        (_cmd(6, [4, [[1, 2, 3], [0, 45, 0]]]), lambda c: c.transform == Transform(1, 2, 3, 0, 45)),
        (
            _cmd(7, [4, [[1, 2, 3], [0, 45, 0]], 1.5]),
            lambda c: c.transform == Transform(1, 2, 3, 0, 45) and c.speed == 1.5,
        ),
        (_cmd(8, [4, [3.0, 0.0, 0.0]]), lambda c: c.vector == Vector3(3.0, 0.0, 0.0)),
        (_cmd(9, [4, [0.0, 0.0, 10.0]]), lambda c: c.vector == Vector3(0.0, 0.0, 10.0)),
        (_cmd(10, [4, [1.0, 0.0, 0.0]]), lambda c: c.vector == Vector3(1.0, 0.0, 0.0)),
        (_cmd(11, [4, [1.0, 0.0, 0.0]]), lambda c: c.vector == Vector3(1.0, 0.0, 0.0)),
        (_cmd(12, [4, [1.0, 0.0, 0.0]]), lambda c: c.vector == Vector3(1.0, 0.0, 0.0)),
        (_cmd(13, [4, [1.0, 0.0, 0.0]]), lambda c: c.vector == Vector3(1.0, 0.0, 0.0)),
        (_cmd(14, [4, False]), lambda c: c.enabled is False and c.actor_id == 4),
        (_cmd(15, [4, True]), lambda c: c.enabled is True),
        (_cmd(16, [4, True]), lambda c: c.enabled is True),
        (_cmd(17, [4, True]), lambda c: c.enabled is True),
        (_cmd(18, [4, 0b101]), lambda c: c.value == 5),
        (_cmd(19, [4, [5.0, 6.0, 7.0]]), lambda c: c.vector == Vector3(5.0, 6.0, 7.0)),
        (_cmd(20, ["stat fps"]), lambda c: c.text == "stat fps"),
        (_cmd(21, [4, 2]), lambda c: c.value == 2),
        (_cmd(3, [4, [0.1, 0.0, 5.0, 1.0, 0.0]]), lambda c: c.payload[1][2] == 5.0),
        (_cmd(5, [4, [[], 5000.0]]), lambda c: c.actor_id == 4),
    ],
)
def test_decode_commands(raw: list[Any], check: Callable[[wt.Command], bool]) -> None:
    cmd = wt.decode_command(roundtrip(raw))
    assert cmd.type == raw[0][0]
    assert check(cmd)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (_cmd(22, [1]), "unknown command index 22"),
        (_cmd(-1, [1]), "unknown command index"),
        ([], "empty"),
        ([[2]], "expected \\[index, payload\\]"),
        (_cmd(2, ["x", [0.0]]), "ApplyVehicleControl"),
        (_cmd(2, [4]), "ApplyVehicleControl: missing control"),
        (_cmd(2, [4, [0.0, 0.0, 0.0, 0]]), "ApplyVehicleControl.*hand_brake"),
        (_cmd(14, [4, 1]), "SetSimulatePhysics"),
        (_cmd(6, [4, "tf"]), "ApplyTransform"),
        (_cmd(0, [[1, "x", []]]), "SpawnActor"),
        (_cmd(0, [[1, 2, []], [[0, 0, 0], [0, 0, 0]]]), "SpawnActor.*ActorDescription.id"),
        (_cmd(1, []), "DestroyActor: missing actor id"),
        ("cmd", "Command"),
    ],
)
def test_decode_command_errors(raw: object, needle: str) -> None:
    with pytest.raises(WireError, match=needle):
        wt.decode_command(raw)


def test_decode_command_depth_limit() -> None:
    desc = [1, "x", []]
    tf = [[0, 0, 0], [0, 0, 0]]
    raw = _cmd(1, [1])
    for _ in range(20):
        raw = _cmd(0, [desc, tf, [False], 0, "", [raw]])
    with pytest.raises(WireError, match="nested"):
        wt.decode_command(raw)
