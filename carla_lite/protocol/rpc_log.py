"""What an :class:`RpcServer` was asked: call counts per RPC name, and the unknown names."""

from __future__ import annotations

import collections

from carla_lite.protocol.rpc_server import RpcServer

__all__ = ["rpc_call_counts"]


def rpc_call_counts(server: RpcServer) -> dict:
    """``{"port", "calls": {name: count}, "unknown": {name: count}}`` of one server.

    Reads the server's public counters while its connection threads may add to them:
    ``dict()`` / ``list()`` copies of a dict or list with ``str`` items run in C under the
    GIL, so each copy is consistent (a call counted between the two copies only shows in
    ``calls``).
    """
    calls = dict(server.call_log)
    unknown = collections.Counter(list(server.unknown_methods))
    return {
        "port": server.port,
        "calls": dict(sorted(calls.items())),
        "unknown": dict(sorted(unknown.items())),
    }
