"""DQNExperiment: the original DQN example's actions, observation, end rules and reward.

The experiment drives the hero with 29 discrete controls, observes a stack of the last
``framestack`` BirdView images and rewards distance travelled, speeding up while slow, and
staying in a driving lane in the right direction. Everything the original computes is kept,
constants included; the differences are the modern interfaces:

* ``get_done_status`` returns ``(terminated, truncated)``: the idle and the falling rules
  terminate, the episode time limit truncates (the original's single ``done``). The time
  limit still adds its +100 to the reward so the objective trained on is unchanged.
* ``last_action`` is reset at every episode start (the original kept the previous
  episode's control). Inside ``CarlaEnv`` this changes nothing, since ``compute_action``
  always runs before ``compute_reward``; it only makes episodes independent when the
  methods are called in another order.
* ``framestack`` may be any positive int (the original silently capped the stack at 4
  while its observation space grew).

Hero state is read through the official client API only (``get_velocity``,
``get_transform``, ``Map.get_waypoint``), so the experiment runs unchanged on real CARLA.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import carla
import numpy as np
from gymnasium import spaces

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.errors import ConfigError
from rllib_integration.helper import post_process_image
from rllib_integration.sensors.bird_view_manager import validate_attributes

if TYPE_CHECKING:
    from rllib_integration.carla_core import CarlaCore

logger = logging.getLogger(__name__)

#: ``id -> [throttle, steer, brake, reverse, hand_brake]``; positive steer turns right.
#: Throttle levels 0.0/0.3/0.6/1.0 times steers 0, +0.75, +0.5, +0.25, -0.75, -0.5, -0.25,
#: except that throttle 0 / steer 0 is split into coasting (0) and full braking (1).
ACTIONS: dict[int, tuple[float, float, float, bool, bool]] = {
    0: (0.0, 0.00, 0.0, False, False),  # coast
    1: (0.0, 0.00, 1.0, False, False),  # brake
    2: (0.0, 0.75, 0.0, False, False),  # right
    3: (0.0, 0.50, 0.0, False, False),  # right
    4: (0.0, 0.25, 0.0, False, False),  # right
    5: (0.0, -0.75, 0.0, False, False),  # left
    6: (0.0, -0.50, 0.0, False, False),  # left
    7: (0.0, -0.25, 0.0, False, False),  # left
    8: (0.3, 0.00, 0.0, False, False),  # straight
    9: (0.3, 0.75, 0.0, False, False),  # right
    10: (0.3, 0.50, 0.0, False, False),  # right
    11: (0.3, 0.25, 0.0, False, False),  # right
    12: (0.3, -0.75, 0.0, False, False),  # left
    13: (0.3, -0.50, 0.0, False, False),  # left
    14: (0.3, -0.25, 0.0, False, False),  # left
    15: (0.6, 0.00, 0.0, False, False),  # straight
    16: (0.6, 0.75, 0.0, False, False),  # right
    17: (0.6, 0.50, 0.0, False, False),  # right
    18: (0.6, 0.25, 0.0, False, False),  # right
    19: (0.6, -0.75, 0.0, False, False),  # left
    20: (0.6, -0.50, 0.0, False, False),  # left
    21: (0.6, -0.25, 0.0, False, False),  # left
    22: (1.0, 0.00, 0.0, False, False),  # straight
    23: (1.0, 0.75, 0.0, False, False),  # right
    24: (1.0, 0.50, 0.0, False, False),  # right
    25: (1.0, 0.25, 0.0, False, False),  # right
    26: (1.0, -0.75, 0.0, False, False),  # left
    27: (1.0, -0.50, 0.0, False, False),  # left
    28: (1.0, -0.25, 0.0, False, False),  # left
}

#: The original shipped BirdView, used when the config names no ``birdview`` sensor.
DEFAULT_BIRDVIEW: dict[str, Any] = {"type": "sensor.birdview", "size": 300, "radius": 15}

# Done rules.
IDLE_SPEED_KMH = 1.0  # at or below this speed a step counts as idle
FALL_HEIGHT_M = -0.5  # hero z below this: fell off the world

# Reward terms.
SLOW_SPEED_KMH = 20.0  # below this speed, accelerating is rewarded
SPEED_GAIN = 0.05  # reward per km/h of speed gained while slow
OFF_LANE_PENALTY = -0.5  # not on a driving or parking lane
WRONG_WAY_PENALTY = -0.5  # heading against the lane direction
SIN_DEVIATION_THRESHOLD = 0.4  # |sin(heading deviation)| above this (~23.6 deg) is off course
NOT_STEERING_BACK_PENALTY = -0.05  # off course and not steering towards the lane direction
FALL_PENALTY = -40.0
IDLE_PENALTY = -100.0
TIME_LIMIT_BONUS = 100.0  # kept from the original (bug 17): surviving the episode pays

ALLOWED_LANE_TYPES = (carla.LaneType.Driving, carla.LaneType.Parking)


class DQNExperiment(BaseExperiment):
    """The original DQN experiment on a frame-stacked BirdView.

    Config keys of its own (with the original's values as defaults)::

        others:
          framestack: 4          # BirdView images stacked per observation
          max_time_idle: 600     # idle steps allowed; the 602nd in a row terminates
          max_time_episode: 6400 # steps per episode; step 6401 truncates

    plus ``hero.sensors.birdview`` (a ``sensor.birdview``), whose ``size`` sets the image
    side; when absent the original's ``{size: 300, radius: 15}`` is added.

    Attributes:
        last_heading_deviation: the angle [rad] between the hero heading and its lane after
            the last reward: pi off-lane, 0 in junctions. The original's callbacks log its
            episode mean (of the values > 0) as ``heading_deviation``.
        last_action: the control of the latest ``compute_action`` (None at episode start).
        done_time_idle: the idle rule fired on the last step.
        done_falling: the falling rule fired on the last step.
        done_time_episode: the time limit fired on the last step.
    """

    default_config: Mapping[str, Any] = {
        "others": {"framestack": 4, "max_time_idle": 600, "max_time_episode": 6400},
    }

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        others = self.config["others"]
        self.frame_stack: int = others["framestack"]
        self.max_time_idle: int = others["max_time_idle"]
        self.max_time_episode: int = others["max_time_episode"]
        if isinstance(self.frame_stack, bool) or not isinstance(self.frame_stack, int):
            raise ConfigError(
                f"experiment.others.framestack: expected an int >= 1, got {self.frame_stack!r}"
            )
        if self.frame_stack < 1:
            raise ConfigError(f"experiment.others.framestack: must be >= 1, got {self.frame_stack}")

        sensors = self.config["hero"]["sensors"]
        birdview = sensors.setdefault("birdview", dict(DEFAULT_BIRDVIEW))
        if not isinstance(birdview, dict) or birdview.get("type") != "sensor.birdview":
            raise ConfigError(
                "experiment.hero.sensors.birdview: DQNExperiment observes a sensor named "
                "'birdview' of type 'sensor.birdview'"
            )
        try:
            self.size, _, masks, _, _ = validate_attributes("birdview", birdview)
        except ConfigError as error:
            raise ConfigError(f"experiment.hero.sensors.birdview: {error}") from error
        # With ``masks: true`` the sensor yields 9 mask channels per image instead of RGB.
        self.channels: int = 9 if masks else 3

        self.allowed_types = ALLOWED_LANE_TYPES
        self.last_heading_deviation = 0.0
        self.last_action: carla.VehicleControl | None = None
        self.reset()

    def reset(self) -> None:
        """Clear the episode's counters, image history and motion memory."""
        self.time_idle = 0
        self.time_episode = 0
        self.done_time_idle = False
        self.done_falling = False
        self.done_time_episode = False
        self.last_location: carla.Location | None = None
        self.last_velocity = 0.0
        self.last_heading_deviation = 0.0
        # Bug 16: the original kept the previous episode's control here. Reset it so an
        # episode never depends on the one before (unobservable in CarlaEnv's call order).
        self.last_action = None
        # Empty history: the next observation fills every slot with its image.
        self._history: collections.deque[np.ndarray] = collections.deque(maxlen=self.frame_stack)

    def get_action_space(self) -> spaces.Discrete:
        """``Discrete(29)``, indexing ``ACTIONS``."""
        return spaces.Discrete(len(ACTIONS))

    def get_observation_space(self) -> spaces.Box:
        """uint8 ``(size, size, 3 * framestack)``, images oldest first along the channels."""
        shape = (self.size, self.size, self.channels * self.frame_stack)
        return spaces.Box(low=0, high=255, shape=shape, dtype=np.uint8)

    def get_actions(self) -> dict[int, tuple[float, float, float, bool, bool]]:
        """The action table ``{id: [throttle, steer, brake, reverse, hand_brake]}``."""
        return ACTIONS

    def compute_action(self, action: Any) -> carla.VehicleControl:
        """The control of table row ``int(action)``; remembered as ``last_action``."""
        throttle, steer, brake, reverse, hand_brake = ACTIONS[int(action)]
        control = carla.VehicleControl()
        control.throttle = throttle
        control.steer = steer
        control.brake = brake
        control.reverse = reverse
        control.hand_brake = hand_brake
        self.last_action = control
        return control

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[np.ndarray, dict]:
        """The last ``framestack`` BirdView images stacked on the channel axis, oldest first.

        The first observation of an episode (the one ``reset`` returns) repeats the current
        image ``framestack`` times. The images stay uint8 0-255, as in the original; any
        scaling belongs to the model.
        """
        image = post_process_image(sensor_data["birdview"][1], normalized=False, grayscale=False)
        if not self._history:
            self._history.extend([image] * self.frame_stack)
        else:
            self._history.append(image)  # the deque drops the oldest image
        return np.concatenate(self._history, axis=2), {}

    def get_done_status(self, observation: Any, core: CarlaCore) -> tuple[bool, bool]:
        """``(terminated, truncated)``: idle or fallen terminates; the time limit truncates.

        The idle check uses the counter from before this step's update, as the original:
        with ``max_time_idle = 600`` the 602nd idle step in a row terminates, and with
        ``max_time_episode = 6400`` step 6401 truncates.
        """
        hero = core.hero
        assert hero is not None
        self.done_time_idle = self.max_time_idle < self.time_idle
        if _speed_kmh(hero) > IDLE_SPEED_KMH:
            self.time_idle = 0
        else:
            self.time_idle += 1
        self.time_episode += 1
        self.done_time_episode = self.max_time_episode < self.time_episode
        self.done_falling = hero.get_location().z < FALL_HEIGHT_M
        return self.done_time_idle or self.done_falling, self.done_time_episode

    def compute_reward(self, observation: Any, core: CarlaCore) -> float:
        """The original's shaped reward; call after ``get_done_status`` of the same step.

        Distance driven [m] since the last step, plus 0.05 per km/h gained while below
        20 km/h; -0.5 off a driving/parking lane; outside junctions -0.5 for driving against
        the lane, or -0.05 for being over ~23.6 deg off the lane direction without steering
        back; -40 for falling, -100 for idling out, +100 for reaching the time limit.
        """
        hero, world_map = core.hero, core.map
        assert hero is not None and world_map is not None
        transform = hero.get_transform()
        location = transform.location
        forward = transform.get_forward_vector()
        heading = np.array([forward.x, forward.y])
        speed = _speed_kmh(hero)

        if self.last_location is None:
            self.last_location = location
        delta_distance = float(
            np.linalg.norm([location.x - self.last_location.x, location.y - self.last_location.y])
        )
        delta_velocity = speed - self.last_velocity
        self.last_location = location
        self.last_velocity = speed

        reward = delta_distance
        if speed < SLOW_SPEED_KMH:
            reward += SPEED_GAIN * delta_velocity

        waypoint = world_map.get_waypoint(
            location, project_to_road=False, lane_type=carla.LaneType.Any
        )
        if waypoint is None or waypoint.lane_type not in self.allowed_types:
            reward += OFF_LANE_PENALTY
            self.last_heading_deviation = math.pi
        elif not waypoint.is_junction:
            lane_forward = waypoint.transform.get_forward_vector()
            lane = np.array([lane_forward.x, lane_forward.y])
            cross = heading[0] * lane[1] - heading[1] * lane[0]
            angle = -math.atan2(cross, float(np.dot(heading, lane)))
            self.last_heading_deviation = abs(angle)
            if np.dot(heading, lane) < 0:
                reward += WRONG_WAY_PENALTY
            elif abs(math.sin(angle)) > SIN_DEVIATION_THRESHOLD:
                if self.last_action is None:
                    self.last_action = carla.VehicleControl()
                # Steering with the same sign as sin(angle) (or not at all) keeps the hero
                # off course; only steering towards the lane direction escapes the penalty.
                if self.last_action.steer * math.sin(angle) >= 0:
                    reward += NOT_STEERING_BACK_PENALTY
        else:
            # Junction lanes cross each other: no meaningful lane direction to compare.
            self.last_heading_deviation = 0.0

        if self.done_falling:
            reward += FALL_PENALTY
        if self.done_time_idle:
            logger.info("Done idle")
            reward += IDLE_PENALTY
        if self.done_time_episode:
            logger.info("Done max time")
            reward += TIME_LIMIT_BONUS
        return float(reward)


def _speed_kmh(hero: carla.Actor) -> float:
    """The hero's speed [km/h] from its 3-D velocity."""
    velocity = hero.get_velocity()
    return 3.6 * math.sqrt(velocity.x**2 + velocity.y**2 + velocity.z**2)
