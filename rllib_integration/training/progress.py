"""One console line per training iteration (and Tune's callback printing it).

``iter    3 | env steps     3024 | return mean   -120.50 | episodes     4 | time    61.2 s``,
followed by ``| route  45.2 % | coll/km  1.20 | score  30.1`` when the iteration's results
carry the driving metrics of ``callbacks.DrivingMetricsCallbacks``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

STEPS_KEY = "env_runners/num_env_steps_sampled_lifetime"
RETURN_KEY = "env_runners/episode_return_mean"
EPISODES_KEY = "env_runners/num_episodes_lifetime"
#: Driving metrics shown when present: (result key, label, format, unit).
DRIVING_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("env_runners/route_completion", "route", "5.1f", " %"),
    ("env_runners/collisions_per_km", "coll/km", "5.2f", ""),
    ("env_runners/driving_score", "score", "5.1f", ""),
)


def flat(result: Mapping[str, Any], key: str) -> Any:
    """``result["a"]["b"]`` for ``key == "a/b"`` (None when absent)."""
    if key in result:  # already flattened
        return result[key]
    node: Any = result
    for part in key.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``; ``nan`` (same width) when absent or not a number."""
    width = int(spec.split(".")[0] or 0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    return f"{'nan':>{width}}" if math.isnan(number) else format(number, spec)


def progress_line(result: Mapping[str, Any]) -> str:
    """The console line of one training result (nested or flattened keys)."""
    line = (
        f"iter {int(result.get('training_iteration') or 0):4d} | "
        f"env steps {int(flat(result, STEPS_KEY) or 0):8d} | "
        f"return mean {_number(flat(result, RETURN_KEY), '9.2f')} | "
        f"episodes {int(flat(result, EPISODES_KEY) or 0):5d} | "
        f"time {float(result.get('time_total_s') or 0.0):7.1f} s"
    )
    for key, label, spec, unit in DRIVING_METRICS:
        value = flat(result, key)
        if value is not None:
            line += f" | {label} {_number(value, spec)}{unit}"
    return line


def progress_callback(
    console: TextIO | None = None, note: Callable[[Mapping[str, Any]], str | None] | None = None
) -> Any:
    """A Tune callback printing :func:`progress_line` for every result.

    Args:
        console: where to print (default: ``sys.stdout`` at print time).
        note: an extra line from a result (e.g. where the env runners are), printed before
            the progress line whenever it differs from the last one printed.
    """
    from ray import tune

    class Progress(tune.Callback):
        def __init__(self) -> None:
            self._note: str | None = None

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[Any, Any], **info: Any
        ) -> None:
            out = console if console is not None else sys.stdout
            line = note(result) if note is not None else None
            if line is not None and line != self._note:
                print(line, file=out, flush=True)
                self._note = line
            print(progress_line(result), file=out, flush=True)

    return Progress()
