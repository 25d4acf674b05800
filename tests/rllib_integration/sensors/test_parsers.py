"""Parsers on stand-ins of the carla measurement classes, with the bytes the server sends.

The client's measurement classes cannot be built from Python, so each stand-in carries
the attributes the real class exposes (``raw_data``, ``width``, ``height``...). Buffers are
packed by hand with ``struct`` (layouts from ``carla_lite/protocol/serializers.py`` and the
wheel's DWARF) and, where carla_lite has a serializer, also cut out of its real message.
"""

from __future__ import annotations

import math
import struct
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from carla_lite.geom import Transform, Vector3
from carla_lite.protocol import serializers as ser
from rllib_integration.sensors import sensor as s
from rllib_integration.sensors.sensor_interface import SensorInterface


class RecordingInterface(SensorInterface):
    """A SensorInterface remembering every ``put``, to see what ``callback`` delivers."""

    def __init__(self) -> None:
        super().__init__(timeout=0.1)
        self.puts: list[tuple[str, int, Any]] = []

    def put(self, name: str, frame: int, data: Any) -> None:
        self.puts.append((name, frame, data))
        super().put(name, frame, data)


def bare(cls: type[s.CarlaSensor], name: str = "s") -> Any:
    """An instance of a sensor class without spawning an actor (parsers only)."""
    obj = object.__new__(cls)
    obj.name = name
    obj.sensor = None
    return obj


def body_of(message: bytes, skip: int = 0) -> bytes:
    """The part of a stream message after the 48-byte sensor header (and ``skip`` more)."""
    assert ser.SENSOR_HEADER.size == 48
    return message[48 + skip :]


# ------------------------------------------------------------------------- cameras

W, H = 3, 2


def bgra_pixels() -> bytes:
    """Pixel (row, col) = B=10*row+col, G=100+.., R=200+.., A=255 packed as BGRA."""
    out = bytearray()
    for row in range(H):
        for col in range(W):
            v = 10 * row + col
            out += bytes((v, 100 + v, 200 + v, 255))
    return bytes(out)


@pytest.mark.parametrize(
    "cls",
    [s.CameraRGB, s.CameraDepth, s.CameraSemanticSegmentation, s.CameraInstanceSegmentation],
)
def test_cameras_turn_bgra_into_rgb(cls: type[s.CarlaSensor]) -> None:
    pixels = bgra_pixels()
    # carla.Image.raw_data is the message body after the 12-byte ImageHeader.
    message = ser.image(ser.SensorType.RGB_CAMERA, 7, 0.35, Transform(), W, H, 90.0, pixels)
    raw = body_of(message, ser.IMAGE_HEADER.size)
    assert raw == pixels
    image = bare(cls).parse(SimpleNamespace(raw_data=memoryview(raw), width=W, height=H))
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert image.flags.c_contiguous and image.flags.writeable
    assert image[1, 2].tolist() == [212, 112, 12]  # R, G, B of row 1, col 2
    assert image[0, 0].tolist() == [200, 100, 0]


def test_bgra_to_rgb_copies_and_checks_size() -> None:
    raw = bytearray(bgra_pixels())
    image = s.bgra_to_rgb(raw, W, H)
    raw[0:4] = b"\x00\x00\x00\x00"
    assert image[0, 0].tolist() == [200, 100, 0], "the image must not alias the buffer"
    with pytest.raises(ValueError, match="3x3 BGRA image needs 36 bytes"):
        s.bgra_to_rgb(bytes(24), 3, 3)


def test_dvs_event_layout_and_image() -> None:
    assert s.DVS_EVENT_DTYPE.itemsize == 13  # packed, as the wheel's DWARF says
    raw = b"".join(
        struct.pack("<HHq?", x, y, t, pol)
        for x, y, t, pol in [(0, 1, 1_000, True), (2, 0, -5, False), (1, 1, 2**40, False)]
    )
    events = s.dvs_events(raw)
    assert events["x"].tolist() == [0, 2, 1]
    assert events["t"].tolist() == [1_000, -5, 2**40]
    assert events["pol"].tolist() == [True, False, False]
    sensor = bare(s.CameraDVS)
    assert sensor.is_event_sensor() is True
    image = sensor.parse(SimpleNamespace(raw_data=raw, width=W, height=H))
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert image[1, 0].tolist() == [0, 0, 255]  # positive -> channel 2
    assert image[0, 2].tolist() == [255, 0, 0]  # negative -> channel 0
    assert image[1, 1].tolist() == [255, 0, 0]
    assert int(image.sum()) == 3 * 255


