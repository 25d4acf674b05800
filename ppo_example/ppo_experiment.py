"""PPOExperiment: drive a route with continuous control, rewarded by progress along it.

Actions: ``Box(-1, 1, (2,))`` = [steer, acceleration]; acceleration > 0 is throttle,
< 0 brake. Observations: a ``Dict`` of

* ``birdview``: the hero-centred BirdView (uint8 RGB) with the route ahead drawn in
  (``rllib_integration.sensors.bird_view.route_overlay``), and
* ``state``: float32 ``STATE_SIZE``: speed, the speed limit, the previous action, the
  lateral offset and heading error to the route, the distance to the next traffic light's
  stop line on the route and whether it is red or yellow (``LIGHT_REACH``), and the
  route's next points in the hero's frame (``LOOKAHEAD``).

Reward (CaRL-style, Jaeger et al. 2025: progress, with infractions ending the episode
rather than summed shaped terms): metres of route gained this step x ``PROGRESS_SCALE``,
halved while outside the route's lanes; ``route.end_on_infraction`` (default True here)
terminates on any infraction with ``INFRACTION_PENALTY``; completing the route pays
``COMPLETION_BONUS``. Speeding is a soft penalty: progress counts only up to the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import carla
import numpy as np
from gymnasium import spaces

from rllib_integration.errors import ConfigError
from rllib_integration.helper import post_process_image
from rllib_integration.route_experiment import RouteExperiment
from rllib_integration.sensors.bird_view.route_overlay import draw_route
from rllib_integration.sensors.bird_view_manager import validate_attributes

if TYPE_CHECKING:
    from rllib_integration.carla_core import CarlaCore

#: Route points given in ``state``, metres ahead of the progress point.
LOOKAHEAD = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0)
#: Route drawn in the BirdView: this far ahead [m].
DRAWN_AHEAD = 80.0
#: Traffic lights on the route are reported within this distance [m].
LIGHT_REACH = 40.0
#: speed, limit, steer, acceleration, lateral offset, sin/cos heading error, next light
#: (distance, stop), standstill time, points.
STATE_SIZE = 10 + 2 * len(LOOKAHEAD)
STANDSTILL_SCALE = 20.0  # [s] of standing still per unit in ``state`` (capped at 1)
SPEED_SCALE = 10.0  # [m/s] per unit in ``state``
DISTANCE_SCALE = 20.0  # [m] per unit in ``state``

PROGRESS_SCALE = 0.1  # reward per metre of route
OUTSIDE_LANES_FACTOR = 0.5  # progress made outside the route's lanes counts half
INFRACTION_PENALTY = -1.0
COMPLETION_BONUS = 1.0

DEFAULT_BIRDVIEW: dict[str, Any] = {"type": "sensor.birdview", "size": 64, "radius": 20}


class PPOExperiment(RouteExperiment):
    """Continuous-control route driving (see the module docstring).

    Config keys of its own: the ``route`` section (``RouteExperiment``; here
    ``end_on_infraction`` defaults to True) and ``hero.sensors.birdview``.
    """

    default_config: Mapping[str, Any] = {"route": {"end_on_infraction": True}}

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        birdview = self.config["hero"]["sensors"].setdefault("birdview", dict(DEFAULT_BIRDVIEW))
        if not isinstance(birdview, dict) or birdview.get("type") != "sensor.birdview":
            raise ConfigError(
                "experiment.hero.sensors.birdview: PPOExperiment observes a sensor named "
                "'birdview' of type 'sensor.birdview'"
            )
        try:
            self.size, self.radius, masks, _, _ = validate_attributes("birdview", birdview)
        except ConfigError as error:
            raise ConfigError(f"experiment.hero.sensors.birdview: {error}") from error
        if masks:
            raise ConfigError("experiment.hero.sensors.birdview.masks: PPOExperiment uses RGB")
        self.last_action = np.zeros(2, dtype=np.float32)
        self._last_speed = 0.0
        self._speed_limit = 0.0

    def reset(self) -> None:
        """A new route: forget the previous action."""
        super().reset()
        self.last_action = np.zeros(2, dtype=np.float32)

    def get_action_space(self) -> spaces.Box:
        """``[steer, acceleration]`` in [-1, 1]."""
        return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def get_observation_space(self) -> spaces.Dict:
        """``{"birdview": uint8 (size, size, 3), "state": float32 (STATE_SIZE,)}``."""
        return spaces.Dict(
            {
                "birdview": spaces.Box(0, 255, (self.size, self.size, 3), dtype=np.uint8),
                "state": spaces.Box(-np.inf, np.inf, (STATE_SIZE,), dtype=np.float32),
            }
        )

    def compute_action(self, action: Any) -> carla.VehicleControl:
        """Steer and throttle or brake from ``[steer, acceleration]``."""
        steer, acceleration = (float(v) for v in np.clip(action, -1.0, 1.0))
        self.last_action = np.array([steer, acceleration], dtype=np.float32)
        return carla.VehicleControl(
            throttle=max(acceleration, 0.0), steer=steer, brake=max(-acceleration, 0.0)
        )

    def get_observation(
        self, sensor_data: dict[str, tuple[int, Any]]
    ) -> tuple[dict[str, np.ndarray], dict]:
        """The BirdView with the route drawn in, and the state vector."""
        self.observe_route(sensor_data)
        image = post_process_image(sensor_data["birdview"][1], normalized=False, grayscale=False)
        image = np.ascontiguousarray(image, dtype=np.uint8)
        hero = self.core.hero if self.core is not None else None
        progress = self.task.monitor.progress if self.task.monitor is not None else None
        state = np.zeros(STATE_SIZE, dtype=np.float32)
        if hero is not None and progress is not None:
            transform = hero.get_transform()
            draw_route(image, transform, self.radius, progress.points_ahead(DRAWN_AHEAD))
            state = self._state(hero, transform, progress)
        return {"birdview": image, "state": state}, {}

    def _state(self, hero: Any, transform: carla.Transform, progress: Any) -> np.ndarray:
        velocity = hero.get_velocity()
        speed = math.hypot(velocity.x, velocity.y)
        self._last_speed = speed
        self._speed_limit = float(hero.get_speed_limit()) / 3.6  # km/h -> m/s
        location = transform.location
        yaw = transform.rotation.yaw
        points = progress.lookahead(location.x, location.y, yaw, LOOKAHEAD)
        near = progress.lookahead(location.x, location.y, yaw, (0.0, 2.0))
        lateral = float(near[0, 1])  # metres to the right of the hero the route lies
        tangent = near[1] - near[0]
        heading_error = math.atan2(float(tangent[1]), float(tangent[0]))
        head = [
            speed / SPEED_SCALE,
            self._speed_limit / SPEED_SCALE,
            float(self.last_action[0]),
            float(self.last_action[1]),
            lateral / DISTANCE_SCALE * 4.0,  # lateral offsets are small: scaled up
            math.sin(heading_error),
            math.cos(heading_error),
            *self._next_light(),
            self._standstill(),
        ]
        return np.concatenate([head, points.reshape(-1) / DISTANCE_SCALE]).astype(np.float32)

    def _next_light(self) -> tuple[float, float]:
        """``(distance / LIGHT_REACH, 1.0 if it says stop)``; ``(1, 0)`` without one."""
        monitor = self.task.monitor
        light = monitor.next_light(LIGHT_REACH) if monitor is not None else None
        if light is None:
            return 1.0, 0.0
        distance, stop = light
        return distance / LIGHT_REACH, 1.0 if stop else 0.0

    def _standstill(self) -> float:
        """Seconds stopped in a row / ``STANDSTILL_SCALE``, at most 1."""
        monitor = self.task.monitor
        stopped = monitor.blocked.stopped_for if monitor is not None else 0.0
        return min(stopped / STANDSTILL_SCALE, 1.0)

    def compute_reward(self, observation: Any, core: CarlaCore) -> float:
        """Progress along the route (see the module docstring)."""
        report = self.last_report
        progress = report.progress
        if self._speed_limit > 0 and self._last_speed > self._speed_limit:
            progress *= self._speed_limit / self._last_speed  # speeding gains nothing
        if self.task.monitor is not None and self.task.monitor.outside.is_outside:
            progress *= OUTSIDE_LANES_FACTOR
        reward = PROGRESS_SCALE * progress
        if report.completed:
            reward += COMPLETION_BONUS
        elif report.ended is not None or (self.end_on_infraction and report.infractions):
            reward += INFRACTION_PENALTY
        return float(reward)
