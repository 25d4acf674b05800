"""Checks of decoded msgpack arguments: each returns the value as its type or raises a
``WireError`` that names the argument and what came instead (the RPC server turns it into
an rpc error for that call; the connection and the server go on)."""

from __future__ import annotations

import math
from typing import Any

from carla_lite.protocol.wire_types import WireError


def integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{what} must be an integer, got {type(value).__name__}")
    return value


def boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"{what} must be a boolean, got {type(value).__name__}")
    return value


def string(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise WireError(f"{what} must be a string, got {type(value).__name__}")
    return value


def number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"{what} must be a number, got {type(value).__name__}")
    return float(value)


def number_in(value: Any, what: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``number``, also finite and within ``[low, high]``."""
    result = number(value, what)
    if not (math.isfinite(result) and low <= result <= high):
        raise WireError(f"{what} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return result
