"""Ray casts for the lidars, the radar and the obstacle detector (Embree through embreex).

Two BVHs answer every cast:

* the map's static scene (road, sidewalks, marks, terrain, buildings), built once per loaded
  map and cached on the :class:`~carla_lite.maps.RoadMap` object;
* this tick's bodies (vehicles and walkers as oriented boxes, 12 triangles each), built once
  per tick and shared by every sensor of the tick. A body that contains the ray origin is left
  out: CARLA's traces hit single-sided meshes from outside only, so a sensor mounted inside its
  parent's box sees out of it.

A cast is one Embree call per BVH for all rays of a sensor (no per-ray Python).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from carla_lite.maps import RoadMap
from carla_lite.sensors.frame import Bodies, SensorFrame
from carla_lite.sensors.scene_mesh import SceneMesh

__all__ = [
    "Hits",
    "RayScene",
    "TriangleCaster",
    "body_boxes_mesh",
    "boxes_containing",
    "ray_scene",
    "rotation_matrices",
    "static_caster",
]

#: Where the static triangle soup of a map comes from (``scene.static_scene``; replaceable
#: for tests that bring their own mesh).
StaticMeshSource = Callable[[RoadMap], SceneMesh]


def _default_static_mesh(road_map: RoadMap) -> SceneMesh:
    # Imported on first use: the cameras' module, heavier than the ray casts need up front.
    from carla_lite.sensors.scene import static_scene

    return static_scene(road_map)


static_mesh_source: StaticMeshSource = _default_static_mesh

_NO_HIT = np.float32(np.inf)


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
        self._scene = rtcore_scene.EmbreeScene()
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


class RayScene:
    """The static caster plus (optionally) this tick's bodies; nearest hit of both."""

    def __init__(self, static: TriangleCaster, bodies: TriangleCaster | None) -> None:
        self.static = static
        self.bodies = bodies

    def cast(
        self, origins: np.ndarray, directions: np.ndarray, max_distance: np.ndarray | float
    ) -> Hits:
        hits = self.static.cast(origins, directions, max_distance)
        if self.bodies is None:
            return hits
        near = self.bodies.cast(origins, directions, max_distance)
        closer = near.distance < hits.distance
        if closer.any():
            hits.distance[closer] = near.distance[closer]
            hits.tag[closer] = near.tag[closer]
            hits.instance[closer] = near.instance[closer]
            hits.cos_incidence[closer] = near.cos_incidence[closer]
        return hits


def rotation_matrices(angles_deg: np.ndarray) -> np.ndarray:
    """(K, 3, 3) rotations of (K, 3) pitch, yaw, roll [deg] in CARLA's convention.

    Columns are the forward, right and up axes, so ``world = R @ local``.
    """
    rad = np.radians(np.asarray(angles_deg, np.float64).reshape(-1, 3))
    cp, cy, cr = np.cos(rad).T
    sp, sy, sr = np.sin(rad).T
    out = np.empty((len(rad), 3, 3))
    out[:, :, 0] = np.stack([cp * cy, cp * sy, sp], axis=1)
    out[:, :, 1] = np.stack([sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp], axis=1)
    out[:, :, 2] = np.stack([-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp], axis=1)
    return out


def _box_frames(bodies: Bodies) -> tuple[np.ndarray, np.ndarray]:
    """World rotation (K, 3, 3) and world box centre (K, 3) of each body."""
    rot = rotation_matrices(bodies.pose[:, 3:6])
    centre = bodies.pose[:, 0:3] + np.einsum("kij,kj->ki", rot, bodies.box_center)
    return rot, centre


def boxes_containing(bodies: Bodies, point: np.ndarray) -> np.ndarray:
    """Actor ids of the bodies whose box contains a world ``point``."""
    if not len(bodies.ids):
        return np.zeros(0, np.uint32)
    rot, centre = _box_frames(bodies)
    local = np.einsum("kji,kj->ki", rot, np.asarray(point, np.float64)[None, :] - centre)
    inside = np.all(np.abs(local) <= bodies.box_extent, axis=1)
    return np.asarray(bodies.ids[inside], np.uint32)


