"""``sensor.other.obstacle`` as CARLA 0.9.16 sweeps it.

Every tick CARLA sweeps a sphere of ``hit_radius`` from the sensor ``distance`` metres along
its x axis, ignoring the sensor and its parent, and reports the first thing the sphere touches:
the event's ``actor`` is the sensor itself, ``other_actor`` what was hit (id 0: the static
world, which only counts unless ``only_dynamics``) and ``distance`` how far the sphere's centre
travelled [m] (0 when it starts touching something).

Here the sweep is exact against vehicles and walkers (their oriented boxes grown by the
radius, rounded at edges and corners) and approximate against the static world: a bundle of
17 rays parallel to the sweep (the centre and two rings) whose hits are pulled back by the
sphere's depth at their offset, plus 14 short rays from the start that catch a sphere already
touching the ground or a wall. ``debug_linetrace`` draws nothing (the server is headless).
"""

from __future__ import annotations

import math

import numpy as np

from carla_lite.sensors.base import Sensor, SensorSpec
from carla_lite.sensors.checks import bounded, flag
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import Measurement, ObstacleMeasurement
from carla_lite.sensors.raycast import BodyBoxes, body_boxes, static_caster
from carla_lite.sensors.rotations import rotation_matrices

_RING_ANGLES = np.radians(np.arange(0.0, 360.0, 45.0))
# Unit directions of the start-overlap rays: the 6 axes and the 8 diagonals.
_OVERLAP_DIRECTIONS = np.concatenate(
    [
        np.vstack([np.eye(3), -np.eye(3)]),
        np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) / math.sqrt(3),
    ]
)
_SEARCH_STEPS = 40


def _box_distance(local: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Distance from local points (K, 3) to boxes of half sizes (K, 3) centred at 0."""
    outside = np.maximum(np.abs(local) - extent, 0.0)
    return np.sqrt(np.einsum("ij,ij->i", outside, outside))


def sweep_boxes(
    start: np.ndarray,
    direction: np.ndarray,
    length: float,
    radius: float,
    boxes: BodyBoxes,
    keep: np.ndarray,
) -> tuple[float, int]:
    """First contact of a sphere swept from ``start`` along ``direction`` with the boxes.

    Args:
        start: (3,) world point, the sphere's centre at the start.
        direction: (3,) unit vector.
        length: How far the centre travels [m].
        radius: The sphere's radius [m].
        boxes: This tick's bodies.
        keep: (K,) bool, the bodies the sweep can hit.

    Returns:
        ``(distance, actor id)`` of the first contact, ``(inf, 0)`` when there is none.
    """
    if not keep.any():
        return math.inf, 0
    ids = boxes.ids[keep]
    rot = boxes.rotation[keep]
    centre = boxes.centre[keep]
    extent = boxes.extent[keep]
    origin = np.einsum("kji,kj->ki", rot, start[None, :] - centre)
    step = np.einsum("kji,j->ki", rot, direction)
    # The rounded box lies inside the box grown by the radius: clip the search to that slab.
    grown = extent + radius
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / step
        t1 = (-grown - origin) * inverse
        t2 = (grown - origin) * inverse
    parallel = step == 0.0
    inside_slab = np.abs(origin) <= grown
    t_near = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), np.minimum(t1, t2))
    t_far = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), np.maximum(t1, t2))
    low = np.maximum(t_near.max(axis=1), 0.0)
    high = np.minimum(t_far.min(axis=1), length)
    live = low <= high
    if not live.any():
        return math.inf, 0
    origin, step, extent, ids = origin[live], step[live], extent[live], ids[live]
    low, high = low[live], high[live]

    def gap(t: np.ndarray) -> np.ndarray:
        return _box_distance(origin + t[:, None] * step, extent) - radius

    # The gap is convex along the sweep: ternary search finds its minimum, bisection the
    # first crossing of zero before it.
    a, b = low.copy(), high.copy()
    for _ in range(_SEARCH_STEPS):
        m1 = a + (b - a) / 3.0
        m2 = b - (b - a) / 3.0
        right = gap(m1) > gap(m2)
        a = np.where(right, m1, a)
        b = np.where(right, b, m2)
    lowest = (a + b) / 2.0
    touching = gap(lowest) <= 1e-9
    if not touching.any():
        return math.inf, 0
    low, lowest, ids = low[touching], lowest[touching], ids[touching]
    origin, step, extent = origin[touching], step[touching], extent[touching]
    a, b = low.copy(), lowest.copy()
    already = gap(a) <= 0.0
    for _ in range(_SEARCH_STEPS):
        mid = (a + b) / 2.0
        inside = gap(mid) <= 0.0
        b = np.where(inside, mid, b)
        a = np.where(inside, a, mid)
    contact = np.where(already, low, b)
    best = int(np.argmin(contact))
    return float(contact[best]), int(ids[best])


class ObstacleDetector(Sensor):
    """``sensor.other.obstacle``: one event per tick while something is ahead."""

    uses_scene = True

    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.distance = bounded(spec, "distance", 5.0, 0.0)
        self.hit_radius = bounded(spec, "hit_radius", 0.5, 0.0)
        self.only_dynamics = flag(spec, "only_dynamics", False)
        self.debug_linetrace = flag(spec, "debug_linetrace", False)
        radii = np.array([0.0, *([self.hit_radius] * 8), *([self.hit_radius / 2.0] * 8)])
        angles = np.concatenate([[0.0], _RING_ANGLES, _RING_ANGLES + math.radians(22.5)])
        #: Offsets of the static bundle's rays in the sensor's (y, z) plane and how far the
        #: sphere's surface leads its centre at each offset.
        self._offsets = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        self._lead = np.sqrt(np.maximum(self.hit_radius**2 - radii**2, 0.0))

    def _static_distance(self, frame: SensorFrame, start: np.ndarray, rot: np.ndarray) -> float:
        caster = static_caster(frame.road_map)
        radius = self.hit_radius
        if radius > 0.0:
            touch = caster.cast(start, _OVERLAP_DIRECTIONS @ rot.T, radius)
            if touch.hit.any():
                return 0.0
        forward = rot[:, 0]
        origins = start[None, :] + self._offsets @ rot[:, 1:3].T
        directions = np.broadcast_to(forward, origins.shape)
        hits = caster.cast(origins, directions, self.distance + self._lead)
        hit = hits.hit
        if not hit.any():
            return math.inf
        travel = np.maximum(hits.distance[hit] - self._lead[hit], 0.0)
        return float(travel.min())

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        pose = frame.pose_row(self.actor_id)
        start = np.asarray(pose[0:3], np.float64)
        rot = rotation_matrices(pose[3:6])[0]
        boxes = body_boxes(frame)
        keep = (boxes.ids != self.actor_id) & (boxes.ids != self.parent_id)
        distance, other = sweep_boxes(start, rot[:, 0], self.distance, self.hit_radius, boxes, keep)
        if not self.only_dynamics:
            static = self._static_distance(frame, start, rot)
            if static < distance:
                distance, other = static, 0
        if distance > self.distance:
            return []
        return [
            ObstacleMeasurement(
                *self.stamp(frame),
                actor_id=self.actor_id,
                other_id=other,
                distance=distance,
            )
        ]
