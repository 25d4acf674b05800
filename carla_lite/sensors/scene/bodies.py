"""The bodies of a frame as the scene draws them: a vehicle shape (body and cabin) or a
walker box, stretched over each body's bounding box at its pose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carla_lite.sensors.frame import Bodies
from carla_lite.sensors.rotations import rotation_matrices
from carla_lite.sensors.scene.builder import MeshBuilder, boxes
from carla_lite.sensors.scene.mesh import SceneMesh
from carla_lite.sensors.scene.tags import VEHICLE_TAGS

__all__ = ["UnitShape", "body_mesh", "body_transforms", "drawn_as_vehicle", "unit_shapes"]

_IS_VEHICLE = np.zeros(256, bool)  # by semantic tag
_IS_VEHICLE[sorted(VEHICLE_TAGS)] = True


def drawn_as_vehicle(tags: NDArray[np.integer]) -> NDArray[np.bool_]:
    """Which of these semantic tags (0..255) are drawn with the vehicle shape (the others
    with the walker's)."""
    return _IS_VEHICLE[np.asarray(tags)]


@dataclass(frozen=True, slots=True)
class UnitShape:
    """A body shape in box units ([-1, 1]^3 spans the bounding box).

    ``shade`` multiplies the body colour per triangle (the cabin's windows are darker).
    """

    vertices: NDArray[np.float32]
    triangles: NDArray[np.uint32]
    shade: NDArray[np.float32]

    @staticmethod
    def from_boxes(parts: list[tuple[tuple[float, ...], tuple[float, ...], float]]) -> UnitShape:
        """A shape of boxes (lo, hi, shade) in box units."""
        verts, tris, shade = [], [], []
        for i, (lo, hi, tone) in enumerate(parts):
            v, t = boxes(np.array([lo], dtype=np.float64), np.array([hi], dtype=np.float64), True)
            verts.append(v)
            tris.append(t + 8 * i)
            shade.append(np.full(len(t), tone, dtype=np.float32))
        return UnitShape(
            np.concatenate(verts).astype(np.float32),
            np.concatenate(tris).astype(np.uint32),
            np.concatenate(shade),
        )


_VEHICLE = UnitShape.from_boxes(
    [
        ((-1.0, -1.0, -1.0), (1.0, 1.0, 0.05), 1.0),  # body
        ((-0.62, -0.86, 0.05), (0.38, 0.86, 1.0), 0.45),  # cabin (glass)
    ]
)
_WALKER = UnitShape.from_boxes([((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0), 1.0)])


def unit_shapes() -> tuple[UnitShape, UnitShape]:
    """The (vehicle, walker) unit shapes that ``body_mesh``, the renderer and the ray casts
    share."""
    return _VEHICLE, _WALKER


def body_transforms(bodies: Bodies) -> NDArray[np.float64]:
    """(K, 3, 4) affine maps from box units to the world: ``world = M @ [u, 1]``.

    The columns of ``M[:, :, :3]`` are the actor's forward, right and up axes scaled by the
    box extents; ``M[:, :, 3]`` is the box centre in the world (Unreal rotation order).
    """
    pose = np.asarray(bodies.pose, dtype=np.float64)
    rot = rotation_matrices(pose[:, 3:6])
    out = np.empty((len(pose), 3, 4))
    out[:, :, :3] = rot * np.asarray(bodies.box_extent, dtype=np.float64)[:, None, :]
    centre = np.einsum("kij,kj->ki", rot, np.asarray(bodies.box_center, dtype=np.float64))
    out[:, :, 3] = pose[:, :3] + centre
    return out


def body_mesh(bodies: Bodies, selected: NDArray[np.bool_] | None = None) -> SceneMesh:
    """Vehicles (body + cabin) and walkers (boxes) at their poses.

    Each triangle carries its body's semantic tag, colour (the cabin darker) and actor id.
    ``selected``: (K,) the bodies to include (default: all).
    """
    k = len(bodies.ids)
    if k == 0:
        return SceneMesh.empty()
    m = body_transforms(bodies)
    is_vehicle = drawn_as_vehicle(bodies.semantic_tag)
    chosen = np.ones(k, bool) if selected is None else selected
    b = MeshBuilder()
    ids: list[NDArray[np.uint32]] = []
    for shape, rows in (
        (_VEHICLE, np.flatnonzero(is_vehicle & chosen)),
        (_WALKER, np.flatnonzero(~is_vehicle & chosen)),
    ):
        if not len(rows):
            continue
        n, nv, nt = len(rows), len(shape.vertices), len(shape.triangles)
        world = np.einsum("kij,vj->kvi", m[rows, :, :3], shape.vertices) + m[rows, None, :, 3]
        tris = shape.triangles[None] + (nv * np.arange(n, dtype=np.uint32))[:, None, None]
        tags = np.repeat(np.asarray(bodies.semantic_tag, dtype=np.uint8)[rows], nt)
        base = np.asarray(bodies.color, dtype=np.float32)[rows]
        colors = (base[:, None, :] * shape.shade[None, :, None]).astype(np.uint8).reshape(-1, 3)
        b.add(world.reshape(-1, 3), tris.reshape(-1, 3), tags, colors, facing=None)
        ids.append(np.repeat(np.asarray(bodies.ids, dtype=np.uint32)[rows], nt))
    mesh = b.mesh()
    if ids:
        mesh.instance_ids = np.concatenate(ids)
    return mesh