_CORNER_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64
)
# Two triangles per face (corner index = 4*ix + 2*iy + iz, 0 = the -extent side).
_BOX_TRIANGLES = np.array(
    [
        [0, 1, 3], [0, 3, 2],  # -x
        [4, 6, 7], [4, 7, 5],  # +x
        [0, 4, 5], [0, 5, 1],  # -y
        [2, 3, 7], [2, 7, 6],  # +y
        [0, 2, 6], [0, 6, 4],  # -z
        [1, 5, 7], [1, 7, 3],  # +z
    ],
    np.uint32,
)  # fmt: skip


def body_boxes_mesh(bodies: Bodies, keep: np.ndarray | None = None) -> SceneMesh:
    """The bodies' oriented bounding boxes as triangles (12 per body).

    Args:
        bodies: This tick's vehicles and walkers.
        keep: (K,) bool, the bodies to include (default all).
    """
    if keep is not None:
        bodies = Bodies(
            ids=bodies.ids[keep],
            pose=bodies.pose[keep],
            velocity=bodies.velocity[keep],
            box_center=bodies.box_center[keep],
            box_extent=bodies.box_extent[keep],
            semantic_tag=bodies.semantic_tag[keep],
            color=bodies.color[keep],
        )
    count = len(bodies.ids)
    rot, centre = _box_frames(bodies)
    local = _CORNER_SIGNS[None, :, :] * bodies.box_extent[:, None, :]
    corners = centre[:, None, :] + np.einsum("kij,kcj->kci", rot, local)
    triangles = _BOX_TRIANGLES[None, :, :] + (8 * np.arange(count, dtype=np.uint32))[:, None, None]
    return SceneMesh(
        vertices=corners.reshape(-1, 3).astype(np.float32),
        triangles=triangles.reshape(-1, 3),
        tags=np.repeat(np.asarray(bodies.semantic_tag, np.uint8), 12),
        colors=np.repeat(np.asarray(bodies.color, np.uint8), 12, axis=0),
        instance_ids=np.repeat(np.asarray(bodies.ids, np.uint32), 12),
    )


_lock = threading.Lock()
_static: weakref.WeakKeyDictionary[RoadMap, TriangleCaster] = weakref.WeakKeyDictionary()


class _TickBodies:
    """This tick's body casters by the ids left out; holds the Bodies it was built from."""

    def __init__(self, frame: SensorFrame) -> None:
        self.frame = frame.frame
        self.scene_version = frame.scene_version
        self.bodies = frame.bodies
        self.casters: dict[frozenset[int], TriangleCaster | None] = {}

    def matches(self, frame: SensorFrame) -> bool:
        return (
            self.bodies is frame.bodies
            and self.frame == frame.frame
            and self.scene_version == frame.scene_version
        )


_tick: _TickBodies | None = None


def static_caster(road_map: RoadMap) -> TriangleCaster:
    """The map's static BVH (built on first use, then cached with the map object)."""
    with _lock:
        caster = _static.get(road_map)
        if caster is None:
            caster = TriangleCaster(static_mesh_source(road_map))
            _static[road_map] = caster
        return caster


def _body_caster(frame: SensorFrame, leave_out: frozenset[int]) -> TriangleCaster | None:
    global _tick
    bodies = frame.bodies
    with _lock:
        if _tick is None or not _tick.matches(frame):
            _tick = _TickBodies(frame)
        casters = _tick.casters
        if leave_out in casters:
            return casters[leave_out]
        keep = None
        if leave_out:
            keep = ~np.isin(bodies.ids, np.fromiter(leave_out, np.int64, len(leave_out)))
        count = len(bodies.ids) if keep is None else int(keep.sum())
        caster = TriangleCaster(body_boxes_mesh(bodies, keep)) if count else None
        casters[leave_out] = caster
        return caster


def ray_scene(frame: SensorFrame, origin: np.ndarray, ignore: Collection[int] = ()) -> RayScene:
    """What rays from ``origin`` can hit this tick.

    Args:
        frame: This tick.
        origin: (3,) world point the rays start from (bodies containing it are left out).
        ignore: Actor ids never hit (besides those).
    """
    inside = boxes_containing(frame.bodies, origin)
    leave_out = frozenset(int(i) for i in inside) | frozenset(int(i) for i in ignore)
    return RayScene(static_caster(frame.road_map), _body_caster(frame, leave_out))
