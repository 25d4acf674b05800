"""A carla_lite server per fuzz module, checked alive and bounded in memory at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.carla_lite.fuzz import strategies as fz
from tests.carla_lite.fuzz.strategies import FuzzTarget, start_target
from tests.conftest import run_client


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """One server for a fuzz module: alive, still serving and within the RSS bound at the end."""
    fuzz_target = start_target(tmp_path_factory.mktemp("fuzz_server"))
    try:
        yield fuzz_target
        fuzz_target.assert_serving()
        log = fuzz_target.process.log()
        # Tracebacks come only from unhandled thread exceptions and handlers' internal
        # errors (refused calls log one warning line).
        assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
        grown = fuzz_target.rss_kib() - fuzz_target.rss_before_kib
        assert grown < fz.RSS_GROWTH_LIMIT_KIB, f"server RSS grew by {grown} KiB"
    finally:
        fuzz_target.process.stop()


@pytest.fixture(scope="module")
def live_ids(target: FuzzTarget) -> list[int]:
    """Ids of live actors (a vehicle, a traffic light, the spectator), spawned with the
    official client, so that wrong-typed calls also reach the checks after the actor's."""
    result = run_client(
        target.rpc_port,
        """
        world = client.get_world()
        bp = world.get_blueprint_library().find('vehicle.tesla.model3')
        vehicle = world.spawn_actor(bp, world.get_map().get_spawn_points()[0])
        lights = world.get_actors().filter('traffic.traffic_light')
        result = {'ids': [vehicle.id, lights[0].id, world.get_spectator().id]}
        """,
    )
    return list(result["ids"])
