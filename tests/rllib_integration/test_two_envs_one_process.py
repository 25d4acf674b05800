"""Several envs with NPCs in one process (RLlib's num_envs_per_env_runner > 1).

The 0.9.16 client resets the process's first Traffic Manager whenever any of its clients
sees a new episode, so one env's ``load_world`` could crash another env's Traffic Manager
("close: Bad file descriptor" or a segfault, in about half of the starts). An embedded
server is now launched on the experiment's town and no world is loaded after connecting.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_python

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("attempt", range(4))
def test_two_envs_with_traffic_start_and_step_in_one_process(attempt: int) -> None:
    result = run_python(
        """
        from rllib_integration.carla_env import CarlaEnv
        from tests.rllib_integration.experiments import BirdViewExperiment, env_config

        loads = []
        load_world = carla.Client.load_world

        def counting_load_world(client, *args, **kwargs):
            loads.append(args)
            return load_world(client, *args, **kwargs)

        carla.Client.load_world = counting_load_world
        config = env_config()
        config["experiment"]["background_activity"] = {"n_vehicles": 10}
        envs = [CarlaEnv(config) for _ in range(2)]
        try:
            for env in envs:
                env.reset()
            episodes = [env.core.world.id for env in envs]
            for _ in range(30):
                for env in envs:
                    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                    if terminated or truncated:
                        env.reset()
            result["same_episode"] = [env.core.world.id for env in envs] == episodes
            result["npcs"] = [len(env.core.npc_ids) for env in envs]
            result["loads"] = len(loads)
        finally:
            for env in envs:
                env.close()
        """,
        timeout=240,
    )
    assert result["npcs"] == [10, 10]
    assert result["loads"] == 0  # started on the town: no load_world, no episode change
    assert result["same_episode"]


def test_few_npcs_walkers_and_hero_respawns_keep_the_server_ticking() -> None:
    """Hero respawns change the vehicle set every episode; with few NPCs the Traffic
    Manager's obstacle layout was once looked up by ``id()`` of a freed array, and a reused
    id gave a layout of the wrong size (a ValueError in every tick from then on)."""
    result = run_python(
        """
        import numpy as np
        from ppo_example.ppo_experiment import PPOExperiment
        from rllib_integration.carla_env import CarlaEnv

        config = {
            "carla": {"server": "embedded", "timestep": 0.1, "timeout": 10.0},
            "experiment": {
                "type": PPOExperiment,
                "town": "LiteTown01",
                "background_activity": {"n_vehicles": 4, "n_walkers": 2},
                "route": {"length": 80.0},
            },
        }
        envs = [CarlaEnv(config) for _ in range(2)]
        rng = np.random.default_rng(0)
        episodes = 0
        try:
            for env in envs:
                env.reset()
            for _ in range(300):
                for env in envs:
                    action = np.array([rng.uniform(-1, 1), 1.0])  # full throttle: short episodes
                    _, _, terminated, truncated, _ = env.step(action)
                    if terminated or truncated:
                        episodes += 1
                        env.reset()
            result["episodes"] = episodes
            result["servers_alive"] = [env.core.ready for env in envs]
        finally:
            for env in envs:
                env.close()
        """,
        timeout=300,
    )
    assert result["episodes"] >= 4  # several hero respawns happened
    assert result["servers_alive"] == [True, True]
