"""RayOutput: Ray's loggers, prints and worker lines into the log file, ours on the console."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import ray  # noqa: F401  (configures the "ray" logger's console handler, as in training)

from rllib_integration.training.ray_logging import RayOutput


def test_ray_loggers_and_prints_go_to_the_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    before = list(logging.getLogger("ray").handlers)
    log = tmp_path / "exp" / "ray.log"
    with RayOutput() as output:
        logging.getLogger("ray.tune").warning("early tune warning")  # before the file exists
        with output.captured():
            print("tune's box")
        assert not log.exists()
        output.attach(log)
        logging.getLogger("ray.rllib").warning("new API stack")
        print("ours", file=output.console)
    text = log.read_text()
    assert "early tune warning" in text and "tune's box" in text and "new API stack" in text
    out, err = capfd.readouterr()
    assert "ours" in out
    assert "warning" not in err and "new API stack" not in out + err
    assert logging.getLogger("ray").handlers == before  # restored


def test_nothing_is_written_without_attach(tmp_path: Path) -> None:
    with RayOutput():
        logging.getLogger("ray").error("cannot connect")
    assert list(tmp_path.iterdir()) == []


def test_worker_lines_are_prefixed_and_autoscaler_status_dropped(tmp_path: Path) -> None:
    with RayOutput() as output:
        output.attach(tmp_path / "ray.log")
        output._write_batch(
            {"pid": 42, "ip": "10.0.0.1", "actor_name": "DQN", "lines": ["Restored", "ok"]}
        )
        output._write_batch({"pid": "autoscaler", "ip": "10.0.0.1", "lines": ["Node status"]})
    lines = (tmp_path / "ray.log").read_text().splitlines()
    assert lines == ["(DQN pid=42, ip=10.0.0.1) Restored", "(DQN pid=42, ip=10.0.0.1) ok"]
