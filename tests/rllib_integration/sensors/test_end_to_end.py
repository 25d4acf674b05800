"""Sensors through the official carla client against carla_lite.

carla_lite streams every server-side sensor (cameras, LiDARs, radar, GNSS, IMU, collision,
obstacle); the client computes lane invasions. Every scenario runs in a client subprocess
(the official client can abort its process).
"""

from __future__ import annotations

from pathlib import Path

from carla_lite.sensors.registry import SENSOR_CLASSES
from tests.conftest import ServerProcess, run_client

# Indented like the scenario bodies, which are dedented together.
PRELUDE = """
        from rllib_integration.errors import ConfigError, SensorTimeoutError
        from rllib_integration.sensors.factory import SensorFactory, SUPPORTED_TYPES
        from rllib_integration.sensors.sensor_interface import SensorInterface
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        spawn_points = world.get_map().get_spawn_points()
        hero_bp = lib.find("vehicle.lincoln.mkz_2017")
        hero_bp.set_attribute("role_name", "hero")
        hero = world.spawn_actor(hero_bp, spawn_points[0])
        interface = SensorInterface(timeout=2.0)
        world.tick()

        def sensor_actors():
            return {a.attributes.get("role_name"): a for a in world.get_actors().filter("sensor.*")}

        def drive(control, ticks, name):
            hero.apply_control(control)
            for _ in range(ticks):
                frame = world.tick()
                data = interface.get_data(frame)
                if name in data:
                    return frame, data
            time.sleep(0.3)  # an event of the last tick may still be on its way
            return frame, interface.get_data(frame)
"""


def test_collision_with_a_parked_car(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        PRELUDE
        + """
        t = spawn_points[0]
        target = world.spawn_actor(
            lib.find("vehicle.carlamotors.carlacola"),
            carla.Transform(t.location + t.get_forward_vector() * 15.0, t.rotation))
        config = {"type": "sensor.other.collision"}
        sensor = SensorFactory.spawn("collision", config, interface, hero)
        result["config"] = config
        result["class"] = type(sensor).__name__
        world.tick()  # new actors show in get_actors() from the next snapshot on
        actor = sensor_actors()["collision"]
        result["parent"] = actor.parent.id == hero.id
        tick_frame, data = drive(carla.VehicleControl(throttle=1.0), 80, "collision")
        frame, (other, impulse) = data["collision"]
        result["event"] = [frame, tick_frame, other.id, other.type_id, impulse]
        result["target"] = target.id
        later = []
        for _ in range(10):
            f = world.tick()
            got = interface.get_data(f).get("collision")
            if got:
                later.append(got[0])
        time.sleep(0.2)
        got = interface.get_data(world.tick()).get("collision")
        later += [got[0]] if got else []
        result["later"] = later
        interface.destroy()
        world.tick()
        result["left"] = list(sensor_actors())
        """,
    )
    assert result["class"] == "Collision"
    assert result["config"] == {"type": "sensor.other.collision"}, "the caller's dict is kept"
    assert result["parent"] is True
    frame, tick_frame, other_id, other_type, impulse = result["event"]
    assert other_id == result["target"]
    assert other_type == "vehicle.carlamotors.carlacola"
    assert impulse > 0
    assert frame <= tick_frame
    # Pushing on into the truck raises more events, but each frame's comes out once.
    later = result["later"]
    assert all(f > frame for f in later)
    assert len(later) == len(set(later))
    assert result["left"] == []


def test_lane_invasion_when_crossing_the_centre_line(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        PRELUDE
        + """
        SensorFactory.spawn("lane", {"type": "sensor.other.lane_invasion"}, interface, hero)
        tick_frame, data = drive(carla.VehicleControl(throttle=0.4, steer=-0.3), 60, "lane")
        frame, (transform, markings) = data["lane"]
        result["frame"] = [frame, tick_frame]
        result["transform"] = [type(transform).__name__,
                               transform.location.distance(hero.get_transform().location)]
        result["markings"] = [str(m.type) for m in markings]
        result["is_list"] = isinstance(markings, list)
        interface.destroy()
        """,
    )
    frame, tick_frame = result["frame"]
    assert frame <= tick_frame
    assert result["transform"][0] == "Transform"
    assert result["transform"][1] < 5.0, "the event carries the hero's transform"
    assert result["is_list"] is True
    assert result["markings"], "crossing the centre line reports its marking"


