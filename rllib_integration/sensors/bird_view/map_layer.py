"""The static map layer of the BirdView: rendered once per (map, pixels_per_meter), cached.

The layer is drawn from the official client's ``carla.Map`` API only (topology, waypoint
walks, lane widths, neighbouring lanes, lane markings, junction flags), so it renders the
same way against real CARLA and carla_lite. It follows the original ``MapImage.draw_road_map``
(itself CARLA's ``no_rendering_mode.py``): shoulders, parking lanes and sidewalks first, then
every lane's surface in topology order sorted by height, each followed by its lane markings
(solid, broken with the 1 m on / 2 m off dash pattern, double lines) and a direction arrow
every 20 m. Then, unlike the original, each junction's whole area is drawn as road, as CARLA
renders it: inside the convex hull of its lanes' edges, the background that lanes enclose
(along both image axes) becomes road; the corners behind curbs and the verges between
diverging lanes, open towards the outside, stay background (carla_lite paves the same way).

What is stored is a uint8 *label* raster (``palette.MapLabel``) plus a drivable-road mask;
the RGB image is a palette lookup of the labels. Layers are cached in memory (a reset never
touches the disk) and on disk as ``<map>_<sha1>.npz`` in an absolute directory, written
atomically so concurrent Ray workers never read half a file.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import carla
import cv2
import numpy as np

from rllib_integration.sensors.bird_view.palette import LABEL_COLORS, MapLabel

logger = logging.getLogger(__name__)

#: Bumped whenever the drawing changes, so stale disk caches are never reused.
RENDERER_VERSION = "2"
#: Environment variable that overrides the default cache directory.
CACHE_DIR_ENV = "RLLIB_INTEGRATION_CACHE"
#: Margin around the waypoints' bounding box [m] (original: 50).
MARGIN = 50.0
#: Largest raster side [px] (original: 2**14 - 1, a pygame surface limit kept for parity).
MAX_SIDE_PX = 2**14 - 1
#: Spacing of the samples the original took along every lane [m]; it defines the dash
#: pattern (chunks of 20 samples, every third drawn) and the arrow spacing (every 400th).
ORIGINAL_PRECISION = 0.05
#: Spacing of the samples taken here [m]. Geometry between samples is a straight chord
#: (sagitta < 1 mm on a 10 m curve radius), and the dashes/arrows are placed by arc length
#: at the original's positions, so the picture is the same at a fifth of the waypoint calls.
SAMPLE_STEP = 0.25
#: Neighbouring lanes are looked up on every n-th sample only (plus both sides of every
#: lane-section change, where they can appear or vanish): those lookups were most of the
#: waypoint calls, and a sidewalk polygon with a vertex every metre is exact to the pixel.
#: Lane markings are read on every n-th sample and densely only where they change.
SIDE_LANE_EVERY = 4
#: Fixed-point fraction bits for OpenCV drawing (sub-pixel vertex positions).
SHIFT = 3
_FIX = float(1 << SHIFT)
#: Memory cache size (layers per process); one entry is ~5 bytes per raster pixel.
MEMORY_CACHE_SIZE = 4

_DASH_LENGTH = 20 * ORIGINAL_PRECISION  # one chunk of 20 samples
_DASH_DRAWN = 19 * ORIGINAL_PRECISION  # its first to last sample
_ARROW_EVERY = 400 * ORIGINAL_PRECISION

_stats: Counter[str] = Counter()
_memory: OrderedDict[str, MapLayer] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class MapLayer:
    """A rendered map: labels, drivable mask and RGB, with the pixel <-> world mapping.

    Pixel ``(col, row)`` (integer = pixel centre) shows world ``(x, y)`` with
    ``col = (x - origin[0]) * pixels_per_meter`` and ``row = (y - origin[1]) *
    pixels_per_meter``: world +x is image right, world +y image down (CARLA's left-handed
    frame seen from above).

    Attributes:
        map_name: short map name (``Town01``, not ``Carla/Maps/Town01``).
        pixels_per_meter: raster resolution [px/m].
        origin: world (x, y) [m] of pixel (0, 0).
        labels: uint8 (H, W) ``MapLabel`` values.
        road: uint8 (H, W), 255 where a lane surface is drawn (drivable), else 0.
        rgba: uint8 (H, W, 4), the labels in the palette's colours, alpha 255 (four
            channels because OpenCV warps them about twice as fast as three).
    """

    map_name: str
    pixels_per_meter: float
    origin: tuple[float, float]
    labels: np.ndarray
    road: np.ndarray
    rgba: np.ndarray

    @classmethod
    def from_rasters(
        cls,
        map_name: str,
        pixels_per_meter: float,
        origin: tuple[float, float],
        labels: np.ndarray,
        road: np.ndarray,
    ) -> MapLayer:
        """Build a layer (and its colour image) from its label and road rasters."""
        # cv2.LUT is ~10x faster than numpy fancy indexing on a 10+ Mpx raster.
        lut = np.concatenate((LABEL_COLORS, np.full((256, 1), 255, np.uint8)), axis=1)
        rgba = cv2.LUT(cv2.merge([labels] * 4), lut.reshape(256, 1, 4))
        for array in (labels, road, rgba):
            array.setflags(write=False)
        return cls(map_name, float(pixels_per_meter), origin, labels, road, rgba)

    @property
    def rgb(self) -> np.ndarray:
        """uint8 (H, W, 3) RGB view of ``rgba``."""
        return self.rgba[:, :, :3]


def cache_stats() -> dict[str, int]:
    """How many layers this process rendered, loaded from disk, or found in memory."""
    return {key: _stats[key] for key in ("rendered", "disk", "memory")}


def clear_memory_cache() -> None:
    """Forget the in-process layers (the next load reads the disk cache or renders)."""
    with _lock:
        _memory.clear()


def default_cache_dir() -> Path:
    """``$RLLIB_INTEGRATION_CACHE/birdview``, or ``~/.cache/rllib_integration/birdview``."""
    root = os.environ.get(CACHE_DIR_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "rllib_integration"
    return (base / "birdview").resolve()


def short_map_name(carla_map: carla.Map) -> str:
    """``Carla/Maps/Town05_Opt`` -> ``Town05_Opt``."""
    return str(carla_map.name).rsplit("/", 1)[-1]


def cache_key(opendrive: str, pixels_per_meter: float) -> str:
    """SHA-1 of the OpenDRIVE text, the resolution and the renderer version."""
    digest = hashlib.sha1(opendrive.encode("utf-8"))
    digest.update(f"|ppm={pixels_per_meter:.9g}|renderer={RENDERER_VERSION}".encode())
    return digest.hexdigest()


def load_map_layer(
    carla_map: carla.Map,
    pixels_per_meter: float,
    cache_dir: str | os.PathLike[str] | None = None,
) -> MapLayer:
    """The map layer of ``carla_map`` at ``pixels_per_meter``: memory, disk, or rendered.

    A missing, unreadable or corrupted cache file is re-rendered and replaced (logged, never
    raised); an unwritable cache directory only costs the disk cache.

    Args:
        carla_map: the world's map (``world.get_map()``).
        pixels_per_meter: raster resolution [px/m] (capped so a side stays <= 16383 px).
        cache_dir: directory of the disk cache (made absolute); ``default_cache_dir()``
            if None.
    """
    opendrive = carla_map.to_opendrive()
    key = cache_key(opendrive, pixels_per_meter)
    name = short_map_name(carla_map)
    with _lock:
        layer = _memory.get(key)
        if layer is not None:
            _memory.move_to_end(key)
            _stats["memory"] += 1
            return layer
        directory = Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir()
        path = directory / f"{name}_{key}.npz"
        layer = _read_cache(path, name)
        if layer is not None:
            _stats["disk"] += 1
        else:
            start = time.perf_counter()
            layer = render_map_layer(carla_map, pixels_per_meter)
            logger.info(
                "rendered BirdView map layer of %s at %.3f px/m (%dx%d) in %.2f s",
                name,
                layer.pixels_per_meter,
                layer.labels.shape[1],
                layer.labels.shape[0],
                time.perf_counter() - start,
            )
            _write_cache(path, layer)
        _memory[key] = layer
        while len(_memory) > MEMORY_CACHE_SIZE:
            _memory.popitem(last=False)
        return layer


def _read_cache(path: Path, name: str) -> MapLayer | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            version = str(data["version"])
            meta = np.asarray(data["meta"], dtype=np.float64)
            labels = np.ascontiguousarray(data["labels"])
            road = np.ascontiguousarray(data["road"])
        if version != RENDERER_VERSION or meta.shape != (3,):
            raise ValueError(f"unexpected version {version!r} or meta {meta.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 2 or road.shape != labels.shape:
            raise ValueError(f"unexpected rasters {labels.dtype} {labels.shape} {road.shape}")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        logger.warning("ignoring unreadable BirdView cache %s (%s); re-rendering", path, e)
        return None
    return MapLayer.from_rasters(
        name, float(meta[2]), (float(meta[0]), float(meta[1])), labels, road.astype(np.uint8)
    )


def _write_cache(path: Path, layer: MapLayer) -> None:
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target so os.replace is an atomic rename: concurrent
        # workers see either no file or a complete one.
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp", delete=False
        ) as tmp:
            tmp_name = tmp.name
            np.savez_compressed(
                tmp,
                version=np.array(RENDERER_VERSION),
                meta=np.array([*layer.origin, layer.pixels_per_meter], dtype=np.float64),
                labels=layer.labels,
                road=layer.road,
            )
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as e:
        logger.warning("could not write BirdView cache %s (%s)", path, e)
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- rendering


@dataclass
class _Lane:
    """One topology lane sampled along its road: world poses and what the original read."""

    waypoints: list[Any]
    dist: np.ndarray  # arc distance of each sample from the first [m]
    pose: np.ndarray  # (N, 5): x, y, yaw [rad], cos(pitch), lane width [m]
    is_junction: bool


def _pose(w: Any) -> tuple[float, float, float, float, float]:
    tr = w.transform
    loc = tr.location
    rot = tr.rotation
    return (loc.x, loc.y, math.radians(rot.yaw), math.cos(math.radians(rot.pitch)), w.lane_width)


def _sample_lane(start: Any) -> _Lane:
    """Samples of ``start``'s lane until its road ends, like the original's 0.05 m walk.

    The first step is the original's 0.05 m (the first sample after the start is where its
    lane markings begin), then ``SAMPLE_STEP``, and the lane end itself.
    """
    road_id = start.road_id
    waypoints = [start]
    first = start.next(ORIGINAL_PRECISION)
    if first and first[0].road_id == road_id:
        waypoints.append(first[0])
        waypoints += [w for w in first[0].next_until_lane_end(SAMPLE_STEP) if w.road_id == road_id]
    s0 = start.s
    dist = np.array([abs(w.s - s0) for w in waypoints], dtype=np.float64)
    # next_until_lane_end ends with the exact lane end, which may repeat the last sample.
    keep = np.concatenate(([True], np.diff(dist) > 1e-6))
    if not keep.all():
        waypoints = [w for w, k in zip(waypoints, keep, strict=True) if k]
        dist = dist[keep]
    pose = np.array([_pose(w) for w in waypoints], dtype=np.float64)
    return _Lane(waypoints, dist, pose, bool(start.is_junction))


def _shift(pose: np.ndarray, offset: np.ndarray | float) -> np.ndarray:
    """(N, 2) world points ``offset`` metres to the right of each pose (lateral_shift)."""
    x, y, yaw, cos_pitch = pose[:, 0], pose[:, 1], pose[:, 2], pose[:, 3]
    k = offset * cos_pitch
    return np.stack((x - k * np.sin(yaw), y + k * np.cos(yaw)), axis=1)


class _Canvas:
    """The label raster and drivable mask being drawn, in fixed-point pixel coordinates."""

    def __init__(self, side: int, origin: tuple[float, float], ppm: float) -> None:
        self.labels = np.full((side, side), MapLabel.BACKGROUND, dtype=np.uint8)
        self.road = np.zeros((side, side), dtype=np.uint8)
        self.origin = np.array(origin, dtype=np.float64)
        self.ppm = ppm

    def fix(self, points: np.ndarray) -> np.ndarray:
        return np.round((points - self.origin) * (self.ppm * _FIX)).astype(np.int32)

    def lane_polygon(self, pose: np.ndarray, label: int, road: bool = False) -> None:
        """The original's ``draw_lane``: a 5 px outline then the fill, edges at ±width/2."""
        if len(pose) < 2:  # the original needs more than 2 polygon points
            return
        half = pose[:, 4] * 0.5
        polygon = self.fix(np.concatenate((_shift(pose, -half), _shift(pose, half)[::-1])))
        targets = [(self.labels, label)] + ([(self.road, 255)] if road else [])
        for image, value in targets:
            cv2.polylines(image, [polygon], True, value, 5, cv2.LINE_8, SHIFT)
            cv2.fillPoly(image, [polygon], value, cv2.LINE_8, SHIFT)

    def pave(self, points: np.ndarray) -> None:
        """Draw as road the background that lanes enclose inside the hull of ``points``.

        Args:
            points: (N, 2) world points on the edges of one junction's lanes.
        """
        hull = cv2.convexHull(self.fix(points))
        left, top = np.maximum(hull.reshape(-1, 2).min(axis=0) >> SHIFT, 0)
        right, bottom = (hull.reshape(-1, 2).max(axis=0) >> SHIFT) + 2
        box = np.s_[top:bottom, left:right]
        labels, road = self.labels[box], self.road[box]
        if labels.size == 0:
            return
        inside = np.zeros(labels.shape, np.uint8)
        offset = np.array([left, top], np.int32) << SHIFT
        cv2.fillConvexPoly(inside, hull - offset, 1, cv2.LINE_8, SHIFT)
        covered = labels != MapLabel.BACKGROUND
        gaps = (inside > 0) & ~covered & _enclosed(covered)
        labels[gaps] = MapLabel.ROAD
        road[gaps] = 255

    def lines(self, lines: Sequence[np.ndarray], label: int, thickness: int) -> None:
        drawable = [self.fix(line) for line in lines if len(line) >= 2]
        if drawable:
            cv2.polylines(self.labels, drawable, False, label, thickness, cv2.LINE_8, SHIFT)