# --------------------------------------------------------------------------- lidars

LIDAR_POINTS = [(1.0, -2.0, 0.5, 0.9), (3.25, 4.0, -1.5, 0.1), (0.0, 0.0, 0.0, 1.0)]


def test_lidar_points_from_the_server_message() -> None:
    records = np.array(LIDAR_POINTS, dtype=np.float32)
    message = ser.lidar_measurement(3, 0.15, Transform(), 1.25, [2, 1], records)
    # u32 header: horizontal angle bits, channel count, points of each of the 2 channels.
    header = struct.unpack_from("<4I", body_of(message))
    assert header[1:] == (2, 2, 1)
    raw = body_of(message, 4 * 4)
    assert raw == b"".join(struct.pack("<4f", *p) for p in LIDAR_POINTS)
    points = bare(s.Lidar).parse(SimpleNamespace(raw_data=raw, channels=2))
    assert points.dtype == np.float32 and points.shape == (3, 4)
    np.testing.assert_array_equal(points, records)
    assert s.lidar_points(b"").shape == (0, 4)


def test_semantic_lidar_keeps_ids_as_uint32() -> None:
    # Ids above 2**24 lose precision as float32 and their bits are not the float's value:
    # exactly what the original's all-float32 parse got wrong.
    rows = [(1.5, -2.0, 0.25, 0.5, 16_777_217, 10), (0.0, 1.0, 2.0, -1.0, 4_294_967_295, 24)]
    raw = b"".join(struct.pack("<4f2I", *r) for r in rows)
    records = np.array(rows, dtype=ser.SEMANTIC_LIDAR_DETECTION_DTYPE)
    message = ser.semantic_lidar_measurement(3, 0.15, Transform(), 0.0, [2], records)
    assert body_of(message, 3 * 4) == raw
    assert s.SEMANTIC_LIDAR_DTYPE.itemsize == 24
    assert ser.SEMANTIC_LIDAR_DETECTION_DTYPE.newbyteorder("=") == s.SEMANTIC_LIDAR_DTYPE
    points = bare(s.SemanticLidar).parse(SimpleNamespace(raw_data=raw))
    assert points.shape == (2,)
    assert points.dtype.names == ("x", "y", "z", "cos_inc_angle", "object_idx", "object_tag")
    for field in ("x", "y", "z", "cos_inc_angle"):
        assert points.dtype[field] == np.float32
    assert points["object_idx"].dtype == np.uint32
    assert points["object_idx"].tolist() == [16_777_217, 4_294_967_295]
    assert points["object_tag"].tolist() == [10, 24]
    assert points["x"].tolist() == [1.5, 0.0]
    assert points["cos_inc_angle"].tolist() == [0.5, -1.0]


