"""Malformed training yamls, for both examples: one ConfigError line naming the key, before Ray.

The loaders' happy paths, unknown/legacy/missing keys and a few bad values are covered in
``test_yaml_config.py`` and ``tests/dqn_example/test_training_config.py``; here is the table
of what a hand-edited yaml gets wrong (syntax, empty values, NaN, duplicates, zero counts).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dqn_example import training_config as dqn_config
from ppo_example import training_config as ppo_config
from rllib_integration.errors import ConfigError
from tests.conftest import REPO_ROOT

EXAMPLES: dict[str, tuple[Path, Callable[[Path], Any]]] = {
    "dqn": (REPO_ROOT / "dqn_example" / "dqn_config.yaml", dqn_config.load_training_config),
    "ppo": (REPO_ROOT / "ppo_example" / "ppo_config.yaml", ppo_config.load_training_config),
}
NAN = float("nan")
DELETE = object()


def _error(tmp_path: Path, example: str, content: Any) -> str:
    _, load = EXAMPLES[example]
    path = tmp_path / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message, "one line"
    assert "bad.yaml" in message, "names the file"
    return message


def _edited(example: str, where: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(yaml.safe_load(EXAMPLES[example][0].read_text()))
    *parents, last = where.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


#: 40 levels of ``{a: *previous, b: *previous}``: 2**40 values once expanded (was a hang).
_ALIAS_BOMB = "l0: &l0 {a: 1, b: 1}\n" + "".join(
    f"l{i}: &l{i} {{a: *l{i - 1}, b: *l{i - 1}}}\n" for i in range(1, 40)
)
TEXT_CASES = [
    ("empty file", "", "the training config is empty"),
    ("only a comment", "# nothing\n", "the training config is empty"),
    ("not yaml", "\x00\x01binary", "not valid yaml: unacceptable character"),
    ("a scalar", "just words\n", "expected a mapping at the top level, got str"),
    ("a list", "- framework: torch\n- seed: 1\n", "expected a mapping at the top level, got list"),
    ("a tab", "training:\n\tlr: 0.1\n", "not valid yaml: line 2, column 1: found character '\\t'"),
    ("bad indent", "training:\n  lr: 1\n    gamma: 2\n", "not valid yaml: line 3, column 10"),
    ("unclosed", "training: {lr: 0.1\n", "not valid yaml: line"),
    ("duplicate key", "seed: 1\nseed: 2\n", "line 2, column 1: duplicate key 'seed'"),
    ("alias bomb", _ALIAS_BOMB, "the yaml expands to more than 100000 values"),
    ("recursive alias", "seed: &a [*a]\n", "the yaml expands to more than 100000 values"),
]


@pytest.mark.parametrize("example", sorted(EXAMPLES))
@pytest.mark.parametrize(
    ("content", "expected"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_not_a_yaml_mapping(tmp_path: Path, example: str, content: str, expected: str) -> None:
    assert expected in _error(tmp_path, example, content)


def test_a_duplicate_nested_key_is_refused_not_overwritten(tmp_path: Path) -> None:
    text = EXAMPLES["ppo"][0].read_text().replace("training:\n", "training:\n  lr: 0.5\n", 1)
    assert "duplicate key 'lr'" in _error(tmp_path, "ppo", text)


#: (key path, bad value, expected fragment): for every example.
VALUE_CASES: list[tuple[str, Any, str]] = [
    ("env_runners.num_env_runners", -1, "env_runners.num_env_runners: must be >= 0, got -1"),
    ("env_runners.num_env_runners", 1.5, "env_runners.num_env_runners: expected int, got float"),
    ("env_runners.num_env_runners", None, "env_runners.num_env_runners: empty (null); expected"),
    ("env_runners.num_env_runners", "two", "env_runners.num_env_runners: expected int, got str"),
    ("env_runners.num_env_runners", True, "env_runners.num_env_runners: expected int, got bool"),
    ("env_runners.num_envs_per_env_runner", 0, "num_envs_per_env_runner: must be > 0, got 0"),
    ("env_runners.rollout_fragment_length", 0, "rollout_fragment_length: must be > 0, got 0"),
    ("env_runners.rollout_fragment_length", None, "rollout_fragment_length: empty (null)"),
    ("env_runners.num_cpus_per_env_runner", 0, "num_cpus_per_env_runner: must be > 0, got 0"),
    ("env_runners.num_cpus_per_env_runner", NAN, "num_cpus_per_env_runner: must be > 0, got nan"),
    ("env_runners.num_gpus_per_env_runner", NAN, "num_gpus_per_env_runner: must be >= 0, got nan"),
    ("env_runners.sample_timeout_s", -5.0, "env_runners.sample_timeout_s: must be > 0"),
    ("learners.num_learners", -1, "learners.num_learners: must be >= 0, got -1"),
    ("learners.num_gpus_per_learner", NAN, "learners.num_gpus_per_learner: must be >= 0, got nan"),
    ("learners.num_gpus_per_learner", None, "learners.num_gpus_per_learner: empty (null)"),
    ("resources.num_cpus_for_main_process", None, "num_cpus_for_main_process: empty (null)"),
    ("reporting.min_time_s_per_iteration", NAN, "min_time_s_per_iteration: must be >= 0, got nan"),
    ("reporting.metrics_num_episodes_for_smoothing", 0, "metrics_num_episodes_for_smoothing"),
    ("training.lr", None, "training.lr: empty (null); expected a number"),
    ("training.lr", 0, "training.lr: must be > 0, got 0"),
    ("training.lr", NAN, "training.lr: must be > 0, got nan"),
    ("training.lr", "fast", "training.lr: expected int or float, got str ('fast')"),
    ("training.gamma", 1.5, "training.gamma: must be in [0, 1], got 1.5"),
    ("training.gamma", NAN, "training.gamma: must be in [0, 1], got nan"),
    ("training.train_batch_size", 0, "training.train_batch_size: must be > 0, got 0"),
    ("training.train_batch_size", -64, "training.train_batch_size: must be > 0, got -64"),
    ("training.train_batch_size", [64], "training.train_batch_size: expected int, got list"),
    ("training.grad_clip_by", "l2", "training.grad_clip_by: 'l2' is not one of 'global_norm'"),
    ("training.grad_clip_by", None, "training.grad_clip_by: empty (null); expected a string"),
    ("training.learnin_rate", 0.1, "training.learnin_rate: unknown key"),
    ("training", [1, 2], "training: expected a mapping, got list"),
    ("training", None, "training: expected a mapping, got NoneType"),
    ("framework", "tf2", "framework: 'tf2' is not one of 'torch'"),
    ("framework", DELETE, "missing key(s) framework"),
    ("training.gamma", DELETE, "missing key(s) training.gamma"),
    ("seed", "abc", "seed: expected null or an int >= 0, got 'abc'"),
    ("embedded_town", 7, "embedded_town: expected a town name or null"),
    ("env_config", "carla", "env_config: expected a mapping, got str"),
    ("env_config.carla.timeout", "soon", "env_config.carla.timeout: expected int or float, got"),
    ("env_config.carla.timeout", None, "env_config.carla.timeout: empty (null); expected a value"),
    ("env_config.carla.timeout", 0, "env_config.carla.timeout: must be > 0, got 0"),
    ("env_config.carla.retry_delay", NAN, "env_config.carla.retry_delay: must be >= 0, got nan"),
    ("env_config.carla.retries_on_error", 0, "carla.retries_on_error: must be >= 1, got 0"),
    ("env_config.carla.resolution_x", -600, "carla.resolution_x: must be > 0, got -600"),
    ("env_config.carla.port", "2000", "carla.port: expected null or an int in [1, 65533], got"),
    ("env_config.carla.port", 70000, "carla.port: expected null or an int in [1, 65533], got"),
    ("env_config.carla.server", "", "env_config.carla.server: '' is not one of 'carla'"),
    ("env_config.carla.sever", "embedded", "env_config.carla.sever: unknown key (did you mean"),
    ("env_config.experiment.town", 3, "town: expected str, got int"),
    (
        "env_config.experiment.hero.sensors.birdview.size",
        None,
        "env_config.experiment.hero.sensors.birdview: sensor 'birdview' (sensor.birdview): 'size' "
        "must be a positive int [px], got None",
    ),
    ("env_config.experiment.hero.sensors.birdview.size", -1, "'size' must be a positive int"),
    ("env_config.experiment.hero.sensors.birdview.size", "64", "'size' must be a positive int"),
    (
        "env_config.experiment.hero.sensors.birdview.radius",
        NAN,
        "'radius' must be a positive number [m], got nan",
    ),
    ("env_config.experiment.hero.sensors.birdview.zoom", 2, "unknown attribute(s) zoom; valid"),
]
#: Cases of one example's own keys.
EXAMPLE_CASES: dict[str, list[tuple[str, Any, str]]] = {
    "dqn": [
        ("training.learning_starts", NAN, "training.learning_starts: expected int, got float"),
        ("training.learning_starts", -1, "training.learning_starts: must be >= 0, got -1"),
        ("training.replay_buffer.capacity", 0, "replay_buffer.capacity: must be > 0, got 0"),
        ("training.replay_buffer.alpha", NAN, "replay_buffer.alpha: must be >= 0, got nan"),
        ("training.replay_buffer", 5000, "training.replay_buffer: expected a mapping, got int"),
        ("training.n_step", 0, "training.n_step: must be > 0, got 0"),
        ("exploration.type", "EpsilonGreedy", "exploration.type: 'EpsilonGreedy' is not one of"),
        ("exploration.temperature", 0.0, "exploration.temperature: must be > 0, got 0.0"),
        ("model.network", "big", "model.network: 'big' is not one of 'original', 'cpu'"),
        ("model.hiddens", [256, 0], "model.hiddens: expected a list of positive ints"),
        ("model.hiddens", None, "model.hiddens: empty (null); expected a list"),
        (
            "env_config.experiment.others.framestack",
            None,
            "env_config.experiment.others.framestack: expected an int >= 1, got None",
        ),
        ("env_config.experiment.others.framestack", 0, "others.framestack: must be >= 1, got 0"),
    ],
    "ppo": [
        ("training.num_epochs", 0, "training.num_epochs: must be > 0, got 0"),
        ("training.minibatch_size", 1_000_000, "training.minibatch_size: 1000000 is larger"),
        ("training.entropy_coeff", NAN, "training.entropy_coeff: must be >= 0, got nan"),
        ("training.kl_coeff", -0.1, "training.kl_coeff: must be >= 0, got -0.1"),
        ("training.lambda_", -0.5, "training.lambda_: must be in [0, 1], got -0.5"),
        ("model.conv_filters", None, "model.conv_filters: empty (null); expected a list"),
        ("model.conv_filters", [[16, 500, 2]], "model:"),
        ("model.image_features", "many", "model.image_features: expected int, got str"),
        (
            "env_config.experiment.route.length",
            None,
            "env_config.experiment.route.length: expected a number, got None",
        ),
        ("env_config.experiment.route.max_deviation", 0, "route.max_deviation: must be > 0"),
        ("env_config.experiment.route.file", 5, "route.file: expected null or a path, got 5"),
    ],
}
ALL_CASES = [(example, *case) for example in sorted(EXAMPLES) for case in VALUE_CASES] + [
    (example, *case) for example, cases in sorted(EXAMPLE_CASES.items()) for case in cases
]


@pytest.mark.parametrize(
    ("example", "where", "value", "expected"),
    ALL_CASES,
    ids=[f"{c[0]}-{c[1]}={c[2]!r}" for c in ALL_CASES],
)
def test_a_bad_value_names_its_key(
    tmp_path: Path, example: str, where: str, value: Any, expected: str
) -> None:
    message = _error(tmp_path, example, _edited(example, where, value))
    assert expected in message


def test_an_unknown_key_lists_the_valid_ones(tmp_path: Path) -> None:
    message = _error(tmp_path, "ppo", _edited("ppo", "env_runners.num_workers", 2))
    assert "env_runners.num_workers: unknown key" in message
    assert "valid: num_cpus_per_env_runner, num_env_runners" in message


@pytest.mark.parametrize("script", ["dqn_train.py", "ppo_train.py"])
def test_the_scripts_fail_with_one_line_before_ray(tmp_path: Path, script: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n\tlr: 0.1\n")  # a tab: the commonest hand-editing mistake
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / script), str(bad), "--tboff", "-d", str(runs)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "bad.yaml: not valid yaml: line 2, column 1" in line
    assert "ray" not in done.stdout.lower()  # Ray never started (it logs its start)
    assert not runs.exists()
