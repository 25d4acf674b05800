"""Route planning and generation on carla_lite maps, through the official client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_TOWNS, ServerProcess, run_client

PLAN_AND_CHECK = """
    import numpy as np
    from rllib_integration.errors import ConfigError
    from rllib_integration.routing import RouteGenerator, RoutePlanner, RouteSpec

    world_map = client.get_world().get_map()
    planner = RoutePlanner(world_map)

    def describe(route):
        gaps = np.hypot(*np.diff(route.points[:, :2], axis=0).T)
        off = 0.0
        for x, y, z, _ in route.points[::5]:
            wp = world_map.get_waypoint(
                carla.Location(x, y, z), project_to_road=False, lane_type=carla.LaneType.Driving
            )
            here = carla.Location(x, y, z)
            off = max(off, 9.9 if wp is None else wp.transform.location.distance(here))
        return {"length": route.length, "max_gap": float(gaps.max()), "max_off_lane": off,
                "start": route.start, "goal": route.goal}

    first = RouteGenerator(planner, 42).generate_many(4, LENGTH)
    again = RouteGenerator(planner, 42).generate_many(4, LENGTH)
    other = RouteGenerator(planner, 43).generate_many(4, LENGTH)
    spec = RouteSpec("replanned", first[0].start[:3], first[0].goal)
    replanned = spec.plan(planner)
    errors = []
    for start, goal in (((1e4, 1e4, 0.0), first[0].goal), (first[0].start[:3], (1e4, 1e4, 0.0))):
        try:
            planner.plan(start, goal)
        except ConfigError as error:
            errors.append(str(error))
    result = {
        "same": all(np.array_equal(a.points, b.points) for a, b in zip(first, again)),
        "differs": any(not np.array_equal(a.points, b.points) for a, b in zip(first, other)),
        "routes": [describe(r) for r in first],
        "replanned_length": replanned.length,
        "errors": errors,
    }
"""


def _check(result: dict, length: float) -> None:
    assert result["same"] and result["differs"]
    for route in result["routes"]:
        assert 0.8 * length <= route["length"] <= length + 20.0, route
        assert route["max_gap"] <= 1.01, route  # resampled every metre, no jumps
        assert route["max_off_lane"] < 0.5, route  # every point on a driving lane
    # The shortest plan between a generated route's ends is never longer than that route.
    assert result["replanned_length"] <= result["routes"][0]["length"] + 1.0
    assert len(result["errors"]) == 2
    assert all("not near a driving lane" in e for e in result["errors"])


def test_routes_on_the_embedded_town(shared_server: ServerProcess) -> None:
    result = run_client(shared_server.port, "    LENGTH = 500.0\n" + PLAN_AND_CHECK)
    _check(result, 500.0)


@pytest.mark.parametrize("town", ["Town01", "Town10HD"])
def test_routes_on_carla_towns(town: str, tmp_path: Path) -> None:
    if not SHARED_TOWNS.is_dir():
        pytest.skip(f"needs the CARLA town files in {SHARED_TOWNS}")
    proc = ServerProcess(tmp_path, f"--maps-dir={SHARED_TOWNS}", f"--map={town}")
    try:
        result = run_client(proc.port, "    LENGTH = 400.0\n" + PLAN_AND_CHECK, timeout=300)
    finally:
        proc.stop()
    _check(result, 400.0)
