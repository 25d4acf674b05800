"""A route benchmark's results as a Leaderboard-like table and a bar chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: (header, alignment and width, value format).
COLUMNS = (
    ("route", "<10", ""),
    ("length m", ">8", ".0f"),
    ("status", "<26", ""),
    ("RC %", ">6", ".1f"),
    ("IP", ">5", ".2f"),
    ("DS", ">6", ".1f"),
    ("coll/km", ">7", ".2f"),
    ("infr/km", ">7", ".2f"),
)


def format_table(routes: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    """Per-route rows (``RouteRecord.to_dict``) and the mean row, aligned."""
    header = "  ".join(f"{name:{layout}}" for name, layout, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    for route in routes:
        rates = route["infractions_per_km"]
        values = (
            route["name"],
            route["route_length_m"],
            route["status"][:26],
            route["route_completion"],
            route["infraction_penalty"],
            route["driving_score"],
            rates["collisions"],
            rates["infractions"],
        )
        lines.append(_row(values))
    lines.append("-" * len(header))
    rates = summary["infractions_per_km"]
    mean = (
        "mean",
        sum(r["route_length_m"] for r in routes) / max(len(routes), 1),
        f"{summary['routes']} routes",
        summary["route_completion"],
        summary["infraction_penalty"],
        summary["driving_score"],
        rates["collisions"],
        rates["infractions"],
    )
    lines.append(_row(mean))
    return "\n".join(lines)


def _row(values: Sequence[Any]) -> str:
    return "  ".join(
        f"{value:{layout}{spec}}" for (_, layout, spec), value in zip(COLUMNS, values, strict=True)
    )


def write_bar_chart(path: str | Path, groups: Mapping[str, Mapping[str, Any]], title: str) -> Path:
    """Grouped bars of route completion, infraction penalty x 100 and driving score.

    Args:
        path: the PNG to write.
        groups: label (a policy) -> its summary (``summarize``'s keys).
        title: the chart's title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = (
        ("route_completion", "route completion [%]"),
        ("infraction_penalty", "infraction penalty x 100"),
        ("driving_score", "driving score"),
    )
    labels = list(groups)
    width = 0.8 / len(metrics)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.6 * len(labels) + 3.0), 4.5))
    for index, (key, name) in enumerate(metrics):
        scale = 100.0 if key == "infraction_penalty" else 1.0
        values = [float(groups[label][key]) * scale for label in labels]
        positions = [i + (index - 1) * width for i in range(len(labels))]
        bars = axes.bar(positions, values, width, label=name)
        axes.bar_label(bars, fmt="%.0f", fontsize=8)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylim(0, 110)
    axes.set_ylabel("percent / score")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
