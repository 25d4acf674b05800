"""The progress line of one iteration, with and without driving metrics."""

from __future__ import annotations

import io
import math
from typing import Any

from rllib_integration.training.progress import flat, progress_callback, progress_line

BASE: dict[str, Any] = {
    "training_iteration": 3,
    "time_total_s": 61.24,
    "env_runners": {
        "num_env_steps_sampled_lifetime": 3024,
        "episode_return_mean": -120.5,
        "num_episodes_lifetime": 4,
    },
}


def test_line_without_driving_metrics() -> None:
    assert progress_line(BASE) == (
        "iter    3 | env steps     3024 | return mean   -120.50 | episodes     4 | time    61.2 s"
    )


def test_line_before_the_first_episode_shows_nan() -> None:
    result = {"training_iteration": 1, "env_runners": {"episode_return_mean": math.nan}}
    assert progress_line(result) == (
        "iter    1 | env steps        0 | return mean       nan | episodes     0 | time     0.0 s"
    )


def test_line_with_driving_metrics() -> None:
    result = {**BASE, "env_runners": {**BASE["env_runners"], "route_completion": 45.21}}
    result["env_runners"].update(collisions_per_km=1.2, driving_score=30.06)
    assert progress_line(result).endswith(
        "time    61.2 s | route  45.2 % | coll/km  1.20 | score  30.1"
    )
    # Flattened keys (as in Tune's dataframe) read the same.
    flattened = {"training_iteration": 3, "env_runners/route_completion": 10.0}
    assert flat(flattened, "env_runners/route_completion") == 10.0
    assert progress_line(flattened).endswith("| route  10.0 %")


def test_callback_prints_to_the_console_and_notes_once() -> None:
    console = io.StringIO()
    callback = progress_callback(console, note=lambda result: "runners: 2 on 1 node")
    for iteration in (1, 2):
        callback.on_trial_result(0, [], None, {**BASE, "training_iteration": iteration})
    lines = console.getvalue().splitlines()
    assert lines[0] == "runners: 2 on 1 node"
    assert [line[:9] for line in lines[1:]] == ["iter    1", "iter    2"]
