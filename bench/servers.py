"""Start and stop carla_lite servers for the benchmark and demo scripts.

``free_port`` picks a loopback port block, ``start_server`` runs
``python -m carla_lite --carla-rpc-port=P [extra args]`` in its own session (cwd: the repository
root) and returns once the server printed its ready line, ``stop_server`` ends that process
group. The scripts run as ``python bench/x.py`` from the repository root: they put ``REPO`` on
``sys.path`` and import ``from bench.servers import ...``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from rllib_integration.ports import PortRegistry

REPO = Path(__file__).resolve().parent.parent


def free_port(count: int = 4) -> int:
    """A port P with P..P+count-1 free on loopback (RPC, streaming, secondary, Traffic
    Manager), claimed in the host-wide port registry until this process exits."""
    return PortRegistry().reserve(count_consecutive=count, extra=0).rpc_port


def start_server(
    port: int,
    *extra_args: str,
    stderr: int | IO[Any] | None = None,
    log_path: Path | None = None,
    echo: bool = False,
) -> tuple[subprocess.Popen[str], float]:
    """Start a carla_lite server on ``port``; return it and the seconds it took to be ready.

    ``extra_args`` go after ``--carla-rpc-port`` (e.g. ``--map=Town01``, ``--client-side-tm``).
    The server's stderr goes to ``stderr`` or, with ``log_path``, to that file (whose tail the
    error quotes when the server does not start). ``echo`` prints the server's ready line.
    Raises RuntimeError, with the server stopped, when its first stdout line is not "ready".
    """
    command = [sys.executable, "-m", "carla_lite", f"--carla-rpc-port={port}", *extra_args]
    log = log_path.open("w") if log_path is not None else None
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log if log is not None else stderr,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
    finally:
        if log is not None:
            log.close()  # the child holds its own copy
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - start
    if "ready" not in line:
        stop_server(proc)
        message = f"server did not start ({' '.join(command[2:])}): {line!r}"
        if log_path is not None:
            message += f"; log: {log_path.read_text(errors='replace')[-2000:]}"
        raise RuntimeError(message)
    if echo:
        print(line.strip(), flush=True)
    return proc, took


def stop_server(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started in its own session (``start_server``'s): SIGTERM to its process
    group, wait up to 10 s, then SIGKILL. Only that group (the process's own id) is signalled."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def connect_sync(port: int, timeout: float = 30.0, delta: float = 0.05) -> Any:
    """A client on loopback ``port`` and its world, switched to synchronous mode at ``delta`` s.

    Returns ``(client, world)``.
    """
    import carla  # the benches need the client anyway; imported here to keep this module light

    client = carla.Client("127.0.0.1", port)
    client.set_timeout(timeout)
    world = client.get_world()
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = delta
    world.apply_settings(settings)
    return client, world


def spawn_ai_walkers(client: Any, world: Any, count: int) -> tuple[list[int], list[int]]:
    """``count`` pedestrians at random navmesh points, each under a started
    ``controller.ai.walker`` heading for another random point at 1.4 m/s, spawned in batches
    as CARLA's ``generate_traffic.py`` does. Returns ``(walker ids, controller ids)``."""
    import carla

    lib = world.get_blueprint_library()
    bps = sorted(lib.filter("walker.pedestrian.*"), key=lambda b: b.id)
    batch = [
        carla.command.SpawnActor(
            bps[i % len(bps)], carla.Transform(world.get_random_location_from_navigation())
        )
        for i in range(count)
    ]
    walkers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    ctrl = lib.find("controller.ai.walker")
    batch = [carla.command.SpawnActor(ctrl, carla.Transform(), w) for w in walkers]
    controllers = [r.actor_id for r in client.apply_batch_sync(batch, True) if not r.error]
    world.tick()  # the controllers read their walker's position from the snapshot
    for c in world.get_actors(controllers):
        c.start()
        c.go_to_location(world.get_random_location_from_navigation())
        c.set_max_speed(1.4)
    return walkers, controllers


def process_stats(pid: int) -> dict[str, float]:
    """Resident memory [MiB], open descriptors and threads of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024.0,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"].strip()),
    }


def child_pids(pid: int | None = None) -> list[int]:
    """Live child processes of ``pid`` (default: this process), from /proc."""
    parent = str(os.getpid() if pid is None else pid)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces and parentheses: split after the last ')'.
            if stat.rsplit(")", 1)[1].split()[1] == parent:
                found.append(int(entry))
    return found


def git_head() -> str:
    """HEAD, with "+modified" when carla_lite/ or rllib_integration/ differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "carla_lite", "rllib_integration"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+modified" if dirty else "")
