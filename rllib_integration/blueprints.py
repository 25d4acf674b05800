"""The blueprint library of the current episode, fetched once per episode.

``world.get_blueprint_library()`` is an RPC returning every definition; the library only
changes with the episode, and resets would otherwise fetch it several times each.
"""

from __future__ import annotations

import carla

_cache: dict[int, carla.BlueprintLibrary] = {}


def blueprint_library(world: carla.World) -> carla.BlueprintLibrary:
    """``world.get_blueprint_library()``, cached by episode id (``find`` returns copies)."""
    library = _cache.get(world.id)
    if library is None:
        _cache.clear()  # one episode at a time per process is the common case
        library = _cache[world.id] = world.get_blueprint_library()
    return library
