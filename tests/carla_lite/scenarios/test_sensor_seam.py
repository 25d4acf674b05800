"""Sensor lifecycle through the official client: streams, parents, first frames."""

from __future__ import annotations

from tests.conftest import ServerProcess, run_client


def test_sensors_are_destroyed_with_their_parent(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = client.get_world()
        s = world.get_settings()
        s.synchronous_mode = True
        s.fixed_delta_seconds = 0.05
        world.apply_settings(s)
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
