"""rpclib-compatible msgpack-rpc server over TCP.

Wire format (rpclib v2.2.1 as bundled by CARLA): the TCP stream is a plain sequence of
msgpack objects, no extra framing. Requests are ``[0, msgid, method, params]``,
responses ``[1, msgid, error, result]`` with ``error = nil`` on success, notifications
``[2, method, params]``. CARLA prepends a metadata argument ``[is_async: bool]`` to every
call; it is stripped before the handler is called. "Async" calls are still answered
(the client throws the reply away, and otherwise rpclib keeps pending entries).

A non-nil ``error`` makes the client raise ``RuntimeError: rpc::rpc_error during call in
function <name>``; handlers report CARLA-level failures inside their result instead
(``wire_types.error``).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import reprlib
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import msgpack

from carla_lite.protocol.listener import open_listener
from carla_lite.protocol.wire_types import WireError

__all__ = ["RpcServer"]

logger = logging.getLogger(__name__)

_MAX_BUFFER = 64 * 1024 * 1024
_RECV_SIZE = 256 * 1024
# Replies produced from one recv() are sent together; flush early past this size.
_FLUSH_BYTES = 1024 * 1024
# Pause after a failed accept (e.g. out of descriptors) before trying again.
_ACCEPT_RETRY_SECONDS = 0.05
#: Connections served at once. Each may buffer up to ``_MAX_BUFFER`` of an incomplete
#: frame, so this bounds the server's memory; a CARLA client holds one or two.
MAX_CONNECTIONS = 64
#: Longest method name kept in statistics, logs and error replies (longer ones are cut).
_NAME_SHOWN = 120
#: Unknown-method calls recorded in :attr:`RpcServer.unknown_methods` (the first ones).
_UNKNOWN_RECORDED = 1024
# RecursionError: a handler's message quoting an argument nested ~1000 deep (msgpack
# decodes up to 1024 levels) is a refused argument, not an internal error.
_EXPECTED_ERRORS = (WireError, TypeError, ValueError, IndexError, KeyError, RecursionError)
_UNPACK_ERRORS = (
    msgpack.UnpackException,
    msgpack.ExtraData,
    msgpack.FormatError,
    msgpack.StackError,
    ValueError,
    TypeError,
)


_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel = 3
_PREVIEW.maxstring = _PREVIEW.maxother = 60
_PREVIEW.maxlist = _PREVIEW.maxdict = 6


def _preview(value: Any) -> str:
    """A short repr of peer data (any depth, any size) for logs and error messages."""
    return _PREVIEW.repr(value)


class _ProtocolViolation(Exception):
    """The peer sent something that is not an rpclib request; drop the connection."""


class RpcServer:
    """Threaded rpclib-compatible server: one daemon thread per connection.

    Args:
        host: Address to bind.
        port: Port to bind; 0 picks a free one (read :attr:`port` after :meth:`start`).
        handlers: RPC name -> callable, called with the arguments after CARLA's metadata.
        lock: If given, held around every handler call (serialises access to the world),
            but those named in ``lock_free``.
        lock_free: Handlers that touch no world state (liveness probes): answered at once,
            even while a tick holds ``lock``.
        carla_metadata: Whether calls carry CARLA's leading ``[is_async]`` argument (the
            simulator's RPCs do, the Traffic Manager's do not).

    Attributes:
        unknown_methods: Names of unknown methods called, in call order (the first 1024
            calls; names cut to 120 characters, so a peer cannot make them grow the server).
        call_log: Number of calls per method name (known ones, and the unknown names
            recorded in ``unknown_methods``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        handlers: Mapping[str, Callable[..., Any]],
        *,
        lock: threading.Lock | threading.RLock | None = None,
        lock_free: Collection[str] = (),
        carla_metadata: bool = True,
    ) -> None:
        self._host = host
        self._carla_metadata = carla_metadata
        self._local = threading.local()
        self._requested_port = port
        self._handlers = handlers
        self._lock = lock
        self._lock_free = frozenset(lock_free)
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._running = False
        self._port = 0
        self.unknown_methods: list[str] = []
        self.call_log: collections.Counter[str] = collections.Counter()

    @property
    def port(self) -> int:
        """The bound port (0 before :meth:`start`)."""
        return self._port

    def local_address(self) -> str:
        """The address the current call's client connected to (inside a handler)."""
        return str(getattr(self._local, "address", self._host))

    def start(self) -> None:
        """Binds, listens and starts accepting; returns once the socket is bound.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: already started.
        """
        if self._listener is not None:
            raise RuntimeError("RpcServer already started")
        listener = open_listener(self._host, self._requested_port)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._running = True
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"rpc-accept:{self._port}", daemon=True
        )
        self._accept_thread.start()
        logger.info("RPC server listening on %s:%d", self._host, self._port)

    def stop(self) -> None:
        """Closes the listener and every connection, then joins the threads."""
        self._running = False
        listener, self._listener = self._listener, None
        if listener is not None:
            _shutdown(listener)
            listener.close()
        with self._conns_lock:
            conns = list(self._conns.items())
        for conn, _thread in conns:
            _shutdown(conn)
        current = threading.current_thread()
        if self._accept_thread is not None and self._accept_thread is not current:
            self._accept_thread.join(timeout=5.0)
        for _conn, thread in conns:
            if thread is not current:
                thread.join(timeout=5.0)
        self._accept_thread = None

    # ---------------------------------------------------------------- accept / serve

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        failing = False
        while self._running:
            try:
                conn, addr = listener.accept()
            except OSError as exc:
                if not self._running:
                    break  # stop() closed the listener
                # Out of descriptors or memory (a burst of connections), or a peer gone
                # before its accept: the server must accept again once they are back.
                if not failing:
                    logger.error("RPC accept on port %d failed: %s; retrying", self._port, exc)
                failing = True
                time.sleep(_ACCEPT_RETRY_SECONDS)
                continue
            if failing:
                logger.warning("RPC port %d accepts connections again", self._port)
                failing = False
            if not self._running:
                conn.close()
                break
            with self._conns_lock:
                full = len(self._conns) >= MAX_CONNECTIONS
            if full:
                conn.close()
                logger.warning(
                    "RPC port %d: refused %s, already serving %d connections",
                    self._port,
                    addr,
                    MAX_CONNECTIONS,
                )
                continue
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                thread = threading.Thread(
                    target=self._serve, args=(conn, addr), name=f"rpc-conn:{addr[1]}", daemon=True
                )
                with self._conns_lock:
                    self._conns[conn] = thread
                thread.start()
            except (OSError, RuntimeError) as exc:  # RuntimeError: can't start new thread
                with self._conns_lock:
                    self._conns.pop(conn, None)
                conn.close()
                logger.error("RPC connection from %s refused: %s", addr, exc)
                time.sleep(_ACCEPT_RETRY_SECONDS)

    def _serve(self, conn: socket.socket, addr: Any) -> None:
        logger.debug("RPC connection from %s", addr)
        try:
            self._local.address = conn.getsockname()[0]
        except OSError:
            self._local.address = self._host
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=_MAX_BUFFER, strict_map_key=False)
        packer = msgpack.Packer(use_bin_type=True)
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        out: list[bytes] = []
        try:
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                try:
                    unpacker.feed(view[:n])
                except msgpack.BufferFull:
                    raise _ProtocolViolation("request larger than 64 MiB") from None
                pending = 0
                while True:
                    try:
                        msg = next(unpacker)
                    except StopIteration:
                        break
                    except _UNPACK_ERRORS as exc:
                        raise _ProtocolViolation(f"not msgpack: {exc!r}") from None
                    reply = self._dispatch(msg, packer)
                    if reply is not None:
                        out.append(reply)
                        pending += len(reply)
                        if pending >= _FLUSH_BYTES:
                            conn.sendall(b"".join(out))
                            out.clear()
                            pending = 0
                if out:
                    conn.sendall(out[0] if len(out) == 1 else b"".join(out))
                    out.clear()
        except _ProtocolViolation as exc:
            logger.warning("RPC connection %s closed: %s", addr, exc)
        except OSError as exc:
            if self._running:
                logger.debug("RPC connection %s ended: %s", addr, exc)
        except Exception:  # a bug here must cost one connection, not an unhandled thread
            logger.exception("RPC connection %s closed after an internal error", addr)
        finally:
            with self._conns_lock:
                self._conns.pop(conn, None)
            _shutdown(conn)
            conn.close()
            logger.debug("RPC connection from %s closed", addr)

    def _dispatch(self, msg: Any, packer: msgpack.Packer) -> bytes | None:
        """Runs one message; returns the packed reply, or None for a notification."""
        if type(msg) is not list:
            raise _ProtocolViolation(f"expected an array, got {type(msg).__name__}")
        size = len(msg)
        if size == 4 and msg[0] == 0 and type(msg[0]) is int:
            _kind, msgid, method, params = msg
            if type(msgid) is not int or not 0 <= msgid <= 0xFFFFFFFF:
                raise _ProtocolViolation(f"bad msgid {_preview(msgid)}")
        elif size == 3 and msg[0] == 2 and type(msg[0]) is int:
            _kind, method, params = msg
            msgid = None
        else:
            raise _ProtocolViolation(f"not a request or notification: {_preview(msg)}")
        if type(method) is not str:
            raise _ProtocolViolation(f"method name is {type(method).__name__}")
        if type(params) is not list:
            raise _ProtocolViolation(f"params of {_preview(method)} is {type(params).__name__}")

        # CARLA's rpc::Metadata ([is_async]) comes first; absent only for plain rpclib.
        if self._carla_metadata and params and type(params[0]) is list and len(params[0]) <= 1:
            meta = params[0]
            if not meta or type(meta[0]) is bool:
                params = params[1:]

        handler = self._handlers.get(method)
        if handler is None:
            # Peer-chosen and up to 64 MiB long: recorded, logged and echoed cut short.
            shown = method[:_NAME_SHOWN] + ("..." if len(method) > _NAME_SHOWN else "")
            with self._stats_lock:
                if len(self.unknown_methods) < _UNKNOWN_RECORDED:
                    self.unknown_methods.append(shown)
                    self.call_log[shown] += 1
                elif shown in self.call_log:
                    self.call_log[shown] += 1
            logger.warning("carla_lite: unknown function '%s' (%d args)", shown, len(params))
            return self._error(packer, msgid, f"carla_lite: unknown function '{shown}'")
        with self._stats_lock:
            self.call_log[method] += 1

        try:
            if self._lock is not None and method not in self._lock_free:
                with self._lock:
                    result = handler(*params)
            else:
                result = handler(*params)
        except _EXPECTED_ERRORS as exc:
            logger.warning("RPC %s failed: %s: %s", method, type(exc).__name__, exc)
            # A ValueError may also be a bug deep in a tick: keep its traceback at debug level.
            logger.debug("RPC %s failed here", method, exc_info=True)
            return self._error(packer, msgid, f"carla_lite: {method}: {type(exc).__name__}: {exc}")
        except Exception as exc:
            logger.exception("RPC %s raised", method)
            return self._error(packer, msgid, f"carla_lite: {method}: internal error: {exc!r}")

        if msgid is None:
            return None
        try:
            return packer.pack([1, msgid, None, result])
        except (TypeError, ValueError, OverflowError) as exc:
            packer.reset()
            logger.error("RPC %s returned an unpackable result: %s", method, exc)
            return self._error(packer, msgid, f"carla_lite: {method}: bad result: {exc}")

    @staticmethod
    def _error(packer: msgpack.Packer, msgid: int | None, message: str) -> bytes | None:
        if msgid is None:
            return None
        return packer.pack([1, msgid, message, None])


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