def test_radar_columns_are_depth_altitude_azimuth_velocity() -> None:
    assert s.RADAR_COLUMNS == ("depth", "altitude", "azimuth", "velocity")
    wire = [(-3.5, 0.1, -0.2, 42.0), (1.0, -0.3, 0.05, 7.5)]  # velocity, azimuth, altitude, depth
    records = np.array(wire, dtype=ser.RADAR_DETECTION_DTYPE)
    raw = body_of(ser.radar_measurement(5, 0.25, Transform(), records))
    assert raw == b"".join(struct.pack("<4f", *d) for d in wire)
    out = bare(s.Radar).parse(SimpleNamespace(raw_data=raw))
    assert out.dtype == np.float32 and out.shape == (2, 4)
    expected = np.array([[d[3], d[2], d[1], d[0]] for d in wire], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    assert out[0, s.RADAR_COLUMNS.index("velocity")] == np.float32(-3.5)
    assert s.radar_detections(b"").shape == (0, 4)


# ------------------------------------------------------------------- gnss / imu


def test_gnss_and_imu_arrays() -> None:
    gnss = bare(s.Gnss).parse(SimpleNamespace(latitude=48.1, longitude=-11.5, altitude=512.25))
    assert gnss.dtype == np.float64
    assert gnss.tolist() == [48.1, -11.5, 512.25]
    v = SimpleNamespace
    imu = bare(s.Imu).parse(
        SimpleNamespace(
            accelerometer=v(x=0.1, y=-9.81, z=0.3),
            gyroscope=v(x=-0.01, y=0.02, z=1.5),
            compass=math.pi / 2,
        )
    )
    assert imu.dtype == np.float64
    assert imu.tolist() == [0.1, -9.81, 0.3, -0.01, 0.02, 1.5, math.pi / 2]


# ------------------------------------------------------------------------- events


def test_event_parsers() -> None:
    other = object()
    collision = bare(s.Collision)
    assert collision.is_event_sensor()
    out = collision.parse(
        SimpleNamespace(other_actor=other, normal_impulse=Vector3(3.0, 0.0, -4.0))
    )
    assert out[0] is other and out[1] == pytest.approx(5.0)

    obstacle = bare(s.Obstacle)
    assert obstacle.is_event_sensor()
    assert obstacle.parse(SimpleNamespace(other_actor=other, distance=2.5)) == [other, 2.5]

    lane = bare(s.LaneInvasion)
    assert lane.is_event_sensor()
    transform, markings = object(), ("solid", "broken")
    assert lane.parse(SimpleNamespace(transform=transform, crossed_lane_markings=markings)) == [
        transform,
        ["solid", "broken"],
    ]
    for cls in (s.CameraRGB, s.Lidar, s.SemanticLidar, s.Radar, s.Gnss, s.Imu):
        assert bare(cls).is_event_sensor() is False


def test_collision_keeps_the_first_event_of_a_frame() -> None:
    interface = RecordingInterface()
    sensor = bare(s.Collision, "collision")
    sensor.interface = interface
    sensor._last_event_frame = -1
    interface.register("collision", sensor)
    for frame, impulse in [(4, 1.0), (4, 2.0), (5, 3.0), (5, 4.0), (9, 5.0)]:
        sensor.callback(
            SimpleNamespace(frame=frame, other_actor=None, normal_impulse=Vector3(impulse, 0, 0))
        )
    assert [(frame, data[1]) for _, frame, data in interface.puts] == [
        (4, 1.0),
        (5, 3.0),
        (9, 5.0),
    ]


# ---------------------------------------------------------------------- transform


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0,0,0,0,0,0", (0.0,) * 6),
        (" 1.5, -2, 3 ,10,20,-30 ", (1.5, -2.0, 3.0, 10.0, 20.0, -30.0)),
        ([1, 2, 3, 4, 5, 6], (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)),
        ((0.5, "1", 2, 0, 0, 90), (0.5, 1.0, 2.0, 0.0, 0.0, 90.0)),
    ],
)
def test_parse_transform(value: Any, expected: tuple[float, ...]) -> None:
    assert s.parse_transform(value, "cam") == expected


@pytest.mark.parametrize(
    "value",
    ["1,2,3", "1,2,3,4,5,6,7", "1,2,x,4,5,6", [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, True], 7,
     None, "nan,0,0,0,0,0", [1, 2, 3, 4, 5, [6]]],
)  # fmt: skip
def test_parse_transform_rejects(value: Any) -> None:
    from rllib_integration.errors import ConfigError

    with pytest.raises(ConfigError, match=r"sensor 'cam': transform must be \"x,y,z,roll"):
        s.parse_transform(value, "cam")


# ---------------------------------------------------------------- destroy on fakes


class FakeActor:
    def __init__(self, stop_error: Exception | None = None, destroy_error: Exception | None = None):
        self.stop_error, self.destroy_error = stop_error, destroy_error
        self.calls: list[str] = []

    def stop(self) -> None:
        self.calls.append("stop")
        if self.stop_error:
            raise self.stop_error

    def destroy(self) -> bool:
        self.calls.append("destroy")
        if self.destroy_error:
            raise self.destroy_error
        return True


@pytest.mark.parametrize(
    ("stop_error", "destroy_error"),
    [
        (None, None),
        (RuntimeError("actor already destroyed"), None),
        (None, RuntimeError("time-out of 10000ms while waiting for the simulator")),
        (RuntimeError("dead"), RuntimeError("dead")),
    ],
)
def test_destroy_stops_then_destroys_once_and_never_raises(
    stop_error: Exception | None, destroy_error: Exception | None
) -> None:
    sensor = bare(s.CameraRGB, "cam")
    actor = FakeActor(stop_error, destroy_error)
    sensor.sensor = actor
    sensor.destroy()
    sensor.destroy()
    assert actor.calls == ["stop", "destroy"]
    assert sensor.sensor is None


def test_reexports_the_base_classes() -> None:
    from rllib_integration.sensors import base

    assert s.BaseSensor is base.BaseSensor
    assert s.PseudoSensor is base.PseudoSensor
    assert issubclass(s.CarlaSensor, base.BaseSensor)
