"""The learning curve PNG (matplotlib, Agg canvas)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from rllib_integration.training.curves import curve_series, smooth, write_learning_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_smooth_is_a_debiased_ema() -> None:
    assert smooth([5.0, 5.0, 5.0]) == pytest.approx([5.0, 5.0, 5.0])  # no pull towards 0
    values = smooth([0.0, 10.0], weight=0.5)
    assert values == pytest.approx([0.0, 10.0 * 0.5 / 0.75])
    assert smooth([1.0, 2.0], weight=0.0) == [1.0, 2.0]
    with pytest.raises(ValueError):
        smooth([1.0], weight=1.0)


def test_curve_with_two_panels_is_a_png(tmp_path: Path) -> None:
    steps = [float(s) for s in range(1000, 21000, 1000)]
    returns = [math.nan, *(float(i * i % 7) for i in range(19))]
    route = [math.nan] * 5 + [float(i) for i in range(15)]
    path = write_learning_curve(
        tmp_path / "curve.png",
        steps,
        {"episode return mean": returns, "route completion [%]": route},
        "PPO run",
    )
    width, height = _png_size(path)
    assert width == 800 and height > 600  # a taller figure for the second panel
    one = write_learning_curve(tmp_path / "one.png", steps, {"return": returns}, "DQN run")
    assert _png_size(one)[1] < height


def test_curve_without_any_episode_is_still_written(tmp_path: Path) -> None:
    path = write_learning_curve(tmp_path / "empty.png", [], {"return": []}, "nothing yet")
    assert _png_size(path) == (800, 480)


def test_curve_series_from_results() -> None:
    frame = {"steps": [1, 2], "ret": [0.5, 1.5]}
    steps, series = curve_series(frame, "steps", {"ret": "return", "route": "route"})
    assert steps == [1.0, 2.0]
    assert series["return"] == [0.5, 1.5]
    assert all(math.isnan(v) for v in series["route"])
    assert curve_series(None, "steps", {"ret": "return"}) == ([], {"return": []})
