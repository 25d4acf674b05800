"""Actors through the official client: spawn, control, snapshots, events, batches, destroy."""

from __future__ import annotations

from tests.conftest import ServerProcess, run_client

# Indented like the scenario bodies, which are dedented together.
SYNC = """
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        m = world.get_map()
        spawn_points = m.get_spawn_points()
"""


def test_spawn_and_try_spawn_on_occupied_spot(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        bp = lib.find("vehicle.tesla.model3")
        a = world.spawn_actor(bp, spawn_points[0])
        b = world.try_spawn_actor(bp, spawn_points[0])
        c = world.try_spawn_actor(bp, spawn_points[1])
        try:
            world.spawn_actor(bp, spawn_points[0])
            result["spawn_error"] = None
        except RuntimeError as e:
            result["spawn_error"] = str(e)
        world.tick()
        result["a"] = [a.type_id, a.is_alive, a.attributes["role_name"]]
        result["b"] = b is None
        result["c"] = c is not None
        bb = a.bounding_box
        result["bbox"] = [bb.extent.x, bb.extent.y, bb.extent.z]
        ids = [x.id for x in world.get_actors().filter("vehicle.*")]
        result["ids"] = sorted(ids) == sorted([a.id, c.id])
        """,
    )
    assert result["a"] == ["vehicle.tesla.model3", True, "autopilot"]
    assert result["b"] is True
    assert result["c"] is True
    assert "collision" in result["spawn_error"].lower()
    assert all(v > 0 for v in result["bbox"])
    assert result["ids"] is True


def test_control_moves_the_car_the_right_way(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        bp = lib.find("vehicle.lincoln.mkz_2017")
        car = world.spawn_actor(bp, spawn_points[0])
        world.tick()
        start = car.get_transform()
        fwd = start.get_forward_vector()
        car.apply_control(carla.VehicleControl(throttle=0.7))
        for _ in range(40):
            world.tick()
        moved = car.get_transform().location - start.location
        result["along"] = moved.x * fwd.x + moved.y * fwd.y
        result["speed"] = car.get_velocity().length()
        result["control"] = car.get_control().throttle
        yaw0 = car.get_transform().rotation.yaw
        car.apply_control(carla.VehicleControl(throttle=0.3, steer=0.5))
        for _ in range(10):
            world.tick()
        result["dyaw_right"] = (car.get_transform().rotation.yaw - yaw0 + 180) % 360 - 180
        result["angular_z"] = car.get_angular_velocity().z
        car.apply_control(carla.VehicleControl(brake=1.0))
        for _ in range(60):
            world.tick()
        result["stopped"] = car.get_velocity().length()
        p0 = car.get_transform()
        f0 = p0.get_forward_vector()
        car.apply_control(carla.VehicleControl(throttle=0.5, reverse=True))
        for _ in range(20):
            world.tick()
        back = car.get_transform().location - p0.location
        result["reverse_along"] = back.x * f0.x + back.y * f0.y
        """,
    )
    assert result["along"] > 3.0, "throttle must move the car forward along its heading"
    assert result["speed"] > 2.5
    assert abs(result["control"] - 0.7) < 1e-6
    assert result["dyaw_right"] > 2.0, "positive steer turns right (yaw increases)"
    assert result["angular_z"] > 0
    assert result["stopped"] < 0.1
    assert result["reverse_along"] < -0.5


def test_snapshots_list_every_actor_with_consistent_times(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        car = world.spawn_actor(lib.find("vehicle.audi.a2"), spawn_points[2])
        sensor = world.spawn_actor(lib.find("sensor.other.collision"), carla.Transform(),
                                   attach_to=car)
        f0 = world.tick()
        s0 = world.get_snapshot()
        car.apply_control(carla.VehicleControl(throttle=1.0))
        for _ in range(10):
            world.tick()
        s1 = world.get_snapshot()
        result["frames"] = [f0, s0.frame, s1.frame]
        result["elapsed"] = s1.timestamp.elapsed_seconds - s0.timestamp.elapsed_seconds
        result["has"] = [s1.has_actor(car.id), s1.has_actor(sensor.id),
                         s1.has_actor(world.get_spectator().id)]
        snap_car = s1.find(car.id)
        result["snap_vs_actor"] = snap_car.get_transform().location.distance(
            car.get_transform().location)
        result["sensor_parent"] = sensor.parent.id == car.id
        st = sensor.get_transform().location
        ct = car.get_transform().location
        result["sensor_follows"] = st.distance(ct)
        result["count"] = len(s1)
        result["actors"] = len(world.get_actors())
        """,
    )
    f0, s0, s1 = result["frames"]
    assert s0 == f0 and s1 == f0 + 10
    assert abs(result["elapsed"] - 0.5) < 1e-4
    assert result["has"] == [True, True, True]
    assert result["snap_vs_actor"] < 1e-6
    assert result["sensor_parent"] is True
    assert result["sensor_follows"] < 1e-3
    assert result["count"] == result["actors"]


def test_collision_events_vehicle_and_static(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        bp = lib.find("vehicle.lincoln.mkz_2017")
        hero = world.spawn_actor(bp, spawn_points[0])
        t = spawn_points[0]
        f = t.get_forward_vector()
        target_tf = carla.Transform(t.location + f * 15.0, t.rotation)
        target = world.spawn_actor(lib.find("vehicle.carlamotors.carlacola"), target_tf)
        events = []
        sensor = world.spawn_actor(lib.find("sensor.other.collision"), carla.Transform(),
                                   attach_to=hero)
        sensor.listen(lambda e: events.append(
            (e.frame, e.other_actor.type_id, e.other_actor.id, e.normal_impulse.length())))
        hero.apply_control(carla.VehicleControl(throttle=1.0))
        for _ in range(80):
            world.tick()
            if events:
                break
        time.sleep(0.2)
        result["vehicle_events"] = list(events)
        result["target_id"] = target.id
        # now drive across the road edge into whatever lies beyond it
        events.clear()
        target.destroy()
        hero.set_transform(spawn_points[0])
        world.tick()
        hero.apply_control(carla.VehicleControl(throttle=1.0, steer=1.0))
        for _ in range(200):
            world.tick()
            if events:
                break
        time.sleep(0.2)
        result["static_events"] = list(events)
        """,
    )
    vehicle_events = result["vehicle_events"]
    assert vehicle_events, "driving into a parked truck must raise a collision event"
    _frame, type_id, other_id, impulse = vehicle_events[0]
    assert type_id == "vehicle.carlamotors.carlacola"
    assert other_id == result["target_id"]
    assert impulse > 0
    assert result["static_events"], "leaving the road must hit the static world"
    assert result["static_events"][0][1].startswith("static.")


