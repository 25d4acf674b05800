"""Pedestrian AI through the official client: the navmesh download, random sidewalk points
and crowds of ``controller.ai.walker`` walking among Traffic Manager vehicles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_TOWNS, ServerProcess, run_client

# Shared by the scenarios: spawn ``n`` AI walkers (batch, like generate_traffic.py), start
# them towards random targets, and sample where they are.
CROWD = """
def on_paved(m, loc, types):
    return any(
        m.get_waypoint(loc, project_to_road=False, lane_type=t) is not None for t in types
    )

def spawn_crowd(world, n):
    lib = world.get_blueprint_library()
    bps = sorted(lib.filter("walker.pedestrian.*"), key=lambda b: b.id)
    batch = []
    for i in range(n):
        loc = world.get_random_location_from_navigation()
        loc.z += 1.0
        batch.append(carla.command.SpawnActor(bps[i % len(bps)], carla.Transform(loc)))
    walkers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    ctrl = lib.find("controller.ai.walker")
    batch = [carla.command.SpawnActor(ctrl, carla.Transform(), w) for w in walkers]
    controllers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    return walkers, controllers

def start_crowd(world, controllers):
    for c in world.get_actors(controllers):
        c.start()
        c.go_to_location(world.get_random_location_from_navigation())
        c.set_max_speed(1.4)

def sample(world, walkers):
    out = []
    for w in world.get_actors(walkers):
        loc = w.get_location()
        out.append([loc.x, loc.y, loc.z])
    return out

def spawn_traffic(world, tm, n):
    lib = world.get_blueprint_library()
    bp = lib.find("vehicle.tesla.model3")
    points = world.get_map().get_spawn_points()[:n]
    SpawnActor, SetAutopilot, Future = (
        carla.command.SpawnActor, carla.command.SetAutopilot, carla.command.FutureActor
    )
    batch = [SpawnActor(bp, p).then(SetAutopilot(Future, True, tm.get_port())) for p in points]
    return [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]

def judge(world, walkers, samples, start):
    m = world.get_map()
    paved = [
        carla.LaneType.Sidewalk, carla.LaneType.Driving, carla.LaneType.Shoulder,
        carla.LaneType.Border, carla.LaneType.Parking,
    ]
    flat = [p for s in samples for p in s]
    result["nan"] = sum(1 for p in flat if not all(math.isfinite(v) for v in p))
    result["samples"] = len(flat)
    result["on_sidewalk"] = sum(
        1 for p in flat if on_paved(m, carla.Location(*p), [carla.LaneType.Sidewalk])
    )
    result["on_paved"] = sum(1 for p in flat if on_paved(m, carla.Location(*p), paved))
    result["off_paved"] = [p for p in flat if not on_paved(m, carla.Location(*p), paved)][:20]
    end = samples[-1]
    moved = [math.hypot(a[0] - b[0], a[1] - b[1]) for a, b in zip(start, end)]
    result["walkers"] = len(walkers)
    result["moved"] = sorted(moved)
    result["alive"] = len(world.get_actors(walkers))
"""

SYNC_SCENARIO = (
    CROWD
    + """
world = client.get_world()
if TOWN and world.get_map().name.split("/")[-1] != TOWN:
    world = client.load_world(TOWN)
s = world.get_settings()
s.synchronous_mode = True
s.fixed_delta_seconds = 0.05
world.apply_settings(s)
tm = client.get_trafficmanager(TM_PORT)
tm.set_synchronous_mode(True)
world.set_pedestrians_seed(7)
world.set_pedestrians_cross_factor(0.0)
vehicles = spawn_traffic(world, tm, 10)
world.tick()
m = world.get_map()
points = [world.get_random_location_from_navigation() for _ in range(200)]
result["random_none"] = sum(1 for p in points if p is None)
result["random_on_sidewalk"] = sum(
    1 for p in points if p is not None and on_paved(m, p, [carla.LaneType.Sidewalk])
)
walkers, controllers = spawn_crowd(world, 30)
world.tick()
start_crowd(world, controllers)
world.tick()
start = sample(world, walkers)
samples = []
for i in range(300):
    world.tick()
    if i % 30 == 29:
        samples.append(sample(world, walkers))
