"""The training yaml: both profiles load, every key maps to DQNConfig, errors are clear."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from dqn_example.training_config import (
    SCHEMA,
    TrainingConfig,
    build_algorithm_config,
    effective_replay_ratio,
    load_training_config,
    required_resources,
    training_intensity,
)
from rllib_integration.errors import ConfigError
from tests.conftest import REPO_ROOT

CPU_YAML = REPO_ROOT / "dqn_example" / "dqn_config.yaml"
GPU_YAML = REPO_ROOT / "dqn_example" / "dqn_config_gpu.yaml"


def _write(tmp_path: Path, data: Any, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _cpu_data() -> dict[str, Any]:
    return yaml.safe_load(CPU_YAML.read_text())


def _leaf_paths(node: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in node.items():
        where = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            paths += _leaf_paths(value, where)
        else:
            paths.append(where)
    return paths


@pytest.mark.parametrize("path", [CPU_YAML, GPU_YAML], ids=["cpu", "gpu"])
def test_profiles_set_every_key_explicitly(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    for where in _leaf_paths(SCHEMA):
        if where.startswith("env_config"):
            continue
        node: Any = data
        for part in where.split("."):
            assert part in node, f"{path.name} lacks {where}"
            node = node[part]


def test_cpu_profile_maps_every_hyper_parameter() -> None:
    tc = load_training_config(CPU_YAML)
    assert tc.obs_shape == (64, 64, 12) and tc.num_actions == 29
    assert tc.env_config["carla"]["server"] == "embedded"
    assert tc.env_config["experiment"]["town"] == "LiteTown01"
    assert tc.env_config["experiment"]["others"]["max_time_episode"] == 1000
    config = build_algorithm_config(tc, num_cpus_available=2, num_gpus_available=0)
    raw = tc.raw
    t, r = raw["training"], raw["env_runners"]
    expected = {
        "lr": t["lr"],
        "gamma": t["gamma"],
        "train_batch_size_per_learner": t["train_batch_size"],
        "target_network_update_freq": t["target_network_update_freq"],
        "tau": t["tau"],
        "num_steps_sampled_before_learning_starts": t["learning_starts"],
        "n_step": t["n_step"],
        "double_q": t["double_q"],
        "dueling": t["dueling"],
        "grad_clip": t["grad_clip"],
        "grad_clip_by": t["grad_clip_by"],
        "adam_epsilon": t["adam_epsilon"],
        "td_error_loss_fn": t["td_error_loss_fn"],
        "num_atoms": 1,
        "noisy": False,
        "num_env_runners": r["num_env_runners"],
        "num_envs_per_env_runner": r["num_envs_per_env_runner"],
        "num_cpus_per_env_runner": r["num_cpus_per_env_runner"],
        "num_gpus_per_env_runner": r["num_gpus_per_env_runner"],
        "rollout_fragment_length": r["rollout_fragment_length"],
        "sample_timeout_s": r["sample_timeout_s"],
        "num_learners": raw["learners"]["num_learners"],
        "num_gpus_per_learner": raw["learners"]["num_gpus_per_learner"],
        "num_cpus_for_main_process": raw["resources"]["num_cpus_for_main_process"],
        "min_sample_timesteps_per_iteration": raw["reporting"][
            "min_sample_timesteps_per_iteration"
        ],
        "min_time_s_per_iteration": raw["reporting"]["min_time_s_per_iteration"],
        "metrics_num_episodes_for_smoothing": raw["reporting"][
            "metrics_num_episodes_for_smoothing"
        ],
        "framework_str": "torch",
        "explore": True,
        "batch_mode": "truncate_episodes",
        "enable_rl_module_and_learner": True,
        "enable_env_runner_and_connector_v2": True,
    }
    for key, value in expected.items():
        assert getattr(config, key) == value, key
    buffer = config.replay_buffer_config
    assert buffer["type"].endswith("PrioritizedEpsEpisodeReplayBuffer")
    assert {k: buffer[k] for k in ("capacity", "alpha", "beta", "epsilon")} == t["replay_buffer"]
    assert config.training_intensity == 4.0
    assert effective_replay_ratio(config) == pytest.approx(4.0)
    spec = config.rl_module_spec
    assert spec.model_config["softq_temperature"] == raw["exploration"]["temperature"]
    assert spec.model_config["q_network"]["obs_shape"] == [64, 64, 12] or tuple(
        spec.model_config["q_network"]["obs_shape"]
    ) == (64, 64, 12)
    assert config.env_config["experiment"]["type"].__name__ == "DQNExperiment"
    assert config.callbacks_class.__name__ == "DQNCallbacks"


def test_gpu_profile_keeps_the_original_sizes() -> None:
    tc = load_training_config(GPU_YAML)
    assert tc.obs_shape == (300, 300, 12)
    network = tc.network()
    assert network.conv_filters[-1] == [256, 5, 1] and network.hiddens == [256, 512]
    raw = tc.raw
    assert raw["training"]["lr"] == 0.0025 and raw["training"]["learning_starts"] == 20000
    assert raw["training"]["replay_buffer"]["capacity"] == 5000
    assert raw["reporting"]["min_sample_timesteps_per_iteration"] == 20000
    assert raw["env_config"]["experiment"]["others"]["max_time_episode"] == 6400
    assert len(raw["env_config"]["experiment"]["hero"]["spawn_points"]) == 35
    assert required_resources(tc) == (12.0, 1.0)
    config = build_algorithm_config(tc, num_cpus_available=16, num_gpus_available=1)
    assert config.num_gpus_per_learner == 1 and config.num_env_runners == 1
    assert effective_replay_ratio(config) == pytest.approx(4.0)


def test_gpu_profile_town_follows_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    tc = load_training_config(GPU_YAML)
    assert tc.env_config["experiment"]["town"] == "LiteTown01"
    assert tc.env_config["experiment"]["hero"]["spawn_points"] == []
    monkeypatch.setenv("CARLA_ROOT", "/opt/carla")
    tc = load_training_config(GPU_YAML)
    assert tc.env_config["experiment"]["town"] == "Town05_Opt"
    assert len(tc.env_config["experiment"]["hero"]["spawn_points"]) == 35


@pytest.mark.parametrize(("runners", "intensity"), [(0, 4.0), (1, 2.0), (3, 3.0)])
def test_training_intensity_follows_the_runner_count(
    tmp_path: Path, runners: int, intensity: float
) -> None:
    data = _cpu_data()
    data["env_runners"]["num_env_runners"] = runners
    tc = load_training_config(_write(tmp_path, data))
    assert training_intensity(tc) == pytest.approx(intensity)
    config = build_algorithm_config(tc, num_cpus_available=8, num_gpus_available=0)
    # Same replay ratio whatever the runner count: 1 SGD batch of 64 per 16 sampled steps.
    assert effective_replay_ratio(config) == pytest.approx(4.0)


def test_unreachable_replay_ratio_is_an_error(tmp_path: Path) -> None:
    data = _cpu_data()
    data["training"]["replay_ratio"] = 2.7
    tc = load_training_config(_write(tmp_path, data))
    with pytest.raises(ConfigError, match=r"replay_ratio 2\.7 cannot be reached"):
        build_algorithm_config(tc, num_cpus_available=2, num_gpus_available=0)


def test_resource_check_message(tmp_path: Path) -> None:
    data = _cpu_data()
    data["env_runners"]["num_env_runners"] = 2
    data["env_runners"]["num_cpus_per_env_runner"] = 3
    tc = load_training_config(_write(tmp_path, data, "dqn_config.yaml"))
    with pytest.raises(ConfigError) as info:
        build_algorithm_config(tc, num_cpus_available=2, num_gpus_available=0)
    assert str(info.value).startswith(
        "dqn_config.yaml asks for 2 env runners x 3 CPUs + 1 driver CPU = 7 CPUs; Ray sees 2. "
        "Lower env_runners.num_env_runners"
    )
    gpu = load_training_config(GPU_YAML)
    with pytest.raises(ConfigError, match=r"= 1 GPUs; Ray sees 0\. Set"):
        build_algorithm_config(gpu, num_cpus_available=16, num_gpus_available=0)


def _error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_training_config(_write(tmp_path, data))
    return str(info.value)


def test_bad_yaml_is_a_clear_error(tmp_path: Path) -> None:
    assert "not valid yaml" in _error(tmp_path, "training: [unclosed\n")
    assert "expected a mapping at the top level" in _error(tmp_path, "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_training_config(tmp_path / "absent.yaml")


def test_unknown_wrong_type_missing_and_legacy_keys(tmp_path: Path) -> None:
    data = _cpu_data()
    data["training"]["lrr"] = 0.1
    message = _error(tmp_path, data)
    assert "training.lrr: unknown key (did you mean 'lr'?)" in message
    assert "config.yaml" in message

    data = _cpu_data()
    data["training"]["gamma"] = "high"
    assert "training.gamma: expected int or float, got str" in _error(tmp_path, data)

    data = _cpu_data()
    del data["training"]["replay_buffer"]["alpha"]
    assert "missing key(s) training.replay_buffer.alpha" in _error(tmp_path, data)

    data = _cpu_data()
    data["num_workers"] = 2
    assert "num_workers: the original's Ray 1.1 key; it is now env_runners.num_env_runners" in (
        _error(tmp_path, data)
    )

    data = _cpu_data()
    data["exploration"]["type"] = "EpsilonGreedy"
    assert "exploration.type: 'EpsilonGreedy' is not one of 'SoftQ'" in _error(tmp_path, data)

    data = _cpu_data()
    data["env_config"]["experiment"]["others"]["framestak"] = 2
    assert "experiment.others.framestak: unknown key" in _error(tmp_path, data)

    data = _cpu_data()
    data["env_config"]["carla"]["server"] = "unreal"
    assert "carla.server: 'unreal' is not one of" in _error(tmp_path, data)


def test_custom_network_checked_at_load(tmp_path: Path) -> None:
    data = _cpu_data()
    data["model"]["network"] = "custom"
    data["model"]["conv_filters"] = [[16, 5, 4], [32, 5, 1]]
    tc = load_training_config(_write(tmp_path, data))
    assert tc.network().conv_filters == [[16, 5, 4], [32, 5, 1]]

    data["model"]["conv_filters"] = [[16, 5, 4], [32, 40, 1]]  # kernel larger than the image
    assert "model:" in _error(tmp_path, data)

    data = _cpu_data()
    data["model"]["conv_filters"] = [[16, 5, 4]]
    assert "only used with network: custom" in _error(tmp_path, data)


def test_loaded_config_is_independent_of_the_schema() -> None:
    before = copy.deepcopy(SCHEMA)
    tc: TrainingConfig = load_training_config(CPU_YAML)
    tc.raw["training"]["lr"] = 1.0
    assert before == SCHEMA
