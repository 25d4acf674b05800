"""What one tick produces: the world state every client sees and the sensors' measurements."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carla_lite.geom import Vector3
from carla_lite.sensors.measurements import Measurement
from carla_lite.world.actors import Actor


@dataclass(slots=True)
class WorldSnapshot:
    """Every live actor's state at one frame, as arrays in one row order.

    Rows of vehicles, walkers and traffic lights are listed in ``*_rows`` with their
    kind-specific fields alongside, so the protocol can pack the whole frame at once.
    """

    frame: int
    elapsed_seconds: float
    delta_seconds: float
    episode_id: int
    #: Changes whenever the set of actors (the row order) changes.
    layout_version: int
    ids: np.ndarray  # (N,) uint32
    #: (N, 15): x y z pitch yaw roll, velocity (m/s), angular velocity (deg/s),
    #: acceleration (m/s^2); all world frame.
    kinematics: np.ndarray
    vehicle_rows: np.ndarray  # (V,)
    vehicle_control: np.ndarray  # (V, 7) throttle steer brake hand_brake reverse manual gear
    vehicle_speed_limit: np.ndarray  # (V,) km/h
    vehicle_light_state: np.ndarray  # (V,) state of the light ahead (LightState)
    vehicle_has_light: np.ndarray  # (V,) bool
    vehicle_light_id: np.ndarray  # (V,) actor id of that light
    walker_rows: np.ndarray  # (W,)
    walker_direction: np.ndarray  # (W, 3)
    walker_speed: np.ndarray  # (W,)
    light_rows: np.ndarray  # (L,)
    light_sign_ids: list[bytes]  # (L,) OpenDRIVE signal ids
    light_times: np.ndarray  # (L, 4) green yellow red elapsed
    light_pole_index: np.ndarray  # (L,)
    light_frozen: np.ndarray  # (L,) bool
    light_state: np.ndarray  # (L,)

    @property
    def pose(self) -> np.ndarray:
        return self.kinematics[:, 0:6]

    @property
    def velocity(self) -> np.ndarray:
        return self.kinematics[:, 6:9]


@dataclass(slots=True)
class CollisionEvent:
    """``actor`` hit ``other`` (None: the static world) and received ``normal_impulse`` [N s]."""

    actor: Actor
    other: Actor | None
    normal_impulse: Vector3


@dataclass(slots=True)
class TickResult:
    """A tick's world state, its sensors' measurements and the actors it removed."""

    snapshot: WorldSnapshot
    measurements: list[Measurement] = field(default_factory=list)
    removed: list[Actor] = field(default_factory=list)
