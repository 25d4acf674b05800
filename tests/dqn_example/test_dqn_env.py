"""DQNExperiment end to end in CarlaEnv on the embedded server (LiteTown01).

Runs in a subprocess: the official client can abort the process it runs in.
"""

from __future__ import annotations

from tests.conftest import run_python


def test_dqn_experiment_in_carla_env() -> None:
    result = run_python(
        """
        from gymnasium.utils.env_checker import check_env
        from rllib_integration.carla_env import CarlaEnv

        config = {
            "carla": {"server": "embedded", "timeout": 10.0},
            "experiment": {
                "type": "dqn_example.dqn_experiment:DQNExperiment",
                "town": "LiteTown01",
                "hero": {"sensors": {
                    "birdview": {"type": "sensor.birdview", "size": 48, "radius": 15},
                }},
                "others": {"max_time_idle": 10, "max_time_episode": 40},
            },
        }
        env = CarlaEnv(config)
        try:
            check_env(env, skip_render_check=True)
            result["checked"] = True
            result["spaces"] = [str(env.action_space), list(env.observation_space.shape)]

            obs, info = env.reset(seed=0)
            first = [obs[:, :, 3 * i : 3 * i + 3] for i in range(4)]
            result["reset"] = [list(obs.shape), str(obs.dtype), info,
                               all(bool((f == first[0]).all()) for f in first)]
            drive = []
            while True:
                obs, reward, terminated, truncated, info = env.step(22)  # full throttle
                drive.append([reward, terminated, truncated])
                if terminated or truncated:
                    break
            result["drive"] = drive
            result["drive_obs"] = [list(obs.shape), str(obs.dtype)]
            result["heading_deviation"] = env.experiment.last_heading_deviation

            env.reset(seed=1)
            idle = []
            while len(idle) < 100:
                _, reward, terminated, truncated, _ = env.step(1)  # full brake
                v = env.core.hero.get_velocity()
                speed = 3.6 * (v.x**2 + v.y**2 + v.z**2) ** 0.5
                idle.append([reward, terminated, truncated, speed])
                if terminated or truncated:
                    break
            result["idle"] = idle
        finally:
            env.close()
        """,
        timeout=120,
    )
    assert result["checked"] is True
    assert result["spaces"] == ["Discrete(29)", [48, 48, 12]]
    assert result["reset"] == [[48, 48, 12], "uint8", {}, True]

    drive = result["drive"]
    # max_time_episode 40: step 41 truncates, paying the +100 of the original on that step.
    assert len(drive) == 41
    assert [d[1:] for d in drive] == [[False, False]] * 40 + [[False, True]]
    assert drive[-1][0] > 100.0
    assert all(d[0] > 0 for d in drive[:-1]), "speeding up on a straight lane pays every step"
    assert sum(d[0] for d in drive[:-1]) > 1.0
    assert result["drive_obs"] == [[48, 48, 12], "uint8"]
    assert 0.0 <= result["heading_deviation"] < 0.4

    idle = result["idle"]
    # max_time_idle 10: terminated on the 12th step in a row at <= 1 km/h, with -100.
    last_moving = max((i for i, s in enumerate(idle) if s[3] > 1.0), default=-1)
    assert len(idle) == last_moving + 1 + 12
    assert idle[-1][1:3] == [True, False]
    assert idle[-1][0] <= -99.0
    assert all(not s[1] and not s[2] for s in idle[:-1])