judge(world, walkers, samples, start)
result["vehicles"] = len(world.get_actors(vehicles))
result["controllers"] = len(controllers)
speeds = [w.get_velocity().length() for w in world.get_actors(walkers)]
result["max_speed"] = max(speeds)
for c in world.get_actors(controllers):
    c.stop()
client.apply_batch_sync([carla.command.DestroyActor(i) for i in controllers + walkers], True)
world.tick()
result["left"] = len(world.get_actors().filter("walker.*"))
"""
)

ASYNC_SCENARIO = (
    CROWD
    + """
world = client.get_world()
s = world.get_settings()
s.synchronous_mode = False
s.fixed_delta_seconds = 0.05
world.apply_settings(s)
tm = client.get_trafficmanager(TM_PORT)
world.set_pedestrians_cross_factor(0.0)
vehicles = spawn_traffic(world, tm, 10)
walkers, controllers = spawn_crowd(world, 30)
world.wait_for_tick()
world.wait_for_tick()
start_crowd(world, controllers)
world.wait_for_tick()
start = sample(world, walkers)
samples = []
for i in range(200):
    world.wait_for_tick()
    if i % 40 == 39:
        samples.append(sample(world, walkers))
judge(world, walkers, samples, start)
result["vehicles"] = len(world.get_actors(vehicles))
"""
)


@pytest.fixture(autouse=True)
def _client_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private client file cache: a stale navmesh in ~/carlaCache would hide the server's."""
    monkeypatch.setenv("CARLA_CACHE_DIR", str(tmp_path / "carla_cache"))


def _scenario(body: str, town: str, tm_port: int) -> str:
    return f"TOWN = {town!r}\nTM_PORT = {tm_port}\n" + body


def _check_crowd(result: dict, min_moved: float) -> None:
    assert result["walkers"] == 30
    assert result["alive"] == 30, "walkers vanished"
    assert result["nan"] == 0
    assert result["vehicles"] == 10
    samples = result["samples"]
    assert samples >= 30 * 5
    # Cross factor 0: on sidewalks, or crossing at a crosswalk (which is on the road).
    assert result["on_sidewalk"] >= 0.75 * samples, result
    assert result["on_paved"] >= 0.97 * samples, result.get("off_paved")
    moved = result["moved"]
    assert sum(1 for d in moved if d > min_moved) >= 25, moved


def test_navigation_on_lite_town_sync(server: ServerProcess) -> None:
    result = run_client(server.port, _scenario(SYNC_SCENARIO, "", server.port + 5), timeout=240)
    assert result["random_none"] == 0
    assert result["random_on_sidewalk"] >= 190, result
    assert result["controllers"] == 30
    _check_crowd(result, min_moved=3.0)
    assert 0.5 < result["max_speed"] < 2.0
    assert result["left"] == 0
    log = server.log()
    assert "navmesh for LiteTown01" in log


def test_navigation_async(server: ServerProcess) -> None:
    result = run_client(server.port, _scenario(ASYNC_SCENARIO, "", server.port + 5), timeout=240)
    _check_crowd(result, min_moved=1.5)


@pytest.mark.skipif(not SHARED_TOWNS.is_dir(), reason="../shared/maps/carla_towns absent")
@pytest.mark.parametrize("town", ["Town01", "Town10HD"])
def test_navigation_on_carla_town(tmp_path: Path, town: str) -> None:
    proc = ServerProcess(tmp_path, f"--maps-dir={SHARED_TOWNS}", f"--map={town}")
    try:
        result = run_client(proc.port, _scenario(SYNC_SCENARIO, town, proc.port + 5), timeout=240)
        assert proc.alive(), proc.log()
        assert proc.unknown_rpcs() == []
    finally:
        proc.stop()
    assert result["random_none"] == 0
    assert result["random_on_sidewalk"] >= 190, result
    _check_crowd(result, min_moved=3.0)