def _enclosed(covered: np.ndarray) -> np.ndarray:
    """Pixels with covered pixels on both sides along their row and along their column."""
    left = np.logical_or.accumulate(covered, axis=1)
    right = np.logical_or.accumulate(covered[:, ::-1], axis=1)[:, ::-1]
    up = np.logical_or.accumulate(covered, axis=0)
    down = np.logical_or.accumulate(covered[::-1, :], axis=0)[::-1, :]
    return np.asarray(left & right & up & down)


def _lane_edges(pose: np.ndarray) -> np.ndarray:
    """(2N, 2) world points on both edges of a sampled lane."""
    half = pose[:, 4] * 0.5
    return np.concatenate((_shift(pose, -half), _shift(pose, half)))


def _marking_label(color: Any) -> int:
    color_id = int(color)
    return MapLabel.MARKING + color_id if 0 <= color_id <= 4 else MapLabel.MARKING_OTHER


def _read_markings(waypoints: Sequence[Any], attribute: str) -> list[tuple[Any, Any]]:
    """(type, colour) of every sample's ``attribute`` marking.

    Markings are read on every ``SIDE_LANE_EVERY``-th sample; only between two reads that
    differ are the samples in between read too, so the result equals reading them all.
    """

    def read(i: int) -> tuple[Any, Any]:
        marking = getattr(waypoints[i], attribute)
        return marking.type, marking.color

    last = len(waypoints) - 1
    anchors = [*range(0, last, SIDE_LANE_EVERY), last]
    values: list[tuple[Any, Any] | None] = [None] * len(waypoints)
    for i in anchors:
        values[i] = read(i)
    for a, b in itertools.pairwise(anchors):
        same = values[a] == values[b]
        for i in range(a + 1, b):
            values[i] = values[a] if same else read(i)
    return [v for v in values if v is not None]


