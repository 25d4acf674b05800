"""The original CarlaCore's helper methods that user code may call between ticks."""

from __future__ import annotations

from tests.conftest import run_python


def test_apply_hero_control_and_get_sensor_data_between_ticks() -> None:
    result = run_python(
        """
        from rllib_integration.carla_env import CarlaEnv
        from tests.rllib_integration.experiments import env_config

        env = CarlaEnv(env_config())
        try:
            env.reset(seed=0)
            core = env.core
            core.apply_hero_control(carla.VehicleControl(throttle=1.0))
            for _ in range(20):
                data = core.tick(None)  # no control: the applied one stays in force
            result["speed"] = core.hero.get_velocity().length()
            result["throttle"] = core.hero.get_control().throttle
            latest = core.get_sensor_data()
            result["names"] = sorted(latest)
            result["same_frame"] = latest["birdview"][0] == data["birdview"][0]
        finally:
            env.close()
        """
    )
    assert result["throttle"] == 1.0
    assert result["speed"] > 1.0, "the hero drove under the applied control"
    assert "birdview" in result["names"] and result["same_frame"] is True


def test_birdview_catalogue_stays_bounded_over_many_resets() -> None:
    """Each reset spawns a new hero and sensors in the same episode; the BirdView used to
    keep their catalogue entries for good (about 4 per reset)."""
    result = run_python(
        """
        from rllib_integration.carla_env import CarlaEnv
        from rllib_integration.sensors.bird_view_manager import CATALOGUE_SLACK
        from tests.rllib_integration.experiments import env_config

        env = CarlaEnv(env_config())
        try:
            env.reset(seed=0)
            sizes = []
            for _ in range(300):
                env.reset()
                env.step(1)
                birdview = env.core.sensor_interface._sensors["birdview"]
                sizes.append(len(birdview._catalogue))
            result["largest"] = max(sizes)
            result["present"] = len(env.core.world.get_snapshot())
            result["slack"] = CATALOGUE_SLACK
        finally:
            env.close()
        """
    )
    assert result["largest"] <= 2 * result["present"] + result["slack"] + 8, result
