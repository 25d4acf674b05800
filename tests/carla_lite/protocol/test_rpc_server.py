"""RpcServer against a raw-socket msgpack-rpc client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest

from carla_lite.protocol.rpc_server import RpcServer
from carla_lite.protocol.wire_types import WireError, ok

SYNC = [False]
ASYNC = [True]


class RawClient:
    """Minimal rpclib-style client: ``[0, msgid, method, [metadata, *args]]``."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.msgid = 0

    def send(self, method: str, *args: Any, meta: list[bool] = SYNC) -> int:
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, [meta, *args]]))
        return self.msgid

    def read(self) -> Any:
        while True:
            try:
                return next(self.unpacker)
            except StopIteration:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection") from None
                self.unpacker.feed(data)

    def call(self, method: str, *args: Any, meta: list[bool] = SYNC) -> Any:
        msgid = self.send(method, *args, meta=meta)
        reply = self.read()
        assert reply[0] == 1 and reply[1] == msgid, reply
        return reply

    def is_closed(self, timeout: float = 3.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def _boom() -> None:
    raise WireError("bad transform: expected an array")


def _crash() -> None:
    raise RuntimeError("kaboom")


@pytest.fixture
def server() -> Iterator[RpcServer]:
    calls: list[Any] = []
    handlers: dict[str, Callable[..., Any]] = {
        "version": lambda: ok("0.9.16"),
        "echo": lambda *args: ok(list(args)),
        "bytes": lambda: ok(b"\x00\x01\x02"),
        "wire_error": _boom,
        "crash": _crash,
        "key_error": lambda: dict[str, int]()["missing"],
        "note": lambda value: calls.append(value),
        "unpackable": lambda: object(),
    }
    srv = RpcServer("127.0.0.1", 0, handlers, lock=threading.Lock())
    srv.start()
    srv.notes = calls  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: RpcServer) -> Iterator[RawClient]:
    c = RawClient(server.port)
    try:
        yield c
    finally:
        c.close()


def test_port_is_assigned(server: RpcServer) -> None:
    assert server.port > 0


def test_normal_call(client: RawClient, server: RpcServer) -> None:
    assert client.call("version") == [1, 1, None, [[1, "0.9.16"]]]
    assert client.call("echo", 1, 2.5, "x", [True]) == [1, 2, None, [[1, [1, 2.5, "x", [True]]]]]
    assert server.call_log["version"] == 1


def test_bytes_come_back_as_bin(client: RawClient) -> None:
    client.send("bytes")
    raw = b""
    while len(raw) < 10:
        raw += client.sock.recv(100)
    assert b"\xc4\x03\x00\x01\x02" in raw  # bin8, not str


def test_async_metadata_call_is_answered(client: RawClient) -> None:
    assert client.call("echo", 7, meta=ASYNC) == [1, 1, None, [[1, [7]]]]


def test_call_without_metadata(client: RawClient) -> None:
    client.sock.sendall(msgpack.packb([0, 9, "echo", [5]]))
    assert client.read() == [1, 9, None, [[1, [5]]]]


def test_unknown_method(client: RawClient, server: RpcServer) -> None:
    reply = client.call("no_such_rpc", 1)
    assert reply[2] == "carla_lite: unknown function 'no_such_rpc'"
    assert reply[3] is None
    assert server.unknown_methods == ["no_such_rpc"]
    assert server.call_log["no_such_rpc"] == 1
    assert client.call("version")[3] == [[1, "0.9.16"]]


@pytest.mark.parametrize(
    ("method", "needle"),
    [
        ("wire_error", "WireError: bad transform"),
        ("key_error", "KeyError"),
        ("crash", "kaboom"),
        ("unpackable", "bad result"),
    ],
)
def test_handler_failure_is_an_rpc_error(client: RawClient, method: str, needle: str) -> None:
    reply = client.call(method)
    assert isinstance(reply[2], str) and method in reply[2] and needle in reply[2]
    assert reply[3] is None
    # The connection stays usable.
    assert client.call("version")[3] == [[1, "0.9.16"]]


def test_wrong_argument_count_is_an_rpc_error(client: RawClient) -> None:
    reply = client.call("note", 1, 2, 3)
    assert "TypeError" in reply[2]
    assert client.call("version")[2] is None