CROSS_FACTOR_SCENARIO = (
    CROWD
    + """
def mid_road(m, loc):
    # On a driving lane at least 6 m from any junction: not on a junction-mouth crossing.
    wp = m.get_waypoint(loc, project_to_road=False, lane_type=carla.LaneType.Driving)
    if wp is None or wp.is_junction:
        return False
    ahead, behind = wp.next(6.0), wp.previous(6.0)
    return bool(ahead and behind) and not any(w.is_junction for w in ahead + behind)

world = client.get_world()
s = world.get_settings()
s.synchronous_mode = True
s.fixed_delta_seconds = 0.05
world.apply_settings(s)
m = world.get_map()
world.set_pedestrians_seed(3)
for factor in (0.0, 1.0):
    world.set_pedestrians_cross_factor(factor)
    walkers, controllers = spawn_crowd(world, 30)
    world.tick()
    start_crowd(world, controllers)
    count = total = 0
    for i in range(2400):
        world.tick()
        if i % 20 == 19:
            for w in world.get_actors(walkers):
                total += 1
                count += mid_road(m, w.get_location())
    result[str(factor)] = [count, total]
    for c in world.get_actors(controllers):
        c.stop()
    client.apply_batch_sync([carla.command.DestroyActor(i) for i in controllers + walkers], True)
    world.tick()
"""
)

MAP_CHANGE_SCENARIO = """
def on_sidewalk(m, loc):
    return m.get_waypoint(loc, project_to_road=False, lane_type=carla.LaneType.Sidewalk)

world = client.get_world()
s = world.get_settings()
s.synchronous_mode = True
s.fixed_delta_seconds = 0.05
world.apply_settings(s)
world.tick()
first = world.get_map()
points = [world.get_random_location_from_navigation() for _ in range(50)]
result["before"] = sum(1 for p in points if p is not None and on_sidewalk(first, p))
result["before_north"] = sum(1 for p in points if p is not None and p.y > 10.0)
params = carla.OpendriveGenerationParameters(
    vertex_distance=2.0, max_road_length=50.0, wall_height=1.0, additional_width=0.6,
    smooth_junctions=True, enable_mesh_visibility=True, enable_pedestrian_navigation=True,
)
world = client.generate_opendrive_world(open(XODR).read(), params)
world.tick()
world.tick()
second = world.get_map()
points = [world.get_random_location_from_navigation() for _ in range(50)]
result["after"] = sum(1 for p in points if p is not None and on_sidewalk(second, p))
result["after_north"] = sum(1 for p in points if p is not None and p.y > 10.0)
result["none"] = sum(1 for p in points if p is None)
"""


def test_cross_factor_decides_who_crosses_off_crosswalks(server: ServerProcess) -> None:
    result = run_client(server.port, CROSS_FACTOR_SCENARIO, timeout=300)
    cautious, total0 = result["0.0"]
    bold, total1 = result["1.0"]
    assert total0 >= 3000 and total1 >= 3000
    # Factor 0: walkers cross only on the crossings at junction mouths.
    assert cautious <= 2, result
    # Factor 1: they also cross mid-road when that is shorter (10 to 50 samples seen).
    assert bold >= cautious + 5, result


@pytest.mark.skipif(not SHARED_TOWNS.is_dir(), reason="../shared/maps/carla_towns absent")
def test_a_new_opendrive_world_gets_its_own_navmesh(server: ServerProcess) -> None:
    xodr = SHARED_TOWNS / "Town01.xodr"
    result = run_client(server.port, f"XODR = {str(xodr)!r}\n" + MAP_CHANGE_SCENARIO)
    assert result["before"] >= 48
    assert result["none"] == 0
    assert result["after"] >= 48, "random points come from the new map's navmesh"
    # LiteTown01 lies at y < 8 m; most of Town01 at y > 10 m (its south edge at y = -8 m).
    assert result["before_north"] == 0
    assert result["after_north"] >= 30
    assert "navmesh for OpenDriveMap" in server.log()
