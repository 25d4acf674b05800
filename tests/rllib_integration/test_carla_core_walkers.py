"""CarlaCore's walkers on the embedded server: AI-driven pedestrians spawn, walk and go away.

Each scenario runs in a subprocess: the official client can abort the process it runs in.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import run_python

# Indented like the scenario bodies, which are dedented together.
PRELUDE = """
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.errors import ConfigError
        from tests.rllib_integration.experiments import BirdViewExperiment, env_config

        def config_with(**activity):
            config = env_config()
            config["experiment"]["background_activity"] = activity
            return config

        def positions(world, ids):
            return {a.id: (a.get_location().x, a.get_location().y) for a in world.get_actors(ids)}
"""


@pytest.fixture(autouse=True)
def _client_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private client file cache: a stale navmesh in ~/carlaCache would hide the server's."""
    monkeypatch.setenv("CARLA_CACHE_DIR", str(tmp_path / "carla_cache"))


def test_walkers_with_ai_controllers_walk_and_are_destroyed() -> None:
    result = run_python(
        PRELUDE
        + """
        env = CarlaEnv(config_with(n_vehicles=10, n_walkers=30, walkers_running=0.5))
        try:
            env.reset(seed=5)
            core = env.core
            world = core.world
            result["walkers"] = len(core.walker_ids)
            result["controllers"] = len(core.walker_controller_ids)
            controllers = world.get_actors(core.walker_controller_ids)
            parents = sorted(a.parent.id for a in controllers)
            result["parents_ok"] = parents == sorted(core.walker_ids)
            result["types"] = sorted({a.type_id for a in controllers})
            before = positions(world, core.walker_ids)
            for i in range(200):
                env.step(1)
            after = positions(world, core.walker_ids)
            result["moved"] = sum(
                1 for i, (x, y) in after.items()
                if i in before and math.hypot(x - before[i][0], y - before[i][1]) > 2.0
            )
            result["finite"] = all(math.isfinite(x) and math.isfinite(y) for x, y in after.values())
            speeds = [w.get_velocity().length() for w in world.get_actors(core.walker_ids)]
            result["fast"] = sum(1 for s in speeds if s > 2.0)
            env.reset(seed=6)  # respawns the NPCs: the old walkers must be gone
            world = env.core.world
            result["walkers_after_reset"] = len(world.get_actors().filter("walker.*"))
            result["controllers_after_reset"] = len(
                world.get_actors().filter("controller.ai.walker")
            )
        finally:
            env.close()
        """,
        timeout=300,
    )
    assert result["walkers"] >= 25, "a few random navmesh points may be taken"
    assert result["controllers"] == result["walkers"]
    assert result["parents_ok"], "each controller is attached to its walker"
    assert result["types"] == ["controller.ai.walker"]
    assert result["moved"] >= 0.8 * result["walkers"], result
    assert result["finite"]
    assert 25 <= result["walkers_after_reset"] <= 30, "a reset replaces the walkers"
    assert result["controllers_after_reset"] <= 30


def test_destroy_npcs_removes_walkers_and_controllers_and_bad_shares_are_config_errors() -> None:
    result = run_python(
        PRELUDE
        + """
        env = CarlaEnv(config_with(n_walkers=12))
        try:
            env.reset(seed=1)
            core = env.core
            result["walkers"] = len(core.walker_ids)
            core.destroy_npcs()
            core.world.tick()
            actors = core.world.get_actors()
            result["left"] = len(actors.filter("walker.*")) + len(actors.filter("controller.*"))
            result["ids_left"] = len(core.walker_ids) + len(core.walker_controller_ids)
            for _ in range(5):
                env.step(1)  # the client's crowd has nobody left to move: no error
        finally:
            env.close()
        env = CarlaEnv(config_with(n_walkers=5, walkers_crossing=1.5))
        try:
            env.reset(seed=1)
            result["error"] = ""
        except ConfigError as e:
            result["error"] = str(e)
        finally:
            env.close()
        """,
        timeout=300,
    )
    assert result["walkers"] >= 10
    assert result["left"] == 0 and result["ids_left"] == 0
    assert "walkers_crossing" in result["error"] and "[0, 1]" in result["error"]


def test_same_seed_same_walkers() -> None:
    """The seed decides where walkers spawn and head (their walks then run in the client's
    crowd, whose avoidance is not bit-for-bit repeatable: compared right after the reset)."""
    result = run_python(
        PRELUDE
        + """
        def rollout(seed):
            env = CarlaEnv(config_with(n_walkers=20))
            try:
                env.reset(seed=seed)
                world = env.core.world
                return sorted(
                    [round(p[0], 2), round(p[1], 2)]
                    for p in positions(world, env.core.walker_ids).values()
                )
            finally:
                env.close()
        result["a"] = rollout(11)
        result["b"] = rollout(11)
        result["c"] = rollout(12)
        """,
        timeout=300,
    )
    assert len(result["a"]) >= 15

    def matched(p: list, q: list) -> float:
        """Share of ``p``'s walkers with one of ``q``'s within 2 m."""
        near = [any(math.dist(a, b) < 2.0 for b in q) for a in p]
        return sum(near) / len(p)

    # Nearly all: one walker of 20 may already have been steered elsewhere by the crowd.
    assert matched(result["a"], result["b"]) >= 0.9, "same seed, same walkers, same places"
    assert matched(result["a"], result["c"]) < 0.5, "another seed, other places"


def test_a_town_without_sidewalks_spawns_no_walkers_and_runs_on() -> None:
    result = run_python(
        PRELUDE
        + """
        config = config_with(n_walkers=5)
        config["experiment"]["town"] = "LiteHighway01"
        env = CarlaEnv(config)
        try:
            env.reset(seed=2)
            result["walkers"] = len(env.core.walker_ids)
            result["in_world"] = len(env.core.world.get_actors().filter("walker.*"))
            for _ in range(5):
                env.step(1)
            result["stepped"] = True
        finally:
            env.close()
        """,
        timeout=300,
    )
    assert result == {"walkers": 0, "in_world": 0, "stepped": True}
