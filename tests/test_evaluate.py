"""evaluate.py: a two-route benchmark with the random policy and the autopilot expert."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _evaluate(tmp_path: Path, policy: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO_ROOT / "evaluate.py"), "--policy", policy]
    command += ["--town", "LiteTown01", "--routes", "2", "--seed", "5", "--length", "150"]
    command += ["--vehicles", "5", "--walkers", "0", "--json", str(tmp_path / f"{policy}.json")]
    return subprocess.run(
        [*command, *extra], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def test_autopilot_completes_more_than_random(tmp_path: Path) -> None:
    results = {}
    for policy in ("random", "autopilot"):
        done = _evaluate(tmp_path, policy)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "route completion" not in done.stderr
        assert "mean" in done.stdout and "DS" in done.stdout  # the table
        results[policy] = json.loads((tmp_path / f"{policy}.json").read_text())
        assert (tmp_path / f"{policy}.png").read_bytes()[:4] == b"\x89PNG"
    random, autopilot = results["random"], results["autopilot"]
    assert autopilot["route_completion"] > random["route_completion"] + 30.0
    for result in (random, autopilot):
        assert set(result) >= {"driving_score", "route_completion", "infraction_penalty"}
        assert len(result["routes"]) == 2
        for route in result["routes"]:
            assert route["driving_score"] == pytest.approx(
                route["route_completion"] * route["infraction_penalty"], abs=0.05
            )
    # The same seed gives both policies the same routes.
    assert [r["route"] for r in random["routes"]] == [r["route"] for r in autopilot["routes"]]


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    done = _evaluate(tmp_path, "ppo")
    assert done.returncode == 2 and "--policy ppo needs --network" in done.stderr
    done = _evaluate(tmp_path, "random", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and "nope.yaml" in done.stderr
