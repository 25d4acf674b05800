"""Fuzzing the streaming port: whatever a subscriber sends instead of its 4-byte stream id,
the server refuses or drops that connection and still streams to a well-behaved one."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from tests.carla_lite.fuzz import strategies as fz
from tests.carla_lite.fuzz.strategies import FuzzTarget


@fz.fuzz_settings()
@given(data=st.data())
def test_garbage_subscriptions(target: FuzzTarget, data: st.DataObject) -> None:
    payload = data.draw(fz.stream_payloads([target.world_stream]))
    if len(payload) == 4 and struct.unpack("<I", payload)[0] == target.world_stream:
        return  # a real subscription
    outcome = fz.exchange(target.stream_port, payload, timeout=10.0, parse=False)
    assert outcome.bytes_received == 0  # no stream data for a broken subscription
    assert fz.stream_ok(target.stream_port, target.world_stream)


@fz.fuzz_settings(max_examples=10)
@given(data=st.data())
def test_vanishing_subscribers(target: FuzzTarget, data: st.DataObject) -> None:
    fz.send_and_close(target.stream_port, data.draw(fz.stream_payloads([target.world_stream])))
    assert fz.stream_ok(target.stream_port, target.world_stream)


def test_subscriber_sending_after_its_id_is_dropped(target: FuzzTarget) -> None:
    payload = struct.pack("<I", target.world_stream) + struct.pack("<I", 0xFFFFFFFF) + b"x" * 64
    outcome = fz.exchange(target.stream_port, payload, idle=2.0, parse=False)
    assert outcome.closed_by_server
    target.assert_serving()
