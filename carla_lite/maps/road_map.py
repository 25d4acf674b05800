"""``RoadMap``: a validated OpenDRIVE map plus the fast queries the simulation needs."""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time

import numpy as np
from numpy.typing import NDArray

from carla_lite.geom import Transform, Vector3
from carla_lite.maps.errors import MapLoadError
from carla_lite.maps.geometry import FloatArray, RoadGeometry
from carla_lite.maps.opendrive import OpenDrive, Road, parse_opendrive
from carla_lite.maps.rasters import (
    DRIVING_LANE_TYPES,
    SURFACE_DRIVING,
    SURFACE_OFFROAD,
    SURFACE_OTHER,
    SURFACE_SIDEWALK,
    Grid,
    RoadRasters,
    build_rasters,
)
from carla_lite.maps.signals import OrientedBox, SignalGroup, SignalSite, build_signal_groups

__all__ = [
    "SURFACE_DRIVING",
    "SURFACE_OFFROAD",
    "SURFACE_OTHER",
    "SURFACE_SIDEWALK",
    "OrientedBox",
    "RoadMap",
    "SignalGroup",
    "SignalSite",
    "load_road_map",
]

log = logging.getLogger(__name__)

DEFAULT_SPEED_KMH = 30.0
MOTORWAY_SPEED_KMH = 90.0
SPAWN_SPACING = 22.5  # [m] target distance between spawn points along a lane
SPAWN_END_MARGIN = 6.0  # [m] keep spawn points this far from road ends
SPAWN_MIN_LANE_WIDTH = 2.0  # [m] skip lanes that are opening or closing
SPAWN_HEIGHT = 0.5  # [m] above the road surface, as CARLA's spawn points are
_CACHE_SIZE = 8
_LEVEL_TOLERANCE = 1.0  # [m] how far below a bridge deck a point must be to be "under" it


