"""The official carla 0.9.16 client against carla_lite: world, settings, map, blueprints."""

from __future__ import annotations

from tests.conftest import REPO_ROOT, ServerProcess, run_client


def test_version_world_and_settings_round_trip(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = client.get_world()
        result["client_version"] = client.get_client_version()
        result["server_version"] = client.get_server_version()
        s = world.get_settings()
        result["defaults"] = [s.synchronous_mode, s.no_rendering_mode, s.fixed_delta_seconds]
        s.synchronous_mode = True
        s.no_rendering_mode = True
        s.fixed_delta_seconds = 0.05
        s.max_substeps = 7
        world.apply_settings(s)
        back = world.get_settings()
        result["after"] = [back.synchronous_mode, back.no_rendering_mode,
                           back.fixed_delta_seconds, back.max_substeps]
        snap_frames = []
        for _ in range(5):
            snap_frames.append(world.tick())
        result["frames"] = snap_frames
        snap = world.get_snapshot()
        result["snapshot"] = [snap.frame, snap.timestamp.delta_seconds]
        s.synchronous_mode = False
        s.fixed_delta_seconds = None
        world.apply_settings(s)
        result["async"] = world.get_settings().synchronous_mode
        """,
    )
    assert result["client_version"] == result["server_version"] == "0.9.16"
    assert result["defaults"] == [False, False, None]
    assert result["after"] == [True, True, 0.05, 7]
    frames = result["frames"]
    assert frames == list(range(frames[0], frames[0] + 5)), "frames must step by one"
    assert result["snapshot"][0] == frames[-1]
    assert abs(result["snapshot"][1] - 0.05) < 1e-6
    assert result["async"] is False


def test_async_mode_free_runs(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = client.get_world()
        first = world.wait_for_tick(5.0).frame
        frames = [world.wait_for_tick(5.0).frame for _ in range(5)]
        result["first"] = first
        result["frames"] = frames
        """,
    )
    frames = result["frames"]
    assert all(b > a for a, b in zip([result["first"], *frames], frames, strict=False))


def test_map_spawn_points_and_waypoints(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = client.get_world()
        m = world.get_map()
        result["name"] = m.name
        spawn = m.get_spawn_points()
        result["n_spawn"] = len(spawn)
        bad = 0
        for t in spawn:
            wp = m.get_waypoint(t.location, project_to_road=False)
            if wp is None or wp.lane_type != carla.LaneType.Driving:
                bad += 1
                continue
            dyaw = (wp.transform.rotation.yaw - t.rotation.yaw + 180) % 360 - 180
            if abs(dyaw) > 10 or wp.transform.location.distance(t.location) > 1.0:
                bad += 1
        result["bad_spawn"] = bad
        result["n_waypoints"] = len(m.generate_waypoints(5.0))
        result["topology"] = len(m.get_topology())
        result["maps"] = client.get_available_maps()
        """,
    )
    assert result["name"].endswith("LiteTown01")
    assert result["n_spawn"] >= 20
    assert result["bad_spawn"] == 0
    assert result["n_waypoints"] > 100
    assert result["topology"] > 10
    assert "/Game/Carla/Maps/LiteTown01" in result["maps"]
    assert "/Game/Carla/Maps/LiteHighway01" in result["maps"]


def test_blueprint_library(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        lib = client.get_world().get_blueprint_library()
        vehicles = lib.filter("vehicle.*")
        result["n_vehicles"] = len(vehicles)
        result["n_walkers"] = len(lib.filter("walker.pedestrian.*"))
        mkz = lib.find("vehicle.lincoln.mkz_2017")
        result["mkz_attrs"] = sorted(a.id for a in mkz)
        result["wheels"] = mkz.get_attribute("number_of_wheels").as_int()
        result["colors"] = list(mkz.get_attribute("color").recommended_values)
        mkz.set_attribute("role_name", "hero")
        result["role"] = mkz.get_attribute("role_name").as_str()
        result["sticky"] = mkz.get_attribute("sticky_control").as_bool()
        try:
            mkz.set_attribute("no_such_attribute", "1")
            result["unknown_attr"] = "accepted"
        except IndexError:
            result["unknown_attr"] = "IndexError"
        result["model3"] = lib.find("vehicle.tesla.model3").id
        sensors = sorted(bp.id for bp in lib.filter("sensor.*"))
        result["sensors"] = sensors
        cam = lib.find("sensor.camera.rgb")
        result["cam_x"] = cam.get_attribute("image_size_x").as_int()
        result["ai"] = lib.find("controller.ai.walker").id
        result["bikes"] = len(lib.filter("vehicle.*.*").filter("*crossbike*"))
        """,
    )
    assert result["n_vehicles"] >= 30
    assert result["n_walkers"] >= 20
    for attr in (
        "base_type",
        "color",
        "generation",
        "number_of_wheels",
        "role_name",
        "sticky_control",
    ):
        assert attr in result["mkz_attrs"]
    assert result["wheels"] == 4
    assert result["colors"], "recommended colours"
    assert result["role"] == "hero"
    assert result["sticky"] is True
    assert result["unknown_attr"] == "IndexError"
    assert result["model3"] == "vehicle.tesla.model3"
    for sensor in (
        "sensor.camera.rgb",
        "sensor.camera.depth",
        "sensor.camera.semantic_segmentation",
        "sensor.lidar.ray_cast",
        "sensor.other.collision",
        "sensor.other.lane_invasion",
        "sensor.other.gnss",
        "sensor.other.imu",
        "sensor.other.radar",
        "sensor.other.obstacle",
        "sensor.camera.dvs",
    ):
        assert sensor in result["sensors"]
    assert result["cam_x"] == 800
    assert result["ai"] == "controller.ai.walker"
    assert result["bikes"] == 1


