"""The CarlaEnv config of a training yaml, without Ray (for Ray-free inference too)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rllib_integration.carla_core import CarlaCore
from rllib_integration.errors import ConfigError


def build_env_config(
    raw_env_config: Mapping[str, Any], embedded_town: str | None
) -> tuple[dict[str, Any], list[str]]:
    """``env_config`` with ``experiment.type = DQNExperiment``, plus notes for the user.

    With ``embedded_town`` set and the server resolving to carla_lite (no ``$CARLA_ROOT``),
    the town becomes ``embedded_town`` and the spawn points the map's own: the original's
    town and points exist only in real CARLA.
    """
    from dqn_example.dqn_experiment import DQNExperiment

    env_config = copy.deepcopy(dict(raw_env_config))
    carla = dict(env_config.get("carla") or {})
    experiment = dict(env_config.get("experiment") or {})
    notes: list[str] = []
    core = CarlaCore(carla)  # validates env_config.carla (cheap: starts nothing)
    if embedded_town and core.config["server"] == "embedded":
        notes.append(
            f"embedded server: town {experiment.get('town')!r} -> {embedded_town!r}, "
            "spawn points: the map's"
        )
        experiment["town"] = embedded_town
        experiment["hero"] = {**experiment.get("hero", {}), "spawn_points": []}
    experiment["type"] = DQNExperiment
    return {"carla": carla, "experiment": experiment}, notes


def load_env_config(path: str | Path) -> dict[str, Any]:
    """The CarlaEnv config of the training yaml at ``path`` (checks only what it reads)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read the training config ({error})") from error
    if not isinstance(data, Mapping) or not isinstance(data.get("env_config"), Mapping):
        raise ConfigError(f"{path}: no 'env_config' mapping (see dqn_example/dqn_config.yaml)")
    env_config, notes = build_env_config(data["env_config"], data.get("embedded_town"))
    for note in notes:
        print(f"note: {note}")
    return env_config
