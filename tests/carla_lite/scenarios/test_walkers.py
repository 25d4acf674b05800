"""Pedestrians through the official client: spawn, walk, and get hit by a car."""

from __future__ import annotations

from tests.conftest import ServerProcess, run_client


def test_walker_walks_and_a_car_hitting_it_reports_the_walker(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = synchronous_world(client)
        lib = world.get_blueprint_library()
        spawn = world.get_map().get_spawn_points()
        t = spawn[0]
        f = t.get_forward_vector()
        walker_tf = carla.Transform(t.location + f * 12.0 + carla.Location(z=1.0), t.rotation)
        walker = world.spawn_actor(lib.find("walker.pedestrian.0001"), walker_tf)
        world.tick()
        start = walker.get_location()
        walker.apply_control(carla.WalkerControl(direction=carla.Vector3D(f.x, f.y, 0), speed=1.4))
        for _ in range(20):
            world.tick()
        walked = walker.get_location() - start
        result["walked_along"] = walked.x * f.x + walked.y * f.y
        result["walker_speed"] = walker.get_velocity().length()
        walker.apply_control(carla.WalkerControl(speed=0.0))
        car = world.spawn_actor(lib.find("vehicle.tesla.model3"), t)
        events = []
        sensor = world.spawn_actor(lib.find("sensor.other.collision"), carla.Transform(),
                                   attach_to=car)
        sensor.listen(lambda e: events.append((e.other_actor.id, e.other_actor.type_id)))
        car.apply_control(carla.VehicleControl(throttle=0.8))
        for _ in range(120):
            world.tick()
            if events:
                break
        time.sleep(0.2)
        result["events"] = events
        result["walker_id"] = walker.id
        result["walkers"] = len(world.get_actors().filter("walker.*"))
        """,
    )
    assert 1.0 < result["walked_along"] < 2.0, "20 ticks at 1.4 m/s is 1.4 m along the heading"
    assert abs(result["walker_speed"] - 1.4) < 0.05
    assert result["events"], "the car must hit the pedestrian"
    assert result["events"][0] == [result["walker_id"], "walker.pedestrian.0001"]
    assert result["walkers"] == 1
