"""Road maps: OpenDRIVE parsing and validation, road-surface queries, traffic-light sites."""

from carla_lite.maps.errors import MapLoadError
from carla_lite.maps.road_map import (
    SURFACE_DRIVING,
    SURFACE_OFFROAD,
    SURFACE_OTHER,
    SURFACE_SIDEWALK,
    RoadMap,
    load_road_map,
)
from carla_lite.maps.signals import OrientedBox, SignalGroup, SignalSite

__all__ = [
    "SURFACE_DRIVING",
    "SURFACE_OFFROAD",
    "SURFACE_OTHER",
    "SURFACE_SIDEWALK",
    "MapLoadError",
    "OrientedBox",
    "RoadMap",
    "SignalGroup",
    "SignalSite",
    "load_road_map",
]
