"""The learning curve PNG: one panel per metric against env steps, drawn with matplotlib.

Each panel shows the iteration values as faint points and, over them, a smoothed line: an
exponential moving average with TensorBoard's debiasing (weight :data:`SMOOTHING`), which
follows the trend without the lag of a plain EMA's start at 0. Iterations without a value
(before the first episode ends, ``nan``) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The Agg canvas on a bare Figure, not pyplot: no display, no GUI toolkit, and no global
# backend switch in the process that imports this module.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: EMA weight of the previous smoothed value (TensorBoard's default slider is 0.6).
SMOOTHING = 0.6


def smooth(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """Debiased exponential moving average of ``values`` (TensorBoard's smoothing).

    ``ema_i = weight * ema_(i-1) + (1 - weight) * v_i`` from ``ema = 0``, divided by
    ``1 - weight**(i+1)`` so the first points are not pulled towards 0.
    """
    if not 0 <= weight < 1:
        raise ValueError(f"weight must be in [0, 1), got {weight}")
    smoothed, ema = [], 0.0
    for i, value in enumerate(values):
        ema = weight * ema + (1 - weight) * value
        smoothed.append(ema / (1 - weight ** (i + 1)))
    return smoothed


def curve_series(
    frame: Any, x_key: str, metrics: Mapping[str, str]
) -> tuple[list[float], dict[str, list[float]]]:
    """Steps and metric columns from Tune's ``result.metrics_dataframe`` (or a dict of lists).

    Args:
        frame: the results table (``None`` when the trial reported nothing).
        x_key: the column of the x axis (env steps).
        metrics: result column -> axis label, in panel order.

    Returns:
        ``(steps, {label: values})``; a column the results lack is all ``nan``.
    """
    if frame is None or x_key not in frame:
        return [], {label: [] for label in metrics.values()}
    steps = [float(v) for v in frame[x_key]]
    series = {
        label: [float(v) for v in frame[key]] if key in frame else [math.nan] * len(steps)
        for key, label in metrics.items()
    }
    return steps, series


def write_learning_curve(
    path: str | Path,
    steps: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    *,
    smoothing: float = SMOOTHING,
) -> Path:
    """Draw one panel per metric against env steps and save it as a PNG.

    Args:
        path: the PNG to write.
        steps: env steps of each iteration (the x axis).
        series: axis label -> one value per iteration (``nan`` where there is none).
        title: the figure's title.
        smoothing: EMA weight of the smoothed line (see :func:`smooth`).

    Returns:
        ``path``.
    """
    path = Path(path)
    count = max(len(series), 1)
    # Constrained layout keeps the suptitle, panel titles and tick labels from overlapping.
    figure = Figure(figsize=(8, 2.2 + 2.6 * count), layout="constrained")
    FigureCanvasAgg(figure)
    axes_array = figure.subplots(count, 1, sharex=True, squeeze=False)
    panels = [row[0] for row in axes_array]
    for axes, (label, values) in zip(panels, series.items(), strict=False):
        points = [(s, v) for s, v in zip(steps, values, strict=True) if not math.isnan(v)]
        if points:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            axes.plot(xs, ys, "o", markersize=3, alpha=0.3, color="C0", label="per iteration")
            axes.plot(xs, smooth(ys, smoothing), "-", linewidth=2, color="C0", label="smoothed")
            axes.legend(loc="best", fontsize="small")
        else:
            axes.text(
                0.5, 0.5, "no finished episode yet", ha="center", va="center",
                transform=axes.transAxes, color="gray",
            )  # fmt: skip
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.4)
    panels[-1].set_xlabel("env steps")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    return path
