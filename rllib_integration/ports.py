"""Host-wide port reservation for simulator servers.

RLlib starts many env runners at once, often as separate processes, and every one of them
launches a server that binds an RPC port ``P`` plus ``P+1`` (streaming) and ``P+2`` (the
multi-GPU secondary port), and a Traffic Manager port that the CARLA client binds in the env
runner's own process. The original picked a random port and checked it with ``psutil``; two
runners could still pick the same one between the check and the server's bind. Here every
choice is made under an exclusive ``fcntl.flock`` on a small JSON registry shared by all
processes of the user, a port is only chosen if it can be bound right now *and* no live
process has claimed it, and the claim is recorded with our pid until released.

Example:
    >>> with PortRegistry().reserve() as ports:  # doctest: +SKIP
    ...     launch(rpc_port=ports.rpc_port, tm_port=ports.tm_port)
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import random
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from rllib_integration.errors import ServerStartError

__all__ = [
    "DEFAULT_HIGH",
    "DEFAULT_LOW",
    "PORTS_FILE_ENV",
    "PortClaim",
    "PortRegistry",
    "PortReservation",
    "default_registry_path",
    "port_is_bindable",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the registry file (overrides the default under the temp dir).
PORTS_FILE_ENV = "RLLIB_INTEGRATION_PORTS_FILE"
#: Port range of the original ``init_server`` (``random.randint(15000, 32000)``); it stays below
#: Linux's default ephemeral range (32768-60999), so outgoing connections rarely collide.
DEFAULT_LOW = 15000
DEFAULT_HIGH = 32000
#: Random candidates tried before giving up; a nearly full range fails fast instead of spinning.
_MAX_CANDIDATES = 2000


def default_registry_path() -> Path:
    """The registry file: ``$RLLIB_INTEGRATION_PORTS_FILE`` or one per user in the temp dir.

    The file is per user because ``fs.protected_regular`` forbids opening another user's file
    with ``O_CREAT`` in a sticky world-writable directory such as ``/tmp``; servers of other
    users are still avoided by the bind test.
    """
    override = os.environ.get(PORTS_FILE_ENV)
    if override:
        return Path(override)
    return Path(tempfile.gettempdir()) / f"rllib_integration_ports_{os.getuid()}.json"


def port_is_bindable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP socket can bind ``port`` right now.

    ``SO_REUSEADDR`` stays off so that a port with connections lingering in ``TIME_WAIT`` also
    counts as taken (a server that sets it could bind it, but one that does not could not).
    Besides ``host`` the wildcard address is tried: CARLA binds ``0.0.0.0``, which conflicts
    with any address already bound to that port.

    Args:
        port: TCP port number.
        host: IPv4 address the server will be reached on.

    Returns:
        True if every bind succeeded; the sockets are closed immediately.
    """
    for address in dict.fromkeys((host, "0.0.0.0")):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (``/proc/<pid>/stat`` field 22), if readable.

    Recorded with a claim so that a recycled pid is not mistaken for the claimer.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_alive(pid: object, start_time: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False  # Malformed; also, ``kill(0, 0)`` would probe our own group.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # Exists, owned by someone else.
    if not isinstance(start_time, str):
        return True
    current = _process_start_time(pid)
    return current is None or current == start_time


class PortClaim:
    """Ports recorded in the registry under our pid until :meth:`release` is called.

    Released automatically at interpreter exit; a claim whose process died is dropped by the
    next reader of the registry, so a crash leaks nothing for long.

    Attributes:
        ports: Every claimed port.
        token: Identifier of this claim in the registry.
    """

    def __init__(self, registry: PortRegistry, ports: tuple[int, ...], token: str) -> None:
        self.ports = ports
        self.token = token
        self._registry = registry
        # A forked child inherits our atexit hooks; only the claiming process may release.
        self._owner_pid = os.getpid()
        self._released = False
        atexit.register(self.release)

    @property
    def released(self) -> bool:
        """Whether :meth:`release` has run."""
        return self._released

    def release(self) -> None:
        """Remove the claim from the registry (idempotent; a no-op in a forked child)."""
        if self._released or os.getpid() != self._owner_pid:
            return
        self._released = True
        atexit.unregister(self.release)
        try:
            self._registry._remove(self.token)
        except OSError as exc:
            # Releasing is best effort: a stale claim is reclaimed once our pid is gone.
            logger.warning("could not release ports %s: %s", self.ports, exc)

    def __enter__(self) -> PortClaim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"{type(self).__name__}(ports={self.ports}, {state})"


class PortReservation(PortClaim):
    """The ports of one simulator server: RPC, streaming, secondary and Traffic Manager.

    Attributes:
        rpc_port: ``--carla-rpc-port``.
        streaming_port: ``rpc_port + 1`` (CARLA's default streaming port).
        secondary_port: ``rpc_port + 2`` (CARLA's multi-GPU secondary port since 0.9.12).
        tm_port: First extra port (the Traffic Manager's), or None when none was asked for.
        extra_ports: Every extra (non-consecutive) port.
    """

    def __init__(
        self,
        registry: PortRegistry,
        consecutive: tuple[int, ...],
        extra_ports: tuple[int, ...],
        token: str,
    ) -> None:
        super().__init__(registry, consecutive + extra_ports, token)
        self.rpc_port = consecutive[0]
        self.streaming_port = self.rpc_port + 1
        self.secondary_port = self.rpc_port + 2
        self.extra_ports = extra_ports
        self.tm_port: int | None = extra_ports[0] if extra_ports else None

    def __enter__(self) -> PortReservation:
        return self

    def __repr__(self) -> str:
        state = "released" if self.released else "held"
        return (
            f"PortReservation(rpc_port={self.rpc_port}, streaming_port={self.streaming_port}, "
            f"secondary_port={self.secondary_port}, tm_port={self.tm_port}, {state})"
        )


class PortRegistry:
    """Claims of ports by live processes, in a JSON file guarded by ``fcntl.flock``.

    The file holds ``{"claims": [{"token", "pid", "start", "ports", "time"}, ...]}``. Every
    operation takes the exclusive lock, drops claims of dead processes, and rewrites the file,
    so reservations made at the same moment by many processes never overlap.

    Args:
        path: Registry file; default :func:`default_registry_path`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_registry_path()

    # -- public -------------------------------------------------------------------------
    def reserve(
        self,
        count_consecutive: int = 3,
        extra: int = 1,
        low: int = DEFAULT_LOW,
        high: int = DEFAULT_HIGH,
        rng: random.Random | None = None,
        host: str = "127.0.0.1",
        rpc_port: int | None = None,
    ) -> PortReservation:
        """Claim ``count_consecutive`` consecutive ports and ``extra`` more free ports.

        Args:
            count_consecutive: Consecutive ports starting at the RPC port (3 for CARLA).
            extra: Further ports anywhere in the range (1: the Traffic Manager port).
            low: Lowest port considered (inclusive).
            high: Highest port considered (inclusive).
            rng: Source of candidates; pass a seeded one for a deterministic choice.
            host: Address the bind test uses (the wildcard is tried too).
            rpc_port: Use exactly this RPC port (still bind-tested and claimed); the extra
                ports are chosen as usual.

        Returns:
            The claim; call :meth:`PortReservation.release` when the server is gone.

        Raises:
            ValueError: Nonsensical counts or range.
            ServerStartError: No such set of ports is free.
        """
        if count_consecutive < 1 or extra < 0:
            raise ValueError("count_consecutive must be >= 1 and extra >= 0")
        if not 0 < low <= high - (count_consecutive - 1) or high > 65535:
            raise ValueError(f"bad port range {low}..{high} for {count_consecutive} ports")
        if rpc_port is not None and not 0 < rpc_port <= 65536 - count_consecutive:
            raise ValueError(f"rpc_port {rpc_port} out of range")
        rng = rng if rng is not None else random.SystemRandom()
        token = uuid.uuid4().hex
        with self._locked() as claims:
            taken = {port for claim in claims for port in claim["ports"]}
            if rpc_port is not None:
                starts: Iterable[int] = [rpc_port]
            else:
                starts = self._candidates(rng, low, high - (count_consecutive - 1))
            consecutive: tuple[int, ...] | None = None
            for start in starts:
                block = tuple(range(start, start + count_consecutive))
                if taken.isdisjoint(block) and all(port_is_bindable(p, host) for p in block):
                    consecutive = block
                    break
            if consecutive is None:
                if rpc_port is not None:
                    what = f"ports {rpc_port}..{rpc_port + count_consecutive - 1} are not free"
                else:
                    what = f"no {count_consecutive} consecutive free ports in {low}..{high}"
                raise ServerStartError(
                    f"{what} on {host} (bind test, or claimed in registry {self.path})"
                )
            extras = self._pick_free(extra, taken | set(consecutive), rng, low, high, host)
            claims.append(self._record(token, consecutive + extras))
        logger.debug("reserved ports %s + %s (%s)", consecutive, extras, self.path)
        return PortReservation(self, consecutive, extras, token)

    def reserve_free(
        self,
        count: int = 1,
        low: int = DEFAULT_LOW,
        high: int = DEFAULT_HIGH,
        rng: random.Random | None = None,
        host: str = "127.0.0.1",
    ) -> PortClaim:
        """Claim ``count`` free ports, not necessarily consecutive (e.g. a TM port alone).

        Args:
            count: Number of ports.
            low: Lowest port considered (inclusive).
            high: Highest port considered (inclusive).
            rng: Source of candidates; pass a seeded one for a deterministic choice.
            host: Address the bind test uses (the wildcard is tried too).

        Returns:
            The claim.

        Raises:
            ServerStartError: Not enough free ports.
        """
        rng = rng if rng is not None else random.SystemRandom()
        token = uuid.uuid4().hex
        with self._locked() as claims:
            taken = {port for claim in claims for port in claim["ports"]}
            ports = self._pick_free(count, taken, rng, low, high, host)
            claims.append(self._record(token, ports))
        return PortClaim(self, ports, token)

    def claimed_ports(self) -> dict[int, int]:
        """Every port claimed by a live process, mapped to the claimer's pid."""
        with self._locked() as claims:
            return {port: int(claim["pid"]) for claim in claims for port in claim["ports"]}

    # -- internals ----------------------------------------------------------------------
    @staticmethod
    def _candidates(rng: random.Random, low: int, high: int) -> Iterator[int]:
        for _ in range(_MAX_CANDIDATES):
            yield rng.randint(low, high)

    def _pick_free(
        self,
        count: int,
        taken: set[int],
        rng: random.Random,
        low: int,
        high: int,
        host: str,
    ) -> tuple[int, ...]:
        chosen: list[int] = []
        for port in self._candidates(rng, low, high):
            if len(chosen) == count:
                break
            if port not in taken and port not in chosen and port_is_bindable(port, host):
                chosen.append(port)
        if len(chosen) < count:
            raise ServerStartError(
                f"only {len(chosen)} of {count} free ports found on {host} in {low}..{high} "
                f"(registry {self.path})"
            )
        return tuple(chosen)

    @staticmethod
    def _record(token: str, ports: tuple[int, ...]) -> dict[str, Any]:
        pid = os.getpid()
        return {
            "token": token,
            "pid": pid,
            "start": _process_start_time(pid),
            "ports": list(ports),
            "time": time.time(),
        }

    def _remove(self, token: str) -> None:
        with self._locked() as claims:
            claims[:] = [claim for claim in claims if claim.get("token") != token]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        """Lock the file, yield its live claims for in-place edits, then write them back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                claims, stale = self._live_claims(handle.read())
                before = json.dumps(claims)
                yield claims
                if stale or json.dumps(claims) != before:
                    handle.seek(0)
                    handle.truncate()
                    json.dump({"claims": claims}, handle)
                    handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _live_claims(self, text: str) -> tuple[list[dict[str, Any]], bool]:
        """Parse the file; return the claims of live processes and whether any were dropped."""
        if not text.strip():
            return [], True
        try:
            data = json.loads(text)
            raw = data["claims"]
            claims = [c for c in raw if isinstance(c, dict) and isinstance(c.get("ports"), list)]
        except (ValueError, KeyError, TypeError):
            # A torn or foreign file must not block every launch on the host: start afresh
            # (live servers are still protected by the bind test).
            logger.warning("ignoring unreadable port registry %s", self.path)
            return [], True
        live = [c for c in claims if _pid_alive(c.get("pid"), c.get("start"))]
        if len(live) != len(raw):
            logger.debug("dropped %d stale claims from %s", len(raw) - len(live), self.path)
        return live, len(live) != len(raw)
