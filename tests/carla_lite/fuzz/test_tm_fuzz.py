"""Fuzzing a Traffic Manager port (plain rpclib msgpack-rpc, no CARLA metadata)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.carla_lite.fuzz import strategies as fz
from tests.carla_lite.fuzz.strategies import FuzzTarget

RPCS = fz.traffic_manager_rpcs()


def _after(target: FuzzTarget) -> None:
    target.assert_serving()
    assert fz.tm_ok(target.tm_port)


def test_every_tm_handler_is_enumerated() -> None:
    names = {r.name for r in RPCS}
    assert {"register_vehicle", "set_path", "set_desired_speed", "synchronous_tick"} <= names


@fz.fuzz_settings()
@given(
    payload=fz.random_bytes()
    | fz.random_values()
    | fz.huge_headers()
    | fz.deep_frames(RPCS, with_meta=False)
)
def test_garbage(target: FuzzTarget, payload: bytes) -> None:
    assert fz.exchange(target.tm_port, payload).internal_errors == []
    _after(target)


@fz.fuzz_settings()
@given(payload=fz.mutated_requests(RPCS, with_meta=False))
def test_mutated_requests(target: FuzzTarget, payload: bytes) -> None:
    fz.exchange(target.tm_port, payload)
    _after(target)


@fz.fuzz_settings()
@given(payload=fz.truncated_frames(RPCS, with_meta=False))
def test_truncated_frames_then_close(target: FuzzTarget, payload: bytes) -> None:
    fz.send_and_close(target.tm_port, payload)
    _after(target)


@fz.fuzz_settings()
@given(data=st.data())
def test_wrong_argument_types(target: FuzzTarget, live_ids: list[int], data: st.DataObject) -> None:
    payload = data.draw(fz.handler_calls(RPCS, with_meta=False, ids=live_ids))
    outcome = fz.exchange(target.tm_port, payload, expect=1)
    assert len(outcome.replies) == 1 and not outcome.closed_by_server, outcome
    assert outcome.internal_errors == []
    _after(target)


def test_every_tm_handler_answers_wrong_types(target: FuzzTarget, live_ids: list[int]) -> None:
    """Every Traffic Manager RPC with wrong-typed arguments (the others 0 or a live actor,
    the vehicle registered first): one reply per call, never an internal error."""
    registered = fz.call(target.tm_port, "register_vehicle", [[live_ids[0]]], with_meta=False)
    assert registered[2] is None, registered
    errors = 0
    for base, rpc in [(b, r) for b in [0, *live_ids] for r in RPCS]:
        calls = list(fz.sweep_args(rpc, base))
        payload = b"".join(
            fz.request(i, rpc.name, args, with_meta=False) for i, args in enumerate(calls)
        )
        outcome = fz.exchange(target.tm_port, payload, idle=15.0, expect=len(calls))
        assert [r[1] for r in outcome.replies] == list(range(len(calls))), rpc.name
        assert not outcome.closed_by_server, rpc.name
        assert outcome.internal_errors == [], (rpc.name, base)
        errors += outcome.errors
    _after(target)
    assert errors > len(RPCS)
