"""DQNCallbacks: the original's ``heading_deviation`` metric on RLlib's new callback API.

Per episode the metric is the mean of the experiment's ``last_heading_deviation`` over the
steps where it is > 0 (off-lane steps count pi; junction steps, which report 0, are left
out), or 0 when there is none. It is logged as ``env_runners/heading_deviation`` (mean over
the iteration's episodes, like the original's ``custom_metrics/heading_deviation_mean``),
next to the experiment's ``episode_metrics()`` if it has any (``DrivingMetricsCallbacks``).
"""

from __future__ import annotations

from typing import Any

from rllib_integration.training.callbacks import DrivingMetricsCallbacks, carla_env

METRIC = "heading_deviation"
_KEY = "heading_deviation_values"


class DQNCallbacks(DrivingMetricsCallbacks):
    """Logs the episode's mean heading deviation (the original's custom metric)."""

    def on_episode_start(self, *, episode: Any, **kwargs: Any) -> None:
        """Start an empty list of deviations for the episode."""
        episode.custom_data[_KEY] = []

    def on_episode_step(
        self, *, episode: Any, env: Any = None, env_index: int = 0, **kwargs: Any
    ) -> None:
        """Record the experiment's latest heading deviation when it is > 0."""
        if env is None:
            return
        experiment = getattr(carla_env(env, env_index), "experiment", None)
        deviation = float(getattr(experiment, "last_heading_deviation", 0.0))
        if deviation > 0:
            # setdefault: an episode chunk continued after a sample() boundary keeps its data.
            episode.custom_data.setdefault(_KEY, []).append(deviation)

    def on_episode_end(
        self,
        *,
        episode: Any,
        env: Any = None,
        env_index: int = 0,
        metrics_logger: Any = None,
        **kwargs: Any,
    ) -> None:
        """Log the episode mean (0 when no step had a deviation), then the driving metrics."""
        values = episode.custom_data.get(_KEY) or []
        mean = sum(values) / len(values) if values else 0.0
        if metrics_logger is not None:
            metrics_logger.log_value(METRIC, mean, reduce="mean")
        super().on_episode_end(
            episode=episode, env=env, env_index=env_index, metrics_logger=metrics_logger, **kwargs
        )
