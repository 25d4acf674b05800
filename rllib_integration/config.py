"""Config merging with the original's semantics, plus validation.

The original merges user config over defaults with ``join_dicts``: dicts merge recursively,
everything else (lists included) replaces. Here the same merge also checks every key: a key
that is not in the defaults is an error naming its path and the valid keys, and a value of
the wrong type is an error naming its path, the expected and the given type. A default of
``{}`` marks a free-form mapping (e.g. ``hero.sensors``, keyed by user-chosen names), as do
the paths given in ``free_form`` (for such a mapping with default entries); a default of
``None`` accepts any value.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Collection, Mapping
from typing import Any

from rllib_integration.errors import ConfigError


def merge_config(
    defaults: Mapping[str, Any],
    user: Mapping[str, Any],
    path: str,
    free_form: Collection[str] = (),
) -> dict[str, Any]:
    """``defaults`` updated with ``user``, validated.

    Args:
        defaults: the default config; its keys are the valid keys.
        user: the user's (partial) config.
        path: dotted prefix for error messages, e.g. ``"experiment"``.
        free_form: dotted paths (with the prefix) of mappings whose keys the user chooses:
            the user's entries are added to the default ones (an entry of the same name
            replaces the default one).

    Raises:
        ConfigError: unknown key or wrong value type, with the path.
    """
    if not isinstance(user, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {type(user).__name__} ({user!r})")
    result = copy.deepcopy(dict(defaults))  # never share nested defaults with the caller
    for key, value in user.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            raise ConfigError(_unknown_key(where, key, defaults))
        default = defaults[key]
        if where in free_form and isinstance(default, Mapping):
            _check_type(where, default, value)
            result[key] = {**result[key], **copy.deepcopy(dict(value or {}))}
        elif isinstance(default, Mapping) and default:
            result[key] = merge_config(default, value, where, free_form)
        else:
            _check_type(where, default, value)
            result[key] = dict(value) if isinstance(value, Mapping) else value
    return result


def deep_update(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in place: mappings recursively, other values replaced,
    new keys added (how a subclass's ``default_config`` extends its parents')."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _unknown_key(where: str, key: object, defaults: Mapping[str, Any]) -> str:
    valid = sorted(str(k) for k in defaults)
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}: unknown key{hint}; valid: {', '.join(valid)}"


def _check_type(where: str, default: object, value: object) -> None:
    if default is None or value is None:
        return
    expected: tuple[type, ...]
    if isinstance(default, bool):
        expected = (bool,)
    elif isinstance(default, int):
        expected = (int,)
    elif isinstance(default, float):
        expected = (int, float)
    elif isinstance(default, str):
        expected = (str,)
    elif isinstance(default, list | tuple):
        expected = (list, tuple)
    elif isinstance(default, Mapping):
        expected = (Mapping,)
    else:
        return
    wrong_bool = isinstance(value, bool) and bool not in expected
    if wrong_bool or not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in expected)
        raise ConfigError(f"{where}: expected {names}, got {type(value).__name__} ({value!r})")


def check_choice(where: str, value: object, choices: tuple[object, ...]) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{where}: {value!r} is not one of {listed}")


def check_positive(where: str, value: float) -> None:
    """Raise ConfigError unless ``value`` > 0 (NaN is not)."""
    if not value > 0:
        raise ConfigError(f"{where}: must be > 0, got {value!r}")


def check_non_negative(where: str, value: float) -> None:
    """Raise ConfigError unless ``value`` >= 0 (NaN is not: ``value < 0`` would let it pass)."""
    if not value >= 0:
        raise ConfigError(f"{where}: must be >= 0, got {value!r}")