def _marking_groups(markings: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any, list[int]]]:
    """Split samples into runs of one marking type, exactly as the original did.

    On a type change the run so far is emitted and the next run restarts from its last
    sample; the sample that changed is itself skipped (so is the very first sample when
    its marking is not NONE).
    """
    none = carla.LaneMarkingType.NONE
    current = previous_type = none
    previous_color = carla.LaneMarkingColor.Other
    groups: list[tuple[Any, Any, list[int]]] = []
    run: list[int] = []
    for i, (kind, color) in enumerate(markings):
        if current != kind:
            groups.append((previous_type, previous_color, run))
            current = kind
            run = run[-1:]
        else:
            run.append(i)
            previous_type = kind
            previous_color = color
    groups.append((previous_type, previous_color, run))
    return groups


def _dashes(points: np.ndarray, arc: np.ndarray) -> list[np.ndarray]:
    """The original's broken line on a run: 1 m dashes every 3 m, incomplete ones dropped.

    The original cut its 0.05 m samples into chunks of 20 and drew every third; here the
    same dashes are cut out of the run by arc length ``arc`` (from the run's first sample).
    """
    dashes = []
    start = 0.0
    while start + _DASH_DRAWN <= arc[-1] + 1e-6:
        end = start + _DASH_DRAWN
        inside = (arc > start) & (arc < end)
        ends = np.stack(
            (
                np.interp([start, end], arc, points[:, 0]),
                np.interp([start, end], arc, points[:, 1]),
            ),
            axis=1,
        )
        dashes.append(np.concatenate((ends[:1], points[inside], ends[1:])))
        start += 3 * _DASH_LENGTH
    return dashes


