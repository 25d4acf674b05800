"""CARLA's client-side Traffic Manager driving NPCs on carla_lite, and traffic lights."""

from __future__ import annotations

import pytest

from tests.conftest import ServerProcess, run_client


@pytest.mark.slow
def test_traffic_manager_drives_20_npcs_for_500_ticks(server: ServerProcess) -> None:
    tm_port = server.port + 3
    result = run_client(
        server.port,
        f"""
        import random
        world = synchronous_world(client)
        tm = client.get_trafficmanager({tm_port})
        tm.set_synchronous_mode(True)
        tm.set_random_device_seed(7)
        lib = world.get_blueprint_library()
        cars = [bp for bp in lib.filter("vehicle.*")
                if bp.get_attribute("number_of_wheels").as_int() == 4]
        spawn = world.get_map().get_spawn_points()
        random.Random(3).shuffle(spawn)
        batch = [carla.command.SpawnActor(random.Random(i).choice(cars), spawn[i]).then(
                    carla.command.SetAutopilot(carla.command.FutureActor, True, {tm_port}))
                 for i in range(20)]
        responses = client.apply_batch_sync(batch, True)
        ids = [r.actor_id for r in responses if not r.error]
        result["spawned"] = len(ids)
        actors = world.get_actors(ids)
        start = {{a.id: a.get_location() for a in actors}}
        travelled = {{a.id: 0.0 for a in actors}}
        last = dict(start)
        stopped_at_red = 0
        max_speed = 0.0
        for _ in range(500):
            world.tick()
            for a in actors:
                loc = a.get_location()
                travelled[a.id] += loc.distance(last[a.id])
                last[a.id] = loc
                v = a.get_velocity().length()
                max_speed = max(max_speed, v)
                red = a.get_traffic_light_state() == carla.TrafficLightState.Red
                if a.is_at_traffic_light() and red and v < 0.2:
                    stopped_at_red += 1
        result["travelled"] = sorted(travelled.values())
        result["max_speed"] = max_speed
        result["stopped_at_red"] = stopped_at_red
        lights = world.get_actors().filter("traffic.traffic_light")
        result["lights"] = len(lights)
        result["light_states"] = sorted({{str(l.get_state()) for l in lights}})
        for a in actors:
            a.set_autopilot(False, {tm_port})
        client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], True)
        result["left"] = len(world.get_actors().filter("vehicle.*"))
        """,
        timeout=600,
    )
    assert result["spawned"] == 20
    travelled = result["travelled"]
    moving = [d for d in travelled if d > 20.0]
    assert len(moving) >= 15, f"most NPCs must drive: {travelled}"
    assert result["max_speed"] < 20.0, "town traffic keeps to town speeds"
    assert result["lights"] > 0
    assert len(result["light_states"]) >= 2, "lights cycle through several states"
    assert result["stopped_at_red"] > 0, "some NPC must wait at a red light"
    assert result["left"] == 0


def test_traffic_light_api(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        """
        world = client.get_world()
        s = world.get_settings()
        s.synchronous_mode = True
        s.fixed_delta_seconds = 0.1
        world.apply_settings(s)
        lights = list(world.get_actors().filter("traffic.traffic_light"))
        result["count"] = len(lights)
        tl = lights[0]
        group = tl.get_group_traffic_lights()
        result["group"] = len(group)
        tl.set_state(carla.TrafficLightState.Green)
        tl.freeze(True)
        tl.set_green_time(4.0)
        for _ in range(50):
            world.tick()
        result["frozen_state"] = str(tl.get_state())
        result["frozen"] = tl.is_frozen()
        result["green_time"] = tl.get_green_time()
        tl.freeze(False)
        states = set()
        for _ in range(400):
            world.tick()
            states.add(str(tl.get_state()))
        result["states"] = sorted(states)
        result["opendrive_id"] = tl.get_opendrive_id()
        """,
    )
    assert result["count"] >= 4
    assert result["group"] >= 3
    assert result["frozen_state"] == "Green"
    assert result["frozen"] is True
    assert result["green_time"] == 4.0
    assert result["states"] == ["Green", "Red", "Yellow"]
    assert result["opendrive_id"]
