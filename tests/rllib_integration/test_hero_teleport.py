"""A reset moves the last episode's hero (``hero.teleport_on_reset``) instead of respawning it,
brought to rest, and leaves any place it is not sure of to the server (a real spawn)."""

from __future__ import annotations

from tests.conftest import run_python

# Indented like the scenario bodies, which are dedented together.
PRELUDE = """
        from rllib_integration.carla_env import CarlaEnv
        from tests.rllib_integration.experiments import BirdViewExperiment, env_config

        def state(env):
            hero = env.hero
            velocity, control = hero.get_velocity(), hero.get_control()
            location = hero.get_location()
            return {
                "id": hero.id,
                "speed": (velocity.x ** 2 + velocity.y ** 2) ** 0.5,
                "throttle": control.throttle,
                "xy": [location.x, location.y],
                "sensors": sorted(a.id for a in env.core.world.get_actors()
                                  if a.parent and a.parent.id == hero.id),
            }

        def drive(env, steps=40):
            for _ in range(steps):
                env.step(1)  # throttle 0.7
            return state(env)
"""


def test_reset_moves_the_hero_brought_to_rest_and_seeded_resets_respawn_it() -> None:
    result = run_python(
        PRELUDE
        + """
        env = CarlaEnv(env_config())
        try:
            env.reset(seed=3)
            first = state(env)
            points = [[p.location.x, p.location.y] for p in env.core.map.get_spawn_points()]
            result["driving"] = drive(env)
            env.reset()
            result["moved"] = state(env)
            result["moved_to_a_spawn_point"] = min(
                ((x - result["moved"]["xy"][0]) ** 2 + (y - result["moved"]["xy"][1]) ** 2)
                ** 0.5 for x, y in points
            )
            drive(env)
            env.reset(seed=3)
            result["seeded"] = state(env)
            result["first"] = first
        finally:
            env.close()
        config = env_config()
        config["experiment"]["hero"] = {"teleport_on_reset": False}
        env = CarlaEnv(config)
        try:
            env.reset(seed=3)
            before = env.hero.id
            env.reset()
            result["respawned_when_off"] = env.hero.id != before
        finally:
            env.close()
        """,
        timeout=240,
    )
    first, driving, moved, seeded = (result[k] for k in ("first", "driving", "moved", "seeded"))
    assert driving["speed"] > 2.0 and driving["throttle"] > 0.5
    assert moved["id"] == first["id"], "an unseeded reset keeps the hero"
    assert moved["speed"] < 0.05 and moved["throttle"] == 0.0, "brought to rest, pedals off"
    assert result["moved_to_a_spawn_point"] < 0.5
    assert moved["sensors"] and not set(moved["sensors"]) & set(driving["sensors"])
    assert len(moved["sensors"]) == len(first["sensors"]), "fresh sensors, none left over"
    assert seeded["id"] != first["id"], "a seeded reset respawns the hero"
    assert seeded["xy"] == first["xy"], "same seed, same place"
    assert result["respawned_when_off"]


def test_a_place_that_may_be_taken_is_left_to_the_server() -> None:
    result = run_python(
        PRELUDE
        + """
        places = []

        class Placing(BirdViewExperiment):
            def hero_spawn_points(self, core, rng):
                return places

        config = env_config()
        config["experiment"]["type"] = Placing
        env = CarlaEnv(config)
        try:
            env.reset(seed=1)
            points = env.core.map.get_spawn_points()
            places[:] = [points[0]]
            env.reset(seed=1)
            first = state(env)
            # Its own old place is free for it: moved there again.
            places[:] = [points[0]]
            drive(env, 10)
            env.reset()
            result["same_place_same_hero"] = state(env)["id"] == first["id"]
            # A car parked on the next place: the hero is not put on top of it.
            blueprint = env.core.world.get_blueprint_library().find("vehicle.audi.tt")
            parked = env.core.world.spawn_actor(blueprint, points[1])
            env.core.world.tick()
            parked_at = parked.get_location()
            places[:] = [points[1], points[2]]
            env.reset()
            after = state(env)
            result["respawned"] = after["id"] != first["id"]
            result["at_third"] = env.hero.get_location().distance(points[2].location) < 1.0
            result["parked_moved"] = parked.get_location().distance(parked_at)
        finally:
            env.close()
        """,
        timeout=180,
    )
    assert result["same_place_same_hero"]
    assert result["respawned"], "a place that may be taken goes to the server's spawn check"
    assert result["at_third"], "the taken place was refused, the next one used"
    assert result["parked_moved"] < 0.05
