"""The shared training-yaml loader: read errors, strict schema, legacy keys, resources."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from rllib_integration.errors import ConfigError
from rllib_integration.training.yaml_config import (
    YamlSpec,
    check_resources,
    load_training_yaml,
    read_yaml,
    required_resources,
)

SCHEMA: dict[str, Any] = {
    "framework": "torch",
    "env_runners": {
        "num_env_runners": 1,
        "num_envs_per_env_runner": 1,
        "num_cpus_per_env_runner": 1.0,
        "num_gpus_per_env_runner": 0.0,
        "rollout_fragment_length": 16,
        "sample_timeout_s": 60.0,
    },
    "learners": {"num_learners": 0, "num_gpus_per_learner": 0.0},
    "resources": {"num_cpus_for_main_process": 1.0},
    "training": {"lr": 0.001, "clip": 0.2},
    "reporting": {
        "min_sample_timesteps_per_iteration": 100,
        "min_time_s_per_iteration": 1.0,
        "metrics_num_episodes_for_smoothing": 10,
    },
    "seed": None,
    "embedded_town": None,
    "env_config": {"carla": {}, "experiment": {}},
}
GOOD: dict[str, Any] = copy.deepcopy(SCHEMA) | {"seed": 3, "embedded_town": "LiteTown01"}
GOOD["env_config"] = {"carla": {"server": "embedded"}, "experiment": {"town": "Town01"}}


def _env_config(raw: Mapping[str, Any], town: str | None) -> tuple[dict[str, Any], list[str]]:
    experiment = {**raw["experiment"], "type": "Fake"}
    notes = []
    if town:
        experiment["town"] = town
        notes.append(f"town -> {town}")
    return {"carla": dict(raw["carla"]), "experiment": experiment}, notes


def _check_training(raw: Mapping[str, Any]) -> None:
    if not 0 < raw["training"]["clip"] < 1:
        raise ConfigError("training.clip: must be in (0, 1)")


SPEC = YamlSpec(
    schema=SCHEMA,
    example_yaml="my_example/config.yaml",
    build_env_config=_env_config,
    optional=frozenset({"env_config.carla", "env_config.experiment", "seed"}),
    legacy_keys={"num_workers": "env_runners.num_env_runners"},
    retired_keys={"training.dim": "unused since Ray 1.1"},
    check_values=_check_training,
)


def _write(tmp_path: Path, data: Any, name: str = "train.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_training_yaml(_write(tmp_path, data), SPEC)
    return str(info.value)


def test_a_complete_yaml_loads_with_its_env_config(tmp_path: Path) -> None:
    loaded = load_training_yaml(_write(tmp_path, GOOD), SPEC)
    assert loaded.path.name == "train.yaml"
    assert loaded.raw["training"] == {"lr": 0.001, "clip": 0.2}
    assert loaded.env_config["experiment"] == {"town": "LiteTown01", "type": "Fake"}
    assert loaded.notes == ["town -> LiteTown01"]
    assert SCHEMA["seed"] is None  # the schema is a template, never written to


def test_unreadable_and_invalid_yaml_are_one_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read the training config"):
        read_yaml(tmp_path / "absent.yaml")
    message = _error(tmp_path, "training: [unclosed\nseed: 1\n")
    assert "train.yaml: not valid yaml: line " in message
    assert "\n" not in message
    assert "expected a mapping at the top level, got list" in _error(tmp_path, "- 1\n")


def test_missing_keys_are_listed_and_optional_ones_are_not(tmp_path: Path) -> None:
    data = copy.deepcopy(GOOD)
    del data["training"]["lr"], data["reporting"], data["seed"]
    message = _error(tmp_path, data)
    assert message.startswith("train.yaml: missing key(s) training.lr, reporting ")
    assert "see my_example/config.yaml" in message and "seed" not in message


def test_unknown_legacy_and_retired_keys(tmp_path: Path) -> None:
    data = copy.deepcopy(GOOD)
    data["training"]["lrr"] = 1.0
    assert "training.lrr: unknown key (did you mean 'lr'?)" in _error(tmp_path, data)
    data = copy.deepcopy(GOOD) | {"num_workers": 2}
    assert "num_workers: the original's Ray 1.1 key; it is now env_runners.num_env_runners" in (
        _error(tmp_path, data)
    )
    data = copy.deepcopy(GOOD)
    data["training"]["dim"] = 84
    assert "training.dim: unused since Ray 1.1" in _error(tmp_path, data)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("framework", None, "tf2", "framework: 'tf2' is not one of 'torch'"),
        ("env_runners", "num_env_runners", -1, "env_runners.num_env_runners: must be >= 0"),
        ("env_runners", "rollout_fragment_length", 0, "env_runners.rollout_fragment_length"),
        ("learners", "num_gpus_per_learner", -1, "learners.num_gpus_per_learner: must be >= 0"),
        ("resources", "num_cpus_for_main_process", 0, "resources.num_cpus_for_main_process"),
        ("reporting", "metrics_num_episodes_for_smoothing", 0, "reporting.metrics_num_episodes"),
        ("seed", None, -2, "seed: expected null or an int >= 0"),
        ("embedded_town", None, 5, "embedded_town: expected a town name or null"),
        ("training", "clip", 1.5, "training.clip: must be in (0, 1)"),  # the example's hook
    ],
)
def test_common_value_checks_and_the_example_hook(
    tmp_path: Path, section: str, key: str | None, value: Any, expected: str
) -> None:
    data = copy.deepcopy(GOOD)
    if key is None:
        data[section] = value
    else:
        data[section][key] = value
    assert expected in _error(tmp_path, data)


def test_resources_arithmetic_and_message() -> None:
    raw = copy.deepcopy(GOOD)
    raw["env_runners"].update(num_env_runners=2, num_cpus_per_env_runner=3)
    assert required_resources(raw) == (7.0, 0.0)
    with pytest.raises(ConfigError) as info:
        check_resources(raw, name="ppo.yaml", num_cpus_available=2, num_gpus_available=0)
    assert str(info.value).startswith(
        "ppo.yaml asks for 2 env runners x 3 CPUs + 1.0 driver CPU = 7 CPUs; Ray sees 2. "
        "Lower env_runners.num_env_runners"
    )
    raw["learners"].update(num_learners=2, num_gpus_per_learner=0.5)
    assert required_resources(raw) == (9.0, 1.0)
    check_resources(raw, name="ppo.yaml", num_cpus_available=9, num_gpus_available=1)
    with pytest.raises(ConfigError) as info:
        check_resources(
            raw,
            name="ppo.yaml",
            num_cpus_available=16,
            num_gpus_available=0,
            cpu_profile="ppo_example/ppo_config.yaml",
        )
    message = str(info.value)
    assert "= 1 GPUs; Ray sees 0. Set env_runners.num_gpus_per_env_runner" in message
    assert message.endswith("(or use ppo_example/ppo_config.yaml, the CPU profile)")
