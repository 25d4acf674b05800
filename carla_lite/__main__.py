"""``python -m carla_lite --carla-rpc-port=2000``: run the headless server until signalled.

Accepts (and ignores) the CarlaUE4.sh flags launchers pass, so a launcher can start either
server with the same command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from carla_lite.maps.catalog import DEFAULT_MAP
from carla_lite.protocol.handlers import SERVER_VERSION
from carla_lite.server import CarlaLiteServer

#: CarlaUE4.sh flags with no meaning for a headless server (``-flag`` or ``-flag=value``).
IGNORED_UNREAL_FLAGS = frozenset(
    {
        "-renderoffscreen", "-nosound", "-quality-level", "-windowed", "-resx", "-resy",
        "-opengl", "-vulkan", "-benchmark", "-fps", "-carla-server", "-prefernvidia",
        "-nullrhi", "-ini", "-graphicsadapter", "-carla-settings", "-log",
    }
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m carla_lite",
        description="Headless CARLA 0.9.16 server for the official carla client.",
    )
    parser.add_argument("--carla-rpc-port", "--port", type=int, default=2000, dest="port")
    parser.add_argument("--carla-streaming-port", type=int, default=None, dest="streaming_port")
    parser.add_argument("--carla-secondary-port", type=int, default=None, dest="secondary_port")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument(
        "--maps-dir",
        action="append",
        type=Path,
        default=[],
        help="extra folder of .xodr maps (repeatable; also $CARLA_LITE_MAPS_DIR)",
    )
    parser.add_argument("--map", default=DEFAULT_MAP, help=f"first map (default {DEFAULT_MAP})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--client-side-tm",
        action="store_true",
        help="leave the Traffic Manager to the client process, as CARLA does "
        "(default: carla_lite serves it and drives NPCs inside its own tick)",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this server exits (even if it crashed)",
    )
    parser.add_argument(
        "--rpc-log",
        type=Path,
        default=None,
        metavar="PATH",
        help="write every RPC name called, with counts per port (simulator and Traffic "
        "Manager), and the unknown ones, as JSON to PATH: every second and when stopping",
    )
    parser.add_argument("--log-level", default=os.environ.get("CARLA_LITE_LOG", "WARNING"))
    return parser


def normalise_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split argv into our options and the ignored Unreal flags.

    ``-carla-rpc-port=N`` style (one dash, as CarlaUE4.sh also accepts) becomes ``--``.
    """
    ours: list[str] = []
    ignored: list[str] = []
    for arg in argv:
        name = arg.split("=", 1)[0].lower()
        if name in IGNORED_UNREAL_FLAGS:
            ignored.append(arg)
        elif arg.startswith("-carla-"):
            ours.append("-" + arg)
        else:
            ours.append(arg)
    return ours, ignored


def write_rpc_log(path: Path, server: CarlaLiteServer) -> None:
    """Replace ``path`` with the server's RPC counts (atomically: readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(server.rpc_calls(), indent=1) + "\n")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    ours, _ignored = normalise_argv(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(ours)
    logging.basicConfig(
        level=args.log_level.upper(), format="carla_lite %(levelname)s %(name)s: %(message)s"
    )
    try:
        server = CarlaLiteServer(
            args.host,
            args.port,
            streaming_port=args.streaming_port,
            secondary_port=args.secondary_port,
            maps_dirs=args.maps_dir,
            map_name=args.map,
            seed=args.seed,
            client_side_tm=args.client_side_tm,
        )
        server.start()
    except (OSError, ValueError, KeyError) as exc:
        print(f"carla_lite: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    if args.rpc_log is not None:
        try:
            write_rpc_log(args.rpc_log, server)
        except OSError as exc:
            server.stop()
            print(f"carla_lite: cannot write --rpc-log: {exc}", file=sys.stderr, flush=True)
            return 1
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(
        f"carla_lite ready: rpc={args.host}:{server.rpc_port} "
        f"streaming={server.streaming_port} map={server.world.map_name} version={SERVER_VERSION}",
        flush=True,
    )
    parent = os.getppid()
    wake = 1.0 if args.exit_with_parent or args.rpc_log is not None else None
    try:
        # With --exit-with-parent, a launcher that dies without stopping us (a crashed RL
        # worker) re-parents this process: notice it and leave instead of lingering.
        while not stop.wait(wake):
            if args.rpc_log is not None:
                write_rpc_log(args.rpc_log, server)
            if args.exit_with_parent and os.getppid() != parent:
                break
    finally:
        if args.rpc_log is not None:
            write_rpc_log(args.rpc_log, server)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
