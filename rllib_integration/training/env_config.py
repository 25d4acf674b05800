"""The CarlaEnv config of a training yaml's ``env_config`` section, for any experiment."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rllib_integration.carla_core import CarlaCore
from rllib_integration.errors import ConfigError


def experiment_env_config(
    raw_env_config: Mapping[str, Any], embedded_town: str | None, experiment_class: type
) -> tuple[dict[str, Any], list[str]]:
    """``env_config`` with ``experiment.type = experiment_class``, plus notes for the user.

    The ``carla`` section is validated here (cheap: nothing starts). With
    ``embedded_town`` set and the server resolving to carla_lite (no ``$CARLA_ROOT``), the
    town becomes ``embedded_town`` and the spawn points the map's own: the yaml's town and
    points may exist only in real CARLA.
    """
    env_config = copy.deepcopy(dict(raw_env_config))
    carla = dict(env_config.get("carla") or {})
    experiment = dict(env_config.get("experiment") or {})
    notes: list[str] = []
    try:
        core = CarlaCore(carla)
    except ConfigError as error:  # its path starts at ``carla``; the yaml's at env_config
        raise ConfigError(f"env_config.{error}") from error
    if embedded_town and core.config["server"] == "embedded":
        notes.append(
            f"embedded server: town {experiment.get('town')!r} -> {embedded_town!r}, "
            "spawn points: the map's"
        )
        experiment["town"] = embedded_town
        experiment["hero"] = {**experiment.get("hero", {}), "spawn_points": []}
    experiment["type"] = experiment_class
    return {"carla": carla, "experiment": experiment}, notes


def load_env_config(
    path: str | Path, experiment_class: type, example_yaml: str
) -> tuple[dict[str, Any], list[str]]:
    """The CarlaEnv config of the training yaml at ``path`` (reads only ``env_config`` and
    ``embedded_town``; Ray-free, for inference and evaluation).

    Raises:
        ConfigError: unreadable yaml or no ``env_config`` mapping.
    """
    from rllib_integration.training.yaml_config import read_yaml

    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("env_config"), Mapping):
        raise ConfigError(f"{path}: no 'env_config' mapping (see {example_yaml})")
    return experiment_env_config(data["env_config"], data.get("embedded_town"), experiment_class)
