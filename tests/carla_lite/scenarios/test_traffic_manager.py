"""carla_lite's server-side Traffic Manager, driven through the official client's remote TM.

Every scenario runs the unmodified ``carla==0.9.16`` client in a subprocess against a fresh
server; the ``server`` fixture asserts that no unknown RPC reached the simulator port, and
each test also checks the Traffic Manager's own RPC port.
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import msgpack
import pytest

from tests.conftest import SHARED_TOWNS, ServerProcess, run_client


def _npcs(
    tm_port: int,
    n: int,
    seed: int,
    blueprint: str,
    *,
    synchronous: bool = True,
    tm_seed: int | None = None,
) -> str:
    """Client code: sync (or async) world at 20 Hz, the TM seeded, ``n`` NPCs on autopilot.

    Defines ``world``, ``town``, ``lib``, ``tm``, ``spawn``, ``ids`` and ``actors``;
    ``blueprint`` is an expression over ``lib`` and ``rng``. ``seed`` shuffles the spawn
    points and picks blueprints; ``tm_seed`` (default ``seed``) seeds the Traffic Manager.
    """
    tm_seed = seed if tm_seed is None else tm_seed
    return textwrap.dedent(
        f"""
        import random
        world = client.get_world()
        settings = world.get_settings()
        settings.synchronous_mode = {synchronous}
        settings.fixed_delta_seconds = 0.05
        world.apply_settings(settings)
        town = world.get_map()
        lib = world.get_blueprint_library()
        tm = client.get_trafficmanager({tm_port})
        tm.set_synchronous_mode({synchronous})
        tm.set_random_device_seed({tm_seed})
        spawn = town.get_spawn_points()
        random.Random({seed}).shuffle(spawn)
        rng = random.Random({seed})
        batch = [carla.command.SpawnActor({blueprint}, spawn[i]).then(
                    carla.command.SetAutopilot(carla.command.FutureActor, True, {tm_port}))
                 for i in range({n})]
        ids = [r.actor_id for r in client.apply_batch_sync(batch, {synchronous}) if not r.error]
        actors = list(world.get_actors(ids))
        """
    )


#: Spawns NPCs with collision sensors, ticks, and measures what the tests assert on.
#: Placeholders: {ticks} {window}; follows ``_npcs``.
DRIVE = """
def alive():
    # The client's actor cache (and is_alive) keeps actors the server destroyed, as the
    # Traffic Manager does with stuck ones: the full actor list is the server's truth.
    present = {{a.id for a in world.get_actors().filter("vehicle.*")}}
    return [a for a in world.get_actors(ids) if a.id in present]
crashes = set()
sensor_bp = lib.find("sensor.other.collision")
sensors = []
for actor in actors:
    sensor = world.spawn_actor(sensor_bp, carla.Transform(), attach_to=actor)
    def on_hit(event, me=actor.id):
        other = event.other_actor
        if other.type_id.startswith("vehicle."):
            crashes.add((min(me, other.id), max(me, other.id)))
    sensor.listen(on_hit)
    sensors.append(sensor)
last = {{a.id: a.get_location() for a in actors}}
moved = {{a.id: 0.0 for a in actors}}
windows = []
for tick in range(1, {ticks} + 1):
    world.tick()
    if tick % 200 == 0:
        for actor in alive():
            location = actor.get_location()
            moved[actor.id] += location.distance(last[actor.id])
            last[actor.id] = location
    if tick % {window} == 0:
        alive_ids = [a.id for a in alive()]
        windows.append(sum(moved[i] > 10.0 for i in alive_ids) / max(len(alive_ids), 1))
        moved = {{i: 0.0 for i in alive_ids}}
result["spawned"] = len(ids)
result["alive"] = len(alive())
result["crashes"] = len(crashes)
result["moving_share"] = windows
for sensor in sensors:
    sensor.stop()
    sensor.destroy()
