"""Config validation and the original's merge semantics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rllib_integration.base_experiment import BASE_EXPERIMENT_CONFIG, BaseExperiment
from rllib_integration.carla_core import BASE_CORE_CONFIG, CarlaCore
from rllib_integration.carla_env import CarlaEnv
from rllib_integration.config import merge_config
from rllib_integration.errors import ConfigError
from rllib_integration.helper import join_dicts
from tests.rllib_integration.experiments import BirdViewExperiment, env_config


def test_join_dicts_merges_dicts_and_replaces_lists() -> None:
    merged = join_dicts({"a": {"x": 1, "y": [1, 2]}, "b": 2}, {"a": {"y": [3]}, "c": 4})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 4}


def test_defaults_are_the_originals() -> None:
    assert BASE_CORE_CONFIG["timeout"] == 10.0
    assert BASE_CORE_CONFIG["timestep"] == 0.05
    assert BASE_CORE_CONFIG["retries_on_error"] == 10
    assert BASE_CORE_CONFIG["quality_level"] == "Low"
    assert BASE_EXPERIMENT_CONFIG["hero"]["blueprint"] == "vehicle.lincoln.mkz_2017"
    assert BASE_EXPERIMENT_CONFIG["town"] == "Town05_Opt"
    assert BASE_EXPERIMENT_CONFIG["weather"] == "ClearNoon"


def test_merge_keeps_defaults_and_does_not_share_them() -> None:
    experiment = BaseExperiment({"hero": {"spawn_points": ["1,2,3"]}})
    assert experiment.config["hero"]["blueprint"] == "vehicle.lincoln.mkz_2017"
    assert experiment.config["hero"]["spawn_points"] == ["1,2,3"]
    experiment.config["hero"]["sensors"]["x"] = {}
    assert BASE_EXPERIMENT_CONFIG["hero"]["sensors"] == {}


def test_unknown_key_names_its_path_and_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as err:
        BaseExperiment({"hero": {"sensros": {}}})
    message = str(err.value)
    assert "experiment.hero.sensros" in message
    assert "did you mean 'sensors'" in message
    assert "blueprint, sensors, spawn_points" in message


def test_wrong_types_are_errors() -> None:
    with pytest.raises(ConfigError, match=r"experiment\.background_activity\.n_vehicles"):
        BaseExperiment({"background_activity": {"n_vehicles": "ten"}})
    with pytest.raises(ConfigError, match=r"carla\.timeout: expected int or float, got str"):
        CarlaCore({"timeout": "10"})
    with pytest.raises(ConfigError, match=r"carla\.enable_rendering: expected bool"):
        CarlaCore({"enable_rendering": 1})
    with pytest.raises(ConfigError, match=r"carla\.server"):
        CarlaCore({"server": "docker"})
    with pytest.raises(ConfigError, match=r"carla\.timestep: must be > 0"):
        CarlaCore({"timestep": 0.0})
    assert merge_config({"a": 1.0}, {"a": 2}, "x") == {"a": 2}


def test_subclass_keys_are_valid_but_others_are_not() -> None:
    experiment = BirdViewExperiment({"others": {"max_steps": 5}})
    assert experiment.config["others"] == {"max_steps": 5, "size": 32}
    with pytest.raises(ConfigError, match=r"experiment\.others\.max_step:"):
        BirdViewExperiment({"others": {"max_step": 5}})


def test_env_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"experiment\.type: missing"):
        CarlaEnv({"carla": {}, "experiment": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        CarlaEnv({"carla": {}, "experiment": {"type": BirdViewExperiment}, "extra": 1})
    with pytest.raises(ConfigError, match="BaseExperiment subclass"):
        CarlaEnv({"experiment": {"type": dict}})
    with pytest.raises(ConfigError, match="cannot import"):
        CarlaEnv({"experiment": {"type": "no.such.module:Thing"}})


def test_env_construction_starts_nothing() -> None:
    env = CarlaEnv(env_config())
    try:
        assert env.core.server is None and env.core.client is None
        assert env.observation_space.shape == (32, 32, 3)
    finally:
        env.close()


def test_experiment_type_by_import_string() -> None:
    config = env_config()
    config["experiment"]["type"] = "tests.rllib_integration.experiments:BirdViewExperiment"
    env = CarlaEnv(config)
    env.close()
    assert isinstance(env.experiment, BirdViewExperiment)


class _TeslaExperiment(BaseExperiment):
    default_config: Mapping[str, Any] = {
        "hero": {"blueprint": "vehicle.tesla.model3"},
        "others": {"a": 1, "b": 2},
    }


class _TeslaWithCamera(_TeslaExperiment):
    default_config: Mapping[str, Any] = {
        "hero": {"sensors": {"front": {"type": "sensor.camera.rgb"}}},
        "others": {"b": 3},
    }


def test_subclass_defaults_merge_recursively_over_every_base() -> None:
    config = _TeslaExperiment({}).config
    assert config["hero"]["blueprint"] == "vehicle.tesla.model3"
    assert config["hero"]["sensors"] == {} and config["hero"]["spawn_points"] == []
    user = {"hero": {"sensors": {"lidar": {"type": "sensor.lidar.ray_cast"}}}}
    assert _TeslaExperiment(user).config["hero"]["sensors"] == user["hero"]["sensors"]
    # A grandchild keeps its parent's defaults and changes only what it names.
    config = _TeslaWithCamera(user).config
    assert config["hero"]["blueprint"] == "vehicle.tesla.model3"
    assert config["others"] == {"a": 1, "b": 3}
    assert set(config["hero"]["sensors"]) == {"front", "lidar"}  # the user's are added
    replaced = {"hero": {"sensors": {"front": {"type": "sensor.camera.depth"}}}}
    sensors = _TeslaWithCamera(replaced).config["hero"]["sensors"]
    assert sensors == {"front": {"type": "sensor.camera.depth"}}
    assert _TeslaWithCamera.default_config["others"] == {"b": 3}  # class attribute untouched
    with pytest.raises(ConfigError, match=r"experiment\.others\.c: unknown key"):
        _TeslaWithCamera({"others": {"c": 1}})
    with pytest.raises(ConfigError, match=r"experiment\.hero\.sensors: expected"):
        _TeslaWithCamera({"hero": {"sensors": ["front"]}})
