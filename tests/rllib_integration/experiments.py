"""Small experiments used by the tests (real BaseExperiment subclasses)."""

from __future__ import annotations

from typing import Any, ClassVar

import carla
import numpy as np
from gymnasium import spaces

from rllib_integration.base_experiment import BaseExperiment

#: throttle, steer, brake
ACTIONS = [(0.0, 0.0, 1.0), (0.7, 0.0, 0.0), (0.5, -0.4, 0.0), (0.5, 0.4, 0.0)]


class _FourActionExperiment(BaseExperiment):
    """What the test experiments share: four actions, reward = forward speed, the episode
    ends on a collision (``terminated``) or after ``others.max_steps`` (``truncated``)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(dict(config or {}))
        self.config["hero"]["sensors"].setdefault("collision", {"type": "sensor.other.collision"})
        self.steps = 0
        self.collided = False

    def reset(self) -> None:
        self.steps = 0
        self.collided = False

    def get_action_space(self) -> spaces.Discrete:
        return spaces.Discrete(len(ACTIONS))

    def get_actions(self) -> list[tuple[float, float, float]]:
        return ACTIONS

    def compute_action(self, action: Any) -> carla.VehicleControl:
        self.steps += 1
        throttle, steer, brake = ACTIONS[int(action)]
        return carla.VehicleControl(throttle=throttle, steer=steer, brake=brake)

    def note_collision(self, sensor_data: dict[str, tuple[int, Any]]) -> None:
        self.collided = self.collided or "collision" in sensor_data

    def get_done_status(self, observation: Any, core: Any) -> tuple[bool, bool]:
        return self.collided, self.steps >= self.config["others"]["max_steps"]

    def compute_reward(self, observation: Any, core: Any) -> float:
        velocity = core.hero.get_velocity()
        forward = core.hero.get_transform().get_forward_vector()
        return float(velocity.x * forward.x + velocity.y * forward.y)


class BirdViewExperiment(_FourActionExperiment):
    """Drive with four actions on a small BirdView; reward = forward speed; end on collision."""

    default_config: ClassVar[dict[str, Any]] = {"others": {"max_steps": 200, "size": 32}}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        size = self.config["others"]["size"]
        sensors = self.config["hero"]["sensors"]
        sensors.setdefault("birdview", {"type": "sensor.birdview", "size": size, "radius": 15})

    def get_observation_space(self) -> spaces.Box:
        size = self.config["others"]["size"]
        return spaces.Box(0, 255, (size, size, 3), dtype=np.uint8)

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[Any, dict]:
        _frame, image = sensor_data["birdview"]
        self.note_collision(sensor_data)
        return image, {"step": self.steps}


def env_config(**carla: Any) -> dict[str, Any]:
    """A CarlaEnv config on the embedded server's town map."""
    return {
        "carla": {"server": "embedded", "timeout": 10.0, **carla},
        "experiment": {"type": BirdViewExperiment, "town": "LiteTown01"},
    }


def parallel_worker(queue: Any) -> None:
    """Run a short episode in its own process; report the ports it used (or the error)."""
    import os

    from rllib_integration.carla_env import CarlaEnv

    env = CarlaEnv(env_config())
    try:
        env.reset(seed=1)
        for _ in range(20):
            env.step(1)
        server = env.core.server
        assert server is not None
        queue.put([server.rpc_port, server.tm_port])
    except Exception as exc:
        queue.put(repr(exc))
    finally:
        env.close()
    os._exit(0)  # skip the client's static destructors (see tests/conftest.py)


class CameraLidarExperiment(_FourActionExperiment):
    """A front RGB camera and a LiDAR as a Dict observation; four actions; end on collision.

    The LiDAR becomes the nearest range in each of ``sectors`` azimuth sectors (metres,
    capped at the range), the usual compact form for a policy network.
    """

    default_config: ClassVar[dict[str, Any]] = {
        "others": {"max_steps": 500, "size": 84, "sectors": 36, "range": 30.0}
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        others = self.config["others"]
        sensors = self.config["hero"]["sensors"]
        size = str(others["size"])
        sensors.setdefault(
            "camera",
            {
                "type": "sensor.camera.rgb",
                "image_size_x": size,
                "image_size_y": size,
                "transform": "1.5,0,2.4,0,-10,0",
            },
        )
        sensors.setdefault(
            "lidar",
            {
                "type": "sensor.lidar.ray_cast",
                "channels": 16,
                "range": others["range"],
                "points_per_second": 20000,
                "rotation_frequency": 20,
                "transform": "0,0,2.5,0,0,0",
            },
        )

    def get_observation_space(self) -> spaces.Dict:
        others = self.config["others"]
        size = others["size"]
        return spaces.Dict(
            {
                "camera": spaces.Box(0, 255, (size, size, 3), dtype=np.uint8),
                "lidar": spaces.Box(
                    0.0, float(others["range"]), (others["sectors"],), dtype=np.float32
                ),
            }
        )

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[Any, dict]:
        others = self.config["others"]
        _frame, image = sensor_data["camera"]
        _frame, points = sensor_data["lidar"]
        self.note_collision(sensor_data)
        sectors = others["sectors"]
        ranges = np.full(sectors, float(others["range"]), dtype=np.float32)
        if len(points):
            azimuth = np.arctan2(points[:, 1], points[:, 0])
            index = ((azimuth + np.pi) / (2 * np.pi) * sectors).astype(np.int64) % sectors
            distance = np.linalg.norm(points[:, :2], axis=1).astype(np.float32)
            np.minimum.at(ranges, index, distance)
        info = {"step": self.steps, "lidar_points": len(points)}
        return {"camera": image, "lidar": np.minimum(ranges, others["range"])}, info
