"""Sensor lifecycle through the official client: streams, parents, first frames."""

from __future__ import annotations

from tests.conftest import ServerProcess, run_client


def test_sensors_are_destroyed_with_their_parent(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        car = world.spawn_actor(lib.find("vehicle.tesla.model3"),
                                world.get_map().get_spawn_points()[0])
        sensors = [world.spawn_actor(lib.find(bp), carla.Transform(), attach_to=car)
                   for bp in ("sensor.other.collision", "sensor.camera.rgb",
                              "sensor.other.lane_invasion")]
        world.tick()
        result["before"] = sorted(a.id for a in world.get_actors().filter("sensor.*"))
        result["sensor_ids"] = sorted(x.id for x in sensors)
        result["destroyed"] = car.destroy()
        world.tick()
        result["after"] = sorted(a.id for a in world.get_actors().filter("sensor.*"))
        """,
    )
    assert result["before"] == result["sensor_ids"]
    assert result["destroyed"] is True
    assert result["after"] == [], "attached sensors go with their parent"
    assert server.unknown_rpcs() == []


def test_seven_sensors_on_one_car_are_on_the_ticks_frame_every_tick(
    server: ServerProcess,
) -> None:
    result = run_client(
        server.port,
        """
        import queue
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        car = world.spawn_actor(lib.find("vehicle.tesla.model3"),
                                world.get_map().get_spawn_points()[0])
        specs = [
            ("sensor.camera.rgb", {"image_size_x": "96", "image_size_y": "64"}),
            ("sensor.camera.depth", {"image_size_x": "64", "image_size_y": "48"}),
            ("sensor.camera.semantic_segmentation", {"image_size_x": "64", "image_size_y": "48"}),
            ("sensor.lidar.ray_cast", {"channels": "16", "points_per_second": "20000"}),
            ("sensor.lidar.ray_cast_semantic", {"channels": "8", "points_per_second": "10000"}),
            ("sensor.other.radar", {"points_per_second": "1500"}),
            ("sensor.other.radar", {"horizontal_fov": "90", "points_per_second": "1500"}),
        ]
        inbox = queue.Queue()
        sensors = []
        for i, (bp_id, attributes) in enumerate(specs):
            bp = lib.find(bp_id)
            for key, value in attributes.items():
                bp.set_attribute(key, value)
            sensor = world.spawn_actor(bp, carla.Transform(carla.Location(x=1.5, z=2.4)),
                                       attach_to=car)
            sensor.listen(lambda data, i=i: inbox.put((i, data.frame, type(data).__name__)))
            sensors.append(sensor)
        mismatches = []
        kinds = set()
        for _ in range(40):
            frame = world.tick()
            got = {}
            for _ in specs:
                i, data_frame, kind = inbox.get(timeout=5.0)
                got[i] = data_frame
                kinds.add(kind)
            if sorted(got) != list(range(len(specs))) or set(got.values()) != {frame}:
                mismatches.append([frame, got])
        result["mismatches"] = mismatches
        result["kinds"] = sorted(kinds)
        result["left_over"] = inbox.qsize()
        for sensor in sensors:
            sensor.stop()
            sensor.destroy()
        """,
    )
    assert result["mismatches"] == [], "each sensor sends exactly one message per tick, that tick's"
    assert result["left_over"] == 0
    assert result["kinds"] == [
        "Image",
        "LidarMeasurement",
        "RadarMeasurement",
        "SemanticLidarMeasurement",
    ]
    assert server.unknown_rpcs() == []


def test_a_walker_shows_in_the_semantic_camera_and_the_semantic_lidar(
    server: ServerProcess,
) -> None:
    result = run_client(
        server.port,
        """
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        start = world.get_map().get_spawn_points()[0]
        f = start.get_forward_vector()
        car = world.spawn_actor(lib.find("vehicle.tesla.model3"), start)
        walker_tf = carla.Transform(start.location + f * 8.0 + carla.Location(z=1.0),
                                    start.rotation)
        walker = world.spawn_actor(lib.find("walker.pedestrian.0001"), walker_tf)
        inbox = queue.Queue()
        camera_bp = lib.find("sensor.camera.semantic_segmentation")
        camera_bp.set_attribute("image_size_x", "160")
        camera_bp.set_attribute("image_size_y", "120")
        camera = world.spawn_actor(camera_bp, carla.Transform(carla.Location(x=1.5, z=1.2)),
                                   attach_to=car)
        camera.listen(lambda image: inbox.put(("camera", image)))
        lidar_bp = lib.find("sensor.lidar.ray_cast_semantic")
        lidar_bp.set_attribute("points_per_second", "200000")
        lidar_bp.set_attribute("upper_fov", "5")
        lidar_bp.set_attribute("lower_fov", "-25")
        lidar = world.spawn_actor(lidar_bp, carla.Transform(carla.Location(z=1.8)), attach_to=car)
        lidar.listen(lambda data: inbox.put(("lidar", data)))
        for _ in range(3):
            frame = world.tick()
        got = {}
        while len(got) < 2:
            name, data = inbox.get(timeout=5.0)
            if data.frame == frame:
                got[name] = data
        image = got["camera"]
        tags = np.frombuffer(image.raw_data, np.uint8).reshape(120, 160, 4)[:, :, 2]
        result["tags"] = sorted(set(tags.ravel().tolist()))
        centre = tags[40:100, 70:90]
        result["centre_walker_pixels"] = int((centre == 12).sum())
        points = np.frombuffer(got["lidar"].raw_data, dtype=np.dtype([
            ("x", "f4"), ("y", "f4"), ("z", "f4"), ("cos", "f4"), ("idx", "u4"), ("tag", "u4")]))
        on_walker = points[points["idx"] == walker.id]
        result["lidar_walker_points"] = len(on_walker)
        result["lidar_walker_tags"] = sorted(set(on_walker["tag"].tolist()))
        result["lidar_walker_x"] = float(np.median(on_walker["x"])) if len(on_walker) else None
        camera.stop()
        lidar.stop()
        """,
    )
    assert {1, 2, 12} <= set(result["tags"]), f"road, sidewalk and pedestrian: {result['tags']}"
    assert result["centre_walker_pixels"] > 50, "the walker stands ahead in the image centre"
    assert result["lidar_walker_points"] > 10
    assert result["lidar_walker_tags"] == [12]
    assert 5.0 < result["lidar_walker_x"] < 8.0, "8 m ahead of the car's origin, LiDAR at 0"
