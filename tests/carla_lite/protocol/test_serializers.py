"""Byte layouts of the stream messages (independent of gdb)."""

from __future__ import annotations

import struct

import msgpack
import numpy as np
import pytest

from carla_lite.geom import Transform, Vector3
from carla_lite.protocol import serializers as ser


def test_sensor_header() -> None:
    raw = ser.sensor_header(13, 42, 1.5, Transform(1, 2, 3, 4, 5, 6))
    assert len(raw) == 48
    assert struct.unpack("<QQd6f", raw) == (13, 42, 1.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)


def test_actor_state_dtype_layout() -> None:
    a = ser.new_actor_states(2)
    assert a.nbytes == 238
    a[0]["id"] = 7
    a[0]["actor_state"] = ser.ACTOR_STATE_ACTIVE
    a[0]["x"], a[0]["yaw"], a[0]["vz"], a[0]["az"] = 1.0, 90.0, 2.0, -9.8
    a[0]["throttle"], a[0]["hand_brake"], a[0]["gear"] = 0.5, 1, 3
    a[0]["speed_limit"], a[0]["traffic_light_id"], a[0]["failure_state"] = 30.0, 99, 2
    raw = a.tobytes()
    assert struct.unpack_from("<IB6f3f3f3f", raw, 0)[:8] == (7, 1, 1.0, 0, 0, 0, 90.0, 0)
    assert struct.unpack_from("<3f", raw, 29)[2] == 2.0
    assert struct.unpack_from("<3f", raw, 53)[2] == pytest.approx(-9.8)
    assert struct.unpack_from("<fff???i", raw, 65) == (0.5, 0, 0, True, False, False, 3)
    assert struct.unpack_from("<fB?IB", raw, 84) == (30.0, 0, False, 99, 2)
    assert raw[119:] == bytes(119)
    # Traffic light and walker views share the union bytes.
    b = ser.new_actor_states(1)
    b[0]["sign_id"] = b"123"
    b[0]["tl_state"] = 2
    b[0]["time_is_frozen"] = 1
    raw = b.tobytes()
    assert raw[65:68] == b"123" and raw[118] == 2 and raw[117] == 1
    w = ser.new_actor_states(1)
    w[0]["walker_dx"], w[0]["walker_speed"], w[0]["walker_jump"] = 1.0, 1.4, 1
    assert struct.unpack_from("<3ff?", w.tobytes(), 65) == (1.0, 0, 0, pytest.approx(1.4), True)


def test_episode_state_message() -> None:
    actors = ser.new_actor_states(3)
    actors["id"] = [1, 2, 3]
    msg = ser.episode_state(10, 0.5, 77, 1234.5, 0.05, 0, actors)
    assert len(msg) == 48 + 36 + 3 * 119
    header = struct.unpack_from("<QQd6f", msg, 0)
    assert header[:3] == (17, 10, 0.5) and header[3:] == (0.0,) * 6
    assert struct.unpack_from("<Qdf3iI", msg, 48) == (77, 1234.5, pytest.approx(0.05), 0, 0, 0, 0)
    assert msg[84:] == actors.tobytes()
    with pytest.raises(ValueError):
        ser.episode_state(1, 0.0, 1, 0.0, 0.05, 0, np.zeros(3, dtype=np.float32))


def test_collision_event() -> None:
    self_actor = [1, 0, [1, "vehicle.a", []], [[0, 0, 0], [1, 1, 1], [0, 0, 0], 1], b"\x0e", b""]
    other = [2, 0, [2, "static.b", []], [[0, 0, 0], [1, 1, 1], [0, 0, 0], 2], b"", b""]
    msg = ser.collision_event(5, 0.25, Transform(), self_actor, other, Vector3(1, 2, 3))
    assert struct.unpack_from("<QQ", msg, 0) == (0, 5)
    body = msgpack.unpackb(msg[48:], raw=False)
    assert body[0][4] == b"\x0e"
    assert body[2] == [1.0, 2.0, 3.0]


def test_image() -> None:
    bgra = bytes(range(4)) * (3 * 2)
    msg = ser.image(ser.SensorType.RGB_CAMERA, 9, 1.0, Transform(), 3, 2, 90.0, bgra)
    assert struct.unpack_from("<Q", msg, 0) == (13,)
    assert struct.unpack_from("<IIf", msg, 48) == (3, 2, 90.0)
    assert msg[60:] == bgra
    with pytest.raises(ValueError):
        ser.image(13, 1, 0.0, Transform(), 3, 2, 90.0, bgra[:-1])
    with pytest.raises(ValueError):
        ser.image(ser.SensorType.LIDAR, 1, 0.0, Transform(), 3, 2, 90.0, bgra)
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    assert len(ser.image(13, 1, 0.0, Transform(), 3, 2, 90.0, arr.tobytes())) == 60 + 24


def test_gnss_imu_obstacle() -> None:
    gnss = ser.gnss_measurement(1, 0.1, Transform(), 48.5, 2.25, 100.0)
    assert struct.unpack_from("<Q", gnss)[0] == 4
    assert msgpack.unpackb(gnss[48:]) == [48.5, 2.25, 100.0]
    imu = ser.imu_measurement(1, 0.1, Transform(), Vector3(0, 0, 9.8), Vector3(), 1.0)
    assert struct.unpack_from("<Q", imu)[0] == 5
    assert msgpack.unpackb(imu[48:]) == [[0.0, 0.0, 9.8], [0.0, 0.0, 0.0], 1.0]
    obst = ser.obstacle_detection_event(1, 0.1, Transform(), [1], [2], 4.5)
    assert struct.unpack_from("<Q", obst)[0] == 7
    assert msgpack.unpackb(obst[48:]) == [[1], [2], 4.5]


def test_lidar_and_radar() -> None:
    pts = np.array([[1, 2, 3, 0.5], [4, 5, 6, 0.25], [7, 8, 9, 1.0]], dtype=np.float32)
    msg = ser.lidar_measurement(3, 0.3, Transform(), 1.5, [2, 1], pts)
    assert struct.unpack_from("<Q", msg)[0] == 11
    angle_bits, channels, c0, c1 = struct.unpack_from("<4I", msg, 48)
    assert struct.unpack("<f", struct.pack("<I", angle_bits))[0] == 1.5
    assert (channels, c0, c1) == (2, 2, 1)
    assert msg[64:] == pts.tobytes()
    with pytest.raises(ValueError):
        ser.lidar_measurement(3, 0.3, Transform(), 1.5, [1, 1], pts)
    sem = np.zeros(2, dtype=ser.SEMANTIC_LIDAR_DETECTION_DTYPE)
    sem["object_tag"] = [14, 1]
    msg = ser.semantic_lidar_measurement(3, 0.3, Transform(), 0.0, [2], sem)
    assert struct.unpack_from("<Q", msg)[0] == 10
    assert len(msg) == 48 + 12 + 48
    det = np.ones((4, 4), dtype=np.float32)
    msg = ser.radar_measurement(3, 0.3, Transform(), det)
    assert struct.unpack_from("<Q", msg)[0] == 9 and len(msg) == 48 + 64