class RoadMap:
    """A loaded map: the OpenDRIVE text, spawn points, signals and road-surface queries.

    Attributes:
        name: Map name.
        xodr: The OpenDRIVE text exactly as given (what clients receive).
        spawn_points: Driving-lane centres on non-junction roads (CARLA frame, z = road
            height + 0.5 m, yaw along the lane's driving direction), in a deterministic order.
        bounds: ``(xmin, ymin, xmax, ymax)`` of all lanes, CARLA frame.
        signal_groups: Traffic lights grouped by the junction they control.
        geo_reference: The map origin's latitude, longitude, altitude (``<geoReference>``).
    """

    def __init__(self, name: str, xodr: str, drive: OpenDrive) -> None:
        self.name = name
        self.xodr = xodr
        self.drive = drive
        self.geo_reference = drive.geo_reference
        self.geometries = {rid: RoadGeometry(road) for rid, road in drive.roads.items()}
        self._rasters: RoadRasters = build_rasters(
            name, self.geometries, self._speed_at, DEFAULT_SPEED_KMH
        )
        self.bounds = self._rasters.bounds
        self.spawn_points: list[Transform] = self._spawn_points()
        self.signal_groups: list[SignalGroup] = build_signal_groups(drive, self.geometries)

    # -- per-point queries (hot path) -------------------------------------------------------

    def ground_height(
        self, xs: FloatArray, ys: FloatArray, zs: FloatArray | None = None
    ) -> NDArray[np.float64]:
        """Road-surface height [m] under CARLA-frame points (0.0 off road).

        Args:
            xs: CARLA x [m].
            ys: CARLA y [m].
            zs: Optional current heights of the points. Where roads cross at different
                levels (bridges), the surface at or below ``z + 1 m`` is returned; without
                ``zs`` the upper surface is.
        """
        r = self._rasters
        flat = r.coarse_grid.clamped_index(xs, ys)
        high = r.height_high[flat]
        if zs is not None:
            low = r.height_low[flat]
            high = np.where(np.asarray(zs) + _LEVEL_TOLERANCE >= high, high, low)
        return high.astype(np.float64)

    def surface(self, xs: FloatArray, ys: FloatArray) -> NDArray[np.uint8]:
        """Surface class (``SURFACE_*``) under CARLA-frame points."""
        r = self._rasters
        return r.surface[r.surface_grid.clamped_index(xs, ys)]

    def speed_limit_kmh(self, xs: FloatArray, ys: FloatArray) -> NDArray[np.float64]:
        """Speed limit [km/h] of the road under CARLA-frame points (default off road)."""
        return self.speed_limit_of_cells(self.cell_grid.clamped_index(xs, ys))

    @property
    def cell_grid(self) -> Grid:
        """The coarse grid of per-point lookups; its cell indices serve several queries."""
        return self._rasters.coarse_grid

    def speed_limit_of_cells(self, cells: NDArray[np.intp]) -> NDArray[np.float64]:
        """``speed_limit_kmh`` for flat ``cell_grid`` indices."""
        r = self._rasters
        return r.speed_table[r.speed_index[cells]]

    @property
    def junction_outlines(self) -> dict[int, NDArray[np.float64]]:
        """Junction id -> convex outline of its connecting roads: (M, 2) CARLA-frame x, y.

        The gaps the connecting lanes leave inside an outline, where lanes enclose them, are
        driving surface (see ``junctions.py``).
        """
        return self._rasters.junction_outlines

    def random_sidewalk_location(self, rng: random.Random) -> Vector3 | None:
        """A uniformly random point on a sidewalk centre line, or None without sidewalks."""
        points = self._rasters.sidewalk_points
        if not len(points):
            return None
        x, y, z = points[rng.randrange(len(points))]
        return Vector3(float(x), float(y), float(z))

    # -- lane geometry ----------------------------------------------------------------------

    def lane_point(self, road_id: int, lane_id: int, s: float) -> Transform:
        """Centre of a lane at road position ``s``, yaw along +s (CARLA frame).

        Raises:
            KeyError: if the road or lane does not exist (at ``s``).
        """
        geom = self.geometries[road_id]
        s = min(max(float(s), 0.0), geom.road.length)
        index = geom.section_index(s)
        if lane_id not in geom.road.sections[index].lanes or lane_id == 0:
            raise KeyError(f"road {road_id} has no lane {lane_id} at s={s}")
        return _lane_transforms(geom, index, lane_id, np.array([s]), forward=True)[0]

    def memory_bytes(self) -> int:
        """Bytes held by the rasters (for diagnostics)."""
        return self._rasters.nbytes

    def _spawn_points(self) -> list[Transform]:
        points: list[Transform] = []
        for road_id in sorted(self.geometries):
            geom = self.geometries[road_id]
            road = geom.road
            span = road.length - 2 * SPAWN_END_MARGIN
            if road.junction != -1 or span < 0.0:
                continue
            count = max(1, round(span / SPAWN_SPACING) + 1)
            if count == 1:
                stations = np.array([road.length / 2])
            else:
                stations = SPAWN_END_MARGIN + np.arange(count) * (span / (count - 1))
            sections = np.array([geom.section_index(float(s)) for s in stations])
            per_lane: dict[int, list[Transform]] = {}
            for index in np.unique(sections):
                ss = stations[sections == index]
                edges = geom.lane_edges(int(index), ss)
                for lane_id, (inner, outer) in edges.items():
                    if road.sections[index].lanes[lane_id].type not in DRIVING_LANE_TYPES:
                        continue
                    wide = np.abs(outer - inner) >= SPAWN_MIN_LANE_WIDTH
                    if not wide.any():
                        continue
                    forward = (lane_id < 0) != (road.rule == "LHT")
                    tfs = _lane_transforms(geom, int(index), lane_id, ss[wide], forward)
                    per_lane.setdefault(lane_id, []).extend(tfs)
            # Right lanes first, innermost first; each lane's points in driving order
            # (stations ascend, so lanes driven against +s are reversed).
            for lane_id in sorted(per_lane, key=lambda lid: (lid > 0, abs(lid))):
                forward = (lane_id < 0) != (road.rule == "LHT")
                tfs = per_lane[lane_id] if forward else per_lane[lane_id][::-1]
                for tf in tfs:
                    tf.z += SPAWN_HEIGHT
                    tf.pitch = 0.0
                points.extend(tfs)
        return points

    def _speed_at(self, road_id: int, s: FloatArray) -> FloatArray:
        return _road_speed(self.drive.roads[road_id], s)


