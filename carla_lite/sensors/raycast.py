"""Ray casts for the lidars, the radar and the obstacle detector (Embree through embreex).

Two BVHs answer every cast:

* the map's static scene (road, sidewalks, marks, terrain, buildings), built once per loaded
  map and cached on the :class:`~carla_lite.maps.RoadMap` object;
* this tick's bodies (vehicles and walkers, the shapes cameras draw): a small BVH of the bodies
  within a sensor's reach, built once per tick and shared by the sensors that reach the same
  bodies.

A cast is one Embree call per BVH for all rays of a sensor (no per-ray Python).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
from embreex import rtcore, rtcore_scene
from embreex.mesh_construction import TriangleMesh

from carla_lite.maps import RoadMap
from carla_lite.sensors.frame import Bodies, SensorFrame
from carla_lite.sensors.rotations import rotation_matrices
from carla_lite.sensors.scene.bodies import body_mesh
from carla_lite.sensors.scene.mesh import SceneMesh
from carla_lite.sensors.scene.static import static_scene

__all__ = [
    "BodyBoxes",
    "Hits",
    "RayScene",
    "TriangleCaster",
    "body_boxes",
    "ray_scene",
    "static_caster",
]

#: Where the static triangle soup of a map comes from (``scene.static.static_scene``; replaceable
#: for tests that bring their own mesh).
StaticMeshSource = Callable[[RoadMap], SceneMesh]


static_mesh_source: StaticMeshSource = static_scene

_NO_HIT = np.float32(np.inf)
_lock = threading.Lock()
# One Embree device for every scene (a device per scene costs more than a small BVH).
_DEVICE = rtcore.EmbreeDevice()


@dataclass(slots=True)
class Hits:
    """What each ray of one cast hit.

    Attributes:
        distance: (R,) float32 metres along the (unit) ray; ``inf`` where nothing was hit.
        tag: (R,) uint8 CARLA semantic tag of the hit triangle (0 where nothing was hit).
        instance: (R,) uint32 actor id of the hit body, 0 for the static world or no hit.
        cos_incidence: (R,) float32 cosine between the reversed ray and the surface normal.
    """

    distance: np.ndarray
    tag: np.ndarray
    instance: np.ndarray
    cos_incidence: np.ndarray

    @staticmethod
    def none(count: int) -> Hits:
        return Hits(
            np.full(count, _NO_HIT, np.float32),
            np.zeros(count, np.uint8),
            np.zeros(count, np.uint32),
            np.zeros(count, np.float32),
        )

    @property
    def hit(self) -> np.ndarray:
        """(R,) bool: the rays that hit something."""
        return np.isfinite(self.distance)


class TriangleCaster:
    """One Embree BVH over a :class:`SceneMesh` (built in the constructor)."""

    def __init__(self, mesh: SceneMesh) -> None:
        self.triangle_count = mesh.triangle_count
        self._tags = np.ascontiguousarray(mesh.tags, np.uint8)
        self._ids = np.ascontiguousarray(mesh.instance_ids, np.uint32)
        self._scene = rtcore_scene.EmbreeScene(_DEVICE)
        if self.triangle_count:
            TriangleMesh(
                self._scene,
                np.ascontiguousarray(mesh.vertices, np.float32),
                np.ascontiguousarray(mesh.triangles, np.int32),
            )

    def cast(
        self, origins: np.ndarray, directions: np.ndarray, max_distance: np.ndarray | float
    ) -> Hits:
        """Nearest hits of rays ``origins + t * directions``, ``0 < t <= max_distance``.

        Args:
            origins: (R, 3) or (3,) world points.
            directions: (R, 3) unit vectors.
            max_distance: metres, one for all rays or (R,).
        """
        count = len(directions)
        if not self.triangle_count or not count:
            return Hits.none(count)
        dirs = np.ascontiguousarray(directions, np.float32)
        orgs = np.ascontiguousarray(np.broadcast_to(origins, dirs.shape), np.float32)
        dists = np.ascontiguousarray(np.broadcast_to(max_distance, (count,)), np.float32)
        out = self._scene.run(orgs, dirs, dists=dists, output=1)
        prim = out["primID"]
        hit = prim >= 0
        prim_hit = prim[hit]
        distance = np.where(hit, out["tfar"], _NO_HIT).astype(np.float32, copy=False)
        tag = np.zeros(count, np.uint8)
        tag[hit] = self._tags[prim_hit]
        instance = np.zeros(count, np.uint32)
        instance[hit] = self._ids[prim_hit]
        normal = out["Ng"]
        length = np.sqrt(np.einsum("ij,ij->i", normal, normal))
        cos = np.abs(np.einsum("ij,ij->i", normal, dirs)) / np.maximum(length, 1e-30)
        cos_incidence = np.where(hit, cos, 0.0).astype(np.float32, copy=False)
        return Hits(distance, tag, instance, cos_incidence)


class BodyBoxes:
    """This tick's vehicles and walkers: their oriented boxes and what rays hit of them.

    Rays hit the shapes cameras draw (``scene.bodies``: a vehicle's body and cabin, a walker's
    box) scaled to each bounding box. A cast builds an Embree BVH of the bodies within
    reach of its origin and inside the cone of its rays (building costs about a microsecond per
    triangle, so only those go in) and shares it with every other cast of the tick that selects
    the same bodies. A body whose box contains the ray origin is left out: CARLA's traces hit
    single-sided meshes from outside only, so a sensor mounted inside its parent sees out of it.
    """

    def __init__(self, bodies: Bodies) -> None:
        self._bodies = bodies
        self.ids = np.asarray(bodies.ids, np.uint32)
        self.rotation = rotation_matrices(bodies.pose[:, 3:6])
        self.centre = bodies.pose[:, 0:3] + np.einsum(
            "kij,kj->ki", self.rotation, bodies.box_center
        )
        self.extent = np.asarray(bodies.box_extent, np.float64)
        self.radius = np.sqrt(np.einsum("ij,ij->i", self.extent, self.extent))
        self._casters: dict[bytes, TriangleCaster] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def select(
        self,
        origin: np.ndarray,
        reach: float,
        keep: np.ndarray | None = None,
        directions: np.ndarray | None = None,
    ) -> np.ndarray:
        """(K,) bool: the boxes rays from ``origin`` can hit within ``reach`` metres.

        With ``directions`` (R, 3), boxes outside the cone around them are left out too.
        """
        offset = self.centre - np.asarray(origin, np.float64)[None, :]
        square = np.einsum("ij,ij->i", offset, offset)
        near = square <= (self.radius + reach) ** 2
        if keep is not None:
            near &= keep
        if directions is not None and near.any():
            near &= _in_cone(directions, offset, square, self.radius)
        if near.any():
            local = np.einsum("kji,kj->ki", self.rotation, offset)
            near &= ~np.all(np.abs(local) <= self.extent, axis=1)
        return near

    def mesh(self, selected: np.ndarray) -> SceneMesh:
        """The ``selected`` bodies as the shapes cameras draw (``scene.bodies.body_mesh``)."""
        return body_mesh(self._bodies, selected)

    def cast(
        self,
        origin: np.ndarray,
        directions: np.ndarray,
        max_distance: np.ndarray | float,
        keep: np.ndarray | None = None,
    ) -> Hits:
        """Nearest box hits of rays from one ``origin`` (3,) along unit ``directions``.

        Args:
            origin: (3,) world point all rays start from.
            directions: (R, 3) unit vectors.
            max_distance: metres, one for all rays or (R,).
            keep: (K,) bool, the boxes that can be hit (default all).
        """
        count = len(directions)
        if not count or not len(self.ids):
            return Hits.none(count)
        reach = float(np.max(max_distance))
        selected = self.select(origin, reach, keep, directions)
        if not selected.any():
            return Hits.none(count)
        key = selected.tobytes()
        with _lock:
            caster = self._casters.get(key)
            if caster is None:
                caster = TriangleCaster(self.mesh(selected))
                self._casters[key] = caster
        return caster.cast(origin, directions, max_distance)


def _in_cone(
    directions: np.ndarray, offset: np.ndarray, square: np.ndarray, radius: np.ndarray
) -> np.ndarray:
    """(K,) bool: spheres (centre ``offset`` from the origin) that meet the cone of the rays."""
    axis = directions.sum(axis=0)
    length = float(np.sqrt(axis @ axis))
    if length < 1e-9:
        return np.ones(len(offset), bool)
    axis /= length
    spread = math.acos(max(-1.0, min(1.0, float(np.min(directions @ axis)))))
    if spread >= math.pi / 2:
        return np.ones(len(offset), bool)  # a half space or more: no saving worth the test
    distance = np.sqrt(square)
    inside = distance <= radius
    cos_angle = (offset @ axis) / np.maximum(distance, 1e-12)
    angle = np.arccos(np.clip(cos_angle, -1.0, 1.0))
    half_width = np.arcsin(np.clip(radius / np.maximum(distance, 1e-12), 0.0, 1.0))
    return inside | (angle <= spread + half_width + 1e-6)


class RayScene:
    """The map's static caster plus this tick's boxes; the nearest hit of both."""

    def __init__(
        self, static: TriangleCaster, boxes: BodyBoxes | None, keep: np.ndarray | None = None
    ) -> None:
        self.static = static
        self.boxes = boxes
        self.keep = keep

    def cast(
        self, origin: np.ndarray, directions: np.ndarray, max_distance: np.ndarray | float
    ) -> Hits:
        """Nearest hits of rays from one ``origin`` (3,) along unit ``directions`` (R, 3)."""
        hits = self.static.cast(origin, directions, max_distance)
        if self.boxes is None or not len(self.boxes):
            return hits
        near = self.boxes.cast(origin, directions, max_distance, self.keep)
        closer = near.distance < hits.distance
        if closer.any():
            hits.distance[closer] = near.distance[closer]
            hits.tag[closer] = near.tag[closer]
            hits.instance[closer] = near.instance[closer]
            hits.cos_incidence[closer] = near.cos_incidence[closer]
        return hits


_static: weakref.WeakKeyDictionary[RoadMap, TriangleCaster] = weakref.WeakKeyDictionary()
# This tick's boxes, shared by every sensor of the tick; holds the Bodies it was built from
# (so no later object can reuse its id while it is cached).
_tick: tuple[Bodies, int, int, BodyBoxes] | None = None


def static_caster(road_map: RoadMap) -> TriangleCaster:
    """The map's static BVH (built on first use, then cached with the map object)."""
    with _lock:
        caster = _static.get(road_map)
        if caster is None:
            caster = TriangleCaster(static_mesh_source(road_map))
            _static[road_map] = caster
        return caster


def body_boxes(frame: SensorFrame) -> BodyBoxes:
    """This tick's boxes (built once per frame and shared)."""
    global _tick
    with _lock:
        tick = _tick
        if (
            tick is None
            or tick[0] is not frame.bodies
            or tick[1] != frame.frame
            or tick[2] != frame.scene_version
        ):
            tick = (frame.bodies, frame.frame, frame.scene_version, BodyBoxes(frame.bodies))
            _tick = tick
        return tick[3]


def ray_scene(frame: SensorFrame, ignore: Collection[int] = ()) -> RayScene:
    """What rays can hit this tick: the map's static scene and every body but ``ignore``."""
    boxes = body_boxes(frame)
    keep = None
    if len(ignore):
        keep = ~np.isin(boxes.ids, np.fromiter(ignore, np.int64, len(ignore)))
    return RayScene(static_caster(frame.road_map), boxes, keep)
