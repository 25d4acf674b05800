"""Pedestrians: vectorised kinematics for CARLA's ``WalkerControl`` and a go-to-point mode.

A walker moves in the ground plane along a direction at a speed, both sticky until changed,
faces where it walks, and stands on the ground (its origin, like CARLA's, is the centre of its
bounding box, one half height above the feet). A jump is a ballistic hop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from carla_lite.geom import Transform, Vector3
from carla_lite.physics.slots import SlotArrays

GRAVITY = 9.81
#: Take-off speed of a jump [m/s] (a hop of about 0.3 m).
JUMP_SPEED = 2.5
#: Fastest a walker may be told to move [m/s] (CARLA's runners do about 3-5).
MAX_WALKER_SPEED = 10.0

_INITIAL_CAPACITY = 8


class WalkerCrowd(SlotArrays):
    """Struct-of-arrays state of every walker, stepped together.

    As with ``VehicleFleet``, the public arrays span the whole capacity, are indexed by slot and
    are reallocated when ``add`` grows it; read the properties again rather than keeping them.
    """

    _kind = "walker"

    _pose: np.ndarray
    _velocity: np.ndarray
    _direction: np.ndarray
    _speed: np.ndarray
    _half: np.ndarray
    _floor: np.ndarray
    _target: np.ndarray
    _active: np.ndarray
    _jump: np.ndarray
    _seeking: np.ndarray
    _kinematic: np.ndarray

    def __init__(self, capacity: int = _INITIAL_CAPACITY) -> None:
        self._capacity = 0
        super().__init__()
        self._allocate(max(1, capacity))

    def _allocate(self, capacity: int) -> None:
        old = self._capacity

        def grow(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> None:
            array: np.ndarray = np.zeros((capacity, *shape), dtype=dtype)
            if old:
                array[:old] = getattr(self, name)
            setattr(self, name, array)

        grow("_pose", (6,))
        grow("_velocity", (3,))
        grow("_direction", (3,))  # unit, horizontal
        grow("_speed", ())
        grow("_half", (3,))  # bounding-box half extents
        grow("_floor", ())  # feet height used when no ground query is given
        grow("_target", (3,))
        grow("_active", (), np.bool_)
        grow("_jump", (), np.bool_)
        grow("_seeking", (), np.bool_)  # walking to _target
        grow("_kinematic", (), np.bool_)  # physics off: placed by set_state, not stepped
        self._capacity = capacity

    # ---------------------------------------------------------------------------- arrays

    @property
    def pose(self) -> np.ndarray:
        """(N, 6) ``[x, y, z, pitch, yaw, roll]`` of the bounding-box centre."""
        return self._pose

    @property
    def velocity(self) -> np.ndarray:
        """(N, 3) world-frame velocity [m/s]."""
        return self._velocity

    @property
    def speed(self) -> np.ndarray:
        """(N,) commanded walking speed [m/s]; 0 once a target location is reached."""
        return self._speed

    @property
    def direction(self) -> np.ndarray:
        """(N, 3) unit walking direction in the ground plane (zero when none was given)."""
        return self._direction

    # ---------------------------------------------------------------------------- slots

    def add(self, transform: Transform, half_extents: Sequence[float]) -> int:
        """Place a standing walker; ``half_extents`` is its bounding box's (x, y, z)."""
        slot = self._take_slot()
        self._half[slot] = tuple(float(h) for h in half_extents)
        self.set_transform(slot, transform)
        return slot

    def remove(self, slot: int) -> None:
        """Free a slot for reuse; its rows return to zero."""
        self._release_slot(slot)

    def _clear(self, slot: int) -> None:
        for array in (self._pose, self._velocity, self._direction, self._half, self._target):
            array[slot] = 0.0
        self._speed[slot] = self._floor[slot] = 0.0
        self._active[slot] = self._jump[slot] = self._seeking[slot] = False
        self._kinematic[slot] = False

    # ---------------------------------------------------------------------------- commands

    def set_transform(self, slot: int, transform: Transform) -> None:
        """Teleport a walker; without a ground query it will stand at this height."""
        self._check(slot)
        t = transform
        self._pose[slot] = (t.x, t.y, t.z, t.pitch, t.yaw, t.roll)
        self._floor[slot] = t.z - self._half[slot, 2]
        self._velocity[slot, 2] = 0.0

    def set_control(
        self,
        slot: int,
        direction: Vector3 | Sequence[float],
        speed: float,
        jump: bool = False,
    ) -> None:
        """Walk along ``direction`` (its ground-plane part) at ``speed`` until told otherwise.

        Cancels a ``set_target_location``. ``jump`` hops whenever the walker is on the ground.
        """
        self._check(slot)
        if isinstance(direction, Vector3):
            dx, dy = direction.x, direction.y
        else:
            dx, dy = direction[0], direction[1]
        norm = math.hypot(dx, dy)
        self._direction[slot] = (dx / norm, dy / norm, 0.0) if norm > 1e-9 else (0.0, 0.0, 0.0)
        self._speed[slot] = min(max(float(speed), 0.0), MAX_WALKER_SPEED)
        self._jump[slot] = bool(jump)
        self._seeking[slot] = False

    def set_state(
        self, slot: int, x: float, y: float, feet_z: float, yaw: float, speed: float
    ) -> None:
        """Place a walker whose motion is computed elsewhere (CARLA's ``ApplyWalkerState``).

        The feet go to ``(x, y, feet_z)``, facing ``yaw`` [deg]; the walker's control becomes
        ``speed`` along that heading (its velocity, while physics is off).
        """
        self._check(slot)
        half = self._half[slot, 2]
        self._pose[slot] = (x, y, feet_z + half, 0.0, yaw, 0.0)
        self._floor[slot] = feet_z
        rad = math.radians(yaw)
        self._direction[slot] = (math.cos(rad), math.sin(rad), 0.0)
        self._speed[slot] = min(max(float(speed), 0.0), MAX_WALKER_SPEED)
        self._jump[slot] = self._seeking[slot] = False

    def set_simulate_physics(self, slot: int, enabled: bool) -> None:
        """Physics off: the walker stays where ``set_state``/``set_transform`` put it."""
        self._check(slot)
        self._kinematic[slot] = not enabled
        if not enabled:
            self._velocity[slot, 2] = 0.0

    def set_target_location(self, slot: int, x: float, y: float, z: float, speed: float) -> None:
        """Walk straight to ``(x, y)`` at ``speed`` and stop there (z follows the ground)."""
        self._check(slot)
        self._target[slot] = (x, y, z)
        self._speed[slot] = min(max(float(speed), 0.0), MAX_WALKER_SPEED)
        self._jump[slot] = False
        self._seeking[slot] = True

    # ---------------------------------------------------------------------------- step

    def step(
        self, dt: float, ground_height: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    ) -> None:
        """Advance every walker by ``dt`` seconds.

        Args:
            dt: step length [s], > 0.
            ground_height: ``(xs, ys) -> zs``; walkers stand on it when given, otherwise on
                the height they were placed at.
        """
        if not dt > 0.0:
            raise ValueError(f"dt must be positive, got {dt}")
        pose, direction, speed = self._pose, self._direction, self._speed
        if self._seeking.any():
            self._aim_at_targets(dt)
        velocity_xy = direction[:, :2] * speed[:, None]
        self._velocity[:, :2] = velocity_xy
        kinematic = self._kinematic
        moving = ~kinematic
        if kinematic.any():
            velocity_xy = velocity_xy * moving[:, None]
            z_kinematic = pose[kinematic, 2]
        pose[:, :2] += velocity_xy * dt
        walking = moving & (speed > 0.0) & ((direction[:, 0] != 0.0) | (direction[:, 1] != 0.0))
        heading = np.degrees(np.arctan2(direction[:, 1], direction[:, 0]))
        np.copyto(pose[:, 4], heading, where=walking)
        self._vertical(dt, ground_height)
        if kinematic.any():
            pose[kinematic, 2] = z_kinematic
            self._velocity[kinematic, 2] = 0.0

    def _aim_at_targets(self, dt: float) -> None:
        """Point seeking walkers at their targets; those within one step arrive and stop."""
        seeking = self._seeking
        delta = self._target[:, :2] - self._pose[:, :2]
        dist = np.hypot(delta[:, 0], delta[:, 1])
        arrived = seeking & (dist <= self._speed * dt)
        aim = seeking & ~arrived
        unit = delta / np.where(dist > 0.0, dist, 1.0)[:, None]
        self._direction[aim, :2] = unit[aim]
        self._pose[arrived, :2] = self._target[arrived, :2]
        self._speed[arrived] = 0.0
        seeking &= ~arrived

    def _vertical(
        self, dt: float, ground_height: Callable[[np.ndarray, np.ndarray], np.ndarray] | None
    ) -> None:
        """Keep feet on the ground, or fly a ballistic hop while jumping."""
        pose, vz, half_z = self._pose, self._velocity[:, 2], self._half[:, 2]
        if ground_height is None:
            feet = self._floor
        else:
            feet = np.asarray(ground_height(pose[:, 0], pose[:, 1]), dtype=np.float64)
            feet = np.where(self._active, feet, self._floor)
        stand = feet + half_z
        grounded = (vz == 0.0) & (pose[:, 2] <= stand + 1e-6)
        launch = grounded & self._jump
        vz[launch] = JUMP_SPEED
        airborne = (vz != 0.0) | (pose[:, 2] > stand + 1e-6)
        z_free = pose[:, 2] + vz * dt - 0.5 * GRAVITY * dt * dt
        flying = airborne & (z_free > stand)
        pose[:, 2] = np.where(flying, z_free, stand)
        vz[:] = np.where(flying, vz - GRAVITY * dt, 0.0)
