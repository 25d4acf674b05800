"""Boilerplate shared by the compat/ client programs.

The connection arguments, ``load_town``, the frame-matched queue read, the synchronous-settings
switch and the ``main`` wrapper (run, check, print ``RESULT {json}``, exit code) were repeated in
every program; they live here once. The programs stay runnable as ``python compat/x.py``:
Python puts the script's folder on ``sys.path``, so ``import common`` finds this file.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
from collections.abc import Callable

import carla


def connection_parser(description: str, *, tm_port: bool = True) -> argparse.ArgumentParser:
    """A parser with ``--host``, ``-p/--port``, ``--tm-port`` (optional) and ``--town``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="IP of the host server")
    parser.add_argument("-p", "--port", type=int, default=2000, help="TCP port (default 2000)")
    if tm_port:
        parser.add_argument("--tm-port", type=int, default=8000, help="Traffic Manager port")
    parser.add_argument("--town", default=None, help="load this map first (default: keep)")
    return parser


def load_town(client: carla.Client, town: str | None) -> carla.World:
    world = client.get_world()
    if town and world.get_map().name.split("/")[-1] != town:
        world = client.load_world(town)
    return world


def connect(args: argparse.Namespace) -> tuple[carla.Client, carla.World]:
    """A client with ``args.timeout`` on ``args.host:args.port``, and its world (``args.town``)."""
    client = carla.Client(args.host, args.port)
    client.set_timeout(args.timeout)
    return client, load_town(client, args.town)


def set_synchronous(world: carla.World, delta: float) -> None:
    """Synchronous mode with a fixed ``delta`` [s]; restore with the saved original settings."""
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = delta
    world.apply_settings(settings)


def retrieve(sensor_queue: queue.Queue, frame: int, timeout: float) -> carla.SensorData:
    """The queued measurement of ``frame`` (older ones are dropped)."""
    while True:
        data = sensor_queue.get(timeout=timeout)
        if data.frame == frame:
            return data
        if data.frame > frame:
            raise RuntimeError(f"sensor skipped frame {frame} (got {data.frame})")


def main(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], dict],
    check: Callable[[dict, argparse.Namespace], list[str]],
    *,
    sensors: bool = False,
) -> int:
    """Run, check, print ``RESULT {json}`` (with ``failures``); 1 on an error or a failed check.

    ``sensors``: a sensor timeout (``queue.Empty``) is an error too, printed with its type name.
    """
    errors: tuple[type[Exception], ...] = (
        (RuntimeError, queue.Empty) if sensors else (RuntimeError,)
    )
    try:
        result = run(args)
    except errors as exc:
        message = f"{type(exc).__name__}: {exc}" if sensors else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1
    failures = check(result, args)
    result["failures"] = failures
    print("RESULT " + json.dumps(result))
    return 1 if failures else 0


def hard_exit(code: int) -> None:
    """Flush and ``os._exit``: skips the client's static destructors."""
    sys.stdout.flush()
    sys.stderr.flush()
    # The 0.9.16 client may abort in its static destructors when a process exits right
    # after a sensor stopped streaming (with CARLA too); everything is already cleaned up.
    os._exit(code)


def clean_up(
    world: carla.World,
    original_settings: carla.WorldSettings,
    actors: list[carla.Actor],
    traffic_manager: carla.TrafficManager,
) -> None:
    """Stop the sensors, destroy ``actors`` (last first), restore the settings and the TM's."""
    for actor in actors:
        if isinstance(actor, carla.Sensor):
            actor.stop()
    for actor in reversed(actors):
        actor.destroy()
    traffic_manager.set_synchronous_mode(False)
    world.apply_settings(original_settings)
