"""Pedestrian navigation: the Detour navmesh CARLA's client runs its walkers on.

``NavMeshStore.get(road_map)`` builds (``builder``), encodes (``detour_format``) and
validates with the wheel's Detour (``check``) the navmesh of a map, once per map.
"""

from carla_lite.navigation.builder import NavPolygons, build_polygons
from carla_lite.navigation.detour_format import (
    AREA_CROSSWALK,
    AREA_ROAD,
    AREA_SIDEWALK,
    NavMeshData,
    NavMeshFormatError,
    read_navmesh,
    write_navmesh,
)
from carla_lite.navigation.files import NAV_FOLDER, NavMeshFile, NavMeshStore

__all__ = [
    "AREA_CROSSWALK",
    "AREA_ROAD",
    "AREA_SIDEWALK",
    "NAV_FOLDER",
    "NavMeshData",
    "NavMeshFile",
    "NavMeshFormatError",
    "NavMeshStore",
    "NavPolygons",
    "build_polygons",
    "read_navmesh",
    "write_navmesh",
]
