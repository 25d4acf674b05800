"""CARLA's streaming server: sensor data and world snapshots to subscribed clients.

Protocol (``LibCarla/source/carla/streaming``): the client connects to the port in a
24-byte stream token, sends the stream id as a raw little-endian u32 and from then on
only reads. Every message is ``[u32 LE size][size bytes]``; a zero-length message makes
the client reconnect, so none is ever sent. One connection per stream per client.

Like the real server (``detail/tcp/ServerSession.cpp``), a subscriber that cannot take
a message right away is skipped in asynchronous mode; in synchronous mode the send
waits (up to :attr:`StreamServer.sync_send_timeout` seconds, then the subscriber is
dropped).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from carla_lite.protocol.listener import open_listener

__all__ = ["TOKEN", "StreamServer"]

logger = logging.getLogger(__name__)

#: ``streaming::detail::token_data`` (packed, 24 B): stream_id, port, protocol,
#: address_type, 16-byte address.
TOKEN = struct.Struct("<IHBB16s")
_PROTOCOL_TCP = 1
_ADDRESS_NOT_SET = 0
_U32 = struct.Struct("<I")
_HANDSHAKE_TIMEOUT = 5.0
_MAX_MESSAGE = 0xFFFFFFFF
#: How long a stream waits for its first subscriber after :meth:`StreamServer.expect`.
EXPECT_SECONDS = 10.0
#: Messages held for a subscriber that has not connected yet (the oldest go first).
_HELD_MESSAGES = 8
#: Seconds the listener is left alone after accept ran out of descriptors or memory.
_ACCEPT_PAUSE = 0.05
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass(eq=False)
class _Subscriber:
    sock: socket.socket
    stream_id: int
    peer: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    dead: bool = False  # no more sends; the loop thread will close the socket
    closed: bool = False
    backlog: memoryview | None = None  # rest of a frame being written asynchronously
    backlog_deadline: float = 0.0


@dataclass(eq=False)
class _Held:
    """Messages published to a stream whose subscriber is announced but not connected."""

    deadline: float
    frames: deque[bytes] = field(default_factory=lambda: deque(maxlen=_HELD_MESSAGES))


@dataclass(eq=False)
class _Pending:
    sock: socket.socket
    peer: str
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class StreamServer:
    """TCP streaming server with per-stream subscriber lists.

    Args:
        host: Address to bind.
        port: Port to bind; 0 picks a free one (read :attr:`port` after :meth:`start`).

    Attributes:
        sync_send_timeout: Seconds a synchronous-mode send may block before the
            subscriber is dropped.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._requested_port = port
        self._port = 0
        self._listener: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._synchronous = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._streams: dict[int, list[_Subscriber]] = {}
        self._known: set[int] = set()
        self._held: dict[int, _Held] = {}
        self._to_close: list[_Subscriber] = []
        self._want_write: list[_Subscriber] = []
        self._accept_resume = 0.0  # while out of descriptors: when to watch the listener again
        self._accept_failing = False
        self.sync_send_timeout = 10.0

    # ---------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The bound port (0 before :meth:`start`)."""
        return self._port

    def start(self) -> None:
        """Binds, listens and starts the accept thread; returns once bound.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: already started.
        """
        if self._listener is not None:
            raise RuntimeError("StreamServer already started")
        listener = open_listener(self._host, self._requested_port)
        listener.setblocking(False)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._running = True
        self._thread = threading.Thread(
            target=self._loop, name=f"stream-accept:{self._port}", daemon=True
        )
        self._thread.start()
        logger.info("stream server listening on %s:%d", self._host, self._port)

    def stop(self) -> None:
        """Closes the listener and every subscriber, and joins the accept thread."""
        if not self._running:
            return
        self._running = False
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        with self._lock:
            subs = [s for lst in self._streams.values() for s in lst]
            self._streams.clear()
            self._changed.notify_all()
        for sub in subs:
            self._close_sub(sub)
        self._reap()
        if self._selector is not None:
            for key in list(self._selector.get_map().values()):
                if isinstance(key.data, _Pending | _Subscriber):
                    key.data.sock.close()
            self._selector.close()
            self._selector = None
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None

    # ---------------------------------------------------------------- public API

    def make_token(self, stream_id: int) -> bytes:
        """Returns the 24-byte token of a stream and marks the stream id as open.

        The address is left unset (like the real server), so the client connects to
        the host it was given, at this server's port. Connections for a stream id that
        never went through ``make_token`` (or was closed) are refused.

        Raises:
            ValueError: ``stream_id`` outside 1..2**32-1.
            RuntimeError: the server is not started (its port is unknown).
        """
        if not 0 < stream_id <= 0xFFFFFFFF:
            raise ValueError(f"stream id {stream_id} out of range")
        if not self._port:
            raise RuntimeError("StreamServer.make_token before start()")
        with self._lock:
            self._known.add(stream_id)
        return TOKEN.pack(stream_id, self._port, _PROTOCOL_TCP, _ADDRESS_NOT_SET, bytes(16))

    def set_synchronous(self, flag: bool) -> None:
        """Synchronous mode: sends block instead of skipping slow subscribers."""
        self._synchronous = bool(flag)

    def expect(self, stream_id: int, seconds: float = EXPECT_SECONDS) -> None:
        """A client is about to subscribe: hold what is published until it connects.

        The client asks for a stream's token (``get_sensor_token``) before it connects,
        and a synchronous program ticks right after ``listen()`` returns: without this,
        the first frame would be published before the subscription arrives and be lost.
        """
        with self._lock:
            if stream_id in self._known:
                self._held[stream_id] = _Held(time.monotonic() + seconds)

    def wanted_streams(self) -> set[int]:
        """Streams with a subscriber or one expected (the sensors worth measuring)."""
        now = time.monotonic()
        with self._lock:
            for stream_id in [i for i, h in self._held.items() if h.deadline <= now]:
                del self._held[stream_id]
            return set(self._streams) | set(self._held)

    def subscriber_count(self, stream_id: int) -> int:
        """Number of connected subscribers of a stream."""
        subs = self._streams.get(stream_id)
        return len(subs) if subs else 0

    def wait_for_subscriber(self, stream_id: int, timeout: float) -> bool:
        """Blocks until the stream has a subscriber; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._streams.get(stream_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._running:
                    return False
                self._changed.wait(remaining)
            return True

    def close_stream(self, stream_id: int) -> None:
        """Disconnects every subscriber of a stream and forgets the id (sensor gone).

        Later connections for that id are refused.
        """
        with self._lock:
            subs = self._streams.pop(stream_id, [])
            self._known.discard(stream_id)
            self._held.pop(stream_id, None)
        for sub in subs:
            self._close_sub(sub)

    def publish(self, stream_id: int, message: bytes) -> int:
        """Sends ``[u32 size][message]`` to every subscriber of the stream.

        Subscribers whose connection is dead are dropped. In asynchronous mode a
        subscriber still writing an earlier frame, or whose socket is full, is skipped
        for this message; a frame only partly written is finished by the server thread
        (and counts as received). In synchronous mode the send blocks until written.
        Do not modify ``message`` after the call (an unfinished tail may reference it).

        Args:
            stream_id: The stream.
            message: The payload (a serialized sensor message), not empty.

        Returns:
            How many subscribers received the message.

        Raises:
            ValueError: empty or over-4-GiB message (the client would treat an empty
                one as an error and reconnect).
        """
        size = len(message)
        if size == 0 or size > _MAX_MESSAGE:
            raise ValueError(f"stream {stream_id}: cannot send a message of {size} bytes")
        header = _U32.pack(size)
        subs = self._streams.get(stream_id)
        if not subs:
            if stream_id in self._held:
                self._hold(stream_id, header + message)
            return 0
        sent = 0
        synchronous = self._synchronous
        for sub in tuple(subs):
            status = self._send(sub, header, message, synchronous)
            if status is True:
                sent += 1
            elif status is None:
                self._drop(sub, "send failed")
        return sent

    # ---------------------------------------------------------------- sending

    def _hold(self, stream_id: int, frame: bytes) -> None:
        with self._lock:
            held = self._held.get(stream_id)
            subs = self._streams.get(stream_id)
            if held is not None and not subs:
                held.frames.append(frame)
                return
        # The subscriber connected meanwhile: send it the normal way.
        for sub in tuple(subs or ()):
            if self._send(sub, frame[:4], frame[4:], self._synchronous) is None:
                self._drop(sub, "send failed")

    def _send(
        self, sub: _Subscriber, header: bytes, message: bytes, synchronous: bool
    ) -> bool | None:
        """True: sent (or queued); False: skipped (async, busy); None: dead, drop it."""
        with sub.lock:
            if sub.dead:
                return None
            if sub.backlog is not None:
                if not synchronous:
                    return False  # the previous frame is still being written
                if not self._send_blocking(sub, sub.backlog):
                    return None
                sub.backlog = None
            sock = sub.sock
            total = len(header) + len(message)
            try:
                done = sock.sendmsg([header, message])
            except BlockingIOError:
                if not synchronous:
                    return False
                done = 0
            except OSError as exc:
                logger.debug("stream %d subscriber %s: %s", sub.stream_id, sub.peer, exc)
                return None
            if done == total:
                return True
            # A frame, once started, must be completed or the stream is corrupt.
            if done < len(header):
                rest = memoryview(header[done:] + bytes(message))
            else:
                body = message if isinstance(message, bytes) else bytes(message)
                rest = memoryview(body)[done - len(header) :]
            if synchronous:
                return True if self._send_blocking(sub, rest) else None
            # Asynchronous: the loop thread writes the rest when the socket drains.
            sub.backlog = rest
            sub.backlog_deadline = time.monotonic() + self.sync_send_timeout
        with self._lock:
            self._want_write.append(sub)
        self._wake()
        return True

    def _send_blocking(self, sub: _Subscriber, rest: memoryview) -> bool:
        """Writes all of ``rest`` (caller holds ``sub.lock``); False if it failed."""
        sock = sub.sock
        deadline = time.monotonic() + self.sync_send_timeout
        poller = select.poll()  # poll, not select: descriptors may exceed FD_SETSIZE
        poller.register(sock, select.POLLOUT)
        try:
            while rest:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning(
                        "stream %d subscriber %s too slow: dropped", sub.stream_id, sub.peer
                    )
                    return False
                if not poller.poll(remaining * 1000.0):
                    continue
                try:
                    rest = rest[sock.send(rest) :]
                except BlockingIOError:
                    continue
        except (OSError, ValueError) as exc:
            logger.debug("stream %d subscriber %s: %s", sub.stream_id, sub.peer, exc)
            return False
        return True

    def _flush(self, sub: _Subscriber) -> None:
        """Loop thread: writes what it can of an asynchronous backlog."""
        failed = False
        with sub.lock:
            if sub.dead:
                return
            rest = sub.backlog
            if rest is not None:
                try:
                    rest = rest[sub.sock.send(rest) :]
                except BlockingIOError:
                    pass
                except OSError as exc:
                    logger.debug("stream %d subscriber %s: %s", sub.stream_id, sub.peer, exc)
                    failed = True
                sub.backlog = rest if rest else None
            if not failed and sub.backlog is None and self._selector is not None:
                self._selector.modify(sub.sock, selectors.EVENT_READ, sub)
        if failed:
            self._drop(sub, "send failed")

    def _drop(self, sub: _Subscriber, why: str) -> None:
        with self._lock:
            subs = self._streams.get(sub.stream_id)
            if subs is not None and sub in subs:
                subs.remove(sub)
                if not subs:
                    del self._streams[sub.stream_id]
            self._changed.notify_all()
        logger.debug("stream %d subscriber %s dropped: %s", sub.stream_id, sub.peer, why)
        self._close_sub(sub)

    def _close_sub(self, sub: _Subscriber) -> None:
        # Shut down now so a sender blocked on this socket returns at once; only the
        # loop thread closes descriptors (after unregistering them), so neither the
        # selector nor a sender ever sees a recycled descriptor.
        if sub.dead:
            return
        sub.dead = True
        with contextlib.suppress(OSError):
            sub.sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._to_close.append(sub)
        self._wake()

    def _reap(self) -> None:
        with self._lock:
            subs, self._to_close = self._to_close, []
        for sub in subs:
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sub.sock)
            with sub.lock:
                if not sub.closed:
                    sub.closed = True
                    sub.sock.close()

    def _wake(self) -> None:
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    # ---------------------------------------------------------------- accept loop

    def _loop(self) -> None:
        selector = self._selector
        assert selector is not None
        while self._running:
            timeout = self._next_deadline(selector)
            try:
                events = selector.select(timeout)
            except OSError:
                if self._running:
                    logger.exception("stream selector failed")
                break
            for key, mask in events:
                data = key.data
                if data == "listen":
                    self._accept()
                elif data == "wake":
                    self._drain_wake()
                elif isinstance(data, _Pending):
                    self._handshake(data)
                elif isinstance(data, _Subscriber):
                    if mask & selectors.EVENT_WRITE:
                        self._flush(data)
                    if mask & selectors.EVENT_READ:
                        self._watch(data)
            self._arm_writes(selector)
            self._expire(selector)
            self._reap()
            if self._accept_resume and time.monotonic() >= self._accept_resume:
                self._accept_resume = 0.0
                assert self._listener is not None
                selector.register(self._listener, selectors.EVENT_READ, "listen")

    def _next_deadline(self, selector: selectors.BaseSelector) -> float:
        now = time.monotonic()
        deadlines = [
            k.data.deadline for k in selector.get_map().values() if isinstance(k.data, _Pending)
        ]
        if self._accept_resume:
            deadlines.append(self._accept_resume)
        return max(0.0, min(deadlines) - now) if deadlines else 1.0

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _accept(self) -> None:
        assert self._listener is not None and self._selector is not None
        while True:
            try:
                conn, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    # The listener stays readable: watching it now would spin (and log) at
                    # full speed until descriptors come back, so leave it alone a moment.
                    if not self._accept_failing:
                        logger.error("stream accept on port %d: %s; retrying", self._port, exc)
                    self._accept_failing = True
                    self._selector.unregister(self._listener)
                    self._accept_resume = time.monotonic() + _ACCEPT_PAUSE
                return
            if self._accept_failing:
                logger.warning("stream port %d accepts connections again", self._port)
                self._accept_failing = False
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = _Pending(conn, f"{addr[0]}:{addr[1]}", time.monotonic() + _HANDSHAKE_TIMEOUT)
            self._selector.register(conn, selectors.EVENT_READ, pending)

    def _handshake(self, pending: _Pending) -> None:
        assert self._selector is not None
        try:
            chunk = pending.sock.recv(64)
        except BlockingIOError:
            return
        except OSError as exc:
            self._reject(pending, f"recv failed: {exc}")
            return
        if not chunk:
            self._reject(pending, f"closed after {len(pending.data)} of 4 bytes")
            return
        pending.data += chunk
        if len(pending.data) < 4:
            return
        if len(pending.data) > 4:
            # The client sends exactly the id and then only reads.
            self._reject(pending, f"sent {len(pending.data)} bytes instead of a 4-byte id")
            return
        (stream_id,) = _U32.unpack(pending.data)
        with self._lock:
            known = stream_id in self._known
        if not known:
            self._reject(pending, f"no stream with id {stream_id}")
            return
        sub = _Subscriber(pending.sock, stream_id, pending.peer)
        self._selector.modify(pending.sock, selectors.EVENT_READ, sub)
        with self._lock:
            held = self._held.pop(stream_id, None)
            if held is not None and held.frames:
                # Written before anything newer: publish() finishes a backlog first.
                sub.backlog = memoryview(b"".join(held.frames))
                sub.backlog_deadline = time.monotonic() + self.sync_send_timeout
                self._want_write.append(sub)
            self._streams.setdefault(stream_id, []).append(sub)
            self._changed.notify_all()
        logger.debug("stream %d: subscriber %s", stream_id, pending.peer)

    def _reject(self, pending: _Pending, why: str) -> None:
        assert self._selector is not None
        logger.warning("stream connection from %s refused: %s", pending.peer, why)
        self._selector.unregister(pending.sock)
        pending.sock.close()

    def _watch(self, sub: _Subscriber) -> None:
        # Subscribers never send after the id: readable means closed (or garbage).
        if sub.dead:
            return
        try:
            chunk = sub.sock.recv(64)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            logger.warning("stream %d subscriber %s sent data: dropped", sub.stream_id, sub.peer)
        self._drop(sub, "peer closed" if not chunk else "unexpected data")

    def _arm_writes(self, selector: selectors.BaseSelector) -> None:
        with self._lock:
            subs, self._want_write = self._want_write, []
        for sub in subs:
            with sub.lock:
                if sub.dead or sub.backlog is None:
                    continue
                with contextlib.suppress(KeyError, ValueError, OSError):
                    selector.modify(sub.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, sub)

    def _expire(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for key in list(selector.get_map().values()):
            data = key.data
            if isinstance(data, _Pending) and data.deadline <= now:
                self._reject(data, "no stream id within the handshake timeout")
            elif (
                isinstance(data, _Subscriber)
                and data.backlog is not None
                and data.backlog_deadline <= now
            ):
                logger.warning(
                    "stream %d subscriber %s too slow: dropped", data.stream_id, data.peer
                )
                self._drop(data, "backlog timed out")
