"""Fixtures for the server tests: a private port registry and a fake CARLA installation."""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rllib_integration.ports import PORTS_FILE_ENV, PortRegistry

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PortRegistry:
    """A registry file of this test only, also picked up by ``PortRegistry()``."""
    path = tmp_path / "ports.json"
    monkeypatch.setenv(PORTS_FILE_ENV, str(path))
    return PortRegistry(path)


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def nothing_listens(port: int) -> bool:
    """Whether ``port`` can be bound on loopback (with SO_REUSEADDR: no listener there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_script(path: Path, body: str) -> Path:
    """Write an executable ``sh`` script."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class FakeCarla:
    """A CARLA_ROOT whose ``CarlaUE4.sh`` records its argv and runs carla_lite."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.argv_file = root / "argv.txt"
        self.script = root / "CarlaUE4.sh"

    def install(self, run: str) -> None:
        """(Re)write the script: record argv one per line, then run ``run``."""
        write_script(
            self.script,
            f'printf "%s\\n" "$@" > "{self.argv_file}"\n'
            f'PY="{sys.executable}"\n'
            f'export PYTHONPATH="{REPO_ROOT}"\n' + run + "\n",
        )

    def argv(self) -> list[str]:
        return self.argv_file.read_text().splitlines()


@pytest.fixture
def fake_carla(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCarla:
    """``$CARLA_ROOT`` pointing at a script that execs carla_lite with the same flags."""
    root = tmp_path / "carla"
    root.mkdir()
    fake = FakeCarla(root)
    fake.install('exec "$PY" -m carla_lite "$@"')
    monkeypatch.setenv("CARLA_ROOT", str(root))
    return fake


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Process groups a test started by hand; SIGKILLed at teardown if still there."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
