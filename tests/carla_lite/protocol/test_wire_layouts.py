"""Checks carla_lite's binary and msgpack layouts against the installed wheel's DWARF.

The ``carla==0.9.16`` wheel ships ``libcarla*.so`` with debug info; ``gdb ptype /o``
prints exact member offsets and sizes, enum values and template argument order. gdb
runs once per session (all commands in one call) because loading the .so is slow.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
from functools import cache
from pathlib import Path

import pytest

from carla_lite.protocol import serializers as ser
from carla_lite.protocol import streaming
from carla_lite.protocol import wire_types as wt

_MARK = "@@@SECTION "

_PTYPE_O = {
    "actor_state": "carla::sensor::data::ActorDynamicState",
    "sensor_header": "carla::sensor::s11n::SensorHeaderSerializer::Header",
    "episode_header": "carla::sensor::s11n::EpisodeStateSerializer::Header",
    "image_header": "carla::sensor::s11n::ImageSerializer::ImageHeader",
    "token": "carla::streaming::detail::token_data",
    "episode_settings": "carla::rpc::EpisodeSettings",
    "vehicle_control": "carla::rpc::VehicleControl",
    "walker_control": "carla::rpc::WalkerControl",
    "weather": "carla::rpc::WeatherParameters",
    "actor": "carla::rpc::Actor",
    "actor_attribute": "carla::rpc::ActorAttribute",
    "actor_attribute_value": "carla::rpc::ActorAttributeValue",
    "actor_definition": "carla::rpc::ActorDefinition",
    "bounding_box": "carla::geom::BoundingBox",
    "episode_info": "carla::rpc::EpisodeInfo",
    "collision_data": "carla::sensor::s11n::CollisionEventSerializer::Data",
    "obstacle_data": "carla::sensor::s11n::ObstacleDetectionEventSerializer::Data",
    "imu_data": "carla::sensor::s11n::IMUSerializer::Data",
    "geo_location": "carla::geom::GeoLocation",
    "lidar_detection": "carla::sensor::data::LidarDetection",
    "semantic_lidar_detection": "carla::sensor::data::SemanticLidarDetection",
    "radar_detection": "carla::sensor::data::RadarDetection",
    "dvs_event": "carla::sensor::data::DVSEvent",
    "dvs_header": "carla::sensor::s11n::DVSEventArraySerializer::DVSHeader",
    "normals_header": "carla::sensor::s11n::NormalsImageSerializer::ImageHeader",
    "flow_header": "carla::sensor::s11n::OpticalFlowImageSerializer::ImageHeader",
    "flow_pixel": "carla::sensor::data::OpticalFlowPixel",
    **{
        f"cmd_{ct.name}": f"carla::rpc::Command::{ct.name}"
        for ct in wt.CommandType  # one struct per variant alternative
    },
}
_PTYPE = {
    "command_type": "carla::rpc::Command::CommandType",
    "actor_state_enum": "carla::rpc::ActorState",
    "attribute_type_enum": "carla::rpc::ActorAttributeType",
    "traffic_light_state_enum": "carla::rpc::TrafficLightState",
    "simulation_state_enum": "carla::sensor::s11n::EpisodeStateSerializer::SimulationState",
    "token_protocol_enum": "carla::streaming::detail::token_data::protocol",
    "token_address_enum": "carla::streaming::detail::token_data::address",
    "dvs_array": "carla::sensor::data::DVSEventArray",
}


def _libcarla() -> Path:
    import carla

    matches = sorted(Path(carla.__file__).parent.glob("libcarla*.so"))
    if not matches:
        pytest.fail(f"no libcarla*.so next to {carla.__file__}")
    return matches[0]


@cache
def _run_gdb() -> dict[str, str]:
    gdb = shutil.which("gdb")
    if gdb is None:
        if os.environ.get("CI"):
            pytest.fail("gdb is required in CI for the wire layout checks (apt-get install gdb)")
        pytest.skip("gdb not installed (apt-get install -y gdb); layout checks skipped")
    args = [gdb, "-batch", "-nx"]
    for key, sym in _PTYPE_O.items():
        args += ["-ex", f"echo \\n{_MARK}{key}\\n", "-ex", f"ptype /o '{sym}'"]
    for key, sym in _PTYPE.items():
        args += ["-ex", f"echo \\n{_MARK}{key}\\n", "-ex", f"ptype '{sym}'"]
    args += [
        "-ex",
        f"echo \\n{_MARK}registry\\n",
        "-ex",
        "info types ^carla::sensor::CompositeSerializer<",
    ]
    args.append(str(_libcarla()))
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    text = done.stdout + "\n" + done.stderr
    sections: dict[str, str] = {}
    for chunk in text.split(_MARK)[1:]:
        key, _, body = chunk.partition("\n")
        sections[key.strip()] = body
    missing = [k for k in [*_PTYPE_O, *_PTYPE, "registry"] if "type =" not in sections.get(k, "")]
    missing = [k for k in missing if k != "registry"]
    assert not missing, f"gdb could not print {missing}:\n{text[-3000:]}"
    return sections


@pytest.fixture(scope="module")
def dwarf() -> dict[str, str]:
    return _run_gdb()


# ------------------------------------------------------------------ ptype /o parser

_LEAF = re.compile(r"^/\*\s*(?:(\d+)\s*\|)?\s*(\d+)\s*\*/\s*(.+?)\s+\**(\w+)(\[\d+\])*;\s*$")
_OPEN = re.compile(r"^/\*\s*(?:(\d+)\s*\|)?\s*(\d+)\s*\*/\s*(.*)\{\s*$")
_CLOSE = re.compile(r"^\s*\}\s*(\w*)\s*;?\s*$")


@dataclasses.dataclass
class Layout:
    size: int
    members: dict[str, tuple[int, int]]  # dotted path -> (offset, size)
    order: list[str]  # top-level member names in declaration order


def parse_ptype_o(text: str) -> Layout:
    """Parses ``ptype /o`` output into dotted member paths with offsets and sizes."""
    # Each frame: (offset of the container, [(relative path, offset, size)], direct names)
    stack: list[tuple[int, list[tuple[str, int, int]], list[str]]] = []
    total = -1
    top_order: list[str] = []
    members: dict[str, tuple[int, int]] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("/* XXX") or "total size (bytes)" in line:
            m = re.search(r"total size \(bytes\):\s*(\d+)", line)
            if m and len(stack) == 1:
                total = int(m.group(1))
            continue
        if "type =" in line and line.endswith("{"):
            stack = [(0, [], [])]
            continue
        if not stack:
            continue
        m = _OPEN.match(line)
        if m:
            parent_off = stack[-1][0]
            off = int(m.group(1)) if m.group(1) is not None else parent_off
            stack.append((off, [], []))
            stack[-1][1].append(("", off, int(m.group(2))))
            continue
        m = _LEAF.match(line)
        if m:
            parent_off = stack[-1][0]
            off = int(m.group(1)) if m.group(1) is not None else parent_off
            stack[-1][1].append((m.group(4), off, int(m.group(2))))
            stack[-1][2].append(m.group(4))
            continue
        m = _CLOSE.match(line)
        if m:
            if len(stack) == 1:
                for path, off, size in stack[0][1]:
                    members[path] = (off, size)
                top_order = stack[0][2]
                break
            _off, children, _names = stack.pop()
            name = m.group(1)
            for path, off, size in children:
                full = f"{name}.{path}" if path else name
                if name:
                    stack[-1][1].append((full, off, size))
                elif path:  # anonymous container: lift its members
                    stack[-1][1].append((path, off, size))
            if name:
                stack[-1][2].append(name)
    return Layout(total, members, top_order)


def layout(dwarf: dict[str, str], key: str) -> Layout:
    return parse_ptype_o(dwarf[key])


def struct_items(fmt: str) -> list[tuple[int, int]]:
    """(offset, size) of every scalar of a packed little-endian struct format."""
    out = []
    offset = 0
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", fmt.lstrip("<=")):
        n = int(count) if count else 1
        size = struct.calcsize("<" + code)
        if code == "s":
            out.append((offset, n))
            offset += n
            continue
        for _ in range(n):
            out.append((offset, size))
            offset += size
    return out


def variant_names(text: str) -> list[str]:
    m = re.search(r"variant<(.*?)>\s*:", text)
    assert m, text[:500]
    return [name.strip().split("::")[-1] for name in m.group(1).split(",")]


def enum_names(text: str) -> list[str]:
    m = re.search(r"\{(.*)\}", text)
    assert m, text
    names = []
    value = -1
    for item in m.group(1).split(","):
        name, _, explicit = item.strip().partition(" = ")
        value = int(explicit) if explicit else value + 1
        names.append((name.split("::")[-1], value))
    return [f"{n}={v}" for n, v in names]


# ------------------------------------------------------------------ binary layouts


def test_actor_dynamic_state_matches_dwarf(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "actor_state")
    assert lay.size == 119 == ser.ACTOR_STATE_DTYPE.itemsize
    m = lay.members
    loc_off = m["transform.location"][0]
    expected = {
        "id": m["id"],
        "actor_state": m["actor_state"],
        "x": (loc_off, 4),
        "y": (loc_off + 4, 4),
        "z": (loc_off + 8, 4),
        "pitch": m["transform.rotation.pitch"],
        "yaw": m["transform.rotation.yaw"],
        "roll": m["transform.rotation.roll"],
        **{f"v{a}": m[f"velocity.{a}"] for a in "xyz"},
        **{f"w{a}": m[f"angular_velocity.{a}"] for a in "xyz"},
        **{f"a{a}": m[f"acceleration.{a}"] for a in "xyz"},
    }
    vc = "state.vehicle_data.control."
    for f in ("throttle", "steer", "brake", "hand_brake", "reverse", "manual_gear_shift", "gear"):
        expected[f] = m[vc + f]
    vd = "state.vehicle_data."
    for f in (
        "speed_limit",
        "traffic_light_state",
        "has_traffic_light",
        "traffic_light_id",
        "failure_state",
    ):
        expected[f] = m[vd + f]
    tl = "state.traffic_light_data."
    for f in (
        "sign_id",
        "green_time",
        "yellow_time",
        "red_time",
        "elapsed_time",
        "pole_index",
        "time_is_frozen",
    ):
        expected[f] = m[tl + f]
    expected["tl_state"] = m[tl + "state"]
    assert m["state.traffic_sign_data.sign_id"] == m[tl + "sign_id"]
    d_off, d_size = m["state.walker_control.direction"]
    assert d_size == 12
    expected.update(
        walker_dx=(d_off, 4),
        walker_dy=(d_off + 4, 4),
        walker_dz=(d_off + 8, 4),
        walker_speed=m["state.walker_control.speed"],
        walker_jump=m["state.walker_control.jump"],
    )
    fields = ser.ACTOR_STATE_DTYPE.fields
    assert fields is not None
    actual = {name: (off, dt.itemsize) for name, (dt, off, *_rest) in fields.items()}
    assert actual == expected
    assert m["state"] == (65, 54)


def test_sensor_header_matches_dwarf(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "sensor_header")
    assert lay.size == ser.SENSOR_HEADER.size == 48
    assert lay.order == ["sensor_type", "frame", "timestamp", "sensor_transform"]
    items = struct_items(ser.SENSOR_HEADER.format)
    assert [lay.members[n] for n in lay.order[:3]] == items[:3]
    assert lay.members["sensor_transform"] == (items[3][0], 24)
    assert len(items) == 9


def test_episode_header_matches_dwarf(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "episode_header")
    assert lay.size == ser.EPISODE_HEADER.size == 36
    m = lay.members
    dwarf_items = [
        m["episode_id"],
        m["platform_timestamp"],
        m["delta_seconds"],
        m["map_origin.x"],
        m["map_origin.y"],
        m["map_origin.z"],
        m["simulation_state"],
    ]
    assert dwarf_items == struct_items(ser.EPISODE_HEADER.format)
    assert enum_names(dwarf["simulation_state_enum"]) == [
        "None=0",
        "MapChange=1",
        "PendingLightUpdate=2",
    ]


def test_image_header_matches_dwarf(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "image_header")
    assert lay.size == ser.IMAGE_HEADER.size == 12
    assert [lay.members[n] for n in ("width", "height", "fov_angle")] == struct_items(
        ser.IMAGE_HEADER.format
    )


def test_camera_bodies_match_dwarf(dwarf: dict[str, str]) -> None:
    """Normals, optical flow and DVS: the same 12-byte header as images, then their pixels."""
    header = struct_items(ser.IMAGE_HEADER.format)
    for key in ("normals_header", "flow_header", "dvs_header"):
        lay = layout(dwarf, key)
        assert lay.size == 12, key
        assert [lay.members[n] for n in ("width", "height", "fov_angle")] == header, key
    flow = layout(dwarf, "flow_pixel")
    assert (flow.size, flow.order) == (8, ["x", "y"])
    event = layout(dwarf, "dvs_event")
    assert event.size == ser.DVS_EVENT_DTYPE.itemsize == 13
    fields = ser.DVS_EVENT_DTYPE.fields
    assert fields is not None
    assert event.order == list(ser.DVS_EVENT_DTYPE.names or ())
    for name in event.order:
        assert event.members[name] == (fields[name][1], fields[name][0].itemsize), name
    assert "Array<carla::sensor::data::DVSEvent>" in dwarf["dvs_array"]
    assert ser.SENSOR_REGISTRY[ser.SensorType.NORMALS_CAMERA][1] == "NormalsImageSerializer"
    assert ser.SENSOR_REGISTRY[ser.SensorType.DVS_CAMERA][1] == "DVSEventArraySerializer"
    assert ser.SENSOR_REGISTRY[ser.SensorType.OPTICAL_FLOW_CAMERA][1] == (
        "OpticalFlowImageSerializer"
    )


def test_token_matches_dwarf(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "token")
    assert lay.size == streaming.TOKEN.size == 24
    m = lay.members
    got = [m[n] for n in ("stream_id", "port", "protocol", "address_type", "address")]
    assert got == struct_items(streaming.TOKEN.format)
    assert "tcp=1" in enum_names(dwarf["token_protocol_enum"])
    assert "not_set=0" in enum_names(dwarf["token_address_enum"])


def test_point_records_match_dwarf(dwarf: dict[str, str]) -> None:
    lidar = layout(dwarf, "lidar_detection")
    assert lidar.size == ser.LIDAR_DETECTION_DTYPE.itemsize == 16
    assert lidar.members["point"] == (0, 12)
    assert lidar.members["intensity"] == (12, 4)
    sem = layout(dwarf, "semantic_lidar_detection")
    assert sem.size == ser.SEMANTIC_LIDAR_DETECTION_DTYPE.itemsize == 24
    fields = ser.SEMANTIC_LIDAR_DETECTION_DTYPE.fields
    assert fields is not None
    for name in ("cos_inc_angle", "object_idx", "object_tag"):
        assert sem.members[name] == (fields[name][1], fields[name][0].itemsize)
    radar = layout(dwarf, "radar_detection")
    assert radar.order == list(ser.RADAR_DETECTION_DTYPE.names or ())
    assert radar.size == ser.RADAR_DETECTION_DTYPE.itemsize


def test_sensor_registry_order(dwarf: dict[str, str]) -> None:
    text = dwarf["registry"]
    m = re.search(r"CompositeSerializer<(std::pair<.*?>)\s*>;", text)
    assert m, text[:2000]
    pairs = re.findall(r"std::pair<(\w+)\*, carla::sensor::s11n::(\w+)>", m.group(1))
    assert tuple(pairs) == ser.SENSOR_REGISTRY
    assert len(ser.SensorType) == len(pairs) == 22
    assert ser.SENSOR_REGISTRY[ser.SensorType.WORLD_OBSERVER][0] == "FWorldObserver"
    assert ser.SENSOR_REGISTRY[ser.SensorType.RGB_CAMERA][0] == "ASceneCaptureCamera"
    for t in ser.IMAGE_SENSOR_TYPES:
        assert ser.SENSOR_REGISTRY[t][1] == "ImageSerializer"


# ------------------------------------------------------------------ msgpack layouts


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_episode_settings_fields(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "episode_settings")
    assert lay.order == _field_names(wt.EpisodeSettings)
    text = dwarf["episode_settings"]
    assert "boost::optional<double>" in text
    wire = wt.EpisodeSettings().to_wire()
    assert len(wire) == 11
    # bool fields are packed as bools, int as int, float/double as float.
    kinds = {name: re.search(rf"\s(bool|int|float|double)\s+{name};", text) for name in lay.order}
    for (name, kind), value in zip(kinds.items(), wire, strict=True):
        if name == "fixed_delta_seconds":
            assert value == [False]
            continue
        assert kind is not None, name
        expected = {"bool": bool, "int": int, "float": float, "double": float}[kind.group(1)]
        assert type(value) is expected, name


def test_vehicle_control_fields(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "vehicle_control")
    assert lay.order == _field_names(wt.VehicleControl)
    assert lay.size == 20


def test_walker_control_fields(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "walker_control")
    assert lay.order == _field_names(wt.WalkerControl)


def test_weather_fields(dwarf: dict[str, str]) -> None:
    lay = layout(dwarf, "weather")
    assert lay.order == _field_names(wt.WeatherParameters)
    assert lay.size == 14 * 4


def test_actor_record_fields(dwarf: dict[str, str]) -> None:
    actor = layout(dwarf, "actor")
    assert actor.order == [
        "id",
        "parent_id",
        "description",
        "bounding_box",
        "semantic_tags",
        "stream_token",
    ]
    assert "std::vector<unsigned char" in dwarf["actor"]  # -> must be msgpack bin
    assert layout(dwarf, "bounding_box").order == ["location", "extent", "rotation", "actor_id"]
    assert layout(dwarf, "actor_attribute").order == [
        "id",
        "type",
        "value",
        "recommended_values",
        "is_modifiable",
        "restrict_to_recommended",
    ]
    assert layout(dwarf, "actor_attribute_value").order == ["id", "type", "value"]
    assert layout(dwarf, "actor_definition").order == ["uid", "id", "tags", "attributes"]
    assert layout(dwarf, "episode_info").order == ["id", "token"]
    assert enum_names(dwarf["actor_state_enum"])[1] == "Active=1"
    assert enum_names(dwarf["attribute_type_enum"])[:5] == [
        "Bool=1",
        "Int=2",
        "Float=3",
        "String=4",
        "RGBColor=5",
    ]
    assert enum_names(dwarf["traffic_light_state_enum"])[:5] == [
        "Red=0",
        "Yellow=1",
        "Green=2",
        "Off=3",
        "Unknown=4",
    ]


def test_sensor_event_bodies(dwarf: dict[str, str]) -> None:
    assert layout(dwarf, "collision_data").order == ["self_actor", "other_actor", "normal_impulse"]
    assert layout(dwarf, "obstacle_data").order == ["self_actor", "other_actor", "distance"]
    imu = layout(dwarf, "imu_data")
    assert imu.order == ["accelerometer", "gyroscope", "compass"]
    assert imu.members["compass"][1] == 4  # one float in 0.9.16, not a vector
    assert layout(dwarf, "geo_location").order == ["latitude", "longitude", "altitude"]


def test_command_variant_order(dwarf: dict[str, str]) -> None:
    names = variant_names(dwarf["command_type"])
    assert names == [ct.name for ct in wt.CommandType]
    assert [ct.value for ct in wt.CommandType] == list(range(22))


@pytest.mark.parametrize("ctype", list(wt.CommandType), ids=lambda c: c.name)
def test_command_payload_fields(dwarf: dict[str, str], ctype: wt.CommandType) -> None:
    members = layout(dwarf, f"cmd_{ctype.name}").order
    fields = list(wt.COMMAND_FIELDS[ctype])
    if ctype is wt.CommandType.SetAutopilot:
        # tm_port is a member but not in MSGPACK_DEFINE_ARRAY(actor, enabled).
        assert members == [*fields, "tm_port"]
    else:
        assert members == fields
