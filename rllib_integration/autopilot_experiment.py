"""AutopilotExperiment: the hero driven along its route by the Traffic Manager.

The expert reference of a route benchmark: the Traffic Manager follows the route
(``set_path`` through every junction the route takes), obeys lights and keeps its distance;
the agent's action is ignored. The observation is the hero's speed, so any code that steps
an env can run it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from rllib_integration.route_experiment import RouteExperiment

if TYPE_CHECKING:
    import carla

    from rllib_integration.carla_core import CarlaCore


class AutopilotExperiment(RouteExperiment):
    """Route driving by the Traffic Manager (``hero.set_autopilot`` + ``set_path``).

    Config keys of its own: the ``route`` section (``RouteExperiment``) and
    ``autopilot.speed_difference`` [%]: how much slower than the limit it drives (the
    Traffic Manager's ``vehicle_percentage_speed_difference``).
    """

    default_config: Mapping[str, Any] = {"autopilot": {"speed_difference": 0.0}}

    def reset(self) -> None:
        """Hand the hero to the Traffic Manager with the episode's route as its path."""
        super().reset()
        core = getattr(self, "core", None)  # None while __init__ runs
        route = self.task.route if core is not None else None
        if core is None or core.hero is None or route is None:
            return
        traffic_manager = core.get_traffic_manager()
        port = traffic_manager.get_port()
        hero = core.hero
        hero.set_autopilot(True, port)
        traffic_manager.set_path(hero, _locations(route.path_locations()))
        traffic_manager.auto_lane_change(hero, False)  # the route never changes lane
        traffic_manager.vehicle_percentage_speed_difference(
            hero, float(self.config["autopilot"]["speed_difference"])
        )

    def get_action_space(self) -> spaces.Discrete:
        """One action (ignored)."""
        return spaces.Discrete(1)

    def get_observation_space(self) -> spaces.Box:
        """The hero's speed [m/s]."""
        return spaces.Box(0.0, np.inf, (1,), dtype=np.float32)

    def compute_action(self, action: Any) -> None:
        """No control: the Traffic Manager drives (``CarlaCore.tick(None)`` applies none)."""
        return None

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[np.ndarray, dict]:
        """The hero's speed."""
        self.observe_route(sensor_data)
        hero = self.core.hero if self.core is not None else None
        speed = 0.0
        if hero is not None:
            velocity = hero.get_velocity()
            speed = math.hypot(velocity.x, velocity.y)
        return np.array([speed], dtype=np.float32), {}

    def compute_reward(self, observation: Any, core: CarlaCore) -> float:
        """Metres of route gained this step (for a comparable return)."""
        return float(self.last_report.progress)


def _locations(points: list[tuple[float, float, float]]) -> list[carla.Location]:
    import carla

    return [carla.Location(x, y, z) for x, y, z in points]
