"""End to end with the official ``carla==0.9.16`` client and no world behind the server.

RpcServer + StreamServer answer only what ``get_world()`` needs and broadcast episode
states on stream 1; a client in a subprocess reads a snapshot back. This proves the
RPC framing, the token, the stream framing and the sensor/episode/actor layouts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from carla_lite.protocol import serializers as ser
from carla_lite.protocol import wire_types as wt
from carla_lite.protocol.rpc_server import RpcServer
from carla_lite.protocol.streaming import StreamServer

EPISODE_ID = 123456789
FIRST_FRAME = 1000
DT = 0.05
SPECTATOR = 1
VEHICLE = 24


def _actor_states() -> Any:
    actors = ser.new_actor_states(2)
    actors["actor_state"] = ser.ACTOR_STATE_ACTIVE
    actors[0]["id"] = SPECTATOR
    actors[0]["x"], actors[0]["y"], actors[0]["z"] = 10.5, -20.25, 30.0
    actors[0]["pitch"], actors[0]["yaw"], actors[0]["roll"] = -90.0, 45.0, 0.0
    v = actors[1]
    v["id"] = VEHICLE
    v["x"], v["y"], v["z"], v["yaw"] = 1.0, 2.0, 0.5, -135.0
    v["vx"], v["vy"], v["vz"] = 3.0, 4.0, 0.0
    v["wz"] = 12.5
    v["ax"] = -1.5
    v["throttle"], v["steer"], v["gear"] = 0.75, -0.25, 2
    v["speed_limit"] = 50.0
    return actors


class _World:
    """Broadcasts one episode state per tick until stopped."""

    def __init__(self, streams: StreamServer) -> None:
        self.streams = streams
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.actors = _actor_states()

    def _run(self) -> None:
        if not self.streams.wait_for_subscriber(1, 30.0):
            return
        k = 0
        while not self.stop.is_set():
            frame = FIRST_FRAME + k
            msg = ser.episode_state(frame, k * DT, EPISODE_ID, 1e9 + k, DT, 0, self.actors)
            self.streams.publish(1, msg)
            k += 1
            self.stop.wait(0.02)


@pytest.fixture
def servers() -> Iterator[tuple[RpcServer, StreamServer]]:
    streams = StreamServer("127.0.0.1", 0)
    streams.start()
    handlers: dict[str, Callable[..., Any]] = {
        "version": lambda: wt.ok("0.9.16"),
        "get_episode_info": lambda: wt.ok([EPISODE_ID, [streams.make_token(1)]]),
        "get_sensor_token": lambda stream_id: wt.ok([streams.make_token(stream_id)]),
        "get_episode_settings": lambda: wt.ok(wt.EpisodeSettings().to_wire()),
        "query_lights_state": lambda endpoint: wt.ok([]),
        "get_required_files": lambda folder="", download=True: wt.ok([]),
    }
    rpc = RpcServer("127.0.0.1", 0, handlers, lock=threading.Lock())
    rpc.start()
    world = _World(streams)
    world.thread.start()
    try:
        yield rpc, streams
    finally:
        world.stop.set()
        world.thread.join(timeout=5)
        rpc.stop()
        streams.stop()


CLIENT_SCRIPT = """
import json, sys
import carla
client = carla.Client("127.0.0.1", int(sys.argv[1]))
client.set_timeout(10.0)
world = client.get_world()
snap = world.get_snapshot()
out = {
    "version": client.get_server_version(),
    "world_id": world.id,
    "frame": snap.frame,
    "elapsed": snap.timestamp.elapsed_seconds,
    "delta": snap.timestamp.delta_seconds,
    "platform": snap.timestamp.platform_timestamp,
    "ids": sorted(a.id for a in snap),
    "settings_sync": world.get_settings().synchronous_mode,
}
for a in snap:
    t = a.get_transform()
    v = a.get_velocity()
    w = a.get_angular_velocity()
    acc = a.get_acceleration()
    out[str(a.id)] = [t.location.x, t.location.y, t.location.z,
                      t.rotation.pitch, t.rotation.yaw, t.rotation.roll,
                      v.x, v.y, v.z, w.z, acc.x]