def test_every_sensor_type_spawns_attached_and_is_destroyed(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        PRELUDE
        + """
        configs = {
            "rgb": {"type": "sensor.camera.rgb", "image_size_x": 84, "image_size_y": 84,
                    "fov": 90.0, "transform": "1.5,0,2.4,0,-15,0"},
            "depth": {"type": "sensor.camera.depth", "image_size_x": "64"},
            "semantic": {"type": "sensor.camera.semantic_segmentation"},
            "instance": {"type": "sensor.camera.instance_segmentation"},
            "dvs": {"type": "sensor.camera.dvs", "use_log": True},
            "lidar": {"type": "sensor.lidar.ray_cast", "channels": 16, "range": 50,
                      "transform": [0, 0, 2.5, 0, 0, 90]},
            "semantic_lidar": {"type": "sensor.lidar.ray_cast_semantic"},
            "radar": {"type": "sensor.other.radar", "horizontal_fov": 35},
            "gnss": {"type": "sensor.other.gnss", "noise_lat_stddev": 0.0},
            "imu": {"type": "sensor.other.imu"},
            "lane": {"type": "sensor.other.lane_invasion"},
            "collision": {"type": "sensor.other.collision"},
            "obstacle": {"type": "sensor.other.obstacle", "distance": 10},
        }
        result["covers"] = sorted(c["type"] for c in configs.values())
        result["types"] = {n: c["type"] for n, c in configs.items()}
        result["supported"] = sorted(t for t in SUPPORTED_TYPES if t != "sensor.birdview")
        sensors = {n: SensorFactory.spawn(n, c, interface, hero) for n, c in configs.items()}
        result["classes"] = {n: type(x).__name__ for n, x in sensors.items()}
        frame = world.tick()
        actors = sensor_actors()
        result["spawned"] = {n: [a.type_id, a.parent.id == hero.id] for n, a in actors.items()}
        result["listening"] = [n for n, x in sensors.items() if x.sensor.is_listening()]
        result["rgb_attrs"] = [actors["rgb"].attributes[k] for k in ("image_size_x", "fov")]
        expected = hero.get_transform().transform(carla.Location(1.5, 0, 2.4))
        rgb_tf = actors["rgb"].get_transform()
        result["rgb_offset"] = rgb_tf.location.distance(expected)
        result["rgb_pitch"] = rgb_tf.rotation.pitch
        lidar_yaw = actors["lidar"].get_transform().rotation.yaw
        result["lidar_yaw"] = (lidar_yaw - hero.get_transform().rotation.yaw) % 360
        interface.timeout = 0.3
        try:
            interface.get_data(frame)
            result["timeout"] = None
        except SensorTimeoutError as e:
            result["timeout"] = str(e)
        # An actor already gone (destroyed elsewhere, or with a dead server) is tolerated.
        result["external_destroy"] = sensors["imu"].sensor.destroy()
        interface.destroy()
        interface.destroy()
        world.tick()
        result["left"] = list(sensor_actors())
        result["handles"] = [n for n, x in sensors.items() if x.sensor is not None]
        result["hero_alive"] = hero.is_alive
        """,
    )
    assert result["covers"] == result["supported"], "every CARLA type of the factory is tried"
    assert result["classes"]["semantic_lidar"] == "SemanticLidar"
    assert result["classes"]["dvs"] == "CameraDVS"
    assert set(result["spawned"]) == set(result["classes"]), "role_name is the sensor name"
    for name, (type_id, attached) in result["spawned"].items():
        assert attached, f"{name} must be attached to the hero"
        assert type_id.startswith("sensor.")
    assert sorted(result["listening"]) == sorted(result["classes"])
    assert result["rgb_attrs"] == ["84", "90.0"]
    assert result["rgb_offset"] < 1e-3
    assert abs(result["rgb_pitch"] - -15.0) < 1e-3
    assert abs(result["lidar_yaw"] - 90.0) < 1e-3
    # Every regular sensor delivers the tick's frame; events (and sensors carla_lite does
    # not simulate) are never waited for.
    late = set()
    if result["timeout"] is not None:
        late = set(result["timeout"].split(" sent ")[0].split("(s) ")[1].split(", "))
    silent = {n for n, t in result["types"].items() if t not in SENSOR_CLASSES}
    assert late <= silent - {"dvs", "lane", "collision", "obstacle"}, result["timeout"]
    assert result["external_destroy"] is True
    assert result["left"] == []
    assert result["handles"] == []
    assert result["hero_alive"] is True