def test_notification_gets_no_reply(client: RawClient, server: RpcServer) -> None:
    client.sock.sendall(msgpack.packb([2, "note", [SYNC, "hello"]]))
    assert client.call("version")[1] == 1  # the first reply is for the call
    assert server.notes == ["hello"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc1garbage",  # reserved msgpack byte
        msgpack.packb({"a": 1}),  # not an array
        msgpack.packb([0, 1, "version"]),  # 3 elements, not a notification
        msgpack.packb([0, "id", "version", []]),  # msgid not an int
        msgpack.packb([0, 1, 42, []]),  # method not a string
        msgpack.packb([0, 1, "version", "params"]),  # params not an array
        msgpack.packb([5, 1, "version", []]),  # unknown message type
        b"\xdd\xff\xff\xff\xff",  # array32 claiming 4 G elements
        b"\x91" * 100_000,  # nesting bomb
    ],
    ids=[
        "reserved-byte",
        "map",
        "short",
        "msgid-str",
        "method-int",
        "params-str",
        "bad-type",
        "huge-array",
        "deep-nesting",
    ],
)
def test_hostile_packet_closes_only_that_connection(server: RpcServer, payload: bytes) -> None:
    good = RawClient(server.port)
    bad = RawClient(server.port)
    try:
        assert good.call("version")[2] is None
        bad.sock.sendall(payload)
        assert bad.is_closed()
        assert good.call("version")[2] is None
        fresh = RawClient(server.port)
        assert fresh.call("version")[2] is None
        fresh.close()
    finally:
        good.close()
        bad.close()


def test_oversized_request_closes_connection(server: RpcServer) -> None:
    bad = RawClient(server.port)
    try:
        # A str32 header announcing 4 GiB, followed by > 64 MiB of data.
        bad.sock.sendall(b"\x94\x00\x01\xdb\xff\xff\xff\xff")
        chunk = b"\0" * (1 << 20)
        try:
            for _ in range(80):
                bad.sock.sendall(chunk)
        except OSError:
            pass  # the server hung up mid-stream: expected
        assert bad.is_closed()
        fresh = RawClient(server.port)
        assert fresh.call("version")[2] is None
        fresh.close()
    finally:
        bad.close()


def test_pipelined_calls(client: RawClient) -> None:
    n = 2000
    blob = b"".join(msgpack.packb([0, i, "echo", [SYNC, i]]) for i in range(n))
    client.sock.sendall(blob)
    for i in range(n):
        assert client.read() == [1, i, None, [[1, [i]]]]


def test_concurrent_connections(server: RpcServer) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            c = RawClient(server.port)
            for i in range(200):
                assert c.call("echo", k, i)[3] == [[1, [k, i]]]
            c.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert server.call_log["echo"] == 8 * 200


def test_stop_closes_connections() -> None:
    srv = RpcServer("127.0.0.1", 0, {"version": lambda: ok("0.9.16")})
    srv.start()
    c = RawClient(srv.port)
    assert c.call("version")[2] is None
    srv.stop()
    assert c.is_closed()
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1.0).close()


def test_lock_free_handlers_answer_while_a_tick_holds_the_lock() -> None:
    # The client's Traffic Manager health check gives up after 2 s and then drops the next
    # world-state message: a slow tick holding the world lock must not delay it.
    world_lock = threading.Lock()
    handlers: dict[str, Callable[..., Any]] = {
        "health_check_remote_TM": lambda: None,
        "set_synchronous_mode": lambda flag: True,
    }
    srv = RpcServer(
        "127.0.0.1",
        0,
        handlers,
        lock=world_lock,
        lock_free=("health_check_remote_TM",),
        carla_metadata=False,
    )
    srv.start()
    probe, other = RawClient(srv.port), RawClient(srv.port)
    try:
        with world_lock:  # a tick in progress
            # Traffic Manager calls carry no CARLA metadata: [0, msgid, method, args].
            probe.sock.settimeout(2.0)
            probe.sock.sendall(msgpack.packb([0, 1, "health_check_remote_TM", []]))
            assert probe.read() == [1, 1, None, None]
            other.sock.sendall(msgpack.packb([0, 2, "set_synchronous_mode", [True]]))
            other.sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                other.read()  # a world handler waits for the tick
        other.sock.settimeout(5.0)
        assert other.read() == [1, 2, None, True]
    finally:
        probe.close()
        other.close()
        srv.stop()