print("RESULT " + json.dumps(out))
"""


def test_real_client_reads_snapshot(servers: tuple[RpcServer, StreamServer]) -> None:
    rpc, _streams = servers
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CLIENT_SCRIPT), str(rpc.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, (
        f"client failed rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["version"] == "0.9.16"
    assert out["world_id"] == EPISODE_ID
    assert out["frame"] >= FIRST_FRAME
    k = out["frame"] - FIRST_FRAME
    assert out["elapsed"] == pytest.approx(k * DT)
    assert out["delta"] == pytest.approx(DT)
    assert out["platform"] == pytest.approx(1e9 + k)
    assert out["ids"] == [SPECTATOR, VEHICLE]
    assert out["settings_sync"] is False
    assert out[str(SPECTATOR)] == pytest.approx(
        [10.5, -20.25, 30.0, -90.0, 45.0, 0.0, 0, 0, 0, 0, 0], abs=1e-5
    )
    assert out[str(VEHICLE)] == pytest.approx(
        [1.0, 2.0, 0.5, 0.0, -135.0, 0.0, 3.0, 4.0, 0.0, 12.5, -1.5], abs=1e-5
    )
    assert rpc.unknown_methods == []
    for name in ("version", "get_episode_info", "get_sensor_token", "get_episode_settings"):
        assert rpc.call_log[name] >= 1, name


# ---------------------------------------------------------------------------------
# Sensors: blueprint library, spawn_actor, listen, and one message per sensor type.
# ---------------------------------------------------------------------------------

_BLUEPRINTS = {
    "sensor.camera.rgb": "sensor,camera",
    "sensor.other.collision": "sensor,other",
    "sensor.other.gnss": "sensor,other",
    "sensor.other.imu": "sensor,other",
    "sensor.other.obstacle": "sensor,other",
    "vehicle.test.car": "vehicle,car",
}
_FIRST_SENSOR_ID = 100


class _SensorWorld(_World):
    """Spawns actors on request and lists them in every episode state."""

    def __init__(self, streams: StreamServer) -> None:
        super().__init__(streams)
        self.spawned: dict[int, tuple[wt.ActorDescription, int]] = {}
        self.lock = threading.Lock()

    def actor_wire(self, actor_id: int) -> Any:
        desc, stream = self.spawned[actor_id]
        from carla_lite.geom import BoundingBox, Vector3

        token = self.streams.make_token(stream) if stream else b""
        bb = BoundingBox(Vector3(0, 0, 0.7), Vector3(2.0, 1.0, 0.7))
        return wt.actor_to_wire(actor_id, 0, desc, bb, b"\x0e", token)

    def spawn(self, raw_desc: Any, raw_tf: Any) -> Any:
        desc = wt.actor_description_from_wire(raw_desc)
        wt.transform_from_wire(raw_tf)
        with self.lock:
            actor_id = _FIRST_SENSOR_ID + len(self.spawned)
            stream = actor_id if desc.id.startswith("sensor.") else 0
            self.spawned[actor_id] = (desc, stream)
            states = ser.new_actor_states(2 + len(self.spawned))
            states[:2] = _actor_states()
            states["id"][2:] = sorted(self.spawned)
            states["actor_state"] = ser.ACTOR_STATE_ACTIVE
            self.actors = states
        return wt.ok(self.actor_wire(actor_id))


def _definitions() -> Any:
    defs = []
    for uid, (bp_id, tags) in enumerate(_BLUEPRINTS.items(), start=1):
        attrs = [("role_name", 4, "", (), True, False)]
        if bp_id == "sensor.camera.rgb":
            attrs.append(("image_size_x", 2, "4", (), True, False))
            attrs.append(("image_size_y", 2, "3", (), True, False))
        defs.append(wt.actor_definition_to_wire(uid, bp_id, tags, attrs))
    return wt.ok(defs)


SENSOR_SCRIPT = """
import json, queue, sys, time
import carla
client = carla.Client("127.0.0.1", int(sys.argv[1]))
client.set_timeout(10.0)
world = client.get_world()
lib = world.get_blueprint_library()
out = {"blueprints": sorted(bp.id for bp in lib)}
car = world.spawn_actor(lib.find("vehicle.test.car"), carla.Transform())
out["car"] = [car.id, car.type_id, car.bounding_box.extent.x]
q = {}
sensors = []
for name in ("rgb", "collision", "gnss", "imu", "obstacle"):
    bp_id = {"rgb": "sensor.camera.rgb", "collision": "sensor.other.collision",
             "gnss": "sensor.other.gnss", "imu": "sensor.other.imu",
             "obstacle": "sensor.other.obstacle"}[name]
    bp = lib.find(bp_id)
    if name == "rgb":
        bp.set_attribute("image_size_x", "4")
    s = world.spawn_actor(bp, carla.Transform(carla.Location(x=1.0)))
    q[name] = queue.Queue()
    s.listen(q[name].put)
    sensors.append(s)
img = q["rgb"].get(timeout=10)
out["rgb"] = [img.frame, img.timestamp, img.width, img.height, img.fov,
              list(bytes(img.raw_data)[:8]), img.transform.location.x]
