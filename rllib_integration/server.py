"""Starting and stopping the simulator server an environment talks to.

Three kinds, chosen by :class:`ServerSpec.kind`:

``carla``
    The real simulator, ``$CARLA_ROOT/CarlaUE4.sh -RenderOffScreen -nosound
    --carla-rpc-port=N -quality-level=Q`` (or ``-windowed -ResX= -ResY=`` with a display).
    ``-opengl`` and the empty-``DISPLAY`` trick of the original no longer work since CARLA
    0.9.12 (Vulkan only), hence ``-RenderOffScreen``.
``embedded``
    carla_lite, the headless server of this project, launched as a process with exactly the
    same flags as ``CarlaUE4.sh`` so both kinds are handled alike (this library never imports
    it).
``external``
    A server somebody else runs at ``host:port``; nothing is launched or stopped.

Unlike the original, which dropped the ``Popen`` handle and cleaned up by SIGKILLing every
process named "carla" on the host, every launched server runs in its own process group, its
handle is kept, and :meth:`RunningServer.stop` signals only that group. Ports come from the
host-wide :class:`~rllib_integration.ports.PortRegistry`, so env runners starting at the same
moment never pick the same ones.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from rllib_integration.errors import ConfigError, ServerStartError
from rllib_integration.ports import PortClaim, PortRegistry, PortReservation

__all__ = [
    "CARLA_ROOT_ENV",
    "SERVER_KINDS",
    "RunningServer",
    "ServerSpec",
    "build_command",
    "default_server_kind",
    "start_server",
]

logger = logging.getLogger(__name__)

#: Environment variable pointing at a CARLA installation (the folder with ``CarlaUE4.sh``).
CARLA_ROOT_ENV = "CARLA_ROOT"
SERVER_KINDS = ("carla", "embedded", "external")
#: Log lines that mean a server could not bind its ports (asio, Python, and errno texts).
_BIND_ERROR = re.compile(r"address already in use|EADDRINUSE|errno 98\b", re.IGNORECASE)
#: carla_lite's line once every port is bound ("carla_lite ready: rpc=...").
_READY_LINE = re.compile(r"\bready\b")
_LOG_TAIL_LINES = 20
_POLL_INTERVAL = 0.05
#: Seconds [s] to wait for SIGKILLed group members to be reaped.
_KILL_GRACE = 5.0


#: carla_lite's extra maps folders (``carla_lite.maps.catalog.ENV_VAR``; not imported: the
#: library only launches carla_lite, it never imports it).
MAPS_DIR_ENV = "CARLA_LITE_MAPS_DIR"


def embedded_maps(package_dir: Path, maps_dirs: Sequence[object]) -> set[str]:
    """Names of the maps carla_lite serves: its built-in ones plus the extra folders.

    Mirrors ``carla_lite.maps.catalog.MapCatalog``'s sources; empty when the built-in folder
    is not where this expects it (the town is then checked only by the server).
    """
    builtin = package_dir / "maps" / "builtin"
    if not builtin.is_dir():
        return set()
    extra = [p for p in os.environ.get(MAPS_DIR_ENV, "").split(os.pathsep) if p.strip()]
    folders = [builtin, *(Path(p) for p in extra), *(Path(str(p)) for p in maps_dirs)]
    return {path.stem for folder in folders if folder.is_dir() for path in folder.glob("*.xodr")}


def bare_map_name(name: str) -> str:
    """``/Game/Carla/Maps/Town01`` or ``Town01.xodr`` -> ``Town01`` (as the server accepts)."""
    bare = name.strip().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return bare[: -len(".xodr")] if bare.lower().endswith(".xodr") else bare


def embedded_start_map(town: object, maps_dirs: Sequence[object]) -> str | None:
    """The ``--map`` to start carla_lite on for ``town``, or None if it is not one of its maps.

    Starting on the town (rather than ``load_world`` after connecting) matters with several
    envs in one process: the 0.9.16 client resets the process's first Traffic Manager on
    every episode change, so one env loading a world can crash another env's Traffic Manager
    ("close: Bad file descriptor", or a segfault).
    """
    spec = importlib.util.find_spec("carla_lite")
    if not isinstance(town, str) or spec is None or spec.origin is None:
        return None
    wanted = bare_map_name(town)
    maps = {m.casefold(): m for m in embedded_maps(Path(spec.origin).parent, maps_dirs)}
    return maps.get(wanted.casefold())


def default_server_kind() -> str:
    """The kind to use when none is configured.

    Returns:
        ``"carla"`` when ``$CARLA_ROOT`` is set (a real simulator is installed), else
        ``"embedded"``.
    """
    return "carla" if os.environ.get(CARLA_ROOT_ENV) else "embedded"


@dataclass(frozen=True)
class ServerSpec:
    """What server to run and how; :meth:`start` turns it into a :class:`RunningServer`.

    Attributes:
        kind: ``"carla"``, ``"embedded"`` or ``"external"``; None means
            :func:`default_server_kind`.
        host: Address clients connect to (launched servers run on this machine).
        port: RPC port; None picks free ones (launched kinds only). Required for
            ``external``.
        tm_port: Traffic Manager port; None reserves a free one.
        quality_level: ``-quality-level=`` (``"Low"`` or ``"Epic"``).
        show_display: Windowed server (needs an X server) instead of off-screen rendering.
        resolution_x: Window width [px], only with ``show_display``.
        resolution_y: Window height [px], only with ``show_display``.
        maps_dirs: Extra ``.xodr`` map folders (``--maps-dir``; embedded only).
        extra_args: Further command-line flags appended verbatim (launched kinds).
        startup_timeout: Seconds [s] a launched server has to accept connections.
        start_attempts: Launches tried when the chosen ports were taken meanwhile.
        log_dir: Folder of the server log files; None uses the temp dir.
        env: Environment overrides for the server process.
    """

    kind: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    tm_port: int | None = None
    quality_level: str = "Low"
    show_display: bool = False
    resolution_x: int = 600
    resolution_y: int = 600
    maps_dirs: Sequence[str | os.PathLike[str]] = ()
    extra_args: Sequence[str] = ()
    startup_timeout: float = 60.0
    start_attempts: int = 3
    log_dir: str | os.PathLike[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def resolved_kind(self) -> str:
        """The kind to run, after defaulting and validation.

        Raises:
            ConfigError: Unknown kind.
        """
        kind = self.kind if self.kind is not None else default_server_kind()
        if kind not in SERVER_KINDS:
            raise ConfigError(f"server kind {kind!r} unknown; valid: {', '.join(SERVER_KINDS)}")
        return kind

    def start(self, registry: PortRegistry | None = None) -> RunningServer:
        """Launch (or, for ``external``, just describe) the server and wait until it listens.

        Args:
            registry: Port registry; default the host-wide one.

        Returns:
            The running server; stop it with :meth:`RunningServer.stop` or a ``with`` block.

        Raises:
            ConfigError: Bad kind or missing port for ``external``.
            ServerStartError: Launch failed or the server never listened.
        """
        registry = registry if registry is not None else PortRegistry()
        kind = self.resolved_kind()
        if kind == "external":
            return self._external(registry)
        attempts = max(1, self.start_attempts)
        for attempt in range(1, attempts + 1):
            ports = registry.reserve(host=self.host, rpc_port=self.port, extra=self._extra())
            try:
                server = self._launch(kind, ports)
            except BaseException:
                ports.release()
                raise
            try:
                server.wait_until_listening(self.startup_timeout)
            except BaseException as exc:
                server.stop()
                if not isinstance(exc, ServerStartError):
                    raise
                # Another process may have bound our ports between reservation and launch;
                # fresh ports fix that, but a fixed port or any other failure would not.
                retry = self.port is None and attempt < attempts and server.bind_failed()
                if not retry:
                    raise
                logger.warning(
                    "%s server could not bind %d..%d (attempt %d of %d); retrying",
                    kind,
                    ports.rpc_port,
                    ports.secondary_port,
                    attempt,
                    attempts,
                )
            else:
                return server
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- internals ----------------------------------------------------------------------
    def _extra(self) -> int:
        return 0 if self.tm_port is not None else 1

    def _external(self, registry: PortRegistry) -> RunningServer:
        if self.port is None:
            raise ConfigError("an external server needs its port (host:port to connect to)")
        tm_claim: PortClaim | None = None
        tm_port = self.tm_port
        if tm_port is None:
            # The Traffic Manager binds in our process even with an external simulator, so
            # the port is tested here (the default bind test also covers the wildcard), not
            # on the possibly remote ``host``.
            tm_claim = registry.reserve_free(1)
            tm_port = tm_claim.ports[0]
        return RunningServer(
            kind="external",
            host=self.host,
            rpc_port=self.port,
            tm_port=tm_port,
            ports=tm_claim,
        )

    def _launch(self, kind: str, ports: PortReservation) -> RunningServer:
        command = build_command(self, ports.rpc_port, kind=kind)
        env = dict(os.environ)
        if kind == "embedded":
            env["PYTHONPATH"] = _carla_lite_pythonpath(env.get("PYTHONPATH"))
        env.update(self.env)
        log_path = _log_path(self.log_dir, kind, ports.rpc_port)
        log_file = log_path.open("wb")
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session and process group: stop() signals exactly this group.
                start_new_session=True,
            )
        except OSError as exc:
            log_file.close()
            raise ServerStartError(
                f"cannot launch {kind} server {' '.join(command)}: {exc}"
            ) from exc
        tm_port = self.tm_port if self.tm_port is not None else ports.tm_port
        assert tm_port is not None  # reserve(extra=1) always yields one.
        logger.info(
            "started %s server pid %d on %s:%d (log %s)",
            kind,
            process.pid,
            self.host,
            ports.rpc_port,
            log_path,
        )
        return RunningServer(
            kind=kind,
            host=self.host,
            rpc_port=ports.rpc_port,
            tm_port=tm_port,
            ports=ports,
            process=process,
            command=tuple(command),
            log_path=log_path,
            log_file=log_file,
        )


def build_command(spec: ServerSpec, rpc_port: int, kind: str | None = None) -> list[str]:
    """The command line that launches ``spec``'s server on ``rpc_port``.

    Args:
        spec: The server spec.
        rpc_port: ``--carla-rpc-port``.
        kind: Overrides ``spec.resolved_kind()``.

    Returns:
        argv for ``subprocess.Popen`` (no shell).

    Raises:
        ServerStartError: ``carla`` without a usable ``$CARLA_ROOT``, or carla_lite missing.
        ConfigError: ``external`` (nothing to launch) or an unknown kind.
    """
    kind = kind if kind is not None else spec.resolved_kind()
    if spec.show_display:
        display = ["-windowed", f"-ResX={spec.resolution_x}", f"-ResY={spec.resolution_y}"]
    else:
        display = ["-RenderOffScreen"]
    flags = [
        *display,
        "-nosound",
        f"--carla-rpc-port={rpc_port}",
        f"-quality-level={spec.quality_level}",
    ]
    if kind == "carla":
        return [str(_carla_script()), *flags, *spec.extra_args]
    if kind == "embedded":
        maps = [f"--maps-dir={Path(d)}" for d in spec.maps_dirs]
        # carla_lite's own flag (CarlaUE4.sh has none): it exits if this process dies
        # without stopping it, so a crashed env leaves no server behind.
        own = ["--exit-with-parent"]
        return [sys.executable, "-m", "carla_lite", *flags, *maps, *own, *spec.extra_args]
    raise ConfigError(f"no command for server kind {kind!r}; launched kinds: carla, embedded")


def start_server(
    kind: str | None = None,
    *,
    host: str = "127.0.0.1",
    quality_level: str = "Low",
    show_display: bool = False,
    resolution_x: int = 600,
    resolution_y: int = 600,
    port: int | None = None,
    tm_port: int | None = None,
    maps_dirs: Sequence[str | os.PathLike[str]] = (),
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
    start_attempts: int = 3,
    log_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    registry: PortRegistry | None = None,
) -> RunningServer:
    """Start a server; shorthand for ``ServerSpec(...).start(registry)``.

    See :class:`ServerSpec` for the arguments.

    Returns:
        The running server (use as a context manager, or call ``stop()``).

    Raises:
        ConfigError: Bad kind, or no port for ``external``.
        ServerStartError: Launch failed, the server exited, or it never listened.
    """
    spec = ServerSpec(
        kind=kind,
        host=host,
        port=port,
        tm_port=tm_port,
        quality_level=quality_level,
        show_display=show_display,
        resolution_x=resolution_x,
        resolution_y=resolution_y,
        maps_dirs=tuple(maps_dirs),
        extra_args=tuple(extra_args),
        startup_timeout=startup_timeout,
        start_attempts=start_attempts,
        log_dir=log_dir,
        env=dict(env or {}),
    )
    return spec.start(registry)


class RunningServer:
    """A started server (or an external one) and the ports reserved for it.

    Attributes:
        kind: ``"carla"``, ``"embedded"`` or ``"external"``.
        host: Address clients connect to.
        rpc_port: The server's RPC port (streaming is ``rpc_port + 1``).
        tm_port: Port for this env's Traffic Manager.
        command: argv of the launched process (empty for ``external``).
        log_path: File with the server's stdout and stderr (None for ``external``).
    """

    def __init__(
        self,
        *,
        kind: str,
        host: str,
        rpc_port: int,
        tm_port: int,
        ports: PortClaim | None = None,
        process: subprocess.Popen[bytes] | None = None,
        command: tuple[str, ...] = (),
        log_path: Path | None = None,
        log_file: IO[bytes] | None = None,
    ) -> None:
        self.kind = kind
        self.host = host
        self.rpc_port = rpc_port
        self.tm_port = tm_port
        self.command = command
        self.log_path = log_path
        self._ports = ports
        self._process = process
        self._log_file = log_file
        self._stopped = False

    # -- state --------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """Pid (and process group id) of the launched process; None for ``external``."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit status once the launched process has exited, else None."""
        return self._process.poll() if self._process is not None else None

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` has run."""
        return self._stopped

    @property
    def address(self) -> str:
        """``host:rpc_port``."""
        return f"{self.host}:{self.rpc_port}"

    def alive(self) -> bool:
        """Whether the server can still serve.

        For launched servers: the process is running. For ``external``: a TCP connection to
        the RPC port succeeds (we have no process to look at).
        """
        if self._stopped:
            return False
        if self._process is None:
            return _can_connect(self.host, self.rpc_port, timeout=1.0)
        return self._process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log ("" if none)."""
        if self.log_path is None:
            return ""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def bind_failed(self) -> bool:
        """Whether the log says the server could not bind its ports."""
        return bool(_BIND_ERROR.search(self.log_tail(200)))

    # -- lifecycle ----------------------------------------------------------------------
    def wait_until_listening(self, timeout: float) -> None:
        """Block until the RPC port accepts TCP connections.

        For ``embedded`` the ``ready`` line must also be in the log: carla_lite prints it only
        after the streaming and secondary ports are bound too.

        Args:
            timeout: Seconds [s] to wait.

        Raises:
            ServerStartError: The process exited first, or ``timeout`` passed; the message has
                the command, the address and the log tail.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise self._start_error(
                    f"exited with code {self._process.returncode} before listening"
                )
            if _can_connect(self.host, self.rpc_port, timeout=0.5) and self._ready_logged():
                # The connection may have reached a stranger that took our port while our
                # server is just about to fail binding it: make sure ours is still running.
                if self._process is not None and self._process.poll() is not None:
                    continue
                return
            if time.monotonic() >= deadline:
                raise self._start_error(f"was not listening within {timeout:g} s")
            time.sleep(_POLL_INTERVAL)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server's process group and release its ports (idempotent).

        SIGTERM goes to the server's own process group (a ``CarlaUE4.sh`` wrapper and the
        engine it starts alike); whatever is left after ``timeout`` gets SIGKILL. Nothing
        outside that group is ever signalled. For ``external`` only the ports are released.

        Args:
            timeout: Seconds [s] to wait for a clean exit before SIGKILL.

        Returns:
            The launched process's exit status (None for ``external``).
        """
        if not self._stopped:
            self._stopped = True
            try:
                if self._process is not None:
                    self._terminate_group(timeout)
            finally:
                if self._log_file is not None:
                    self._log_file.close()
                if self._ports is not None:
                    self._ports.release()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the server's process group now, as a crash would.

        The ports stay reserved until :meth:`stop`, which is still to be called.
        """
        if self._process is not None:
            self._kill_group()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"RunningServer(kind={self.kind!r}, address={self.address!r}, "
            f"tm_port={self.tm_port}, pid={self.pid}, stopped={self._stopped})"
        )

    # -- internals ----------------------------------------------------------------------
    def _ready_logged(self) -> bool:
        if self.kind != "embedded":
            return True
        # A word match: carla_lite's bind error says "already in use".
        return bool(_READY_LINE.search(self.log_tail(200)))

    def _start_error(self, what: str) -> ServerStartError:
        name = "carla_lite" if self.kind == "embedded" else f"{self.kind} server"
        return ServerStartError(
            f"{name} {what} on {self.address}; command: {' '.join(self.command)}; "
            f"see {self.log_path}:\n{self.log_tail()}"
        )

    def _signal_group(self, signum: int) -> bool:
        """Signal our process group; False if it has no member left."""
        assert self._process is not None
        try:
            # start_new_session=True made the server the leader: its pid is the group id.
            os.killpg(self._process.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def _group_has_members(self) -> bool:
        # Signal 0 checks existence only. Called after the leader was reaped: a zombie
        # leader would still count as a member.
        return self._signal_group(0)

    def _kill_group(self) -> None:
        assert self._process is not None
        self._signal_group(signal.SIGKILL)
        self._process.wait()
        # Killed members linger as zombies until their new parent reaps them.
        grace = time.monotonic() + _KILL_GRACE
        while self._group_has_members() and time.monotonic() < grace:
            time.sleep(_POLL_INTERVAL)
        if self._group_has_members():
            logger.warning("process group %d still listed after SIGKILL", self._process.pid)

    def _terminate_group(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        if not self._signal_group(signal.SIGTERM):
            self._process.wait()
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=max(0.0, deadline - time.monotonic()))
        # Children (the engine under CarlaUE4.sh) may outlive the leader: wait for them too.
        while self._process.poll() is not None and self._group_has_members():
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_INTERVAL)
        if self._process.poll() is None or self._group_has_members():
            logger.warning(
                "%s server pid %d ignored SIGTERM for %g s; sending SIGKILL to its group",
                self.kind,
                self._process.pid,
                timeout,
            )
            self._kill_group()
        logger.info("stopped %s server pid %d", self.kind, self._process.pid)


def _carla_script() -> Path:
    root = os.environ.get(CARLA_ROOT_ENV)
    if not root:
        raise ServerStartError(
            f"server kind 'carla' needs ${CARLA_ROOT_ENV} set to a CARLA 0.9.16 installation "
            "(the folder containing CarlaUE4.sh); or use the 'embedded' or 'external' kind"
        )
    script = Path(root) / "CarlaUE4.sh"
    if not script.is_file():
        raise ServerStartError(
            f"{script} not found: set ${CARLA_ROOT_ENV} to the folder containing CarlaUE4.sh "
            f"(currently {root!r})"
        )
    return script


def _carla_lite_pythonpath(current: str | None) -> str:
    """PYTHONPATH under which the child finds the carla_lite we would import.

    The package is located without importing it (the library does not depend on it), so an
    env runner whose ``sys.path`` was extended at runtime still launches the same one.
    """
    spec = importlib.util.find_spec("carla_lite")
    if spec is None or spec.origin is None:
        raise ServerStartError(
            "server kind 'embedded' needs the carla_lite package (install this project), "
            f"or set ${CARLA_ROOT_ENV} to use a real CARLA"
        )
    root = str(Path(spec.origin).resolve().parent.parent)
    return os.pathsep.join([root, current]) if current else root


def _log_path(log_dir: str | os.PathLike[str] | None, kind: str, rpc_port: int) -> Path:
    if log_dir is None:
        folder = Path(tempfile.gettempdir()) / f"rllib_integration_servers_{os.getuid()}"
    else:
        folder = Path(log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # The pid keeps logs of env runners apart; the port keeps one runner's restarts apart.
    return folder / f"{kind}-{rpc_port}-{os.getpid()}.log"


def _can_connect(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
