"""DrivingMetricsCallbacks: an experiment's episode_metrics() logged per episode."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from dqn_example.dqn_callbacks import METRIC, DQNCallbacks
from rllib_integration.training.callbacks import DrivingMetricsCallbacks, carla_env, carla_envs


class FakeLogger:
    def __init__(self) -> None:
        self.logged: list[tuple[str, float, str]] = []

    def log_value(self, name: str, value: float, reduce: str = "mean") -> None:
        self.logged.append((name, value, reduce))


class RouteExperiment:
    last_heading_deviation = 0.0

    def __init__(self, metrics: dict[str, Any]) -> None:
        self.metrics = metrics

    def episode_metrics(self) -> dict[str, Any]:
        return self.metrics


def _vector_env(*experiments: Any) -> Any:
    """RLlib's shape: a wrapper whose ``unwrapped`` holds ``envs`` of wrapped CarlaEnvs."""
    envs = [
        SimpleNamespace(unwrapped=SimpleNamespace(experiment=experiment))
        for experiment in experiments
    ]
    return SimpleNamespace(unwrapped=SimpleNamespace(envs=envs))


def test_metrics_of_the_episode_s_env_are_logged_as_means() -> None:
    env = _vector_env(
        RouteExperiment({"route_completion": 10.0}),
        RouteExperiment({"route_completion": 55.5, "collisions_per_km": 2, "bad": math.nan}),
    )
    logger = FakeLogger()
    DrivingMetricsCallbacks().on_episode_end(
        episode=SimpleNamespace(), env=env, env_index=1, metrics_logger=logger
    )
    assert logger.logged == [
        ("route_completion", 55.5, "mean"),
        ("collisions_per_km", 2.0, "mean"),
    ]  # nan left out: it would turn the iteration's mean into nan


def test_an_experiment_without_metrics_logs_nothing() -> None:
    logger = FakeLogger()
    env = _vector_env(SimpleNamespace())
    DrivingMetricsCallbacks().on_episode_end(episode=None, env=env, metrics_logger=logger)
    assert logger.logged == []
    assert [e.experiment for e in carla_envs(env)] == [carla_env(env, 0).experiment]


def test_dqn_callbacks_keep_heading_deviation_and_add_driving_metrics() -> None:
    experiment = RouteExperiment({"driving_score": 42.0})
    env = _vector_env(experiment)
    episode = SimpleNamespace(custom_data={})
    callbacks, logger = DQNCallbacks(), FakeLogger()
    callbacks.on_episode_start(episode=episode)
    for deviation in (0.0, 0.2, 0.4):
        experiment.last_heading_deviation = deviation
        callbacks.on_episode_step(episode=episode, env=env, env_index=0)
    callbacks.on_episode_end(episode=episode, env=env, env_index=0, metrics_logger=logger)
    assert logger.logged[0][0] == METRIC and math.isclose(logger.logged[0][1], 0.3)
    assert logger.logged[1:] == [("driving_score", 42.0, "mean")]
