"""Regression tests (in process) for what fuzzing found in ``RpcServer``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from carla_lite.protocol.rpc_server import RpcServer
from carla_lite.protocol.wire_types import ok
from tests.carla_lite.fuzz import strategies as fz


@pytest.fixture
def rpc() -> Iterator[RpcServer]:
    server = RpcServer("127.0.0.1", 0, {"version": lambda: ok("0.9.16")}, lock=threading.Lock())
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
