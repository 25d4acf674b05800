"""CarlaEnv: the gymnasium environment RLlib trains on.

``CarlaEnv(config)`` takes the original's config ``{"carla": {...}, "experiment": {"type":
ExperimentClass, ...}}``. Construction is cheap (it builds the experiment and the spaces);
the simulator starts on the first ``reset``. The call order of a step is the original's:
compute_action -> tick -> get_observation -> get_done_status -> compute_reward.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np

from rllib_integration.base_experiment import BaseExperiment, resolve_experiment_class
from rllib_integration.carla_core import CarlaCore
from rllib_integration.errors import ConfigError, ServerLostError, SpawnError

log = logging.getLogger(__name__)

TOP_LEVEL_KEYS = ("carla", "experiment")
#: How many times an experiment that chooses the hero's spawn places is asked for new ones.
SPAWN_CHOICES = 5


class CarlaEnv(gymnasium.Env):
    """A CARLA driving environment defined by a ``BaseExperiment`` subclass.

    Args:
        config: ``{"carla": core config, "experiment": experiment config with "type"}``.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's attribute

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not isinstance(config, Mapping):
            raise ConfigError(f"CarlaEnv config: expected a mapping, got {type(config).__name__}")
        unknown = sorted(str(k) for k in config if k not in TOP_LEVEL_KEYS)
        if unknown:
            raise ConfigError(
                f"CarlaEnv config: unknown key(s) {', '.join(unknown)}; valid: carla, experiment"
            )
        experiment_config = config.get("experiment")
        if not isinstance(experiment_config, Mapping) or experiment_config.get("type") is None:
            raise ConfigError(
                "experiment.type: missing; set it to your BaseExperiment subclass "
                "(or 'package.module:ClassName')"
            )
        experiment_class = resolve_experiment_class(experiment_config["type"])
        self.experiment: BaseExperiment = experiment_class(experiment_config)
        self.action_space = self.experiment.get_action_space()
        self.observation_space = self.experiment.get_observation_space()
        self.core = CarlaCore(config.get("carla") or {})
        self.hero = None
        #: ``{sensor name: (frame, data)}`` of the latest reset or step (e.g. for a video).
        self.sensor_data: dict[str, tuple[int, Any]] = {}
        self._rng = random.Random()
        self._closed = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Respawn the hero (starting the simulator if needed) and return the first observation.

        A ``seed`` seeds the hero's spawn choice, the NPC spawns and the Traffic Manager;
        with a seed the NPCs are respawned too, so the same seed gives the same episode.
        A lost server (a step raised ``ServerLostError``, or this reset finds it dead) is
        restarted here, NPCs and Traffic Manager included; a ``CarlaServerError`` comes only
        if the fresh one fails too.
        """
        super().reset(seed=seed)
        self._closed = False
        if seed is not None:
            self._rng = random.Random(seed)
        try:
            sensor_data = self._respawn(seed)
        except ServerLostError as exc:
            # The server died between episodes (or during this reset): restart it once.
            log.warning("server lost during reset, restarting it: %s", exc)
            if seed is not None:
                self._rng = random.Random(seed)  # the same episode as without the failure
            sensor_data = self._respawn(seed)
        self.sensor_data = sensor_data
        observation, info = self.experiment.get_observation(sensor_data)
        return observation, dict(info)

    def _respawn(self, seed: int | None) -> dict[str, tuple[int, Any]]:
        """(Re)start the simulator if needed, respawn the hero, tick once; the sensor data."""
        if not self.core.ready:
            self.core.start(self.experiment.config, self._rng)
        elif seed is not None:
            activity = self.experiment.config["background_activity"]
            self.core.spawn_npcs(activity["n_vehicles"], activity["n_walkers"], self._rng)
        self.hero = self._spawn_hero(seed)
        self.experiment.reset()
        return self.core.tick(None)

    def _spawn_hero(self, seed: int | None) -> Any:
        """The hero at the experiment's chosen places, or at the config's spawn points.

        When every place the experiment chose is taken (e.g. a queue of NPCs over a route's
        start), it is asked again (a new route) up to ``SPAWN_CHOICES`` times.
        """
        hero_config = self.experiment.config["hero"]
        for attempt in range(1, SPAWN_CHOICES + 1):
            chosen = self.experiment.hero_spawn_points(self.core, self._rng)
            try:
                return self.core.reset_hero(
                    hero_config, self._rng, chosen, respawn=seed is not None
                )
            except SpawnError:
                if chosen is None or attempt == SPAWN_CHOICES:
                    raise
                log.info("every chosen spawn place is taken; asking the experiment again")
        raise AssertionError("unreachable")

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """One step: ``(observation, reward, terminated, truncated, info)``.

        An action for a ``Box`` space is cast to the space's dtype and clipped to its
        bounds (a policy's float64 or slightly out-of-range sample is what RLlib sends);
        a wrong shape or a non-finite value is an error, as is any action outside another
        kind of space.
        """
        action = conform_action(self.action_space, action)
        control = self.experiment.compute_action(action)
        sensor_data = self.core.tick(control)
        self.sensor_data = sensor_data
        observation, info = self.experiment.get_observation(sensor_data)
        done = self.experiment.get_done_status(observation, self.core)
        reward = self.experiment.compute_reward(observation, self.core)
        terminated, truncated = done if isinstance(done, tuple) else (bool(done), False)
        return observation, float(reward), bool(terminated), bool(truncated), dict(info)

    def close(self) -> None:
        """Destroy the hero, sensors and NPCs and stop the server this env started."""
        if not self._closed:
            self._closed = True
            self.core.close()


def conform_action(space: gymnasium.Space, action: Any) -> Any:
    """``action`` made a member of ``space``, or a ValueError saying why it cannot be.

    ``Box``: numbers only (no strings, ``None`` or bools), of the space's shape and finite;
    cast to the space's dtype and clipped into its bounds. ``Discrete``: an integer (a
    Python or numpy int, or a 0-d integer array) in ``[start, start + n)``, returned as an
    ``int``; a float or a bool is refused even when integral. Other spaces: checked with
    ``space.contains``. The message names the action, the space and what it accepts.
    """
    if isinstance(space, gymnasium.spaces.Box):
        return _conform_box(space, action)
    if isinstance(space, gymnasium.spaces.Discrete):
        return _conform_discrete(space, action)
    try:
        member = space.contains(action)
    except (TypeError, ValueError, OverflowError):
        member = False
    if not member:
        raise ValueError(f"action {action!r} is not in the action space {space}")
    return action


def _conform_box(space: gymnasium.spaces.Box, action: Any) -> np.ndarray:
    expected = f"expected numbers of shape {space.shape} for the action space {space}"
    try:
        values = np.asarray(action)
    except (TypeError, ValueError):  # ragged nesting
        raise ValueError(f"action {action!r} is not an array; {expected}") from None
    if values.dtype.kind not in "iuf":  # "0.5" would cast; None, objects and bools are bugs
        raise ValueError(f"action {action!r} is not numeric ({values.dtype}); {expected}")
    if values.shape != space.shape:
        raise ValueError(f"action {action!r} has shape {values.shape}; {expected}")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"action {action!r} has a NaN or infinite value; {expected}")
    return np.clip(values, space.low, space.high).astype(space.dtype)


def _conform_discrete(space: gymnasium.spaces.Discrete, action: Any) -> int:
    start, n = int(space.start), int(space.n)
    expected = f"expected an int in [{start}, {start + n - 1}] for the action space {space}"
    value = action
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        value = value.item()
    if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_):
        raise ValueError(f"action {action!r} is not an int; {expected}")
    if not start <= int(value) < start + n:
        raise ValueError(f"action {action!r} is out of range; {expected}")
    return int(value)
