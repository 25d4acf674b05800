"""PortRegistry: bind-tested, host-wide, race-free port claims."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rllib_integration.errors import ServerStartError
from rllib_integration.ports import PortRegistry, PortReservation, port_is_bindable

from .conftest import REPO_ROOT


def _claims(path: Path) -> list[dict]:
    return json.loads(path.read_text())["claims"] if path.exists() else []


def _free_triple(registry: PortRegistry) -> int:
    """An RPC port whose triple is free now (found by a throwaway reservation)."""
    reservation = registry.reserve(extra=0)
    reservation.release()
    return reservation.rpc_port


def test_reserve_gives_bindable_triple_and_tm_port(registry: PortRegistry) -> None:
    reservation = registry.reserve()
    try:
        rpc = reservation.rpc_port
        assert (reservation.streaming_port, reservation.secondary_port) == (rpc + 1, rpc + 2)
        assert reservation.tm_port is not None
        assert reservation.tm_port not in (rpc, rpc + 1, rpc + 2)
        assert 15000 <= rpc <= 32000 - 2
        for port in reservation.ports:
            assert port_is_bindable(port)
        (claim,) = _claims(registry.path)
        assert claim["pid"] == os.getpid()
        assert sorted(claim["ports"]) == sorted([rpc, rpc + 1, rpc + 2, reservation.tm_port])
        assert registry.claimed_ports() == {p: os.getpid() for p in reservation.ports}
    finally:
        reservation.release()
    assert _claims(registry.path) == []
    reservation.release()  # idempotent
    assert reservation.released


def test_context_manager_releases(registry: PortRegistry) -> None:
    with registry.reserve(extra=2) as reservation:
        assert isinstance(reservation, PortReservation)
        assert len(reservation.extra_ports) == 2
        assert reservation.tm_port == reservation.extra_ports[0]
        assert len(set(reservation.ports)) == 5
        assert len(_claims(registry.path)) == 1
    assert _claims(registry.path) == []


def test_seeded_rng_is_deterministic(tmp_path: Path) -> None:
    first = PortRegistry(tmp_path / "a.json").reserve(rng=random.Random(7))
    second = PortRegistry(tmp_path / "b.json").reserve(rng=random.Random(7))
    try:
        assert first.ports == second.ports
    finally:
        first.release()
        second.release()


def test_claimed_ports_are_skipped_even_if_bindable(registry: PortRegistry) -> None:
    # Same seed: without the registry the second reservation would repeat the first.
    first = registry.reserve(rng=random.Random(3))
    second = registry.reserve(rng=random.Random(3))
    try:
        assert set(first.ports).isdisjoint(second.ports)
        with pytest.raises(ServerStartError, match=f"ports {first.rpc_port}"):
            registry.reserve(rpc_port=first.rpc_port)
    finally:
        first.release()
        second.release()


def test_port_in_use_is_not_chosen(registry: PortRegistry) -> None:
    rpc = _free_triple(registry)
    with socket.create_server(("127.0.0.1", rpc + 2)):
        assert not port_is_bindable(rpc + 2)
        with pytest.raises(ServerStartError, match="not free"):
            registry.reserve(rpc_port=rpc)
        # A range holding only that triple has nothing to offer.
        with pytest.raises(ServerStartError, match="no 3 consecutive free ports"):
            registry.reserve(low=rpc, high=rpc + 2, extra=0)
    with registry.reserve(rpc_port=rpc) as reservation:
        assert reservation.rpc_port == rpc


def test_wildcard_listener_blocks_loopback_port(registry: PortRegistry) -> None:
    # Real CARLA binds 0.0.0.0; a loopback-only test would miss it.
    with socket.create_server(("0.0.0.0", 0)) as server:
        port = server.getsockname()[1]
        assert not port_is_bindable(port, "127.0.0.1")


def test_claim_of_dead_pid_is_reclaimed(registry: PortRegistry) -> None:
    rpc = _free_triple(registry)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    registry.path.write_text(
        json.dumps({"claims": [{"token": "x", "pid": dead.pid, "ports": [rpc, rpc + 1]}]})
    )
    with registry.reserve(rpc_port=rpc) as reservation:
        assert reservation.rpc_port == rpc
        assert [c["pid"] for c in _claims(registry.path)] == [os.getpid()]


def test_claim_of_live_pid_blocks_until_it_dies(registry: PortRegistry) -> None:
    rpc = _free_triple(registry)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        registry.path.write_text(
            json.dumps({"claims": [{"token": "x", "pid": sleeper.pid, "ports": [rpc + 1]}]})
        )
        with pytest.raises(ServerStartError):
            registry.reserve(rpc_port=rpc)
    finally:
        sleeper.kill()
        sleeper.wait()
    registry.reserve(rpc_port=rpc).release()


def test_recycled_pid_does_not_keep_a_claim(registry: PortRegistry) -> None:
    # Our pid is alive, but with another start time it is a different process.
    rpc = _free_triple(registry)
    registry.path.write_text(
        json.dumps({"claims": [{"token": "x", "pid": os.getpid(), "start": "1", "ports": [rpc]}]})
    )
    registry.reserve(rpc_port=rpc).release()


def test_unreadable_registry_is_replaced(registry: PortRegistry) -> None:
    registry.path.write_text("{not json")
    with registry.reserve() as reservation:
        assert [c["token"] for c in _claims(registry.path)] == [reservation.token]


def test_reserve_free(registry: PortRegistry) -> None:
    with registry.reserve_free(3) as claim:
        assert len(set(claim.ports)) == 3
        assert set(registry.claimed_ports()) == set(claim.ports)
    assert registry.claimed_ports() == {}


def test_bad_arguments(registry: PortRegistry) -> None:
    with pytest.raises(ValueError):
        registry.reserve(count_consecutive=0)
    with pytest.raises(ValueError):
        registry.reserve(low=20000, high=19000)
    with pytest.raises(ValueError):
        registry.reserve(rpc_port=65535)


def test_claims_released_at_exit_or_dropped_after_crash(registry: PortRegistry) -> None:
    def run(ending: str) -> list[int]:
        code = textwrap.dedent(
            f"""
            import os, sys
            from rllib_integration.ports import PortRegistry
            r = PortRegistry({str(registry.path)!r}).reserve()
            print(r.rpc_port, flush=True)
            {ending}
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            timeout=60,
        ).stdout
        return [int(out.split()[0])]

    run("sys.exit(0)")  # normal exit: atexit releases
    assert _claims(registry.path) == []
    run("os._exit(0)")  # crash: the claim stays in the file...
    assert len(_claims(registry.path)) == 1
    assert registry.claimed_ports() == {}  # ...but its pid is dead, so it does not count


def _reserve_in_child(path: str, barrier, queue, release) -> None:
    registry = PortRegistry(path)
    barrier.wait()
    # Everyone uses the same seed, so only the registry keeps the choices apart.
    reservation = registry.reserve(rng=random.Random(1234), low=20000, high=20060)
    queue.put((reservation.rpc_port, reservation.tm_port))
    release.wait(60)
    reservation.release()


def test_concurrent_processes_get_disjoint_ports(registry: PortRegistry) -> None:
    ctx = multiprocessing.get_context("spawn")
    count = 4
    barrier = ctx.Barrier(count)
    queue = ctx.Queue()
    release = ctx.Event()
    procs = [
        ctx.Process(target=_reserve_in_child, args=(str(registry.path), barrier, queue, release))
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    try:
        results = [queue.get(timeout=120) for _ in range(count)]
    finally:
        release.set()
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    all_ports = [p for rpc, tm in results for p in (rpc, rpc + 1, rpc + 2, tm)]
    assert len(all_ports) == len(set(all_ports)) == 4 * count
    assert all(proc.exitcode == 0 for proc in procs)
    assert _claims(registry.path) == []
