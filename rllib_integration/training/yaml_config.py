"""Strict training yamls: read, validate against an example's schema, check resources.

An example describes its yaml with a :class:`YamlSpec` (its schema, optional paths, the
original's renamed keys and its own value checks) and loads it with :func:`load_training_yaml`.
Every key of the schema must be written in the yaml: a missing key is an error, so no RLlib
default (which changed several times during 2.x) silently decides a run. The sections every
example shares (``framework``, ``env_runners``, ``learners``, ``resources``, ``reporting``,
``seed``, ``embedded_town``, ``env_config``) are checked here.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rllib_integration.config import (
    check_choice,
    check_non_negative,
    check_positive,
    merge_config,
)
from rllib_integration.errors import ConfigError

#: ``(raw env_config, embedded_town) -> (CarlaEnv config, notes for the user)``.
EnvConfigBuilder = Callable[[Mapping[str, Any], "str | None"], tuple[dict[str, Any], list[str]]]


@dataclass(frozen=True)
class YamlSpec:
    """What an example's training yaml must contain.

    Attributes:
        schema: every key the yaml must set, with a value of the expected type (documentation
            and type template only: a missing key is an error, never filled in from here).
            A value of ``None`` accepts any value; ``{}`` a free-form mapping.
        example_yaml: the example's reference yaml, named in the missing-keys message.
        build_env_config: turns ``env_config`` into the CarlaEnv config (the example sets
            its experiment class there).
        optional: dotted paths whose keys may be left out (e.g. ``env_config.carla``, which
            CarlaEnv validates against its own defaults).
        legacy_keys: the original's Ray 1.1 keys (dotted paths) and their new place.
        retired_keys: keys with no new place, and why (``{"model.dim": "unused since ..."}``).
        check_values: the example's own value checks on the merged yaml (raise ConfigError).
    """

    schema: Mapping[str, Any]
    example_yaml: str
    build_env_config: EnvConfigBuilder
    optional: frozenset[str] = frozenset()
    legacy_keys: Mapping[str, str] = field(default_factory=dict)
    retired_keys: Mapping[str, str] = field(default_factory=dict)
    check_values: Callable[[Mapping[str, Any]], None] | None = None


@dataclass
class LoadedYaml:
    """A validated training yaml.

    Attributes:
        path: the yaml file (for messages).
        raw: the validated content, every key of the schema present.
        env_config: the CarlaEnv config built by the spec's ``build_env_config``.
        notes: lines for the user (e.g. the town swapped for the embedded server).
    """

    path: Path
    raw: dict[str, Any]
    env_config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def read_yaml(path: str | Path) -> Any:
    """The parsed content of a yaml file.

    Raises:
        ConfigError: one line naming the file: unreadable, or not valid yaml (with the line
            and column of the problem).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the training config ({error})") from error
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: safe
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid yaml: {_yaml_problem(error)}") from error
    if data is None:
        raise ConfigError(f"{path}: the training config is empty (no yaml mapping in it)")
    if _expanded_size(data) > MAX_YAML_VALUES:
        raise ConfigError(
            f"{path}: the yaml expands to more than {MAX_YAML_VALUES} values (anchors and "
            "aliases nested into each other?)"
        )
    return data


#: Values a training yaml may expand to once its aliases are followed (one is ~150).
MAX_YAML_VALUES = 100_000


def _expanded_size(data: Any) -> int:
    """Values in ``data`` with aliases expanded, counted up to ``MAX_YAML_VALUES + 1``.

    An alias shares the node it names, so a few lines of nested anchors make a tree of
    2**depth values: walking it (key checks, merging) would never end.
    """
    count, stack = 0, [data]
    while stack and count <= MAX_YAML_VALUES:
        node = stack.pop()
        count += 1
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping.

    PyYAML keeps the last of two equal keys silently, so a tuned value written earlier in
    the file would be lost without a word.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                continue  # unhashable; the base class reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (the first one would be lost silently)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: ``line L, column C: problem``."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


@contextlib.contextmanager
def errors_named(path: Path) -> Iterator[None]:
    """Prefix a ConfigError raised inside with the yaml's file name."""
    try:
        yield
    except ConfigError as error:
        raise ConfigError(f"{path.name}: {error}") from error


