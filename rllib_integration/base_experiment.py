"""The experiment contract: what a user subclass decides (actions, observations, reward, end).

Users write ``from rllib_integration.base_experiment import BaseExperiment`` and override the
original methods. The config is the original's ``BASE_EXPERIMENT_CONFIG`` merged with the
user's (dicts recursively, lists replaced); a subclass adds its own keys, or changes
defaults, by listing them in ``default_config`` (merged recursively over its parents'), and
any other unknown key is an error. ``hero.sensors`` stays free-form: the user's sensors
are added to the defaults.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rllib_integration.config import deep_update, merge_config
from rllib_integration.errors import ConfigError

if TYPE_CHECKING:
    import random

    import carla
    import gymnasium

    from rllib_integration.carla_core import CarlaCore

BASE_EXPERIMENT_CONFIG: dict[str, Any] = {
    "hero": {
        "blueprint": "vehicle.lincoln.mkz_2017",
        "sensors": {},  # {name: {"type": blueprint id or "sensor.birdview", attr: value}}
        "spawn_points": [],  # "x,y,z" or "x,y,z,roll,pitch,yaw"; empty: the map's
        # On reset, move the hero to its new place rather than respawn it (fewer round
        # trips, and the client keeps no cache entry of a destroyed hero); a seeded reset
        # always respawns it.
        "teleport_on_reset": True,
    },
    "background_activity": {
        "n_vehicles": 0,
        "n_walkers": 0,
        "tm_hybrid_mode": True,
        "seed": None,
        "walkers_running": 0.0,  # share of walkers at their running speed, 0..1
        "walkers_crossing": 0.0,  # pedestrians' cross factor: share crossing off crosswalks
    },
    "town": "Town05_Opt",
    "weather": "ClearNoon",
    "type": None,  # the experiment class (or "module:Class"); set by the caller
}
#: Mappings keyed by names the user chooses (entries are added, not checked against defaults).
FREE_FORM_KEYS = ("experiment.hero.sensors",)


class BaseExperiment:
    """Base class of experiments; subclasses override the methods below.

    Attributes:
        default_config: extra config keys of the subclass with their defaults (or new
            defaults of existing keys), merged recursively over ``BASE_EXPERIMENT_CONFIG``
            and every base class's ``default_config`` before the user's config.
        config: the merged, validated config.
    """

    default_config: Mapping[str, Any] = {}

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = merge_config(
            self.class_defaults(), config or {}, "experiment", FREE_FORM_KEYS
        )

    @classmethod
    def class_defaults(cls) -> dict[str, Any]:
        """``BASE_EXPERIMENT_CONFIG`` with every ``default_config`` of the class's bases,
        then its own, merged in recursively."""
        defaults = copy.deepcopy(BASE_EXPERIMENT_CONFIG)
        for klass in reversed(cls.__mro__):
            if "default_config" in vars(klass):
                deep_update(defaults, vars(klass)["default_config"])
        return defaults

    def reset(self) -> None:
        """Called at every env reset, after the hero and sensors respawn, before the first tick."""

    def hero_spawn_points(
        self, core: CarlaCore, rng: random.Random
    ) -> list[carla.Transform] | None:
        """Where the hero spawns this episode: transforms to try in order, or None.

        Called at every env reset before the hero spawns, with the world loaded. None (the
        default) spawns it at a random point of ``hero.spawn_points`` (or the map's). A
        route experiment returns its route's start here.
        """
        return None

    def get_action_space(self) -> gymnasium.Space:
        """The gymnasium action space."""
        raise NotImplementedError

    def get_observation_space(self) -> gymnasium.Space:
        """The gymnasium observation space."""
        raise NotImplementedError

    def get_actions(self) -> Any:
        """The action table (a helper for discrete action spaces)."""
        raise NotImplementedError

    def compute_action(self, action: Any) -> carla.VehicleControl:
        """Turn a policy action into the control applied to the hero."""
        raise NotImplementedError

    def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[Any, dict]:
        """``(observation, info)`` from ``{sensor name: (frame, data)}``."""
        raise NotImplementedError

    def get_done_status(self, observation: Any, core: CarlaCore) -> bool | tuple[bool, bool]:
        """Whether the episode ended: a bool (terminated) or ``(terminated, truncated)``."""
        raise NotImplementedError

    def compute_reward(self, observation: Any, core: CarlaCore) -> float:
        """The reward of the step; called after ``get_done_status``."""
        raise NotImplementedError


def resolve_experiment_class(value: object) -> type[BaseExperiment]:
    """The experiment class from ``experiment.type``: a class or ``"module:Class"``."""
    if isinstance(value, str):
        module_name, _, class_name = value.partition(":")
        if not class_name:
            raise ConfigError(
                f"experiment.type: {value!r} is not of the form 'package.module:ClassName'"
            )
        try:
            value = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"experiment.type: cannot import {value!r}: {exc}") from exc
    if not (isinstance(value, type) and issubclass(value, BaseExperiment)):
        raise ConfigError(
            "experiment.type: expected a BaseExperiment subclass (or 'module:Class'), "
            f"got {value!r}"
        )
    return value
