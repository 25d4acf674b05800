"""DrivingMetricsCallbacks: an experiment's per-episode driving metrics into RLlib's results.

An experiment may define ``episode_metrics() -> dict[str, float]`` (e.g. ``route_completion``
in %, ``collisions_per_km``, ``driving_score``); at the end of every episode each value is
logged as ``env_runners/<name>``, averaged over the iteration's episodes. Tune writes the
results to TensorBoard and ``result.json``, and ``progress.progress_line`` prints the known
ones.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

log = logging.getLogger(__name__)


def carla_env(env: Any, env_index: int = 0) -> Any:
    """The ``CarlaEnv`` behind RLlib's gymnasium vector env (or the env itself).

    Args:
        env: what RLlib passes to a callback (a vector env, a wrapper, or the env).
        env_index: which sub-env of a vector env.
    """
    unwrapped = getattr(env, "unwrapped", env)
    envs = getattr(unwrapped, "envs", None)
    if envs is not None:
        unwrapped = envs[env_index]
    return getattr(unwrapped, "unwrapped", unwrapped)


def carla_envs(env: Any) -> Iterator[Any]:
    """Every ``CarlaEnv`` inside an env runner's (wrapped) gymnasium vector env."""
    if env is None:
        return
    unwrapped = getattr(env, "unwrapped", env)
    # A SyncVectorEnv holds its envs; an AsyncVectorEnv keeps them in subprocesses.
    for sub_env in getattr(unwrapped, "envs", None) or []:
        yield getattr(sub_env, "unwrapped", sub_env)


def episode_metrics(env: Any, env_index: int = 0) -> dict[str, float]:
    """The experiment's ``episode_metrics()`` of the env, ``{}`` when it has none.

    A value that is not a finite number is left out (and logged): one bad episode must not
    turn the iteration's mean into nan.
    """
    experiment = getattr(carla_env(env, env_index), "experiment", None)
    method = getattr(experiment, "episode_metrics", None)
    if not callable(method):
        return {}
    metrics: dict[str, float] = {}
    for name, value in dict(method()).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isfinite(number):
            metrics[str(name)] = number
        else:
            log.warning("episode metric %s=%r is not a finite number: not logged", name, value)
    return metrics


class DrivingMetricsCallbacks(RLlibCallback):
    """Logs the experiment's ``episode_metrics()`` at the end of every episode."""

    def on_episode_end(
        self,
        *,
        episode: Any,
        env: Any = None,
        env_index: int = 0,
        metrics_logger: Any = None,
        **kwargs: Any,
    ) -> None:
        """Log each metric with ``reduce="mean"`` (mean over the iteration's episodes)."""
        if env is None or metrics_logger is None:
            return
        for name, value in episode_metrics(env, env_index).items():
            metrics_logger.log_value(name, value, reduce="mean")