def load_training_yaml(path: str | Path, spec: YamlSpec) -> LoadedYaml:
    """Read and validate a training yaml, then build its CarlaEnv config.

    Args:
        path: the yaml file.
        spec: the example's schema and hooks.

    Raises:
        ConfigError: unreadable yaml, unknown, legacy or missing key, wrong type or bad value;
            the message names the file and the key path.
    """
    path = Path(path)
    data = read_yaml(path)
    with errors_named(path):
        raw = validate(data, spec)
        env_config, notes = spec.build_env_config(raw["env_config"], raw["embedded_town"])
    return LoadedYaml(path, raw, env_config, notes)


def validate(data: Any, spec: YamlSpec) -> dict[str, Any]:
    """``data`` checked against ``spec``: every key present, known, of the right type and value.

    Returns:
        The merged content (a deep copy; the schema is left untouched).

    Raises:
        ConfigError: the first problem, with its key path.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}")
    _check_legacy(data, spec)
    raw = merge_config(copy.deepcopy(dict(spec.schema)), data, "")
    missing = _missing_keys(spec.schema, data, "", spec.optional)
    if missing:
        raise ConfigError(
            "missing key(s) "
            + ", ".join(missing)
            + f" (every hyper-parameter must be explicit; see {spec.example_yaml})"
        )
    _check_no_nulls(spec.schema, raw, "")
    check_common_values(raw)
    if spec.check_values is not None:
        spec.check_values(raw)
    return raw


def _missing_keys(
    schema: Mapping[str, Any], user: Mapping[str, Any], path: str, optional: frozenset[str]
) -> list[str]:
    missing: list[str] = []
    for key, default in schema.items():
        where = f"{path}.{key}" if path else key
        if where in optional:
            continue
        if key not in user:
            missing.append(where)
        elif isinstance(default, Mapping) and default and isinstance(user[key], Mapping):
            missing += _missing_keys(default, user[key], where, optional)
    return missing


#: How an empty value's expected type is named (a float key also takes an int).
_KINDS = {bool: "true or false", int: "an int", float: "a number", str: "a string"}


def _check_no_nulls(schema: Mapping[str, Any], raw: Mapping[str, Any], path: str) -> None:
    """An empty value (``key:`` or ``null``) where the schema wants a number, string or list.

    The merge lets ``None`` through (a ``None`` default accepts anything), so without this
    an empty ``lr:`` reaches the value checks as a TypeError.
    """
    for key, default in schema.items():
        where = f"{path}.{key}" if path else key
        value = raw.get(key)
        if isinstance(default, Mapping):
            if default and isinstance(value, Mapping):
                _check_no_nulls(default, value, where)
        elif default is not None and value is None and key in raw:
            kind = "a list" if isinstance(default, list | tuple) else _KINDS[type(default)]
            raise ConfigError(f"{where}: empty (null); expected {kind}, e.g. {default!r}")


def _check_legacy(data: Mapping[str, Any], spec: YamlSpec) -> None:
    """Answer the original's renamed or retired keys before they read as merely unknown."""
    known = _paths(spec.schema)
    for where in sorted(_paths(data)):
        if where in spec.retired_keys:
            raise ConfigError(f"{where}: {spec.retired_keys[where]}")
        if where in spec.legacy_keys and where not in known:
            raise ConfigError(
                f"{where}: the original's Ray 1.1 key; it is now {spec.legacy_keys[where]}"
            )


