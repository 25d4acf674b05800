"""Ray-cast sensors through the official client: a car with a LiDAR, a semantic LiDAR, a radar
and an obstacle detector sees a second car parked ahead, every message on its tick's frame."""

from __future__ import annotations

from tests.conftest import ServerProcess, run_client

GAP = 15.0  # [m] from the ego's origin to the parked car's


def test_lidar_radar_and_obstacle_see_the_car_ahead(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        f"""
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        start = world.get_map().get_spawn_points()[0]
        f = start.get_forward_vector()
        ego = world.spawn_actor(lib.find("vehicle.tesla.model3"), start)
        ahead_tf = carla.Transform(start.location + f * {GAP}, start.rotation)
        ahead = world.spawn_actor(lib.find("vehicle.tesla.model3"), ahead_tf)
        inbox = queue.Queue()

        def attach(bp_id, location, **attributes):
            bp = lib.find(bp_id)
            for key, value in attributes.items():
                bp.set_attribute(key, str(value))
            sensor = world.spawn_actor(bp, carla.Transform(location), attach_to=ego)
            sensor.listen(lambda data, name=bp_id: inbox.put((name, data)))
            return sensor

        roof = carla.Location(z=2.4)
        bumper = carla.Location(x=2.5, z=0.5)
        sensors = [
            attach("sensor.lidar.ray_cast", roof, channels=32, points_per_second=400000,
                   rotation_frequency=20, range=50, dropoff_general_rate=0),
            attach("sensor.lidar.ray_cast_semantic", roof, channels=32,
                   points_per_second=400000, rotation_frequency=10, range=50),
            attach("sensor.other.radar", bumper, horizontal_fov=2, vertical_fov=2, range=60,
                   points_per_second=4000),
            attach("sensor.other.obstacle", bumper, distance=30, only_dynamics=True),
        ]
        for _ in range(10):  # let both cars settle on the road
            world.tick()
        while not inbox.empty():
            inbox.get()

        def tick_and_collect():
            frame = world.tick()
            got = {{}}
            deadline = time.time() + 5.0
            while len(got) < len(sensors) and time.time() < deadline:
                try:
                    name, data = inbox.get(timeout=0.5)
                except queue.Empty:
                    continue
                if data.frame < frame:
                    continue  # an earlier tick's message still in flight when we drained
                got[name] = data
            return frame, got

        frame, got = tick_and_collect()
        result["frames"] = {{name: data.frame for name, data in got.items()}}
        result["tick_frame"] = frame
        ego_tf, ahead_loc = ego.get_transform(), ahead.get_location()
        d = ahead_loc - ego_tf.location
        fwd = ego_tf.get_forward_vector()
        result["gap"] = d.x * fwd.x + d.y * fwd.y
        bb = ahead.bounding_box
        result["ahead_rear"] = result["gap"] + bb.location.x - bb.extent.x
        result["ahead_half_width"] = bb.extent.y
        result["ahead_id"] = ahead.id

        lidar = got["sensor.lidar.ray_cast"]
        points = np.frombuffer(lidar.raw_data, dtype=np.float32).reshape(-1, 4)
        result["lidar_points"] = len(points)
        result["lidar_channels"] = lidar.channels
        result["lidar_counts_sum"] = sum(lidar.get_point_count(c) for c in range(lidar.channels))
        result["lidar_angle"] = lidar.horizontal_angle
        box = points[(points[:, 0] > 5) & (points[:, 0] < 25) & (np.abs(points[:, 1]) < 1.2)
                     & (points[:, 2] > -2.2)]
        result["lidar_ahead_count"] = len(box)
        result["lidar_ahead_min_x"] = float(box[:, 0].min()) if len(box) else None
        result["lidar_ahead_max_abs_y"] = float(np.abs(box[:, 1]).max()) if len(box) else None
        result["lidar_intensity_ok"] = bool(np.allclose(
            points[:, 3], np.exp(-0.004 * np.linalg.norm(points[:, :3], axis=1)), rtol=1e-4))
        first = next(iter(lidar))
        result["lidar_first_point"] = [first.point.x, first.point.y, first.point.z]
        result["lidar_first_raw"] = points[0, :3].tolist()

        semantic = got["sensor.lidar.ray_cast_semantic"]
        sem = np.frombuffer(semantic.raw_data, dtype=np.dtype([
            ("x", "f4"), ("y", "f4"), ("z", "f4"), ("cos", "f4"), ("idx", "u4"), ("tag", "u4")]))
        on_car = sem[sem["idx"] == ahead.id]
        result["semantic_on_car"] = len(on_car)
        result["semantic_car_tags"] = sorted(set(on_car["tag"].tolist()))
        result["semantic_car_min_x"] = float(on_car["x"].min()) if len(on_car) else None
        detection = next(iter(semantic))
        result["semantic_first"] = [detection.object_idx, detection.object_tag]
        result["semantic_first_raw"] = [int(sem["idx"][0]), int(sem["tag"][0])]
        result["semantic_angle"] = semantic.horizontal_angle

        radar = got["sensor.other.radar"]
        det = np.frombuffer(radar.raw_data, dtype=np.float32).reshape(-1, 4)
        result["radar_count"] = len(det)
        result["radar_depth_x"] = (det[:, 3] * np.cos(det[:, 1]) * np.cos(det[:, 2])).tolist()
        result["radar_max_abs_azimuth"] = float(np.abs(det[:, 1]).max())
        result["radar_max_abs_velocity"] = float(np.abs(det[:, 0]).max())
        first = radar[0]
        result["radar_api_first"] = [first.velocity, first.azimuth, first.altitude, first.depth]
        result["radar_raw_first"] = det[0].tolist()

        obstacle = got.get("sensor.other.obstacle")
        result["obstacle"] = None if obstacle is None else [
            obstacle.actor.id, obstacle.other_actor.id, obstacle.distance]
        result["obstacle_sensor_id"] = sensors[3].id

        # Drive towards the parked car: the radar's velocities turn negative.
        ego.apply_control(carla.VehicleControl(throttle=0.6))
        for _ in range(15):
            frame, got = tick_and_collect()
        ego_speed = ego.get_velocity().length()
        det = np.frombuffer(got["sensor.other.radar"].raw_data, dtype=np.float32).reshape(-1, 4)
        result["ego_speed"] = ego_speed
        result["closing"] = (det[:, 0] / (np.cos(det[:, 1]) * np.cos(det[:, 2]))).tolist()
        result["last_frames"] = sorted({{data.frame for data in got.values()}})
        result["last_tick"] = frame
        for sensor in sensors:
            sensor.stop()
            sensor.destroy()
        """,
    )
    tick = result["tick_frame"]
    assert set(result["frames"].values()) == {tick}, result["frames"]
    assert len(result["frames"]) == 4
    assert result["last_frames"] == [result["last_tick"]]
    rear = result["ahead_rear"]
    assert abs(result["gap"] - GAP) < 0.5

    # LiDAR: the parked car's rear face, straight ahead, in the sensor frame.
    assert result["lidar_channels"] == 32
    assert result["lidar_counts_sum"] == result["lidar_points"] > 1000
    assert result["lidar_ahead_count"] > 20
    assert abs(result["lidar_ahead_min_x"] - rear) < 0.05
    assert result["lidar_ahead_max_abs_y"] <= result["ahead_half_width"] + 0.05
    assert result["lidar_intensity_ok"]
    assert result["lidar_first_point"] == result["lidar_first_raw"]
    assert 0.0 <= result["lidar_angle"] < 6.2832

    # Semantic LiDAR: the car's id and tag (14, car) on its points.
    assert result["semantic_on_car"] > 20
    assert result["semantic_car_tags"] == [14]
    assert abs(result["semantic_car_min_x"] - rear) < 0.05
    assert result["semantic_first"] == result["semantic_first_raw"]
    # At 10 Hz a 0.05 s tick sweeps half a turn: the sweep ends at 0 or pi.
    assert min(abs(result["semantic_angle"]), abs(result["semantic_angle"] - 3.14159265)) < 1e-5

    # Radar: every ray of the narrow cone meets the car's rear (below its cabin), 2.5 m closer
    # (bumper mount).
    assert result["radar_count"] == 200  # 4000 points/s * 0.05 s
    for depth_x in result["radar_depth_x"]:
        assert abs(depth_x - (rear - 2.5)) < 0.05
    assert result["radar_max_abs_azimuth"] < 0.018  # 1 degree
    assert result["radar_max_abs_velocity"] < 0.05
    assert result["radar_api_first"] == result["radar_raw_first"]

    # Obstacle: CARLA's event names the sensor, the car, and how far the 0.5 m sphere went.
    sensor_id, other_id, distance = result["obstacle"]
    assert sensor_id == result["obstacle_sensor_id"]
    assert other_id == result["ahead_id"]
    assert abs(distance - (rear - 2.5 - 0.5)) < 0.05

    # Closing in: the car ahead approaches at the ego's speed (negative, CARLA's sign).
    assert result["ego_speed"] > 1.0
    for closing in result["closing"]:
        assert abs(closing + result["ego_speed"]) < 0.3
    assert server.unknown_rpcs() == []