def _draw_markings(canvas: _Canvas, lane: _Lane) -> None:
    """Lane markings of both sides (left first), like ``draw_lane_marking``."""
    solid = carla.LaneMarkingType.Solid
    broken = carla.LaneMarkingType.Broken
    doubles = {
        carla.LaneMarkingType.SolidBroken: (broken, solid),
        carla.LaneMarkingType.BrokenSolid: (solid, broken),
        carla.LaneMarkingType.BrokenBroken: (broken, broken),
        carla.LaneMarkingType.SolidSolid: (solid, solid),
    }
    for sign, attribute in ((-1.0, "left_lane_marking"), (1.0, "right_lane_marking")):
        markings = _read_markings(lane.waypoints, attribute)
        for kind, color, run in _marking_groups(markings):
            if len(run) < 2:
                continue
            pose = lane.pose[run]
            half = pose[:, 4] * 0.5
            if kind in (solid, broken):
                lines = [(kind, _shift(pose, sign * half))]
            elif kind in doubles:
                inner, outer = doubles[kind]
                lines = [
                    (inner, _shift(pose, sign * half)),
                    (outer, _shift(pose, sign * (half + 0.5))),
                ]
            else:
                continue
            label = _marking_label(color)
            arc = lane.dist[run] - lane.dist[run[0]]
            for line_kind, points in lines:
                pieces = [points] if line_kind == solid else _dashes(points, arc)
                canvas.lines(pieces, label, 2)


