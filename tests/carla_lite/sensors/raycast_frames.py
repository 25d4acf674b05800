"""Hand-made worlds for the ray-cast sensors: a map stand-in with its own static mesh,
boxes for bodies, and SensorFrames holding sensors and their parents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pytest

from carla_lite.sensors import raycast
from carla_lite.sensors.base import SensorSpec
from carla_lite.sensors.frame import Bodies, SensorFrame
from carla_lite.sensors.scene.mesh import SceneMesh

ROAD = 1
BUILDING = 3
PEDESTRIAN = 12
CAR = 14
ROADLINE = 24
CAR_EXTENT = (2.0, 1.0, 0.75)


class StandInMap:
    """A road map stand-in: rays only need it as the static cache's key."""

    def __init__(self, mesh: SceneMesh) -> None:
        self.mesh = mesh


def quads_mesh(quads: list[tuple[np.ndarray, int]]) -> SceneMesh:
    """Triangles of quads given as ((4, 3) corners in order, tag)."""
    vertices = np.concatenate([np.asarray(q, np.float32) for q, _ in quads])
    base = 4 * np.arange(len(quads), dtype=np.uint32)[:, None, None]
    triangles = (np.array([[0, 1, 2], [0, 2, 3]], np.uint32)[None] + base).reshape(-1, 3)
    tags = np.repeat(np.array([t for _, t in quads], np.uint8), 2)
    return SceneMesh(
        vertices=vertices,
        triangles=triangles,
        tags=tags,
        colors=np.zeros((len(tags), 3), np.uint8),
        instance_ids=np.zeros(len(tags), np.uint32),
    )


def ground(half: float = 300.0, z: float = 0.0) -> tuple[np.ndarray, int]:
    corners = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    return corners, ROAD


def wall(x: float, half: float = 50.0, height: float = 20.0) -> tuple[np.ndarray, int]:
    """A wall across the x axis at ``x``."""
    corners = np.array([[x, -half, 0.0], [x, half, 0.0], [x, half, height], [x, -half, height]])
    return corners, BUILDING


@pytest.fixture
def flat_map(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A map stand-in whose static scene is a flat road at z = 0."""
    monkeypatch.setattr(raycast, "static_mesh_source", lambda m: m.mesh)
    yield cast(Any, StandInMap(quads_mesh([ground()])))


@dataclass
class Box:
    actor_id: int
    x: float
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0
    extent: tuple[float, float, float] = CAR_EXTENT
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tag: int = CAR
    # CARLA vehicles: origin on the ground, box centre half a height up.
    center: tuple[float, float, float] | None = None


def bodies(*boxes: Box) -> Bodies:
    if not boxes:
        return Bodies.empty()
    return Bodies(
        ids=np.array([b.actor_id for b in boxes], np.uint32),
        pose=np.array([[b.x, b.y, b.z, 0.0, b.yaw, 0.0] for b in boxes], np.float64),
        velocity=np.array([b.velocity for b in boxes], np.float64),
        box_center=np.array(
            [b.center if b.center is not None else (0.0, 0.0, b.extent[2]) for b in boxes],
            np.float64,
        ),
        box_extent=np.array([b.extent for b in boxes], np.float64),
        semantic_tag=np.array([b.tag for b in boxes], np.uint8),
        color=np.zeros((len(boxes), 3), np.uint8),
    )


@dataclass
class World:
    """Actors by id: pose (x, y, z, pitch, yaw, roll), velocity, angular velocity [deg/s]."""

    road_map: Any
    poses: dict[int, tuple[float, ...]] = field(default_factory=dict)
    velocities: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    spins: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    boxes: list[Box] = field(default_factory=list)

    def frame(self, number: int = 1, delta_seconds: float = 0.05) -> SensorFrame:
        for box in self.boxes:
            self.poses.setdefault(box.actor_id, (box.x, box.y, box.z, 0.0, box.yaw, 0.0))
            self.velocities.setdefault(box.actor_id, box.velocity)
        ids = list(self.poses)
        rows = [
            [
                *(tuple(self.poses[i]) + (0.0,) * 6)[:6],
                *self.velocities.get(i, (0.0, 0.0, 0.0)),
                *self.spins.get(i, (0.0, 0.0, 0.0)),
                0.0,
                0.0,
                0.0,
            ]
            for i in ids
        ]
        return SensorFrame(
            frame=number,
            timestamp=number * delta_seconds,
            delta_seconds=delta_seconds,
            road_map=self.road_map,
            weather=(0.0,) * 14,
            ids=np.array(ids, np.uint32),
            kinematics=np.array(rows, np.float64).reshape(len(ids), 15),
            rows={actor_id: row for row, actor_id in enumerate(ids)},
            bodies=bodies(*self.boxes),
        )


def spec(
    blueprint: str, actor_id: int = 100, parent_id: int = 0, **attributes: object
) -> SensorSpec:
    return SensorSpec(
        actor_id=actor_id,
        blueprint_id=blueprint,
        attributes={
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in attributes.items()
        },
        parent_id=parent_id,
    )