"""


#: Blueprint expressions for ``_npcs``: any vehicle, or any car (no bikes, buses or trucks).
ANY = "rng.choice(sorted(lib.filter('vehicle.*'), key=lambda b: b.id))"
CARS = (
    "rng.choice(sorted((b for b in lib.filter('vehicle.*')"
    " if b.get_attribute('base_type').as_str() == 'car'), key=lambda b: b.id))"
)


def _drive(
    server: ServerProcess,
    *,
    n: int,
    ticks: int,
    seed: int = 3,
    window: int = 2000,
    cars_only: bool = False,
    timeout: float = 900.0,
) -> dict:
    blueprint = CARS if cars_only else ANY
    body = _npcs(server.port + 3, n, seed, blueprint) + DRIVE.format(ticks=ticks, window=window)
    return run_client(server.port, body, timeout=timeout)


def _assert_traffic_flows(result: dict, ticks: int, n: int) -> None:
    """No gridlock, few crashes, few vehicles removed as stuck (CARLA's TM removes some)."""
    assert result["spawned"] == n
    vehicle_seconds = n * ticks * 0.05
    # A crash is one pair of vehicles touching; CARLA's own TM has them too.
    assert result["crashes"] <= 1.5e-3 * vehicle_seconds, result
    assert result["alive"] >= 0.7 * n, result
    assert min(result["moving_share"]) >= 0.5, result


@pytest.mark.slow
def test_npcs_drive_50000_ticks_on_lite_town(server: ServerProcess) -> None:
    result = _drive(server, n=40, ticks=50_000, window=5000)
    _assert_traffic_flows(result, 50_000, 40)


@pytest.mark.slow
@pytest.mark.parametrize("town", ["Town01", "Town04", "Town10HD"])
def test_npcs_drive_10000_ticks_on_carla_towns(tmp_path: Path, town: str) -> None:
    if not SHARED_TOWNS.is_dir():
        pytest.skip("../shared/maps/carla_towns is not present")
    proc = ServerProcess(tmp_path, f"--maps-dir={SHARED_TOWNS}", f"--map={town}")
    try:
        result = _drive(proc, n=40, ticks=10_000)
        _assert_traffic_flows(result, 10_000, 40)
        assert proc.alive(), proc.log()
        assert proc.unknown_rpcs() == []
    finally:
        proc.stop()


def test_npcs_stop_at_red_lights_and_queue(server: ServerProcess) -> None:
    tm_port = server.port + 3
    result = run_client(
        server.port,
        _npcs(tm_port, 60, 1, CARS)
        + textwrap.dedent(
            """
        for light in world.get_actors().filter("traffic.traffic_light"):
            light.set_state(carla.TrafficLightState.Red)
            light.freeze(True)
        world.tick()
        start_in_junction = {a.id for a in world.get_actors(ids)
                              if town.get_waypoint(a.get_location()).is_junction}
        for _ in range(1200):
            world.tick()
        actors = list(world.get_actors(ids))
        stopped = [a for a in actors if a.get_velocity().length() < 0.1]
        at_red = [a for a in stopped
                  if a.is_at_traffic_light()
                  and a.get_traffic_light_state() == carla.TrafficLightState.Red]
        # Queued: stopped right behind another stopped vehicle on the same lane.
        queued = 0
        for a in stopped:
            wa = town.get_waypoint(a.get_location())
            for b in stopped:
                wb = town.get_waypoint(b.get_location())
                ahead = (b.get_location() - a.get_location()).dot(
                    a.get_transform().get_forward_vector())
                if (b.id != a.id and (wa.road_id, wa.lane_id) == (wb.road_id, wb.lane_id)
                        and 0.0 < ahead < 15.0):
                    queued += 1
                    break
        entered = [a.id for a in actors if a.id not in start_in_junction
                   and town.get_waypoint(a.get_location()).is_junction]
        result.update(n=len(actors), stopped=len(stopped), at_red=len(at_red),
                      queued=queued, entered_junction=entered)
        """
        ),
        timeout=600,
    )
    assert result["n"] >= 50
    assert result["stopped"] >= 0.9 * result["n"], "with every light red, traffic comes to rest"
    assert result["at_red"] >= 10, result
    assert result["queued"] >= 5, result
    assert result["entered_junction"] == [], "no NPC drives into a junction on red"


def test_lane_changes_on_the_highway(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path, "--map=LiteHighway01")
    tm_port = proc.port + 3
    try:
        result = run_client(
            proc.port,
            _npcs(tm_port, 16, 2, 'lib.find("vehicle.tesla.model3")')
            + textwrap.dedent(
                """            for a in actors[:8]:
                tm.random_left_lanechange_percentage(a, 5.0)
                tm.random_right_lanechange_percentage(a, 5.0)
            town = world.get_map()
            def lane(actor):
                w = town.get_waypoint(actor.get_location())
                return None if w.is_junction else (w.road_id, w.lane_id)
            for _ in range(100):
                world.tick()
            # A forced change: the vehicle's lane id moves by one within a few seconds.
            forced = next(a for a in actors[8:] if lane(a) is not None and (
                town.get_waypoint(a.get_location()).get_left_lane() is not None
                and town.get_waypoint(a.get_location()).get_left_lane().lane_type
                == carla.LaneType.Driving))
            before = lane(forced)
            tm.force_lane_change(forced, True)
            forced_after = None
            changes = 0
            last = {a.id: lane(a) for a in actors}
            for tick in range(1500):
                world.tick()
                if tick == 100:
                    forced_after = lane(forced)
                if tick % 10 == 0:
                    for a in actors:
                        now = lane(a)
                        was = last[a.id]
                        if now and was and now[0] == was[0] and now[1] != was[1]:
                            changes += 1
                        if now:
                            last[a.id] = now
            result.update(changes=changes, forced_before=before, forced_after=forced_after)
            """
            ),
            timeout=600,
        )
        assert proc.unknown_rpcs() == []
    finally:
        proc.stop()
    assert result["changes"] >= 5, result
    before, after = result["forced_before"], result["forced_after"]
    assert after is not None and after[0] == before[0] and after[1] != before[1], result


def test_speed_follows_the_speed_percentages(server: ServerProcess) -> None:
    tm_port = server.port + 3
    result = run_client(
        server.port,
        _npcs(tm_port, 18, 5, 'lib.find("vehicle.lincoln.mkz_2020")')
        + textwrap.dedent(
            """
        groups = {"slower_30": actors[0:6], "default": actors[6:12], "faster_20": actors[12:18]}
        for a in groups["slower_30"]:
            tm.vehicle_percentage_speed_difference(a, 30.0)
        for a in groups["faster_20"]:
            tm.vehicle_percentage_speed_difference(a, -20.0)
        town = world.get_map()
        ratios = {name: [] for name in groups}
        for tick in range(2400):
            world.tick()
            if tick < 200 or tick % 10:
                continue
            for name, members in groups.items():
                for a in members:
                    speed = a.get_velocity().length()
                    w = town.get_waypoint(a.get_location())
                    # Cruising only: on a straight away from junctions, not held by traffic.
                    ahead = w.next(25.0)
                    straight = ahead and abs((ahead[0].transform.rotation.yaw
                                              - w.transform.rotation.yaw + 180) % 360 - 180) < 3
                    if (not w.is_junction and straight and speed > 1.0
                            and not a.is_at_traffic_light()):
                        ratios[name].append(speed / (a.get_speed_limit() / 3.6))
        result.update({name: sorted(r)[len(r) // 2] for name, r in ratios.items() if r})
        result["samples"] = {name: len(r) for name, r in ratios.items()}
        """
        ),
        timeout=600,
    )
    assert min(result["samples"].values()) >= 50, result
    assert result["slower_30"] == pytest.approx(0.70, rel=0.10)
    assert result["default"] == pytest.approx(1.00, rel=0.10)
    assert result["faster_20"] == pytest.approx(1.20, rel=0.10)


_SAME_SEED = """
trajectory = []
for tick in range(800):
    world.tick()
    if tick % 100 == 99:
        trajectory.append([[round(a.get_location().x, 4), round(a.get_location().y, 4)]
                           for a in world.get_actors(ids)])
result["trajectory"] = trajectory
"""


def test_same_seed_gives_the_same_traffic(tmp_path: Path) -> None:
    runs = []
    for seed in (4, 4, 5):
        proc = ServerProcess(tmp_path)
        try:
            body = _npcs(proc.port + 3, 25, 11, ANY, tm_seed=seed) + _SAME_SEED
            runs.append(run_client(proc.port, body, timeout=300)["trajectory"])
            assert proc.unknown_rpcs() == []
        finally:
            proc.stop()
    assert runs[0] == runs[1], "same seed and spawns: identical trajectories"
    assert runs[0] != runs[2], "another seed: other choices at junctions"


def test_asynchronous_mode_moves_npcs(server: ServerProcess) -> None:
    tm_port = server.port + 3
    result = run_client(
        server.port,
        _npcs(tm_port, 10, 8, 'lib.find("vehicle.audi.a2")', synchronous=False)
        + textwrap.dedent(
            """
        world.wait_for_tick()
        start = {a.id: a.get_location() for a in world.get_actors(ids)}
        for _ in range(60):  # 3 s of simulated time at the free-running 20 Hz
            world.wait_for_tick()
        result["moved"] = sorted(a.get_location().distance(start[a.id])
                                 for a in world.get_actors(ids))
        """
        ),
        timeout=300,
    )
    assert len(result["moved"]) == 10
    assert sum(d > 3.0 for d in result["moved"]) >= 8, result


def test_route_path_lights_and_actions(server: ServerProcess) -> None:
    """set_route / set_path steer the choices at junctions; update_vehicle_lights drives
    the lights; the plan is served by get_all_actions (read here over raw msgpack-rpc,
    since the 0.9.16 client discards a remote TM's answer)."""
    tm_port = server.port + 3
    result = run_client(
        server.port,
        _npcs(tm_port, 0, 0, ANY)
        + textwrap.dedent(
            f"""
        car = lib.find("vehicle.tesla.model3")
        spawn = town.get_spawn_points()
        turner = world.spawn_actor(car, spawn[0])
        turner.set_autopilot(True, {tm_port})
        tm.set_route(turner, ["Left", "Left", "Left", "Left"])
        tm.update_vehicle_lights(turner, True)

        def turning_target(start):
            # A point 20 m past the first junction, on its most turning branch.
            w = town.get_waypoint(start.location)
            while not w.is_junction:
                w = w.next(2.0)[0]
            entry = w.previous(2.0)[0]
            branches = entry.next(3.0)
            def turn(b):
                end = b
                while end.is_junction:
                    end = end.next(2.0)[0]
                yaw = end.transform.rotation.yaw - entry.transform.rotation.yaw
                return abs((yaw + 180) % 360 - 180), end
            best = max((turn(b) for b in branches), key=lambda t: t[0])[1]
            return best.next(20.0)[0].transform.location

        followers, targets = [], []
        for index in (40, 41):
            vehicle = world.spawn_actor(car, spawn[index])
            vehicle.set_autopilot(True, {tm_port})
            target = turning_target(spawn[index])
            tm.set_path(vehicle, [target])
            followers.append(vehicle)
            targets.append(target)
        follower = followers[0]
        tm.ignore_lights_percentage(turner, 100.0)
        yaw0 = turner.get_transform().rotation.yaw
        turns = []
        nearest = [1e9, 1e9]
        lights = set()
        last_yaw = yaw0
        for tick in range(1200):
            world.tick()
            yaw = turner.get_transform().rotation.yaw
            turns.append((yaw - last_yaw + 180) % 360 - 180)
            last_yaw = yaw
            for k in range(2):
                nearest[k] = min(nearest[k], followers[k].get_location().distance(targets[k]))
            lights.add(int(turner.get_light_state()))
        result["net_turn"] = sum(turns)
        result["nearest"] = nearest
        result["lights"] = sorted(lights)
        result["ids"] = [turner.id, follower.id]
        """
        ),
        timeout=300,
    )
    # Four left turns: the heading went round anticlockwise (CARLA's yaw falls to the left).
    assert result["net_turn"] < -200.0, result
    assert max(result["nearest"]) < 5.0, "set_path picks the branch towards the location"
    position_and_brake = [f for f in result["lights"] if f & 0x1 and f & 0x8]
    assert position_and_brake, f"lights managed: position + brake seen, got {result['lights']}"
    actions = _tm_call(tm_port, "get_all_actions", result["ids"][1])
    assert actions and all(len(a) == 2 and len(a[1]) == 3 for a in actions), actions
    assert _tm_call(tm_port, "get_next_action", result["ids"][1]) == actions[0]


def _tm_call(port: int, method: str, *params: object) -> object:
    """One plain msgpack-rpc call to the Traffic Manager port; raises on an rpc error."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(msgpack.packb([0, 1, method, list(params)], use_bin_type=True))
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        while True:
            chunk = sock.recv(65536)
            assert chunk, f"{method}: connection closed"
            unpacker.feed(chunk)
            for reply in unpacker:
                _kind, _msgid, error, value = reply
                if error is not None:
                    raise RuntimeError(f"{method}: {error}")
                return value


def test_every_traffic_manager_rpc_answers(server: ServerProcess) -> None:
    tm_port = server.port + 3
    result = run_client(
        server.port,
        f"""
        world = client.get_world()
        tm = client.get_trafficmanager({tm_port})
        result["port"] = tm.get_port()
        car = world.get_blueprint_library().find("vehicle.audi.tt")
        spawn = world.get_map().get_spawn_points()
        a = world.spawn_actor(car, spawn[0])
        b = world.spawn_actor(car, spawn[5])
        a.set_autopilot(True, {tm_port})
        b.set_autopilot(True, {tm_port})
        calls = [
            lambda: tm.auto_lane_change(a, False),
            lambda: tm.collision_detection(a, b, False),
            lambda: tm.distance_to_leading_vehicle(a, 3.0),
            lambda: tm.force_lane_change(a, True),
            lambda: tm.global_lane_offset(0.1),
            lambda: tm.global_percentage_speed_difference(10.0),
            lambda: tm.ignore_lights_percentage(a, 10.0),
            lambda: tm.ignore_signs_percentage(a, 10.0),
            lambda: tm.ignore_vehicles_percentage(a, 10.0),
            lambda: tm.ignore_walkers_percentage(a, 10.0),
            lambda: tm.keep_slow_lane_rule_percentage(a, 10.0),
            lambda: tm.random_left_lanechange_percentage(a, 10.0),
            lambda: tm.random_right_lanechange_percentage(a, 10.0),
            lambda: tm.update_vehicle_lights(a, True),
            lambda: tm.vehicle_lane_offset(a, 0.2),
            lambda: tm.vehicle_percentage_speed_difference(a, 20.0),
            lambda: tm.get_all_actions(a),
            lambda: tm.get_next_action(a),
            lambda: tm.set_boundaries_respawn_dormant_vehicles(20.0, 80.0),
            lambda: tm.set_desired_speed(a, 25.0),
            lambda: tm.set_global_distance_to_leading_vehicle(2.5),
            lambda: tm.set_hybrid_physics_mode(True),
            lambda: tm.set_hybrid_physics_radius(70.0),
            lambda: tm.set_osm_mode(True),
            lambda: tm.set_path(a, [spawn[3].location, spawn[4].location]),
            lambda: tm.set_random_device_seed(3),
            lambda: tm.set_respawn_dormant_vehicles(True),
            lambda: tm.set_route(a, ["Left", "Straight", "Right"]),
            lambda: tm.set_synchronous_mode(True),
            lambda: tm.set_synchronous_mode(False),
        ]
        for call in calls:
            call()
        a.set_autopilot(False, {tm_port})
        result["ids"] = [a.id, b.id]
        result["calls"] = len(calls)
        """,
    )
    assert result["port"] == tm_port
    a, b = result["ids"]
    assert b != a
    actor = [a, 0, [0, "vehicle.audi.tt", []], [], [], b""]
    location = [1.0, 2.0, 0.0]
    # Names the Python API does not reach (or reaches with other spellings), sent raw.
    raw_calls: list[tuple[str, tuple[object, ...]]] = [
        ("register_vehicle", ([actor],)),
        ("update_custom_path", (a, [location])),
        ("remove_custom_path", (a, True)),
        ("set_imported_route", (actor, b"\x01\x03", True)),
        ("update_imported_route", (a, b"\x02")),
        ("remove_imported_route", (a, True)),
        ("set_max_boundaries", (10.0, 50.0)),
        ("set_synchronous_mode_timeout_in_milisecond", (2000.0,)),
        ("set_percentage_keep_slow_lane_rule", (actor, 50.0)),
        ("set_percentage_running_light", (actor, 5.0)),
        ("set_percentage_running_sign", (actor, 5.0)),
        ("set_lane_offset", (actor, 0.0)),
        ("synchronous_tick", ()),
        ("health_check_remote_TM", ()),
        ("get_next_action", (a,)),
        ("get_all_actions", (a,)),
        ("unregister_vehicle", ([actor],)),
        ("shut_down", ()),
    ]
    for method, params in raw_calls:
        _tm_call(tm_port, method, *params)
    assert _tm_call(tm_port, "synchronous_tick") is True
    # Bad arguments: an rpc error naming the problem, and the port keeps serving.
    with pytest.raises(RuntimeError, match="must be a finite number"):
        _tm_call(tm_port, "set_global_percentage_speed_difference", float("nan"))
    with pytest.raises(RuntimeError, match="not a vehicle"):
        _tm_call(tm_port, "register_vehicle", [[1, 0, [0, "spectator", []], [], [], b""]])
    assert _tm_call(tm_port, "health_check_remote_TM") is None


def test_client_side_traffic_manager_flag(tmp_path: Path) -> None:
    """``--client-side-tm`` keeps CARLA's own in-process Traffic Manager working.

    That TM runs asynchronously here: in synchronous mode CARLA's client-side TM can block
    ``world.tick()`` for good (a lost wake-up in the client), the very reason carla_lite
    serves the TM itself.
    """
    proc = ServerProcess(tmp_path, "--client-side-tm")
    try:
        body = _npcs(proc.port + 3, 10, 3, CARS) + textwrap.dedent(
            """
            tm.set_synchronous_mode(False)
            start = {a.id: a.get_location() for a in actors}
            for _ in range(300):
                world.tick()
                time.sleep(0.005)  # the asynchronous TM steps on its own thread
            result["moved"] = [a.get_location().distance(start[a.id]) for a in actors]
            result["local_tm"] = tm.get_port()
            """
        )
        result = run_client(proc.port, body, timeout=120)
        assert proc.unknown_rpcs() == []
        assert "Traffic Manager" not in proc.log(), "no server-side TM was started"
    finally:
        proc.stop()
    assert len(result["moved"]) == 10
    assert sum(d > 3.0 for d in result["moved"]) >= 5, result
