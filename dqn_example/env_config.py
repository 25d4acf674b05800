"""The CarlaEnv config of a DQN training yaml, without Ray (for Ray-free inference too)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rllib_integration.training import env_config as shared

EXAMPLE_YAML = "dqn_example/dqn_config.yaml"


def build_env_config(
    raw_env_config: Mapping[str, Any], embedded_town: str | None
) -> tuple[dict[str, Any], list[str]]:
    """``env_config`` with ``experiment.type = DQNExperiment``, plus notes for the user.

    With ``embedded_town`` set and the server resolving to carla_lite (no ``$CARLA_ROOT``),
    the town becomes ``embedded_town`` and the spawn points the map's own: the original's
    town and points exist only in real CARLA.
    """
    from dqn_example.dqn_experiment import DQNExperiment

    return shared.experiment_env_config(raw_env_config, embedded_town, DQNExperiment)


def load_env_config(path: str | Path) -> dict[str, Any]:
    """The CarlaEnv config of the training yaml at ``path`` (checks only what it reads)."""
    from dqn_example.dqn_experiment import DQNExperiment

    env_config, notes = shared.load_env_config(path, DQNExperiment, EXAMPLE_YAML)
    for note in notes:
        print(f"note: {note}")
    return env_config
