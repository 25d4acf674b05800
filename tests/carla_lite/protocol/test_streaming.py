"""StreamServer against raw-socket subscribers."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from carla_lite.protocol.streaming import StreamServer


@pytest.fixture
def streams() -> Iterator[StreamServer]:
    srv = StreamServer("127.0.0.1", 0)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def subscribe(srv: StreamServer, stream_id: int, rcvbuf: int = 0) -> socket.socket:
    """Connects like the client (4-byte id) and waits until the server registered it."""
    before = srv.subscriber_count(stream_id)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # before connect, so the advertised window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", srv.port))
    sock.sendall(struct.pack("<I", stream_id))
    assert wait_until(lambda: srv.subscriber_count(stream_id) > before)
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def read_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack("<I", recv_exact(sock, 4))
    return recv_exact(sock, size)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def is_closed(sock: socket.socket, timeout: float = 3.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_token_bytes(streams: StreamServer) -> None:
    token = streams.make_token(7)
    assert len(token) == 24
    assert struct.unpack("<IHBB16s", token) == (7, streams.port, 1, 0, bytes(16))
    with pytest.raises(ValueError):
        streams.make_token(0)


def test_publish_reaches_subscriber(streams: StreamServer) -> None:
    streams.make_token(1)
    assert streams.publish(1, b"nobody") == 0
    sock = subscribe(streams, 1)
    try:
        assert streams.wait_for_subscriber(1, 1.0)
        assert streams.publish(1, b"hello") == 1
        assert streams.publish(1, b"x" * 100_000) == 1
        assert read_frame(sock) == b"hello"
        assert read_frame(sock) == b"x" * 100_000
    finally:
        sock.close()


def test_streams_are_separate(streams: StreamServer) -> None:
    streams.make_token(1)
    streams.make_token(2)
    a = subscribe(streams, 1)
    b1 = subscribe(streams, 2)
    b2 = subscribe(streams, 2)
    try:
        assert wait_until(lambda: streams.subscriber_count(2) == 2)
        assert streams.publish(2, b"two") == 2
        assert streams.publish(1, b"one") == 1
        assert read_frame(b1) == b"two"
        assert read_frame(b2) == b"two"
        assert read_frame(a) == b"one"
    finally:
        for s in (a, b1, b2):
            s.close()


def test_empty_message_refused(streams: StreamServer) -> None:
    streams.make_token(1)
    sock = subscribe(streams, 1)
    try:
        with pytest.raises(ValueError):
            streams.publish(1, b"")
    finally:
        sock.close()


def test_dead_subscriber_is_dropped(streams: StreamServer) -> None:
    streams.make_token(3)
    dead = subscribe(streams, 3)
    alive = subscribe(streams, 3)
    assert wait_until(lambda: streams.subscriber_count(3) == 2)
    dead.close()
    # Noticed by the watcher (EOF) or by the next failing send.
    assert wait_until(lambda: streams.subscriber_count(3) == 1)
    try:
        assert streams.publish(3, b"still here") == 1
        assert read_frame(alive) == b"still here"
    finally:
        alive.close()


def test_garbage_on_connect_closes_only_that_connection(streams: StreamServer) -> None:
    streams.make_token(1)
    good = subscribe(streams, 1)
    try:
        long = socket.create_connection(("127.0.0.1", streams.port), timeout=5.0)
        long.sendall(b"GET / HTTP/1.1\r\n\r\n")
        unknown = socket.create_connection(("127.0.0.1", streams.port), timeout=5.0)
        unknown.sendall(struct.pack("<I", 999))
        assert is_closed(long)
        assert is_closed(unknown)
        long.close()
        unknown.close()
        assert streams.subscriber_count(1) == 1
        assert streams.publish(1, b"ok") == 1
        assert read_frame(good) == b"ok"
        late = subscribe(streams, 1)
        assert streams.publish(1, b"ok2") == 2
        assert read_frame(late) == b"ok2"
        late.close()
    finally:
        good.close()


def test_short_handshake_times_out(streams: StreamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import carla_lite.protocol.streaming as streaming_mod

    monkeypatch.setattr(streaming_mod, "_HANDSHAKE_TIMEOUT", 0.2)
    sock = socket.create_connection(("127.0.0.1", streams.port), timeout=5.0)
    try:
        sock.sendall(b"\x01\x00")
        assert is_closed(sock)
    finally:
        sock.close()


def test_close_stream_disconnects(streams: StreamServer) -> None:
    streams.make_token(5)
    sock = subscribe(streams, 5)
    streams.close_stream(5)
    assert streams.subscriber_count(5) == 0
    assert is_closed(sock)
    sock.close()
    again = socket.create_connection(("127.0.0.1", streams.port), timeout=5.0)
    again.sendall(struct.pack("<I", 5))
    assert is_closed(again)  # the stream is gone
    again.close()


def test_async_mode_skips_a_stalled_subscriber(streams: StreamServer) -> None:
    streams.make_token(1)
    stalled = subscribe(streams, 1, rcvbuf=4096)
    try:
        payload = b"y" * (1 << 20)
        results = [streams.publish(1, payload) for _ in range(64)]
        # The socket buffers fill up and later messages are skipped, never blocking.
        assert results[0] == 1
        assert 0 in results
        assert streams.subscriber_count(1) == 1
    finally:
        stalled.close()


def test_sync_mode_blocks_until_delivered(streams: StreamServer) -> None:
    streams.make_token(1)
    streams.set_synchronous(True)
    sock = subscribe(streams, 1)
    payload = b"z" * (1 << 20)
    count = 16
    received: list[int] = []

    def reader() -> None:
        time.sleep(0.2)  # let the sender block first
        for _ in range(count):
            received.append(len(read_frame(sock)))

    t = threading.Thread(target=reader)
    t.start()
    try:
        assert [streams.publish(1, payload) for _ in range(count)] == [1] * count
        t.join(timeout=10)
        assert received == [len(payload)] * count
    finally:
        sock.close()


def test_sync_mode_drops_subscriber_after_timeout(streams: StreamServer) -> None:
    streams.make_token(1)
    streams.set_synchronous(True)
    streams.sync_send_timeout = 0.3
    sock = subscribe(streams, 1, rcvbuf=4096)
    try:
        payload = b"w" * (1 << 20)
        results = [streams.publish(1, payload) for _ in range(32)]
        assert 0 in results
        assert streams.subscriber_count(1) == 0
    finally:
        sock.close()


def test_concurrent_publishers_do_not_interleave(streams: StreamServer) -> None:
    streams.make_token(1)
    streams.set_synchronous(True)
    sock = subscribe(streams, 1)
    n, size = 50, 20_000

    def pub(tag: bytes) -> None:
        for _ in range(n):
            streams.publish(1, tag * size)

    threads = [threading.Thread(target=pub, args=(bytes([65 + k]),)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(4 * n):
            frame = read_frame(sock)
            assert len(frame) == size and frame == frame[:1] * size
    finally:
        for t in threads:
            t.join()
        sock.close()


def test_stop_disconnects_subscribers() -> None:
    srv = StreamServer("127.0.0.1", 0)
    srv.start()
    srv.make_token(1)
    sock = subscribe(srv, 1)
    srv.stop()
    assert is_closed(sock)
    sock.close()


def test_async_mode_frames_stay_whole_for_a_slow_reader(streams: StreamServer) -> None:
    streams.make_token(1)
    sock = subscribe(streams, 1, rcvbuf=8192)
    size = 300_000
    sent = 0
    for k in range(40):
        sent += streams.publish(1, bytes([65 + k % 26]) * size)
        time.sleep(0.002)
    assert 0 < sent < 40  # some were skipped while a frame was still being written
    try:
        for _ in range(sent):
            frame = read_frame(sock)
            assert len(frame) == size and frame == frame[:1] * size
        # Nothing else (no partial frame) follows.
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    finally:
        sock.close()


def test_async_backlog_times_out(streams: StreamServer) -> None:
    streams.make_token(1)
    streams.sync_send_timeout = 0.2
    sock = subscribe(streams, 1, rcvbuf=4096)
    try:
        assert streams.publish(1, b"q" * (4 << 20)) == 1  # queued, never read
        assert wait_until(lambda: streams.subscriber_count(1) == 0, timeout=5.0)
    finally:
        sock.close()


@pytest.mark.parametrize("synchronous", [True, False])
def test_expected_stream_holds_messages_until_its_subscriber_connects(
    streams: StreamServer, synchronous: bool
) -> None:
    streams.set_synchronous(synchronous)
    streams.make_token(5)
    assert streams.wanted_streams() == set()
    streams.expect(5)
    assert streams.wanted_streams() == {5}, "announced streams are measured"
    big = b"f1" * 300_000  # larger than a socket buffer: written in the background
    assert streams.publish(5, big) == 0
    assert streams.publish(5, b"frame 2") == 0
    sock = subscribe(streams, 5)
    try:
        sent = streams.publish(5, b"frame 3")
        # Synchronous: delivered after the held frames; asynchronous: skipped while the
        # held frames are still being written (a busy subscriber), unless they are done.
        assert sent == 1 if synchronous else sent in (0, 1)
        assert read_frame(sock) == big, "held frames first, in order"
        assert read_frame(sock) == b"frame 2"
        if sent:
            assert read_frame(sock) == b"frame 3"
        assert streams.wanted_streams() == {5}
    finally:
        sock.close()
    assert wait_until(lambda: streams.wanted_streams() == set()), "gone with its subscriber"


def test_expectation_expires_and_unknown_streams_are_not_expected(
    streams: StreamServer,
) -> None:
    streams.expect(9)  # never announced through make_token
    assert streams.wanted_streams() == set()
    streams.make_token(6)
    streams.expect(6, seconds=0.05)
    assert streams.wanted_streams() == {6}
    time.sleep(0.1)
    assert streams.wanted_streams() == set()
    assert streams.publish(6, b"late") == 0
    streams.expect(6)
    streams.close_stream(6)
    assert streams.wanted_streams() == set()