def test_lane_invasion_events(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        hero = world.spawn_actor(lib.find("vehicle.tesla.model3"), spawn_points[0])
        events = []
        lane = world.spawn_actor(lib.find("sensor.other.lane_invasion"), carla.Transform(),
                                 attach_to=hero)
        lane.listen(lambda e: events.append([str(m.type) for m in e.crossed_lane_markings]))
        world.tick()
        hero.apply_control(carla.VehicleControl(throttle=0.4, steer=-0.3))
        for _ in range(60):
            world.tick()
            if events:
                break
        time.sleep(0.2)
        result["events"] = events
        """,
    )
    assert result["events"], "steering left across the centre line must report an invasion"
    assert any(result["events"][0])


def test_apply_batch_sync_responses_and_destroy(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        bp = lib.find("vehicle.audi.a2")
        batch = [carla.command.SpawnActor(bp, spawn_points[3]),
                 carla.command.SpawnActor(bp, spawn_points[3]),
                 carla.command.SpawnActor(bp, spawn_points[4]).then(
                     carla.command.ApplyVehicleControl(carla.command.FutureActor,
                                                       carla.VehicleControl(throttle=1.0)))]
        responses = client.apply_batch_sync(batch, True)
        result["errors"] = [bool(r.error) for r in responses]
        ids = [r.actor_id for r in responses if not r.error]
        more = client.apply_batch_sync([carla.command.ApplyVehicleControl(ids[0],
                                            carla.VehicleControl(brake=1.0)),
                                        carla.command.DestroyActor(987654)])
        result["more"] = [r.error for r in more]
        for _ in range(10):
            world.tick()
        actors = world.get_actors(ids)
        result["speeds"] = [a.get_velocity().length() for a in actors]
        result["thr"] = [a.get_control().throttle for a in actors]
        destroyed = client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
        result["destroyed"] = [r.error for r in destroyed]
        result["left"] = len(world.get_actors().filter("vehicle.*"))
        car = world.spawn_actor(bp, spawn_points[5])
        world.tick()
        result["destroy_ok"] = car.destroy()
        world.tick()
        result["alive_after"] = car.is_alive
        """,
    )
    assert result["errors"] == [False, True, False]
    assert result["more"][0] == ""
    assert "not found" in result["more"][1]
    assert result["speeds"][0] < 0.5 < result["speeds"][1]
    assert result["thr"][1] == 1.0
    assert result["destroyed"] == ["", ""]
    assert result["left"] == 0
    assert result["destroy_ok"] is True
    assert result["alive_after"] is False


def test_load_world_new_episode(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        SYNC
        + """
        car = world.spawn_actor(lib.find("vehicle.audi.a2"), spawn_points[0])
        world.tick()
        old_id = world.id
        world = client.load_world("LiteHighway01", reset_settings=False)
        result["episode_changed"] = world.id != old_id
        result["map"] = world.get_map().name
        result["vehicles"] = len(world.get_actors().filter("vehicle.*"))
        s = world.get_settings()
        result["settings"] = [s.synchronous_mode, s.fixed_delta_seconds]
        result["spawn"] = len(world.get_map().get_spawn_points())
        f = [world.tick() for _ in range(3)]
        result["frames"] = f
        world = client.load_world("LiteTown01")
        result["reset"] = world.get_settings().synchronous_mode
        """,
    )
    assert result["episode_changed"] is True
    assert result["map"].endswith("LiteHighway01")
    assert result["vehicles"] == 0
    assert result["settings"] == [True, 0.05]
    assert result["spawn"] > 10
    assert result["frames"][1] == result["frames"][0] + 1
    assert result["reset"] is False
