"""The driving-lane graph of a map: dense waypoints, their successors and neighbours.

Every driving lane of every lane section is sampled at the midpoints of equal steps of about
``WAYPOINT_SPACING`` metres, in driving order, so consecutive waypoints are evenly spaced also
across section, road and junction boundaries. Successors follow the OpenDRIVE links (lane
``<successor>``/``<predecessor>`` ids inside a road, road links between roads, junction
connections with their lane links); a lane end with no valid link is joined to any lane start
within ``STITCH_DISTANCE`` that points the same way, so small gaps in a file do not strand
traffic. Everything is numpy arrays indexed by waypoint id, so the Traffic Manager can plan
and look ahead for all vehicles with a handful of gathers.

Two spatial helpers ride along:

* ``area``: a 1 m raster of which waypoint's lane area covers each cell (-1 off the driving
  lanes), to localise any point (a walker, a vehicle's bumper) on the graph.
* ``conflicts``: for each waypoint, the waypoints of other lanes closer than
  ``CONFLICT_DISTANCE`` (crossing and merging lanes in junctions), itself included first, so
  an obstacle seen on one lane is also in the way of every lane through the same spot.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps.rasters import DRIVING_LANE_TYPES, Grid

if TYPE_CHECKING:
    from carla_lite.maps.road_map import RoadMap

log = logging.getLogger(__name__)

WAYPOINT_SPACING = 2.0  # [m] target distance between consecutive waypoints
STITCH_DISTANCE = 1.5  # [m] a dead lane end joins a lane start this close...
STITCH_COS = math.cos(math.radians(40.0))  # ...that points within 40 degrees of it
LINK_TOLERANCE = 4.0  # [m] a topological link whose ends lie farther apart is ignored
CONFLICT_DISTANCE = 1.8  # [m] below the narrowest lane width, above the waypoint diagonal
AREA_CELL = 1.0  # [m] cell of the area raster
CURVE_LATERAL_ACCEL = 3.0  # [m/s^2] comfortable lateral acceleration in curves
MAX_SPEED = 200.0 / 3.6  # [m/s] curve speed where the lane is straight

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Run:
    """One driving lane within one lane section, sampled in driving order."""

    road: int
    section: int
    lane: int
    forward: bool  # driving along +s
    first: int  # waypoint id of the first sample
    count: int


class LaneGraph:
    """Waypoints of all driving lanes of a map with their links (see the module docstring).

    Attributes:
        x, y, z, yaw: Pose of each waypoint (CARLA frame; yaw in degrees along driving).
        hx, hy: Unit heading of each waypoint.
        width: Lane width [m].
        speed_limit: Road speed limit [m/s].
        comfortable_speed: The lower of the speed limit and the curve speed [m/s].
        curvature: Unsigned curvature [1/m] from this waypoint to its first successor.
        signed_curvature: The same, positive where the lane turns right (yaw grows).
        curve_speed: Speed [m/s] that keeps the lateral acceleration comfortable in the
            curve from this waypoint to its first successor.
        junction: Junction id of the road (-1 outside junctions).
        road, lane: OpenDRIVE road and lane id.
        first_succ, n_succ: Successors of each waypoint are
            ``succ[first_succ[w] : first_succ[w] + n_succ[w]]``.
        next_default: The first successor of each waypoint (itself at a dead end).
        pred: One predecessor of each waypoint (-1 if none).
        left, right: Same-direction neighbour waypoint to the left / right (-1 if none).
        conflict_ptr, conflicts: CSR lists of conflicting waypoints (itself first).
    """

    def __init__(self, road_map: RoadMap, spacing: float = WAYPOINT_SPACING) -> None:
        self.spacing = spacing
        self.map_name = road_map.name
        self._runs: dict[tuple[int, int, int], _Run] = {}
        columns: dict[str, list[FloatArray]] = {k: [] for k in _SAMPLE_COLUMNS}
        total = 0
        for road_id in sorted(road_map.geometries):
            total = self._sample_road(road_map, road_id, columns, total)
        n = total
        stacked = {k: np.concatenate(v) if v else np.zeros(0) for k, v in columns.items()}
        self.x, self.y, self.z = stacked["x"], stacked["y"], stacked["z"]
        self.yaw = stacked["yaw"]
        rad = np.radians(self.yaw)
        self.hx, self.hy = np.cos(rad), np.sin(rad)
        self.width = stacked["width"]
        self.speed_limit = stacked["speed"]
        self.junction = stacked["junction"].astype(np.int64)
        self.road = stacked["road"].astype(np.int64)
        self.lane = stacked["lane"].astype(np.int64)
        self._link(road_map, n)
        self.left, self.right = self._neighbours(road_map, n)
        self.curve_speed = self._curve_speeds()
        self._build_area()
        self._build_conflicts()
        self._conflict_table: IntArray | None = None

    def __len__(self) -> int:
        return len(self.x)

    # -- sampling --------------------------------------------------------------------------
    def _sample_road(
        self, road_map: RoadMap, road_id: int, columns: dict[str, list[FloatArray]], total: int
    ) -> int:
        geom = road_map.geometries[road_id]
        road = geom.road
        for index, section in enumerate(road.sections):
            start, end = float(geom.section_starts[index]), float(geom.section_ends[index])
            length = end - start
            if length <= 1e-6:
                continue
            count = max(1, round(length / self.spacing))
            step = length / count
            stations = (np.arange(count, dtype=np.float64) + 0.5) * step + start
            ahead = np.minimum(stations + 0.25 * step, end)
            behind = np.maximum(stations - 0.25 * step, start)
            all_s = np.concatenate([stations, behind, ahead])
            edges = geom.lane_edges(index, all_s)
            for lane_id, (inner, outer) in edges.items():
                if section.lanes[lane_id].type not in DRIVING_LANE_TYPES:
                    continue
                t = 0.5 * (inner + outer)
                x, y, _ = geom.points(all_s, t)
                forward = (lane_id < 0) != (road.rule == "LHT")
                xs, ys = x[:count], y[:count]
                # Heading from the lane centre itself (it turns where widths change).
                dx, dy = (
                    x[2 * count :] - x[count : 2 * count],
                    y[2 * count :] - y[count : 2 * count],
                )
                heading = np.arctan2(dy, dx)
                width = np.abs(outer - inner)[:count]
                z = geom.elevation.value(stations)
                speed = road_map._speed_at(road_id, stations) / 3.6
                if not forward:
                    xs, ys, z, width, speed = xs[::-1], ys[::-1], z[::-1], width[::-1], speed[::-1]
                    heading = heading[::-1] + math.pi
                # OpenDRIVE -> CARLA frame: y and the heading flip.
                yaw = (-np.degrees(heading) + 180.0) % 360.0 - 180.0
                columns["x"].append(xs)
                columns["y"].append(-ys)
                columns["z"].append(z)
                columns["yaw"].append(yaw)
                columns["width"].append(width)
                columns["speed"].append(speed)
                columns["junction"].append(np.full(count, float(road.junction)))
                columns["road"].append(np.full(count, float(road_id)))
                columns["lane"].append(np.full(count, float(lane_id)))
                self._runs[(road_id, index, lane_id)] = _Run(
                    road_id, index, lane_id, forward, total, count
                )
                total += count
        return total

    # -- topology --------------------------------------------------------------------------
    def _link(self, road_map: RoadMap, n: int) -> None:
        """Successor lists: the next sample inside a run, OpenDRIVE links at run ends."""
        succ_of: list[list[int]] = [[] for _ in range(n)]
        for run in self._runs.values():
            for k in range(run.count - 1):
                succ_of[run.first + k].append(run.first + k + 1)
        connections = _connections_by_incoming(road_map)
        dead_ends: list[int] = []
        for run in self._runs.values():
            last = run.first + run.count - 1
            targets = []
            for target in self._linked_runs(road_map, run, connections):
                entry = target.first
                if math.hypot(self.x[entry] - self.x[last], self.y[entry] - self.y[last]) < (
                    LINK_TOLERANCE + self.spacing
                ):
                    targets.append(entry)
            if targets:
                succ_of[last].extend(sorted(set(targets)))
            else:
                dead_ends.append(last)
        self._stitch(dead_ends, succ_of)
        counts = np.array([len(s) for s in succ_of], dtype=np.int64)
        self.n_succ = counts
        self.first_succ = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        flat = [w for s in succ_of for w in s]
        self.succ = np.array(flat, dtype=np.int64)
        pred = np.full(n, -1, dtype=np.int64)
        for w in range(n - 1, -1, -1):  # the lowest-numbered predecessor wins: deterministic
            for s in succ_of[w]:
                pred[s] = w
        self.pred = pred
        # The default way on: the first successor, the waypoint itself at a dead end.
        first = np.append(self.succ, -1)[self.first_succ]  # first_succ <= len(succ)
        self.next_default = np.where(counts > 0, first, np.arange(n)).astype(np.int64)

    def _linked_runs(
        self,
        road_map: RoadMap,
        run: _Run,
        connections: dict[int, list[tuple[int, str, int, int]]],
    ) -> list[_Run]:
        """Runs a vehicle can enter at the driving end of ``run``."""
        road = road_map.geometries[run.road].road
        lane = road.sections[run.section].lanes[run.lane]
        link_lane = lane.successor if run.forward else lane.predecessor
        inner_next = run.section + (1 if run.forward else -1)
        if 0 <= inner_next < len(road.sections):
            found = self._runs.get((run.road, inner_next, link_lane)) if link_lane else None
            return [found] if found else []
        road_link = road.successor if run.forward else road.predecessor
        if road_link is None:
            return []
        if road_link.element_type == "road":
            found = self._run_at(road_map, road_link.element_id, road_link.contact_point, link_lane)
            return [found] if found else []
        out = []
        for connecting, contact, from_lane, to_lane in connections.get(run.road, []):
            if from_lane == run.lane:
                found = self._run_at(road_map, connecting, contact, to_lane)
                if found is not None:
                    out.append(found)
        return out

    def _run_at(
        self, road_map: RoadMap, road_id: int, contact: str | None, lane_id: int | None
    ) -> _Run | None:
        """The run of ``lane_id`` in the lane section at the ``contact`` end of a road."""
        geom = road_map.geometries.get(road_id)
        if geom is None or not lane_id:
            return None
        section = 0 if contact != "end" else len(geom.road.sections) - 1
        return self._runs.get((road_id, section, lane_id))

    def _stitch(self, dead_ends: list[int], succ_of: list[list[int]]) -> None:
        if not dead_ends:
            return
        entries = np.array([run.first for run in self._runs.values()], dtype=np.int64)
        for last in dead_ends:
            dx, dy = self.x[entries] - self.x[last], self.y[entries] - self.y[last]
            dist = np.hypot(dx, dy)
            yaw_last, yaw_entry = math.radians(self.yaw[last]), np.radians(self.yaw[entries])
            aligned = np.cos(yaw_entry - yaw_last) > STITCH_COS
            ok = (dist < STITCH_DISTANCE + self.spacing) & aligned & (entries != last)
            # Forward only: the entry must not lie behind the lane end.
            ok &= dx * math.cos(yaw_last) + dy * math.sin(yaw_last) > -0.5
            succ_of[last].extend(int(e) for e in entries[ok])

    def _neighbours(self, road_map: RoadMap, n: int) -> tuple[IntArray, IntArray]:
        """Same-direction lanes to the left and right, matched sample by sample."""
        left = np.full(n, -1, dtype=np.int64)
        right = np.full(n, -1, dtype=np.int64)
        for run in self._runs.values():
            road = road_map.geometries[run.road].road
            if road.junction != -1:
                continue  # no lane changes inside junctions
            # Driving along +s the vehicle's left is +t (lane id + 1), along -s it is -t.
            step = 1 if run.forward else -1
            for out, delta in ((left, step), (right, -step)):
                other_id = run.lane + delta
                other = self._runs.get((run.road, run.section, other_id))
                if other is None or other.forward != run.forward or other.count != run.count:
                    continue
                out[run.first : run.first + run.count] = np.arange(
                    other.first, other.first + other.count
                )
        return left, right

    def _curve_speeds(self) -> FloatArray:
        target = self.next_default
        dist = np.hypot(self.x[target] - self.x, self.y[target] - self.y)
        turn = (self.yaw[target] - self.yaw + 180.0) % 360.0 - 180.0
        self.signed_curvature = np.radians(turn) / np.maximum(dist, 0.5)
        curvature = np.abs(self.signed_curvature)
        self.curvature = curvature
        with np.errstate(divide="ignore"):
            speed = np.sqrt(CURVE_LATERAL_ACCEL / np.maximum(curvature, 1e-6))
        speed = np.minimum(speed, MAX_SPEED)
        self.comfortable_speed = np.minimum(speed, self.speed_limit)
        return speed

    # -- spatial helpers -------------------------------------------------------------------
    def _build_area(self) -> None:
        n = len(self.x)
        if n == 0:
            self.area_grid = Grid(0.0, 0.0, AREA_CELL, 1, 1)
            self.area = np.full(1, -1, dtype=np.int64)
            return
        # An empty border, so points off the grid (clamped to its edge) read "no lane".
        margin = 5.0
        x0, y0 = float(self.x.min()) - margin, float(self.y.min()) - margin
        nx = math.ceil((float(self.x.max()) + margin - x0) / AREA_CELL) + 1
        ny = math.ceil((float(self.y.max()) + margin - y0) / AREA_CELL) + 1
        self.area_grid = grid = Grid(x0, y0, AREA_CELL, nx, ny)
        area = np.full(nx * ny, -1, dtype=np.int64)
        step = 0.5 * AREA_CELL
        along = np.arange(-0.5 * self.spacing, 0.5 * self.spacing + 1e-9, step)
        across = np.arange(-2.0, 2.0 + 1e-9, step)
        ua, va = (g.ravel() for g in np.meshgrid(along, across))
        half = np.minimum(0.5 * self.width, 2.0)
        # Wider lanes first, so the narrower overlapping lane areas (junctions) are on top.
        order = np.argsort(-self.width, kind="stable")
        for chunk in np.array_split(order, max(1, n // 4096)):
            inside = np.abs(va)[None, :] <= half[chunk, None] + 1e-9
            px = self.x[chunk, None] + ua[None, :] * self.hx[chunk, None]
            px = px - va[None, :] * self.hy[chunk, None]
            py = self.y[chunk, None] + ua[None, :] * self.hy[chunk, None]
            py = py + va[None, :] * self.hx[chunk, None]
            ids = np.broadcast_to(chunk[:, None], px.shape)
            area[grid.clamped_index(px[inside], py[inside])] = ids[inside]
        self.area = area

    def locate(self, xs: FloatArray, ys: FloatArray) -> IntArray:
        """Waypoint whose lane area holds each point, or -1 off the driving lanes."""
        return self.area[self.area_grid.clamped_index(xs, ys)]

    def _build_conflicts(self) -> None:
        n = len(self.x)
        lists: list[list[int]] = [[w] for w in range(n)]
        if n:
            cell = CONFLICT_DISTANCE
            keys = np.floor(self.x / cell).astype(np.int64) * 1_000_003 + np.floor(
                self.y / cell
            ).astype(np.int64)
            buckets: dict[int, list[int]] = {}
            for w, key in enumerate(keys.tolist()):
                buckets.setdefault(key, []).append(w)
            lane_key = self.road * 1000 + self.lane
            near = [dx * 1_000_003 + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
            for w, key in enumerate(keys.tolist()):
                candidates = [c for d in near for c in buckets.get(key + d, ())]
                if len(candidates) <= 1:
                    continue
                cand = np.array(candidates)
                close = np.hypot(self.x[cand] - self.x[w], self.y[cand] - self.y[w])
                keep = (close < CONFLICT_DISTANCE) & (lane_key[cand] != lane_key[w])
                lists[w].extend(int(c) for c in cand[keep])
        counts = np.array([len(c) for c in lists], dtype=np.int64)
        self.conflict_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.conflicts = np.array([c for cs in lists for c in cs], dtype=np.int64)

    def conflict_table(self) -> IntArray:
        """(N, C) conflicts of each waypoint, itself first, padded by repeating itself.

        One gather then marks a set of waypoints together with everything crossing them.
        """
        if self._conflict_table is None:
            counts = np.diff(self.conflict_ptr)
            width = int(counts.max()) if len(counts) else 1
            table = np.repeat(np.arange(len(self.x), dtype=np.int64)[:, None], width, axis=1)
            for w in np.flatnonzero(counts > 1).tolist():
                row = self.conflicts[self.conflict_ptr[w] : self.conflict_ptr[w + 1]]
                table[w, : len(row)] = row
            self._conflict_table = table
        return self._conflict_table

    # -- queries ---------------------------------------------------------------------------
    def nearest(self, x: float, y: float, yaw_deg: float, max_distance: float = 10.0) -> int:
        """Waypoint best matching a pose (distance plus a heading penalty), or -1."""
        if not len(self.x):
            return -1
        dist = np.hypot(self.x - x, self.y - y)
        misalign = 1.0 - np.cos(np.radians(self.yaw - yaw_deg))
        score = dist + 4.0 * misalign
        score[dist > max_distance] = np.inf
        best = int(np.argmin(score))
        return best if math.isfinite(float(score[best])) else -1

    def successors(self, w: int) -> IntArray:
        start = int(self.first_succ[w])
        return self.succ[start : start + int(self.n_succ[w])]


_SAMPLE_COLUMNS = ("x", "y", "z", "yaw", "width", "speed", "junction", "road", "lane")


def _connections_by_incoming(road_map: RoadMap) -> dict[int, list[tuple[int, str, int, int]]]:
    """incoming road -> [(connecting road, contact point, from lane, to lane)]."""
    out: dict[int, list[tuple[int, str, int, int]]] = {}
    for junction in road_map.drive.junctions.values():
        for conn in junction.connections:
            for link in conn.lane_links:
                out.setdefault(conn.incoming_road, []).append(
                    (conn.connecting_road, conn.contact_point, link.from_lane, link.to_lane)
                )
    return out


_graphs: weakref.WeakKeyDictionary[RoadMap, LaneGraph] = weakref.WeakKeyDictionary()
_graphs_lock = threading.Lock()


def lane_graph(road_map: RoadMap) -> LaneGraph:
    """The lane graph of a map, built once per loaded map."""
    with _graphs_lock:
        graph = _graphs.get(road_map)
        if graph is None:
            start = time.perf_counter()
            graph = LaneGraph(road_map)
            _graphs[road_map] = graph
            log.info(
                "lane graph of %s: %d waypoints in %.2f s",
                road_map.name, len(graph), time.perf_counter() - start,
            )  # fmt: skip
    return graph
