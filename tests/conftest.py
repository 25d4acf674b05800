"""Shared fixtures: free loopback ports, a carla_lite server process and a local Ray."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from rllib_integration.ports import PortRegistry

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_TOWNS = REPO_ROOT.parent / "shared" / "maps" / "carla_towns"


def free_port_triple() -> int:
    """An RPC port P with P, P+1 and P+2 free, claimed in the host-wide port registry (as
    CarlaCore's servers are) until this process exits, so tests never race env servers."""
    return PortRegistry().reserve(count_consecutive=3, extra=0).rpc_port


def ephemeral_port() -> int:
    """A port the OS says is free on every interface right now (Ray, sshd, HTTP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A ``python -m carla_lite`` child process with its log captured to a file.

    With ``rpc_log=True`` the server records the RPC names it is sent (``--rpc-log``), read
    with :meth:`rpc_calls` (complete once the server has stopped).
    """

    def __init__(self, tmp_dir: Path, *extra_args: str, rpc_log: bool = False) -> None:
        self.port = free_port_triple()
        self.log_path = tmp_dir / f"carla_lite_{self.port}.log"
        self.rpc_log_path = tmp_dir / f"carla_lite_{self.port}_rpc.json" if rpc_log else None
        self._log = self.log_path.open("w")
        command = [sys.executable, "-m", "carla_lite", f"--carla-rpc-port={self.port}"]
        command += ["--log-level=INFO", *extra_args]
        if self.rpc_log_path is not None:
            command.append(f"--rpc-log={self.rpc_log_path}")
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "ready" not in line:
            self.stop()
            raise RuntimeError(f"carla_lite did not start: {line!r}\n{self.log()}")
        self.ready_line = line

    def log(self) -> str:
        if not self._log.closed:  # closed once stopped
            self._log.flush()
        return self.log_path.read_text()

    def unknown_rpcs(self) -> list[str]:
        """RPC names the server did not know (logged by the RPC server)."""
        return [line for line in self.log().splitlines() if "unknown function" in line]

    def rpc_calls(self) -> dict:
        """The ``--rpc-log`` JSON: ``simulator`` / ``traffic_manager`` counts, ``unknown``."""
        assert self.rpc_log_path is not None, "started without rpc_log=True"
        return dict(json.loads(self.rpc_log_path.read_text()))

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@contextlib.contextmanager
def checked_server(tmp_path: Path, *extra_args: str) -> Iterator[ServerProcess]:
    """A fresh server; on leaving, asserts it is alive and no unknown RPC was called."""
    proc = ServerProcess(tmp_path, *extra_args)
    try:
        yield proc
        assert proc.alive(), f"server died:\n{proc.log()}"
        assert proc.unknown_rpcs() == []
    finally:
        proc.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server on the default map; asserts no unknown RPC was called."""
    with checked_server(tmp_path) as proc:
        yield proc


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole module of read-mostly scenarios."""
    proc = ServerProcess(tmp_path_factory.mktemp("shared_server"))
    try:
        yield proc
        assert proc.alive(), f"server died:\n{proc.log()}"
        assert proc.unknown_rpcs() == []
    finally:
        proc.stop()


def run_client(port: int, body: str, timeout: float = 120.0) -> dict:
    """Run a scenario with the official carla client in a subprocess; return its JSON.

    ``body`` sees ``client`` (connected, 10 s timeout), ``carla``, ``json`` and
    ``synchronous_world(client, delta=0.05)`` (the world, switched to synchronous mode), and
    must set ``result`` (a dict). Client errors can kill a process, hence the subprocess.
    """
    prelude = f"client = carla.Client('127.0.0.1', {port})\nclient.set_timeout(10.0)\n"
    return run_python(prelude + SYNCHRONOUS_WORLD + textwrap.dedent(body), timeout)


SYNCHRONOUS_WORLD = """
def synchronous_world(client, delta=0.05):
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = delta
    world.apply_settings(settings)
    return world
"""


def run_python(body: str, timeout: float = 120.0) -> dict:
    """Run a script (that sets ``result``) in a subprocess at the repo root; return ``result``.

    The script sees ``carla``, ``json``, ``math``, ``sys``, ``time``, ``queue`` and ``np``.
    """
    script = (
        "import json, math, sys, time, queue\n"
        "import numpy as np\n"
        "import carla\n"
        "result = {}\n" + textwrap.dedent(body) + "\nprint('RESULT ' + json.dumps(result))\n"
        # The 0.9.16 client can abort in its own static destructors when a process exits
        # right after a sensor stops streaming (also with real CARLA): skip them.
        "sys.stdout.flush()\nimport os\nos._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"client scenario failed (rc={done.returncode})\nstdout:\n{done.stdout}\n"
            f"stderr:\n{done.stderr}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray (2 CPUs, no dashboard) for one test module; imported only when used."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
