"""Attribute checks shared by the ray-cast sensors: each error names the attribute, the value
and what is valid."""

from __future__ import annotations

import math

from carla_lite.sensors.base import SensorConfigError, SensorSpec

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def bounded(
    spec: SensorSpec,
    name: str,
    default: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    integer: bool = False,
) -> float:
    """A number attribute inside ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        SensorConfigError: not a number, not finite, or outside the range.
    """
    value = spec.number(name, default)
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        bracket = "(" if low_open else "["
        kind = "an integer" if integer else "a number"
        raise SensorConfigError(
            f"{spec.blueprint_id}: attribute {name}={spec.attributes.get(name)!r} is out of "
            f"range; valid: {kind} in {bracket}{_fmt(low)}, {_fmt(high)}]"
        )
    return float(int(value)) if integer else value


def flag(spec: SensorSpec, name: str, default: bool) -> bool:
    """A boolean attribute (``true``/``false``, any case, or ``1``/``0``).

    Raises:
        SensorConfigError: any other text.
    """
    raw = spec.attributes.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SensorConfigError(
        f"{spec.blueprint_id}: attribute {name}={raw!r} is not a boolean; valid: true, false"
    )


def _fmt(bound: float) -> str:
    if math.isinf(bound):
        return "inf" if bound > 0 else "-inf"
    return f"{bound:g}"
