"""Run a training script on a changed yaml for a fixed time and read Tune's results.

The training benchmarks measure real training (sampling and learning) the way a user runs
it: ``python <script> <yaml> --stop-seconds N`` in a subprocess, then one row per iteration
from the trial's ``result.json``. The scripts run as ``python bench/x.py`` from the
repository root: they put ``REPO`` on ``sys.path`` and import ``from bench.training_runs
import ...``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def example_yaml(relative_path: str) -> dict[str, Any]:
    """The content of one of the repository's training yamls (to change, then train on)."""
    return dict(yaml.safe_load((REPO / relative_path).read_text()))


def train_results(
    script: str, config: Mapping[str, Any], seconds: float, work: Path, label: str
) -> list[dict[str, Any]]:
    """Trains ``script`` on ``config`` for ``seconds``; returns its ``result.json`` rows.

    Args:
        script: the training script, relative to the repository (``"ppo_train.py"``).
        config: the training yaml's content.
        seconds: ``--stop-seconds``.
        work: a scratch directory for the yaml and the run.
        label: names this run's files in ``work``.

    Raises:
        RuntimeError: the script failed (with the end of its output).
    """
    path = work / f"{label}.yaml"
    path.write_text(yaml.safe_dump(dict(config)))
    directory = work / f"runs_{label}"
    command = [sys.executable, str(REPO / script), str(path), "--tboff", "-d"]
    command += [str(directory), "-n", "bench", "--stop-seconds", str(seconds)]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    (trial,) = [p for p in (directory / "bench").iterdir() if p.is_dir()]
    return [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