def _draw_arrows(canvas: _Canvas, lane: _Lane) -> None:
    """A direction arrow on the original's every 400th sample (every 20 m, minus one step)."""
    arrows = []
    at = _ARROW_EVERY - ORIGINAL_PRECISION
    while at <= lane.dist[-1] + 1e-6:
        i = int(np.searchsorted(lane.dist, at + 1e-9)) - 1
        w = lane.waypoints[i]
        rest = at - lane.dist[i]
        if rest > 1e-6:
            ahead = w.next(rest)
            w = ahead[0] if ahead else w
        x, y, yaw, cos_pitch, _ = _pose(w)
        forward = np.array([math.cos(yaw), math.sin(yaw)]) * cos_pitch
        right = np.array([-math.sin(yaw), math.cos(yaw)]) * cos_pitch
        base = np.array([x, y])
        tip = base + 2.0 * forward
        barb = tip - 0.8 * forward
        arrows.append(np.stack((tip, base)))
        arrows.append(np.stack((barb - 0.4 * right, tip, barb + 0.4 * right)))
        at += _ARROW_EVERY
    canvas.lines(arrows, MapLabel.ARROW, 4)


def _side_lane_samples(lane: _Lane) -> list[int]:
    sections = [w.section_id for w in lane.waypoints]
    last = len(sections) - 1
    chosen = set(range(0, last + 1, SIDE_LANE_EVERY)) | {last}
    for i in range(1, last + 1):
        if sections[i] != sections[i - 1]:
            chosen.update((i - 1, i))
    return sorted(chosen)


