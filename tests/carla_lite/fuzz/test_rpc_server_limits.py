"""Regression tests (in process) for what fuzzing found in ``RpcServer`` and ``StreamServer``."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from carla_lite.protocol.rpc_server import MAX_CONNECTIONS, RpcServer
from carla_lite.protocol.streaming import StreamServer
from carla_lite.protocol.wire_types import WireError, ok
from tests.carla_lite.fuzz import strategies as fz


def _quote(value: Any) -> None:
    raise WireError(f"bad value {value!r:.60}")  # as wire_types' messages quote arguments


@pytest.fixture
def rpc() -> Iterator[RpcServer]:
    handlers: dict[str, Callable[..., Any]] = {"version": lambda: ok("0.9.16"), "quote": _quote}
    server = RpcServer("127.0.0.1", 0, handlers, lock=threading.Lock())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_unknown_method_names_are_cut_and_capped(rpc: RpcServer) -> None:
    """Unknown names were kept whole and forever (a peer could grow the server without
    bound, one 64 MiB name per call); now cut to 120 characters, the first 1024 kept."""
    long_name = "x" * 100_000
    reply = fz.call(rpc.port, long_name, [])
    assert reply[2] == f"carla_lite: unknown function '{'x' * 120}...'"
    assert rpc.unknown_methods == ["x" * 120 + "..."]
    assert rpc.call_log["x" * 120 + "..."] == 1

    names = [f"no_such_{i}" for i in range(1100)]
    payload = b"".join(fz.request(i, name, []) for i, name in enumerate(names))
    outcome = fz.exchange(rpc.port, payload, idle=10.0, expect=len(names))
    assert len(outcome.replies) == len(names) and outcome.errors == len(names)
    assert len(rpc.unknown_methods) == 1024
    assert rpc.unknown_methods[1] == "no_such_0"
    assert "no_such_1099" not in rpc.call_log
    assert fz.call(rpc.port, "version", [])[2] is None
    assert rpc.call_log["version"] == 1


def test_deeply_nested_peer_data_costs_only_that_connection(
    rpc: RpcServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message nested 1000 deep: the protocol error quoting it raised RecursionError,
    which escaped the connection's thread; now that connection is closed with a warning
    and a handler's RecursionError is an rpc error."""
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    deep = b"\x91" * 1000 + b"\xc0"
    assert fz.exchange(rpc.port, deep, idle=5.0).closed_by_server
    assert fz.exchange(rpc.port, b"\x94\x00" + deep + b"\xa7version\x90", idle=5.0).closed_by_server
    outcome = fz.exchange(rpc.port, b"\x94\x00\x01\xa5quote\x91" + deep, expect=1)
    assert outcome.replies[0][2].startswith("carla_lite: quote: RecursionError")
    assert died == []
    assert fz.call(rpc.port, "version", [])[2] is None


@contextlib.contextmanager
def _descriptor_limit(spare: int) -> Iterator[None]:
    """This process may open only ``spare`` more descriptors (client and server ends)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + spare, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _exhaust(port: int, spare: int = 60) -> None:
    """Opens connections until this process is out of descriptors, then closes them."""
    socks: list[socket.socket] = []
    limited = False
    with _descriptor_limit(spare):
        try:
            for _ in range(2 * spare):
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=2.0))
        except OSError:
            limited = True
        time.sleep(0.3)  # the server's accept runs into EMFILE meanwhile
        for sock in socks:
            sock.close()
    assert limited


def test_connections_beyond_the_cap_are_closed_and_the_server_keeps_serving(
    rpc: RpcServer,
) -> None:
    """Each connection may buffer a 64 MiB frame: the count of them bounds the memory."""
    held = [socket.create_connection(("127.0.0.1", rpc.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        deadline = time.monotonic() + 10.0
        while len(rpc._conns) < MAX_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", rpc.port)) as extra:
            extra.settimeout(10.0)
            assert extra.recv(1) == b"", "the connection past the cap is closed"
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 10.0
    while len(rpc._conns) >= MAX_CONNECTIONS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fz.call(rpc.port, "version", [])[2] is None  # served again once below the cap


def test_rpc_server_accepts_again_after_running_out_of_descriptors(rpc: RpcServer) -> None:
    """Regression: one failed accept (EMFILE, a burst of connections) ended the accept
    thread, and the server never accepted a client again."""
    _exhaust(rpc.port)
    assert fz.rpc_version_ok(rpc.port)


def test_stream_server_pauses_accept_while_out_of_descriptors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: out of descriptors, the streaming loop spun on its readable listener,
    logging one error per turn (tens of thousands a second, at full CPU); now it logs once,
    leaves the listener alone for 50 ms at a time and accepts subscribers again after."""
    streams = StreamServer("127.0.0.1", 0)
    streams.start()
    try:
        streams.make_token(5)
        with caplog.at_level(logging.WARNING, logger="carla_lite.protocol.streaming"):
            _exhaust(streams.port)
        failures = [r for r in caplog.records if "stream accept" in r.getMessage()]
        assert len(failures) == 1, len(failures)
        with socket.create_connection(("127.0.0.1", streams.port), timeout=5.0) as sub:
            sub.sendall(struct.pack("<I", 5))
            assert streams.wait_for_subscriber(5, 5.0)
    finally:
        streams.stop()
