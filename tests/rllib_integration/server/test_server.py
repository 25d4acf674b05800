"""Server lifecycle with real processes: embedded carla_lite, a fake CarlaUE4.sh, external."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rllib_integration.errors import ConfigError, ServerStartError
from rllib_integration.ports import PortRegistry, PortReservation
from rllib_integration.server import (
    RunningServer,
    ServerSpec,
    build_command,
    default_server_kind,
    start_server,
)

from .conftest import REPO_ROOT, FakeCarla, group_alive, nothing_listens

CLIENT_VERSION = (
    "import carla; c=carla.Client('127.0.0.1', {port}); c.set_timeout(10); "
    "print(c.get_server_version())"
)


def server_version(port: int) -> str:
    """Ask the server its version with the official client, in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_VERSION.format(port=port)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def assert_fully_stopped(server: RunningServer, registry: PortRegistry) -> None:
    assert server.pid is not None
    assert not group_alive(server.pid)
    assert not server.alive()
    for port in (server.rpc_port, server.rpc_port + 1, server.rpc_port + 2, server.tm_port):
        assert nothing_listens(port)
    assert registry.claimed_ports() == {}


def test_embedded_server_lifecycle(registry: PortRegistry, tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    server = start_server("embedded", maps_dirs=[maps], log_dir=tmp_path / "logs")
    try:
        assert server.kind == "embedded"
        assert server.alive()
        assert server.pid is not None and group_alive(server.pid)
        assert list(server.command) == [
            sys.executable,
            "-m",
            "carla_lite",
            "-RenderOffScreen",
            "-nosound",
            f"--carla-rpc-port={server.rpc_port}",
            "-quality-level=Low",
            f"--maps-dir={maps}",
            "--exit-with-parent",
        ]
        assert server.log_path is not None and server.log_path.parent == tmp_path / "logs"
        assert "ready" in server.log_path.read_text()
        claimed = registry.claimed_ports()
        assert {server.rpc_port, server.rpc_port + 1, server.rpc_port + 2, server.tm_port} == set(
            claimed
        )
        assert server.tm_port != server.rpc_port
        assert server_version(server.rpc_port) == "0.9.16"
    finally:
        code = server.stop()
    assert code == 0  # carla_lite exits cleanly on SIGTERM
    assert_fully_stopped(server, registry)
    assert server.stop() == 0  # twice is fine
    assert server.stopped


def test_kill_then_stop(registry: PortRegistry) -> None:
    with start_server("embedded") as server:
        server.kill()
        assert not server.alive()
        assert server.returncode == -9
        assert registry.claimed_ports() != {}  # kept until stop()
    assert server.stopped
    assert_fully_stopped(server, registry)


def test_fake_carla_command_line_and_lifecycle(
    fake_carla: FakeCarla, registry: PortRegistry
) -> None:
    assert default_server_kind() == "carla"
    server = start_server(quality_level="Epic")  # kind defaults to carla via CARLA_ROOT
    try:
        assert server.kind == "carla"
        assert server.command[0] == str(fake_carla.script)
        assert fake_carla.argv() == [
            "-RenderOffScreen",
            "-nosound",
            f"--carla-rpc-port={server.rpc_port}",
            "-quality-level=Epic",
        ]
        assert server_version(server.rpc_port) == "0.9.16"
    finally:
        server.stop()
    assert_fully_stopped(server, registry)


def test_fake_carla_show_display_flags(fake_carla: FakeCarla, registry: PortRegistry) -> None:
    with start_server("carla", show_display=True, resolution_x=800, resolution_y=450) as server:
        assert fake_carla.argv() == [
            "-windowed",
            "-ResX=800",
            "-ResY=450",
            "-nosound",
            f"--carla-rpc-port={server.rpc_port}",
            "-quality-level=Low",
        ]
        assert server.alive()
    assert_fully_stopped(server, registry)


def test_stop_reaches_children_of_the_launcher(
    fake_carla: FakeCarla, registry: PortRegistry
) -> None:
    # Like the real CarlaUE4.sh, the script runs the engine as a child instead of exec'ing.
    fake_carla.install('trap \'exit 0\' TERM\n"$PY" -m carla_lite "$@" &\nwait')
    with start_server("carla") as server:
        assert server_version(server.rpc_port) == "0.9.16"
    assert_fully_stopped(server, registry)


def test_sigterm_ignored_escalates_to_sigkill_of_the_group(
    fake_carla: FakeCarla, registry: PortRegistry
) -> None:
    # The launcher and a helper ignore SIGTERM; only SIGKILL of the whole group ends them.
    fake_carla.install(
        'trap \'\' TERM\n"$PY" -m carla_lite "$@" &\nsleep 300 &\nwhile :; do sleep 1; done'
    )
    server = start_server("carla")
    try:
        started = time.monotonic()
        server.stop(timeout=1.0)
        assert time.monotonic() - started >= 1.0
    finally:
        server.stop()
    assert server.returncode == -9
    assert_fully_stopped(server, registry)


def test_carla_root_unset_or_without_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: PortRegistry
) -> None:
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    assert default_server_kind() == "embedded"
    with pytest.raises(ServerStartError, match=r"needs \$CARLA_ROOT set"):
        start_server("carla")
    monkeypatch.setenv("CARLA_ROOT", str(tmp_path))
    with pytest.raises(ServerStartError, match=r"CarlaUE4.sh not found.*CARLA_ROOT"):
        start_server("carla")
    assert registry.claimed_ports() == {}


