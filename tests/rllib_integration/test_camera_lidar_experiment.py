"""An experiment observing an RGB camera and a LiDAR runs on carla_lite out of the box."""

from __future__ import annotations

import numpy as np
from gymnasium.utils.env_checker import check_env

from rllib_integration.carla_env import CarlaEnv
from tests.rllib_integration.experiments import CameraLidarExperiment


def _config(**background: int) -> dict:
    return {
        "carla": {"server": "embedded", "timeout": 10.0},
        "experiment": {
            "type": CameraLidarExperiment,
            "town": "LiteTown01",
            "background_activity": dict(background),
        },
    }


def test_camera_and_lidar_observation_passes_check_env() -> None:
    env = CarlaEnv(_config())
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_2000_steps_with_30_walkers_and_30_vehicles() -> None:
    env = CarlaEnv(_config(n_vehicles=30, n_walkers=30, seed=3))
    try:
        obs, _info = env.reset(seed=3)
        space = env.observation_space
        steps = episodes = 0
        lidar_points = []
        camera_spread = []
        while steps < 2000:
            obs, _reward, terminated, truncated, info = env.step(steps % 2 + 1)
            steps += 1
            assert space.contains(obs)
            lidar_points.append(info["lidar_points"])
            if steps % 100 == 0:
                camera_spread.append(float(obs["camera"].std()))
            if terminated or truncated:
                episodes += 1
                obs, _info = env.reset()
        walkers = env.core.world.get_actors().filter("walker.pedestrian.*")
        vehicles = env.core.world.get_actors().filter("vehicle.*")
    finally:
        env.close()
    assert np.mean(lidar_points) > 100, "the LiDAR sees the ground and the town every step"
    assert min(camera_spread) > 5.0, "camera images show a scene, not a flat colour"
    assert len(walkers) >= 25, "walkers spawned (a few navmesh spots may be taken)"
    assert len(vehicles) >= 25
