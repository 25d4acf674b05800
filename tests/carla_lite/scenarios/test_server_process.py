"""The server as a process: CLI flags, readiness, hostile packets, clean shutdown."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

from tests.conftest import REPO_ROOT, SHARED_TOWNS, ServerProcess, free_port_triple, run_client


def test_accepts_unreal_flags_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = ServerProcess(
        tmp_path,
        "-RenderOffScreen",
        "-nosound",
        "-quality-level=Low",
        "-windowed",
        "-ResX=600",
        "-ResY=600",
    )
    try:
        assert "ready" in proc.ready_line and f":{proc.port}" in proc.ready_line
        port = proc.port
        proc.process.send_signal(signal.SIGTERM)
        assert proc.process.wait(timeout=10) == 0
        for p in (port, port + 1, port + 2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", p))  # every port was released
    finally:
        proc.stop()


def test_streaming_and_secondary_ports_from_flags(tmp_path: Path) -> None:
    stream_port = free_port_triple()
    proc = ServerProcess(
        tmp_path,
        f"-carla-streaming-port={stream_port}",
        f"-carla-secondary-port={stream_port + 1}",
    )
    try:
        assert f"streaming={stream_port}" in proc.ready_line
        with socket.socket() as s, pytest.raises(OSError):
            s.bind(("127.0.0.1", stream_port + 1))
    finally:
        proc.stop()


def test_unknown_flag_is_a_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "carla_lite", "--carla-rpc-port=1", "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode != 0
    assert "--no-such-flag" in done.stderr


def test_hostile_packets_close_only_their_connection(server: ServerProcess) -> None:
    payloads = [
        b"\xc1" * 64,  # never-used msgpack byte
        msgpack.packb([0, 1, "version"]),  # wrong arity
        msgpack.packb([0, "x", 5, []]),  # wrong types
        msgpack.packb("just a string"),
        b"\xdd\xff\xff\xff\xff",  # array header claiming 4 billion items
        msgpack.packb([0, 7, "spawn_actor", [[False], "garbage", 3]]),
    ]
    for payload in payloads:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(payload)
            s.settimeout(2)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                s.recv(4096)
    with socket.create_connection(("127.0.0.1", server.port + 1), timeout=5) as s:
        s.sendall(b"\x01")  # short stream id, then hang up
    # An unknown method is an error reply, not a dead server.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(msgpack.packb([0, 9, "no_such_rpc", [[False]]]))
        reply = msgpack.Unpacker(raw=False)
        reply.feed(s.recv(4096))
        message = next(reply)
        assert message[0] == 1 and message[1] == 9 and message[2]
        assert "no_such_rpc" in str(message[2])
    result = run_client(server.port, "result['v'] = client.get_server_version()")
    assert result["v"] == "0.9.16"
    assert server.alive()
    assert any("no_such_rpc" in line for line in server.unknown_rpcs())
    # The fixture asserts no unknown RPC: this one was ours, on purpose.
    server.log_path.write_text("")


@pytest.mark.skipif(not SHARED_TOWNS.is_dir(), reason="../shared/maps/carla_towns absent")
@pytest.mark.parametrize("town", ["Town01", "Town04"])
def test_real_carla_towns_load_by_name(tmp_path: Path, town: str) -> None:
    proc = ServerProcess(tmp_path, f"--maps-dir={SHARED_TOWNS}")
    try:
        start = time.monotonic()
        result = run_client(
            proc.port,
            f"""
            world = client.load_world("{town}")
            m = world.get_map()
            result["name"] = m.name
            spawn = m.get_spawn_points()
            result["spawn"] = len(spawn)
            bad = 0
            for t in spawn[:: max(1, len(spawn) // 40)]:
                wp = m.get_waypoint(t.location, project_to_road=False)
                if wp is None or wp.lane_type != carla.LaneType.Driving:
                    bad += 1
            result["bad"] = bad
            s = world.get_settings()
            s.synchronous_mode = True
            s.fixed_delta_seconds = 0.05
            world.apply_settings(s)
            car = world.spawn_actor(world.get_blueprint_library().find("vehicle.tesla.model3"),
                                    spawn[0])
            car.apply_control(carla.VehicleControl(throttle=0.5))
            for _ in range(40):
                world.tick()
            result["moved"] = car.get_location().distance(spawn[0].location)
            result["lights"] = len(world.get_actors().filter("traffic.traffic_light"))
            """,
            timeout=300,
        )
        assert result["name"].endswith(town)
        assert result["spawn"] > 50
        assert result["bad"] == 0
        assert result["moved"] > 3.0
        assert result["lights"] > 0
        assert proc.unknown_rpcs() == []
        assert time.monotonic() - start < 300
    finally:
        proc.stop()
