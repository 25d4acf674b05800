"""The listening socket both carla_lite servers (RPC and streaming) start from."""

from __future__ import annotations

import socket


def open_listener(host: str, port: int, backlog: int = 64) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening; closed again if binding fails.

    Raises:
        OSError: the address cannot be bound (e.g. the port is taken).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(backlog)
    except OSError:
        listener.close()
        raise
    return listener