def _side_lanes(lane: _Lane) -> dict[int, tuple[list[Any], list[Any]]]:
    """Shoulder/parking/sidewalk waypoints beside the lane's samples, left and right."""
    driving = carla.LaneType.Driving
    wanted = {
        carla.LaneType.Shoulder: MapLabel.SHOULDER,
        carla.LaneType.Parking: MapLabel.PARKING,
        carla.LaneType.Sidewalk: MapLabel.SIDEWALK,
    }
    found: dict[int, tuple[list[Any], list[Any]]] = {
        label: ([], []) for label in (MapLabel.SHOULDER, MapLabel.PARKING, MapLabel.SIDEWALK)
    }
    for i in _side_lane_samples(lane):
        w = lane.waypoints[i]
        for side, left in ((0, True), (1, False)):
            neighbour = w.get_left_lane() if left else w.get_right_lane()
            hops = 0
            # The hop limit only guards against a malformed map cycling between lanes.
            while neighbour is not None and neighbour.lane_type != driving and hops < 32:
                label = wanted.get(neighbour.lane_type)
                if label is not None:
                    found[label][side].append(neighbour)
                neighbour = neighbour.get_left_lane() if left else neighbour.get_right_lane()
                hops += 1
    return found


def map_bounds(carla_map: carla.Map) -> tuple[float, float, float]:
    """(min_x, min_y, side) [m] of the square the original rendered (waypoints ± 50 m)."""
    points = np.array(
        [(w.transform.location.x, w.transform.location.y) for w in carla_map.generate_waypoints(2)]
    )
    low = points.min(axis=0) - MARGIN
    high = points.max(axis=0) + MARGIN
    return float(low[0]), float(low[1]), float(max(high - low))


def render_map_layer(carla_map: carla.Map, pixels_per_meter: float) -> MapLayer:
    """Render the static layer of ``carla_map`` (no cache); see the module docstring.

    Args:
        carla_map: the map to draw.
        pixels_per_meter: wanted resolution [px/m]; lowered to ``int(16383 / side)`` when
            the square raster would be larger (as the original did).
    """
    min_x, min_y, side_m = map_bounds(carla_map)
    ppm = float(pixels_per_meter)
    largest = int(MAX_SIDE_PX / side_m)
    if largest < ppm:
        ppm = float(largest)
    canvas = _Canvas(int(ppm * side_m), (min_x, min_y), ppm)

    starts = sorted((segment[0] for segment in carla_map.get_topology()), key=_height)
    lanes = []
    junction_edges: dict[int, list[np.ndarray]] = {}
    for start in starts:
        lane = _sample_lane(start)
        lanes.append(lane)
        # Edges of junction lanes and of the lanes beside them outline the junction's area.
        edges = junction_edges.setdefault(start.junction_id, []) if lane.is_junction else []
        edges.append(_lane_edges(lane.pose))
        # Beside-lanes are drawn per topology lane, before any road surface (original order).
        found = _side_lanes(lane)
        for label in (MapLabel.SHOULDER, MapLabel.PARKING, MapLabel.SIDEWALK):
            for side in found[label]:
                if side:
                    pose = np.array([_pose(w) for w in side], dtype=np.float64)
                    canvas.lane_polygon(pose, label)
                    edges.append(_lane_edges(pose))
    for lane in lanes:
        canvas.lane_polygon(lane.pose, MapLabel.ROAD, road=True)
        if not lane.is_junction:
            _draw_markings(canvas, lane)
            _draw_arrows(canvas, lane)
    for junction_id in sorted(junction_edges):
        canvas.pave(np.concatenate(junction_edges[junction_id]))
    _stats["rendered"] += 1
    return MapLayer.from_rasters(
        short_map_name(carla_map), ppm, (min_x, min_y), canvas.labels, canvas.road
    )


def _height(w: Any) -> float:
    return float(w.transform.location.z)
