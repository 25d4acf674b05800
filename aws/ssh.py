"""SSH and SFTP to an instance, on paramiko: host keys, retries, exit statuses, transfers.

Host keys live in a ``known_hosts`` file beside the private keys: a host seen for the first
time is added (accept-new), a host whose key changed is refused before authenticating. On EC2
the entry is named after the instance id (its public address changes on every start and is
reused by other instances), elsewhere after ``[host]:port``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import select
import socket
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko

from aws.errors import RemoteCommandError, SshError

log = logging.getLogger(__name__)

#: Names never uploaded by ``put`` unless the user gives another ``--exclude`` list.
DEFAULT_EXCLUDE = (
    ".git",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "*.egg-info",
    "*.pem",
)


@dataclass
class SshTarget:
    """Where and how to log in.

    Attributes:
        host: address of the instance.
        port: SSH port.
        user: login user (``ubuntu`` on Ubuntu and the Deep Learning AMIs).
        key_file: the private key (``<key dir>/<key name>.pem``).
        known_hosts: the known_hosts file (``<key dir>/known_hosts``).
        host_key_alias: the name of this host in known_hosts (the instance id), or None
            for ``[host]:port``.
    """

    host: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    host_key_alias: str | None = None

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def host_key_name(self) -> str:
        if self.host_key_alias:
            return self.host_key_alias
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def remote_path(path: str) -> str:
    """A remote path for SFTP and ``cd``: ``~`` and ``~/x`` become relative to the login
    directory (where both start), as neither expands ``~`` once quoted."""
    if path in ("~", "~/"):
        return "."
    if path.startswith("~/"):
        return path[2:] or "."
    return path


def _excluded(name: str, exclude: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in exclude)


class SshSession:
    """One authenticated SSH connection; use as a context manager.

    Args:
        target: where to connect.
        deadline_s: how long to keep trying [s] while the instance boots (connection
            refused or timed out, sshd not ready, key not yet installed by cloud-init).
        retry_s: pause between attempts [s].
        connect_timeout_s: TCP connect and SSH handshake timeout of one attempt [s].
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        deadline_s: float = 300.0,
        retry_s: float = 5.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.target = target
        self.deadline_s = deadline_s
        self.retry_s = retry_s
        self.connect_timeout_s = connect_timeout_s
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- connection ---------------------------------------------------------------------------
    def __enter__(self) -> SshSession:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connects and authenticates, retrying until the deadline.

        Raises:
            SshError: refused / timed out / auth failed until the deadline (naming host:port
                and the attempts), a changed host key, or an unreadable key file.
        """
        t = self.target
        try:
            key = paramiko.PKey.from_path(t.key_file)
        except (OSError, paramiko.SSHException) as e:
            raise SshError(f"cannot read the private key {t.key_file}: {e}") from e
        start = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                self._transport = self._attempt(key)
                log.debug("connected to %s after %d attempt(s)", t.where, attempts)
                return
            except _Retry as e:
                reason = str(e)
            elapsed = time.monotonic() - start
            if elapsed >= self.deadline_s:
                raise SshError(
                    f"cannot connect to {t.where}: {reason} "
                    f"({attempts} attempt(s) in {elapsed:.0f} s)"
                )
            pause = min(self.retry_s, self.deadline_s - elapsed)
            log.info("ssh %s: %s; retrying in %.0f s", t.where, reason, pause)
            time.sleep(pause)

    def _attempt(self, key: paramiko.PKey) -> paramiko.Transport:
        t = self.target
        try:
            sock = socket.create_connection((t.host, t.port), timeout=self.connect_timeout_s)
        except ConnectionRefusedError as e:
            raise _Retry("connection refused") from e
        except TimeoutError as e:
            raise _Retry("connection timed out") from e
        except OSError as e:
            raise _Retry(f"cannot connect ({e.strerror or e})") from e
        transport = paramiko.Transport(sock)
        try:
            try:
                transport.start_client(timeout=self.connect_timeout_s)
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise _Retry(f"SSH handshake failed ({e or type(e).__name__})") from e
            if not transport.is_active() or not transport.initial_kex_done:
                # start_client returns on its timeout without raising.
                raise _Retry(f"SSH handshake failed (no answer in {self.connect_timeout_s:.0f} s)")
            self._check_host_key(transport.get_remote_server_key())
            try:
                transport.auth_publickey(t.user, key)
            except paramiko.AuthenticationException as e:
                raise _Retry(f"authentication with {t.key_file} failed") from e
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise _Retry(f"authentication did not finish ({e})") from e
        except BaseException:
            transport.close()
            raise
        return transport

    def _check_host_key(self, key: paramiko.PKey) -> None:
        """Accept-new: a new host's key is saved; a different key for a known host is refused."""
        t = self.target
        known = paramiko.HostKeys()
        if t.known_hosts.is_file():
            known.load(str(t.known_hosts))
        entry = known.lookup(t.host_key_name)
        if entry is not None:
            stored = entry.get(key.get_name())
            if stored is None or stored != key:
                raise SshError(
                    f"host key of {t.host_key_name} ({t.host}:{t.port}) is not the one in "
                    f"{t.known_hosts}: refusing to connect (if the instance was replaced, delete "
                    f"its line from that file)"
                )
            return
        known.add(t.host_key_name, key.get_name(), key)
        t.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(t.known_hosts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        known.save(str(t.known_hosts))
        log.info(
            "new host %s: %s key %s saved to %s",
            t.host_key_name,
            key.get_name(),
            key.fingerprint,
            t.known_hosts,
        )

    def close(self) -> None:
        """Closes the SFTP channel and the connection (idempotent)."""
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def transport(self) -> paramiko.Transport:
        if self._transport is None:
            raise SshError(f"not connected to {self.target.where}")
        return self._transport

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            client = paramiko.SFTPClient.from_transport(self.transport)
            if client is None:
                raise SshError(f"cannot open an SFTP channel to {self.target.where}")
            self._sftp = client
        return self._sftp

    # -- commands -----------------------------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
        check: bool = True,
    ) -> int:
        """Runs ``command`` in the remote user's shell, streaming its output as it comes.

        Returns:
            the exit status.

        Raises:
            RemoteCommandError: the status is not 0 and ``check`` is set.
        """
        out = stdout if stdout is not None else sys.stdout.buffer
        err = stderr if stderr is not None else sys.stderr.buffer
        channel = self.transport.open_session()
        try:
            channel.exec_command(command)
            while True:
                select.select([channel], [], [], 1.0)
                while channel.recv_ready():
                    out.write(channel.recv(32768))
                while channel.recv_stderr_ready():
                    err.write(channel.recv_stderr(32768))
                out.flush()
                err.flush()
                if (
                    channel.exit_status_ready()
                    and not channel.recv_ready()
                    and not channel.recv_stderr_ready()
                ):
                    break
            status = channel.recv_exit_status()
        finally:
            channel.close()
        if check and status != 0:
            raise RemoteCommandError(command, self.target.where, status)
        return status

    # -- transfers ----------------------------------------------------------------------------
    def _is_remote_dir(self, path: str) -> bool:
        try:
            mode = self.sftp.stat(path).st_mode
        except OSError:
            return False
        return mode is not None and stat.S_ISDIR(mode)

    def makedirs(self, path: str) -> None:
        """Creates the remote directory ``path`` and its parents where missing."""
        if path in ("", ".", "/") or self._is_remote_dir(path):
            return
        self.makedirs(posixpath.dirname(path.rstrip("/")))
        self.sftp.mkdir(path)

    def put_file(self, local: Path, remote: str) -> None:
        """Uploads one file, keeping its permission bits (scripts stay executable)."""
        remote = remote_path(remote)
        self.sftp.put(str(local), remote)
        self.sftp.chmod(remote, stat.S_IMODE(local.stat().st_mode))

    def put_tree(self, local: Path, remote: str, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> int:
        """Uploads the directory ``local`` as ``remote`` (created), skipping excluded names.

        Returns:
            the number of files uploaded.
        """
        exclude = tuple(exclude)
        remote = remote_path(remote)
        self.makedirs(remote)
        count = 0
        for entry in sorted(local.iterdir()):
            if _excluded(entry.name, exclude) or entry.is_symlink():
                continue
            target = posixpath.join(remote, entry.name)
            if entry.is_dir():
                count += self.put_tree(entry, target, exclude)
            elif entry.is_file():
                self.put_file(entry, target)
                count += 1
        return count

    def put(self, source: Path, target: str, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> int:
        """``put`` of the original: a directory goes to ``target/<its name>``, a file into
        ``target`` when that is a remote directory, else to the path ``target``."""
        target = remote_path(target)
        if source.is_dir():
            return self.put_tree(source, posixpath.join(target, source.name), exclude)
        if not source.is_file():
            raise SshError(f"nothing to upload: {source} is not a file or directory")
        if self._is_remote_dir(target):
            target = posixpath.join(target, source.name)
        self.put_file(source, target)
        return 1

    def get(self, source: str, target: Path) -> int:
        """Downloads a remote file or directory (recursively) into or as ``target``.

        Returns:
            the number of files downloaded.
        """
        source = remote_path(source)
        try:
            mode = self.sftp.stat(source).st_mode or 0
        except OSError as e:
            raise SshError(f"{self.target.where}: cannot read {source}: {e}") from e
        name = posixpath.basename(source.rstrip("/")) or "home"
        if stat.S_ISDIR(mode):
            dest = target / name if target.is_dir() else target
            return self._get_tree(source, dest)
        dest = target / name if target.is_dir() else target
        self.sftp.get(source, str(dest))
        return 1

    def _get_tree(self, source: str, dest: Path) -> int:
        dest.mkdir(parents=True, exist_ok=True)
        count = 0
        for attr in self.sftp.listdir_attr(source):
            remote = posixpath.join(source, attr.filename)
            if stat.S_ISDIR(attr.st_mode or 0):
                count += self._get_tree(remote, dest / attr.filename)
            elif stat.S_ISREG(attr.st_mode or 0):
                self.sftp.get(remote, str(dest / attr.filename))
                count += 1
        return count


class _Retry(Exception):
    """One attempt failed in a way a booting instance explains; try again."""
