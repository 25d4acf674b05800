"""The single error type of the map layer."""

from __future__ import annotations


class MapLoadError(ValueError):
    """An OpenDRIVE text was rejected.

    The message names the map, the offending element (road id, lane id, tag, attribute) and
    what is wrong with it, e.g. ``"Town99: road 12 geometry 3: attribute 'length' is not a
    number ('abc')"``. The server refuses such maps instead of serving them, because the real
    CARLA client crashes (segfaults) on malformed OpenDRIVE.
    """