def test_weather_and_spectator(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = client.get_world()
        world.set_weather(carla.WeatherParameters.WetCloudySunset)
        w = world.get_weather()
        result["weather"] = [w.cloudiness, w.precipitation, w.sun_altitude_angle]
        ref = carla.WeatherParameters.WetCloudySunset
        result["ref"] = [ref.cloudiness, ref.precipitation, ref.sun_altitude_angle]
        spec = world.get_spectator()
        spec.set_transform(carla.Transform(carla.Location(10, 20, 30), carla.Rotation(yaw=45)))
        world.wait_for_tick(5.0)
        world.wait_for_tick(5.0)
        t = spec.get_transform()
        result["spectator"] = [spec.type_id, t.location.x, t.location.y, t.location.z,
                               t.rotation.yaw]
        """,
    )
    assert result["weather"] == result["ref"]
    assert result["spectator"][0] == "spectator"
    assert result["spectator"][1:] == [10.0, 20.0, 30.0, 45.0]


def test_unknown_map_lists_available(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        try:
            client.load_world("NoSuchTown")
            result["error"] = None
        except RuntimeError as e:
            result["error"] = str(e)
        """,
    )
    assert result["error"] is not None
    assert "NoSuchTown" in result["error"]
    assert "LiteTown01" in result["error"]


def test_generate_opendrive_world_and_misc_queries(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        f"""
        xodr = open({str(REPO_ROOT / "carla_lite/maps/builtin/LiteHighway01.xodr")!r}).read()
        world = client.generate_opendrive_world(xodr)
        m = world.get_map()
        result["name"] = m.name
        result["same_map"] = m.to_opendrive() == xodr
        result["spawn"] = len(m.get_spawn_points())
        result["bbs"] = len(world.get_level_bbs())
        try:
            client.generate_opendrive_world("<OpenDRIVE><road></OpenDRIVE>")
            result["bad"] = None
        except RuntimeError as e:
            result["bad"] = str(e)
        """,
    )
    assert result["name"].endswith("OpenDriveMap")
    assert result["spawn"] > 10
    assert result["bbs"] == 0
    assert result["same_map"] is True, "the client received the OpenDRIVE it sent"
    assert result["bad"] is not None