def _paths(node: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every dotted key path of a nested mapping."""
    paths: set[str] = set()
    for key, value in node.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        paths.add(where)
        if isinstance(value, Mapping) and value:
            paths |= _paths(value, where)
    return paths


def check_common_values(raw: Mapping[str, Any]) -> None:
    """Value checks of the sections every example's yaml has (those present in ``raw``).

    Raises:
        ConfigError: the first bad value, with its key path.
    """
    if "framework" in raw:
        check_choice("framework", raw["framework"], ("torch",))
    runners = raw.get("env_runners", {})
    for key in ("num_env_runners", "num_gpus_per_env_runner"):
        if key in runners:
            check_non_negative(f"env_runners.{key}", runners[key])
    for key in (
        "num_envs_per_env_runner",
        "num_cpus_per_env_runner",
        "rollout_fragment_length",
        "sample_timeout_s",
    ):
        if key in runners:
            check_positive(f"env_runners.{key}", runners[key])
    learners = raw.get("learners", {})
    for key in ("num_learners", "num_gpus_per_learner"):
        if key in learners:
            check_non_negative(f"learners.{key}", learners[key])
    resources = raw.get("resources", {})
    if "num_cpus_for_main_process" in resources:
        check_positive(
            "resources.num_cpus_for_main_process", resources["num_cpus_for_main_process"]
        )
    reporting = raw.get("reporting", {})
    for key in ("min_sample_timesteps_per_iteration", "metrics_num_episodes_for_smoothing"):
        if key in reporting:
            check_positive(f"reporting.{key}", reporting[key])
    if "min_time_s_per_iteration" in reporting:
        check_non_negative(
            "reporting.min_time_s_per_iteration", reporting["min_time_s_per_iteration"]
        )
    town = raw.get("embedded_town")
    if town is not None and not isinstance(town, str):
        raise ConfigError("embedded_town: expected a town name or null")
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"seed: expected null or an int >= 0, got {seed!r}")


def required_resources(raw: Mapping[str, Any]) -> tuple[float, float]:
    """``(CPUs, GPUs)`` a run reserves in Ray (the Tune trial's placement group).

    The main process (algorithm + local learner when ``num_learners`` is 0) takes
    ``num_cpus_for_main_process`` CPUs and, without remote learners, the learner's GPUs;
    each env runner and each remote learner takes its own share.

    Args:
        raw: a validated yaml's content (``env_runners``, ``learners``, ``resources``).
    """
    runners, learners = raw["env_runners"], raw["learners"]
    main = raw["resources"]["num_cpus_for_main_process"]
    num_learners = learners["num_learners"]
    cpus = main + runners["num_env_runners"] * runners["num_cpus_per_env_runner"]
    cpus += num_learners  # each remote learner reserves 1 CPU (RLlib's default)
    gpus = runners["num_env_runners"] * runners["num_gpus_per_env_runner"]
    gpus += max(num_learners, 1) * learners["num_gpus_per_learner"]
    return float(cpus), float(gpus)


def check_resources(
    raw: Mapping[str, Any],
    *,
    name: str,
    num_cpus_available: float,
    num_gpus_available: float,
    cpu_profile: str | None = None,
) -> None:
    """Raise a clear ConfigError when the yaml asks for more than Ray sees.

    Args:
        raw: a validated yaml's content.
        name: the yaml's file name, first word of the message.
        num_cpus_available: CPUs Ray sees.
        num_gpus_available: GPUs Ray sees.
        cpu_profile: the example's CPU-only yaml, suggested when GPUs are missing.

    Raises:
        ConfigError: with the arithmetic and the keys to lower.
    """
    cpus, gpus = required_resources(raw)
    runners, learners = raw["env_runners"], raw["learners"]
    if cpus > num_cpus_available:
        learner_cpus = (
            f" + {learners['num_learners']} learner CPUs" if learners["num_learners"] else ""
        )
        raise ConfigError(
            f"{name} asks for {runners['num_env_runners']} env runners x "
            f"{runners['num_cpus_per_env_runner']} CPUs + "
            f"{raw['resources']['num_cpus_for_main_process']} driver CPU{learner_cpus}"
            f" = {_fmt(cpus)} CPUs; Ray sees {_fmt(num_cpus_available)}. Lower "
            "env_runners.num_env_runners or env_runners.num_cpus_per_env_runner, or run on "
            "a machine (or cluster, --auto) with more CPUs"
        )
    if gpus > num_gpus_available:
        profile = f" (or use {cpu_profile}, the CPU profile)" if cpu_profile else ""
        raise ConfigError(
            f"{name} asks for {runners['num_env_runners']} env runners x "
            f"{_fmt(runners['num_gpus_per_env_runner'])} GPUs + "
            f"{_fmt(learners['num_gpus_per_learner'])} learner GPU(s) = {_fmt(gpus)} "
            f"GPUs; Ray sees {_fmt(num_gpus_available)}. Set "
            "env_runners.num_gpus_per_env_runner and learners.num_gpus_per_learner to 0" + profile
        )


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
