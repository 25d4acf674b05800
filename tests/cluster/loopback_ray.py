"""``ray`` (the command line) with this machine's node address pinned to 127.0.0.1.

Test plumbing only. ``ray start`` replaces 127.0.0.1 (given or found) with the address of
the route towards 8.8.8.8, so that other hosts can reach the node; the test cluster must
stay on loopback. The processes of the cluster run with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes Ray's own address lookup answer
127.0.0.1 in every child (raylet, agents, workers) and in the drivers; but the same
setting makes ``ray start`` refuse to add a second node, so this wrapper turns that check
back on and answers the lookup with 127.0.0.1 itself.

Usage: ``python -m tests.cluster.loopback_ray start --address=127.0.0.1:PORT ...``
"""

from __future__ import annotations

import sys

import ray._private.ray_constants as ray_constants
import ray._private.services as services


def _loopback_address(address: str | None = None) -> str:
    """Stands in for Ray's route lookup: this node is 127.0.0.1, whoever asks."""
    return "127.0.0.1"


services.node_ip_address_from_perspective = _loopback_address  # type: ignore[assignment]
ray_constants.ENABLE_RAY_CLUSTER = True

if __name__ == "__main__":
    from ray.scripts.scripts import main

    sys.argv[0] = "ray"
    sys.exit(main())
