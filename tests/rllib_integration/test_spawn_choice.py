"""An experiment choosing the hero's spawn places (routes): taken places mean a new choice."""

from __future__ import annotations

from tests.conftest import run_python


def test_taken_places_are_chosen_again_then_reported() -> None:
    result = run_python(
        """
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.errors import SpawnError
        from tests.rllib_integration.experiments import BirdViewExperiment, env_config

        calls = []

        class Choosing(BirdViewExperiment):
            taken = None

            def hero_spawn_points(self, core, rng):
                points = core.map.get_spawn_points()
                if Choosing.taken is None:  # park a car on the first point
                    blueprint = core.world.get_blueprint_library().find("vehicle.audi.tt")
                    Choosing.taken = core.world.spawn_actor(blueprint, points[0])
                    core.world.tick()
                calls.append(len(calls))
                return [points[0]] if len(calls) < 2 or always_taken else [points[1]]

        config = env_config()
        config["experiment"]["type"] = Choosing
        env = CarlaEnv(config)
        try:
            always_taken = False
            env.reset()
            result["calls_until_free"] = len(calls)
            second = env.core.map.get_spawn_points()[1].location
            result["hero_at_second"] = env.hero.get_location().distance(second) < 1.0
            calls.clear()
            always_taken = True
            try:
                env.reset()
                result["error"] = None
            except SpawnError as error:
                result["error"] = str(error)
            result["calls_when_always_taken"] = len(calls)
        finally:
            env.close()
        """,
        timeout=180,
    )
    assert result["calls_until_free"] == 2
    assert result["hero_at_second"]
    assert result["calls_when_always_taken"] == 5  # SPAWN_CHOICES
    assert "occupied" in result["error"]