def test_startup_failure_reports_log_tail(fake_carla: FakeCarla, registry: PortRegistry) -> None:
    fake_carla.install('echo "engine: cannot find GPU 42" >&2\nexit 3')
    with pytest.raises(ServerStartError) as info:
        start_server("carla")
    message = str(info.value)
    assert "exited with code 3 before listening" in message
    assert "engine: cannot find GPU 42" in message
    assert str(fake_carla.script) in message
    assert "--carla-rpc-port=" in message and ".log" in message
    assert registry.claimed_ports() == {}


def test_startup_timeout_kills_the_group(fake_carla: FakeCarla, registry: PortRegistry) -> None:
    fake_carla.install('echo "loading forever"\necho "$$" > "$CARLA_ROOT/pid"\nexec sleep 300')
    with pytest.raises(ServerStartError, match=r"not listening within 1 s(.|\n)*loading forever"):
        start_server("carla", startup_timeout=1.0)
    pid = int((fake_carla.root / "pid").read_text())
    assert not group_alive(pid)
    assert registry.claimed_ports() == {}


class BlockedFirstRegistry(PortRegistry):
    """Hands out ports, and lets a stranger listen on the first RPC port it hands out."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.stranger: socket.socket | None = None
        self.reservations: list[PortReservation] = []

    def reserve(self, *args, **kwargs) -> PortReservation:
        reservation = super().reserve(*args, **kwargs)
        if self.stranger is None:
            self.stranger = socket.create_server(("127.0.0.1", reservation.rpc_port))
        self.reservations.append(reservation)
        return reservation


def test_ports_taken_after_reservation_are_retried(registry: PortRegistry) -> None:
    racy = BlockedFirstRegistry(registry.path)
    try:
        with ServerSpec(kind="embedded").start(racy) as server:
            first = racy.reservations[0]
            assert len(racy.reservations) == 2
            assert first.released
            assert server.rpc_port == racy.reservations[1].rpc_port != first.rpc_port
            assert server_version(server.rpc_port) == "0.9.16"
    finally:
        assert racy.stranger is not None
        racy.stranger.close()
    assert registry.claimed_ports() == {}


def test_fixed_port_in_use_is_not_retried(registry: PortRegistry) -> None:
    with socket.create_server(("127.0.0.1", 0)) as stranger:
        port = stranger.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"ports {port}..{port + 2} are not free"):
            start_server("embedded", port=port)
    assert registry.claimed_ports() == {}


def test_external_launches_nothing(registry: PortRegistry) -> None:
    with start_server("embedded") as real:
        external = start_server("external", port=real.rpc_port)
        assert (external.pid, external.command, external.log_path) == (None, (), None)
        assert external.kind == "external"
        assert external.alive()
        assert external.tm_port in registry.claimed_ports()
        external.wait_until_listening(5)
        external.stop()
        external.stop()
        assert not external.alive()
        assert real.alive()  # stopping an external server leaves it running
        assert external.tm_port not in registry.claimed_ports()
        assert server_version(real.rpc_port) == "0.9.16"
    with pytest.raises(ConfigError, match="needs its port"):
        start_server("external")
    unreachable = start_server("external", port=real.rpc_port, tm_port=9)
    assert unreachable.tm_port == 9
    assert not unreachable.alive()
    with pytest.raises(ServerStartError, match="not listening within"):
        unreachable.wait_until_listening(0.2)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="valid: carla, embedded, external"):
        start_server("unreal")
    with pytest.raises(ConfigError):
        build_command(ServerSpec(kind="external"), 2000)


def test_embedded_server_exits_when_its_launcher_crashes(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "from rllib_integration.server import start_server\n"
        f"server = start_server('embedded', log_dir={str(tmp_path)!r})\n"
        "print(server.pid, flush=True)\n"
        "os._exit(3)  # dies without stop(): the server must notice and exit\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if status.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
            break  # exited; only its zombie entry waits for a reaper
        time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    gone = not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    assert gone, "carla_lite must exit once its launcher is gone"
