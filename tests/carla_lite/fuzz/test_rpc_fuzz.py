"""Fuzzing the simulator's RPC port: garbage in, rpc errors or a closed connection out, and
the server keeps serving fresh clients (checked after every example)."""

from __future__ import annotations

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from tests.carla_lite.fuzz import strategies as fz
from tests.carla_lite.fuzz.strategies import FuzzTarget

RPCS = fz.simulator_rpcs()


def _after(target: FuzzTarget, outcome: fz.Outcome | None = None) -> None:
    if outcome is not None:
        assert all(type(r[1]) is int for r in outcome.replies)
    target.assert_serving()


def test_every_handler_is_enumerated() -> None:
    names = {r.name for r in RPCS}
    assert {"version", "spawn_actor", "apply_batch", "get_physics_control"} <= names
    assert "request_file" in names
    assert len(names) > 80


@fz.fuzz_settings()
@given(payload=fz.random_bytes())
def test_random_bytes(target: FuzzTarget, payload: bytes) -> None:
    _after(target, fz.exchange(target.rpc_port, payload))


@fz.fuzz_settings()
@given(payload=fz.random_values())
def test_random_msgpack_values(target: FuzzTarget, payload: bytes) -> None:
    _after(target, fz.exchange(target.rpc_port, payload))


@fz.fuzz_settings()
@given(payload=fz.mutated_requests(RPCS, with_meta=True))
def test_mutated_requests(target: FuzzTarget, payload: bytes) -> None:
    _after(target, fz.exchange(target.rpc_port, payload))


@fz.fuzz_settings()
@given(payload=fz.truncated_frames(RPCS, with_meta=True))
def test_truncated_frames_then_close(target: FuzzTarget, payload: bytes) -> None:
    fz.send_and_close(target.rpc_port, payload)
    _after(target)


@fz.fuzz_settings()
@given(payload=fz.huge_headers())
def test_huge_length_headers(target: FuzzTarget, payload: bytes) -> None:
    outcome = fz.exchange(target.rpc_port, payload)
    assert outcome.replies == []  # never a complete request
    _after(target, outcome)


@fz.fuzz_settings()
@given(payload=fz.deep_frames(RPCS, with_meta=True))
def test_deeply_nested_values(target: FuzzTarget, payload: bytes) -> None:
    """Regression: quoting a value nested ~1000 deep in an error message raised
    RecursionError, which killed the connection's thread (unhandled) or came back as an
    internal error."""
    outcome = fz.exchange(target.rpc_port, payload)
    assert outcome.internal_errors == []
    _after(target, outcome)
    assert "Traceback" not in target.process.log()


@fz.fuzz_settings()
@given(data=st.data())
def test_wrong_argument_types(target: FuzzTarget, live_ids: list[int], data: st.DataObject) -> None:
    payload = data.draw(fz.handler_calls(RPCS, with_meta=True, ids=live_ids))
    outcome = fz.exchange(target.rpc_port, payload, expect=1)
    assert len(outcome.replies) == 1 and not outcome.closed_by_server, outcome
    assert outcome.internal_errors == []
    _after(target, outcome)


def test_every_handler_answers_wrong_types(target: FuzzTarget, live_ids: list[int]) -> None:
    """Every RPC, each argument replaced by each wrong-typed value (the others a live
    actor's id, or 0): one reply per call (an rpc error or a result, never an internal
    error), on a connection that stays open."""
    errors = 0
    for base in [0, *live_ids]:
        for rpc in RPCS:
            calls = list(fz.sweep_args(rpc, base))
            payload = b"".join(fz.request(i, rpc.name, args) for i, args in enumerate(calls))
            outcome = fz.exchange(target.rpc_port, payload, idle=15.0, expect=len(calls))
            assert [r[1] for r in outcome.replies] == list(range(len(calls))), rpc.name
            assert not outcome.closed_by_server, rpc.name
            assert outcome.internal_errors == [], (rpc.name, base)
            errors += outcome.errors
        _after(target)
    assert errors > len(RPCS)  # most wrong-typed calls are refused


def test_unknown_method_names_are_not_kept(target: FuzzTarget) -> None:
    """Regression: every unknown method name (up to 64 MiB each) was kept forever in the
    server's call statistics, and logged and echoed whole."""
    before = target.rss_kib()
    big = 1 << 20
    for i in range(96):
        name = f"{i:08d}" + "n" * big
        reply = fz.call(target.rpc_port, name, [])
        assert reply[2] is not None and len(reply[2]) < 1000
    grown = target.rss_kib() - before
    assert grown < 48 * 1024, f"RSS grew by {grown} KiB for 96 MiB of unknown names"
    assert len(target.process.log()) < 8 * big


def test_valid_frames_split_anywhere(target: FuzzTarget) -> None:
    """A well-formed request sent byte by byte is still answered (framing is not fuzzed away)."""
    payload = msgpack.packb([0, 3, "version", [[False]]])
    outcome = fz.exchange(target.rpc_port, payload, expect=1)
    assert outcome.replies == [[1, 3, None, [[1, "0.9.16"]]]]


def test_unknown_ids_are_refused_not_internal_errors(target: FuzzTarget) -> None:
    """Regression: an unknown actor or stream id raised out of these two handlers (an
    "internal error" with a traceback in the log) instead of a refused ``Response``."""
    for name in ("get_vehicle_light_state", "is_sensor_enabled_for_ros"):
        reply = fz.call(target.rpc_port, name, [-1])
        assert reply[2] is None, reply
        ((variant, (message,)),) = reply[3]
        assert variant == 0 and "-1" in message, reply