ev = q["collision"].get(timeout=10)
out["collision"] = [ev.frame, ev.other_actor.type_id, ev.other_actor.id,
                    ev.normal_impulse.x, ev.normal_impulse.z]
g = q["gnss"].get(timeout=10)
out["gnss"] = [g.latitude, g.longitude, g.altitude]
m = q["imu"].get(timeout=10)
out["imu"] = [m.accelerometer.z, m.gyroscope.x, m.compass]
o = q["obstacle"].get(timeout=10)
out["obstacle"] = [o.other_actor.type_id, o.distance]
for s in sensors:
    s.stop()
# The client's stream sockets close asynchronously; exiting while they do sometimes
# aborts the process in libcarla's teardown ("terminate called without an active
# exception"), a client-side race unrelated to the data checked here.
time.sleep(0.5)
print("RESULT " + json.dumps(out))
"""


def test_real_client_sensor_messages() -> None:
    from carla_lite.geom import BoundingBox, Transform, Vector3

    streams = StreamServer("127.0.0.1", 0)
    streams.start()
    world = _SensorWorld(streams)
    handlers: dict[str, Callable[..., Any]] = {
        "version": lambda: wt.ok("0.9.16"),
        "get_episode_info": lambda: wt.ok([EPISODE_ID, [streams.make_token(1)]]),
        "get_sensor_token": lambda stream_id: wt.ok([streams.make_token(stream_id)]),
        "get_episode_settings": lambda: wt.ok(wt.EpisodeSettings().to_wire()),
        "query_lights_state": lambda endpoint: wt.ok([]),
        "get_required_files": lambda folder="", download=True: wt.ok([]),
        "get_actor_definitions": _definitions,
        "spawn_actor": world.spawn,
        "get_actor_bounding_box": lambda actor_id: wt.ok(
            wt.bbox_to_wire(BoundingBox(Vector3(0, 0, 0.7), Vector3(2.0, 1.0, 0.7)))
        ),
    }
    rpc = RpcServer("127.0.0.1", 0, handlers, lock=threading.Lock())
    rpc.start()
    world.thread.start()
    car_id = _FIRST_SENSOR_ID
    sensor_ids = range(_FIRST_SENSOR_ID + 1, _FIRST_SENSOR_ID + 6)

    def publish_sensors() -> None:
        for stream in sensor_ids:
            if not streams.wait_for_subscriber(stream, 30.0):
                return
        tf = Transform(1.0, 0, 0)
        car = world.actor_wire(car_id)
        other = wt.actor_to_wire(
            7,
            0,
            wt.ActorDescription(0, "static.prop.box", {}),
            BoundingBox(Vector3(), Vector3(0.5, 0.5, 0.5)),
            b"\x05",
            b"",
        )
        rgb, coll, gnss, imu, obst = sensor_ids
        streams.publish(rgb, ser.image(13, 2000, 5.0, tf, 4, 3, 90.0, bytes(range(48))))
        streams.publish(coll, ser.collision_event(2001, 5.05, tf, car, other, Vector3(7, 0, -2)))
        streams.publish(gnss, ser.gnss_measurement(2002, 5.1, tf, 48.25, 2.5, 35.0))
        streams.publish(
            imu, ser.imu_measurement(2003, 5.15, tf, Vector3(0, 0, 9.81), Vector3(0.5), 1.25)
        )
        streams.publish(obst, ser.obstacle_detection_event(2004, 5.2, tf, car, other, 12.5))

    publisher = threading.Thread(target=publish_sensors, daemon=True)
    publisher.start()
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(SENSOR_SCRIPT), str(rpc.port)],
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        world.stop.set()
        world.thread.join(timeout=5)
        publisher.join(timeout=5)
        rpc.stop()
        streams.stop()
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, (
        f"client failed rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["blueprints"] == sorted(_BLUEPRINTS)
    assert out["car"] == [car_id, "vehicle.test.car", pytest.approx(2.0)]
    assert out["rgb"][:5] == [2000, pytest.approx(5.0), 4, 3, pytest.approx(90.0)]
    assert out["rgb"][5] == [0, 1, 2, 255, 4, 5, 6, 255]  # BGRA; alpha forced to 255
    assert out["rgb"][6] == pytest.approx(1.0)
    assert out["collision"] == [2001, "static.prop.box", 7, pytest.approx(7.0), pytest.approx(-2.0)]
    assert out["gnss"] == pytest.approx([48.25, 2.5, 35.0])
    assert out["imu"] == pytest.approx([9.81, 0.5, 1.25])
    assert out["obstacle"] == ["static.prop.box", pytest.approx(12.5)]
    assert rpc.unknown_methods == []
