"""The compat/ client programs, run unchanged against carla_lite, each on its own server.

Each program is a standalone script in the style of CARLA's 0.9.16 PythonAPI examples that
checks its own results (exit 1 and a ``failures`` list otherwise). The server records every
RPC name it was sent (``--rpc-log``); an unknown name on any port fails the test, and the
names each program needs are asserted so a program that silently stops exercising its part
of the API is noticed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, ServerProcess, ephemeral_port

COMPAT = REPO_ROOT / "compat"

#: program id -> (script, extra arguments, simulator RPCs and Traffic Manager RPCs it must use).
#: (``request_file`` is not among them: the client downloads the navmesh only once per
#: machine and keeps it in its file cache.)
PROGRAMS: dict[str, tuple[str, list[str], set[str], set[str]]] = {
    "synchronous_camera": (
        "synchronous_camera.py",
        ["--tm-port={tm}", "--ticks=50"],
        {"spawn_actor_with_parent", "get_sensor_token", "get_spectator", "set_actor_transform"},
        {"register_vehicle", "set_synchronous_mode"},
    ),
    "generate_traffic_sync": (
        "generate_traffic.py",
        ["--tm-port={tm}", "--sync", "--ticks=60"],
        {"apply_batch", "tick_cue", "get_required_files"},
        {"register_vehicle", "set_synchronous_mode", "set_random_device_seed"},
    ),
    "generate_traffic_async": (
        "generate_traffic.py",
        ["--tm-port={tm}", "--async", "--ticks=60", "--hybrid", "--respawn", "--car-lights-on"],
        {"apply_batch", "get_required_files"},
        {
            "register_vehicle",
            "set_random_device_seed",
            "set_hybrid_physics_mode",
            "update_vehicle_lights",
        },
    ),
    "vehicle_physics": (
        "vehicle_physics.py",
        [],
        {"get_physics_control", "apply_physics_control", "add_actor_impulse", "tick_cue"},
        set(),
    ),
    "sensor_synchronization": (
        "sensor_synchronization.py",
        ["--tm-port={tm}", "--ticks=40"],
        {"spawn_actor_with_parent", "get_sensor_token", "tick_cue"},
        {"register_vehicle"},
    ),
    "automatic_control": (
        "automatic_control.py",
        ["--ticks=300"],
        {"get_map_data", "apply_control_to_vehicle", "spawn_actor_with_parent", "tick_cue"},
        set(),
    ),
    "no_rendering_view": (
        "no_rendering_view.py",
        ["--tm-port={tm}", "--ticks=40", "--output={out}/view.png"],
        {"set_episode_settings", "get_actors_by_id", "spawn_actor", "tick_cue"},
        {"register_vehicle"},
    ),
}


def run_program(script: str, port: int, args: list[str]) -> tuple[int, dict, str]:
    """Runs ``python compat/<script> --host --port --town ...``: (exit code, RESULT, output)."""
    command = [sys.executable, str(COMPAT / script), "--host=127.0.0.1", f"--port={port}"]
    command += ["--town=LiteTown01", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT ") :]) if lines else {}
    return done.returncode, result, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_program_runs_unchanged(program: str, tmp_path: Path) -> None:
    script, args, simulator_rpcs, tm_rpcs = PROGRAMS[program]
    args = [a.format(tm=ephemeral_port(), out=tmp_path) for a in args]
    server = ServerProcess(tmp_path, rpc_log=True)
    try:
        code, result, output = run_program(script, server.port, args)
        assert server.alive(), f"server died:\n{server.log()}"
    finally:
        server.stop()  # SIGTERM: the server writes its final RPC log
    assert code == 0, output
    assert result.get("failures") == [], output

    calls = server.rpc_calls()
    assert calls["unknown"] == [], f"unknown RPC names: {calls['unknown']}"
    used = set(calls["simulator"]["calls"])
    tm_used = {name for tm in calls["traffic_manager"].values() for name in tm["calls"]}
    assert simulator_rpcs <= used, f"not sent: {sorted(simulator_rpcs - used)}"
    assert tm_rpcs <= tm_used, f"not sent to the TM: {sorted(tm_rpcs - tm_used)}"
    assert server.unknown_rpcs() == []


def test_rpc_log_lists_unknown_names(tmp_path: Path) -> None:
    """The recording itself: an unknown name on the simulator port shows in the log."""
    server = ServerProcess(tmp_path, rpc_log=True)
    try:
        script = (
            "import msgpack, socket\n"
            f"s = socket.create_connection(('127.0.0.1', {server.port}))\n"
            "s.sendall(msgpack.packb([0, 1, 'no_such_rpc', [[False]]]))\n"
            "s.sendall(msgpack.packb([0, 2, 'version', [[False]]]))\n"
            "u = msgpack.Unpacker()\n"
            "replies = []\n"
            "while len(replies) < 2:\n"
            "    u.feed(s.recv(4096))\n"
            "    replies += list(u)\n"
        )
        subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    finally:
        server.stop()
    calls = server.rpc_calls()
    assert calls["unknown"] == ["no_such_rpc"]
    assert calls["simulator"]["port"] == server.port
    assert calls["simulator"]["calls"] == {"no_such_rpc": 1, "version": 1}
    assert calls["simulator"]["unknown"] == {"no_such_rpc": 1}
    assert calls["traffic_manager"] == {}