def _road_speed(road: Road, s: FloatArray) -> FloatArray:
    """Speed limit [km/h] along a road from its ``<type>`` records."""
    out = np.full(len(s), DEFAULT_SPEED_KMH)
    for i, rtype in enumerate(road.types):
        end = road.types[i + 1].s if i + 1 < len(road.types) else math.inf
        if rtype.max_kmh is not None:
            limit = rtype.max_kmh
        elif rtype.type == "motorway":
            limit = MOTORWAY_SPEED_KMH
        else:
            limit = DEFAULT_SPEED_KMH
        out[(s >= rtype.s) & (s < end)] = limit
        if i == 0:
            out[s < rtype.s] = limit
    return out


def _lane_transforms(
    geom: RoadGeometry, index: int, lane_id: int, s: FloatArray, forward: bool
) -> list[Transform]:
    """Lane-centre transforms at stations ``s`` of one lane section (CARLA frame)."""
    lo = np.maximum(geom.section_starts[index], s - 0.05)
    hi = np.minimum(geom.section_ends[index], s + 0.05)
    n = len(s)
    inner, outer = geom.lane_edges(index, np.concatenate([s, lo, hi]))[lane_id]
    t = 0.5 * (inner + outer)
    x, y, hdg = geom.points(s, t[:n])
    # The lane centre turns with respect to the reference line where the lane offset or
    # the inner widths change along s; CARLA's waypoints include that turn.
    span = np.maximum(hi - lo, 1e-9)
    heading = hdg + np.arctan((t[2 * n :] - t[n : 2 * n]) / span)
    yaw = -np.degrees(heading)
    pitch = np.degrees(np.arctan(geom.elevation.slope(s)))
    if not forward:
        yaw = yaw + 180.0
        pitch = -pitch
    yaw = (yaw + 180.0) % 360.0 - 180.0
    z = geom.elevation.value(s)
    return [
        Transform(float(x[i]), -float(y[i]), float(z[i]), float(pitch[i]), float(yaw[i]), 0.0)
        for i in range(n)
    ]


_cache: dict[tuple[str, str], RoadMap] = {}
_cache_lock = threading.Lock()


def load_road_map(name: str, xodr_text: str) -> RoadMap:
    """Parse, validate and index an OpenDRIVE map (cached by name and text hash).

    Args:
        name: Map name (used in messages and as part of the cache key).
        xodr_text: OpenDRIVE XML text.

    Returns:
        The loaded map; the same object for repeated loads of identical text.

    Raises:
        MapLoadError: if the text is malformed or inconsistent.
    """
    if not isinstance(xodr_text, str):
        raise MapLoadError(f"{name}: OpenDRIVE text must be str, not {type(xodr_text).__name__}")
    key = (name, hashlib.sha1(xodr_text.encode("utf-8", "surrogatepass")).hexdigest())
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    start = time.perf_counter()
    drive = parse_opendrive(name, xodr_text)
    road_map = RoadMap(name, xodr_text, drive)
    log.info(
        "loaded map %s: %d roads, %d spawn points, %d signal groups, %.1f MB rasters in %.2f s",
        name, len(drive.roads), len(road_map.spawn_points), len(road_map.signal_groups),
        road_map.memory_bytes() / 1e6, time.perf_counter() - start,
    )  # fmt: skip
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = road_map
    return road_map
