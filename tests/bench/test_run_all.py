"""bench/run_all: the driver runs a bench script for real and puts each figure next to its
goal (a smoke run at small sizes; the figures themselves come from full runs, not CI)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_quick_run_reports_every_figure_of_the_benches_it_ran(tmp_path: Path) -> None:
    out = tmp_path / "run_all.json"
    done = subprocess.run(
        [
            str(REPO_ROOT / "bench" / "run_all"),
            "--quick",
            "--only",
            "carla_lite",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["quick"] is True and summary["failed_benches"] == {}
    rows = {row["figure"]: row for row in summary["figures"]}
    assert set(rows) == {
        "server start to ready [s]",
        "load_world LiteTown01 [s]",
        "sync ticks/s, hero + collision sensor",
    }
    for row in rows.values():
        assert row["value"] > 0 and row["goal"] != "-" and row["met"] in (True, False)
    raw = json.loads((tmp_path / "run_all.d" / "carla_lite.json").read_text())
    assert rows["sync ticks/s, hero + collision sensor"]["value"] == round(
        raw["sync_hero_collision_sensor"]["ticks_per_s"], 3
    )
    assert "server start to ready [s]" in done.stdout  # the table


def test_an_unknown_bench_name_is_refused_with_the_valid_ones() -> None:
    done = subprocess.run(
        [str(REPO_ROOT / "bench" / "run_all"), "--only", "nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "invalid choice: 'nonexistent'" in done.stderr