def test_config_errors_with_real_blueprints(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        PRELUDE
        + """
        from rllib_integration.sensors.sensor import CameraRGB
        errors = {}
        bad = {
            "typo": {"type": "sensor.camera.rbg"},
            "attr": {"type": "sensor.camera.rgb", "image_sise_x": 84},
            "int": {"type": "sensor.camera.rgb", "image_size_x": "wide"},
            "float": {"type": "sensor.camera.rgb", "fov": "ninety"},
            "bool": {"type": "sensor.camera.dvs", "use_log": "maybe"},
            "transform": {"type": "sensor.camera.rgb", "transform": "1,2,3"},
            "unsupported": {"type": "sensor.camera.thermal"},
        }
        for key, config in bad.items():
            try:
                SensorFactory.spawn("front", config, interface, hero)
                errors[key] = None
            except ConfigError as e:
                errors[key] = str(e)
        try:
            CameraRGB("front", {"type": "sensor.camera.rbg"}, interface, hero)
        except ConfigError as e:
            errors["class_typo"] = str(e)
        SensorFactory.spawn("front", {"type": "sensor.camera.rgb"}, interface, hero)
        try:
            SensorFactory.spawn("front", {"type": "sensor.other.collision"}, interface, hero)
            errors["duplicate"] = None
        except ConfigError as e:
            errors["duplicate"] = str(e)
        world.tick()
        result["errors"] = errors
        result["actors"] = sorted(a.type_id for a in sensor_actors().values())
        result["registered"] = sorted(interface.sensors)
        interface.destroy()
        """,
    )
    errors = result["errors"]
    assert all(errors.values()), errors
    assert all("'front'" in message for message in errors.values())
    assert "sensor.camera.rbg" in errors["typo"] and "sensor.camera.rgb" in errors["typo"]
    assert "sensor.camera.rgb" in errors["class_typo"]
    assert "'image_sise_x'" in errors["attr"]
    assert "image_size_x" in errors["attr"] and "lens_circle_falloff" in errors["attr"]
    assert "'image_size_x'" in errors["int"] and "'wide'" in errors["int"]
    assert "'fov'" in errors["float"] and "'ninety'" in errors["float"]
    assert "'use_log'" in errors["bool"] and "'maybe'" in errors["bool"]
    assert "x,y,z,roll,pitch,yaw" in errors["transform"]
    assert "sensor.other.collision" in errors["unsupported"]
    assert "already registered" in errors["duplicate"]
    # Nothing half-built is left behind: only the one good camera exists.
    assert result["actors"] == ["sensor.camera.rgb"]
    assert result["registered"] == ["front"]


def test_destroy_after_the_server_died_does_not_raise(tmp_path: Path) -> None:
    # Not the ``server`` fixture: that one asserts the server is still alive at the end.
    proc = ServerProcess(tmp_path)
    body = f"""
        import os, signal
        sensors = [SensorFactory.spawn(n, {{"type": t}}, interface, hero)
                   for n, t in [("cam", "sensor.camera.rgb"), ("hit", "sensor.other.collision")]]
        world.tick()
        client.set_timeout(2.0)
        os.kill({proc.process.pid}, signal.SIGKILL)
        time.sleep(0.5)
        start = time.monotonic()
        interface.destroy()
        interface.destroy()
        result["seconds"] = time.monotonic() - start
        result["handles"] = [s.sensor is None for s in sensors]
    """
    try:
        result = run_client(proc.port, PRELUDE + body)
    finally:
        proc.stop()
    assert result["handles"] == [True, True]
    assert result["seconds"] < 30.0
