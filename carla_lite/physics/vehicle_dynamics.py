"""Vectorised vehicle dynamics: a kinematic bicycle per vehicle, stepped for all at once.

Every vehicle lives in a *slot* of struct-of-arrays state; ``VehicleFleet.step`` advances all
slots with a fixed, short sequence of numpy operations (no Python loop over vehicles), so one
vehicle costs about as much as fifty. Empty slots and vehicles with physics disabled are stepped
too, but with zero speed and zero drive they provably do not move, which is cheaper than masking.

Model (CARLA frame: x forward, y right, z up, yaw in degrees from +x towards +y):

* Longitudinal: ``speed`` is the signed speed along the heading. Throttle gives
  ``throttle * (max_accel * (1 - u) + r_top * u)`` in the gear's direction, where ``u`` is the
  fraction of the gear's top speed reached and ``r_top`` the drag plus rolling resistance at that
  top speed, so full throttle settles exactly at ``max_speed`` (``max_reverse_speed`` in
  reverse) and partial throttle below it. Brake, hand brake, drag ``drag * v**2`` and rolling
  resistance only ever shrink ``|speed|`` towards zero, never past it; they also hold a vehicle
  on a slope as static friction would. On ground with a slope, gravity pulls along it.
* Steering: the front-wheel angle follows ``steer * max_steer_deg`` at a finite rate (full lock
  in ``STEER_FULL_LOCK_TIME``) and is limited so that ``v**2 * tan(angle) / wheelbase`` (the
  lateral acceleration of the bicycle) stays below ``MAX_LATERAL_ACCEL``.
* Kinematics: the rear axle moves along its heading; the yaw rate is
  ``speed * tan(angle) / wheelbase``. The actor origin sits half a wheelbase ahead of the rear
  axle, on the ground, and is integrated exactly along the circular arc's mid-heading.
* Ground: with ``ground_height``, z is the mean ground height under the two axles and pitch
  follows their height difference (positive nose up).

The heading is kept as a unit complex number ``exp(i * yaw)``: rotating it by the step's yaw
change is a single complex multiply, and the planar position ``x + i*y`` is read and written in
place through a complex view of the pose array. This keeps the op count, hence the per-step cost
at small fleet sizes, low.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from carla_lite.geom import Transform
from carla_lite.physics.params import VehicleParams
from carla_lite.physics.slots import SlotArrays

#: ``ground_height(xs, ys) -> zs``, vectorised over float64 arrays.
GroundHeight = Callable[[np.ndarray, np.ndarray], np.ndarray]

GRAVITY = 9.81
#: Bound on the lateral acceleration the steering limit allows [m/s^2] (about 0.9 g).
MAX_LATERAL_ACCEL = 0.9 * GRAVITY
#: Seconds for the front wheels to go from straight to full lock.
STEER_FULL_LOCK_TIME = 0.3
#: Deceleration of a locked hand brake [m/s^2].
HAND_BRAKE_DECEL = 6.0
#: Automatic gearbox: forward gears spread evenly up to ``max_speed``.
FORWARD_GEARS = 6
#: Time constant [s] with which tyre friction damps a yaw rate given by an angular impulse
#: or torque (the kinematic model has no yaw inertia of its own).
SPIN_DECAY_TIME = 0.5
#: Below this extra yaw rate [rad/s] the tyres hold the vehicle still.
_SPIN_AT_REST = 1e-3
#: Columns of the ``control`` array.
THROTTLE, STEER, BRAKE, HAND_BRAKE, REVERSE, MANUAL_GEAR_SHIFT, GEAR = range(7)

_INITIAL_CAPACITY = 8
#: Floor of top speeds used as divisors, so a zero ``max_reverse_speed`` disables reverse.
_MIN_TOP_SPEED = 1e-3
_MAX_WHEEL_DEG = 85.0


class VehicleFleet(SlotArrays):
    """Struct-of-arrays state of every vehicle in the world, stepped together.

    The public arrays span the whole capacity (``len(fleet.active)`` slots) and are indexed by
    slot; rows of slots that are not ``active`` are zero. ``add`` reallocates them when it grows
    the capacity and ``step`` replaces ``speed``, so read the properties again rather than
    keeping the arrays.
    """

    _kind = "vehicle"

    # Per-slot storage, created by _allocate.
    _pose: np.ndarray
    _vel4: np.ndarray
    _acc4: np.ndarray
    _angvel: np.ndarray
    _control: np.ndarray
    _active: np.ndarray
    _speed: np.ndarray
    _wheel: np.ndarray
    _heading: np.ndarray
    _inv_wb: np.ndarray
    _half_wb: np.ndarray
    _lat_lim: np.ndarray
    _steer_rate: np.ndarray
    _drag: np.ndarray
    _max_steer: np.ndarray
    _gear_band: np.ndarray
    _max_accel: np.ndarray
    _brake_decel: np.ndarray
    _rolling: np.ndarray
    _top_fwd: np.ndarray
    _top_rev: np.ndarray
    _resist_fwd: np.ndarray
    _resist_rev: np.ndarray
    _dyn: np.ndarray
    _a0: np.ndarray
    _a1: np.ndarray
    _inv_top: np.ndarray
    _decel: np.ndarray
    _wheel_cmd: np.ndarray
    _grav_gain: np.ndarray
    _grav: np.ndarray
    _move: np.ndarray
    _turn: np.ndarray
    _vnew: np.ndarray
    _cv: np.ndarray
    _cv_on: np.ndarray
    _spin: np.ndarray
    _ack: np.ndarray
    _ack_on: np.ndarray
    _rolled: np.ndarray

    def __init__(self, capacity: int = _INITIAL_CAPACITY) -> None:
        self._capacity = 0
        self._params: list[VehicleParams] = []
        super().__init__()
        self._spun = False
        # Whether any slot has a constant velocity / an extra yaw rate (skip that work if not).
        self._cv_any = False
        self._spin_any = False
        self._ack_any = False  # any vehicle driven by an Ackermann control
        # Largest wheel-angle change per step, cached for the last dt (dt rarely changes).
        self._rate_dt = 0.0
        self._rate_up = self._rate_down = np.zeros(0)
        self._allocate(max(1, capacity))

    # ---------------------------------------------------------------------------- storage

    def _allocate(self, capacity: int) -> None:
        """(Re)allocate every per-slot array at ``capacity``, keeping the existing rows."""
        old = self._capacity
        default = VehicleParams()

        def grow(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> None:
            array: np.ndarray = np.zeros((capacity, *shape), dtype=dtype)
            if old:
                array[:old] = getattr(self, name)
            setattr(self, name, array)

        grow("_pose", (6,))
        # Velocity and acceleration carry a fourth, always-zero column so that each row views
        # as two complex numbers: (vx + i*vy, vz + 0i).
        grow("_vel4", (4,))
        grow("_acc4", (4,))
        grow("_angvel", (3,))
        grow("_control", (7,))
        grow("_active", (), np.bool_)
        grow("_speed", ())
        grow("_wheel", ())  # front-wheel angle [rad]
        grow("_heading", (), np.complex128)
        # Per-slot constants derived from the params (see _refresh_params).
        for name in (
            "_inv_wb",
            "_half_wb",
            "_lat_lim",
            "_steer_rate",
            "_drag",
            "_max_steer",
            "_gear_band",
            "_max_accel",
            "_brake_decel",
            "_rolling",
            "_top_fwd",
            "_top_rev",
            "_resist_fwd",
            "_resist_rev",
        ):
            grow(name, ())
        # Per-slot terms derived from the control and the physics flag (see _refresh_control).
        grow("_dyn", (), np.bool_)  # physics enabled
        for name in ("_a0", "_a1", "_inv_top", "_decel", "_wheel_cmd", "_grav_gain"):
            grow(name, ())
        grow("_grav", ())  # gravity along the heading on the current slope [m/s^2]
        # Scratch complex buffers whose real/imaginary parts are written through ``out=``.
        grow("_move", (), np.complex128)
        grow("_turn", (), np.complex128)
        grow("_vnew", (), np.complex128)
        # enable_constant_velocity: (forward, right, up) velocity kept each step, and the flag.
        grow("_cv", (3,))
        grow("_cv_on", (), np.bool_)
        grow("_spin", ())  # extra yaw rate from angular impulses and torques [rad/s]
        # Ackermann control: target speed [m/s] and acceleration bound [m/s^2] (0: the
        # vehicle's own limits), and whether it drives the slot.
        grow("_ack", (2,))
        grow("_ack_on", (), np.bool_)
        grow("_rolled", ())  # signed distance the wheels rolled [m] (their pitch angle)
        self._heading[old:] = 1.0
        self._params.extend([default] * (capacity - old))
        for slot in range(old, capacity):
            self._refresh_params(slot)
        self._capacity = capacity
        self._rebuild_views()

    def _rebuild_views(self) -> None:
        pose_c = self._pose.view(np.complex128)
        self._xy = pose_c[:, 0]
        self._z = self._pose[:, 2]
        self._pitch = self._pose[:, 3]
        self._yaw = self._pose[:, 4]
        self._vel_xy = self._vel4.view(np.complex128)[:, 0]
        self._acc_xy = self._acc4.view(np.complex128)[:, 0]
        self._vel_z = self._vel4[:, 2]
        self._acc_z = self._acc4[:, 2]
        self._yaw_rate = self._angvel[:, 2]
        self._head_re, self._head_im = self._heading.real, self._heading.imag
        self._move_re, self._move_im = self._move.real, self._move.imag
        self._turn_im = self._turn.imag
        self._vnew_re, self._vnew_im = self._vnew.real, self._vnew.imag

    def _refresh_params(self, slot: int) -> None:
        p = self._params[slot]
        wheelbase = max(p.wheelbase, 1e-3)
        self._inv_wb[slot] = 1.0 / wheelbase
        self._half_wb[slot] = 0.5 * wheelbase
        self._lat_lim[slot] = wheelbase * MAX_LATERAL_ACCEL
        # Below 90 degrees so that tan() of the wheel angle stays finite.
        self._max_steer[slot] = math.radians(min(p.max_steer_deg, _MAX_WHEEL_DEG))
        self._gear_band[slot] = max(p.max_speed, _MIN_TOP_SPEED) / FORWARD_GEARS
        self._steer_rate[slot] = self._max_steer[slot] / STEER_FULL_LOCK_TIME
        self._rate_dt = 0.0  # the per-step wheel travel cached in step() is stale
        self._drag[slot] = p.drag
        self._max_accel[slot] = p.max_accel
        self._brake_decel[slot] = p.max_brake_decel
        self._rolling[slot] = p.rolling_resistance
        for top, resist, speed in (
            (self._top_fwd, self._resist_fwd, p.max_speed),
            (self._top_rev, self._resist_rev, p.max_reverse_speed),
        ):
            top[slot] = max(speed, _MIN_TOP_SPEED)
            resist[slot] = p.drag * top[slot] ** 2 + p.rolling_resistance
        self._refresh_control(slot)

    def _refresh_control(self, slot: int | np.ndarray) -> None:
        """Fold the sticky control, the params and the physics flag into per-slot step terms.

        ``slot`` is one slot or an array of slots (batches of controls).
        """
        throttle, steer, brake, hand_brake, reverse, manual, gear = self._control[slot].T
        backwards = (reverse > 0.0) | ((manual > 0.0) & (gear < 0.0))
        neutral = (manual > 0.0) & (gear == 0.0) & ~backwards
        direction = np.where(backwards, -1.0, 1.0)
        top = np.where(backwards, self._top_rev[slot], self._top_fwd[slot])
        resist_at_top = np.where(backwards, self._resist_rev[slot], self._resist_fwd[slot])
        dyn = self._dyn[slot]
        push = np.where(neutral, 0.0, direction * throttle * dyn)
        accel = self._max_accel[slot]
        self._a0[slot] = push * accel
        self._a1[slot] = push * (resist_at_top - accel)
        self._inv_top[slot] = direction / top
        self._decel[slot] = (
            brake * self._brake_decel[slot] + hand_brake * HAND_BRAKE_DECEL + self._rolling[slot]
        )
        self._wheel_cmd[slot] = steer * self._max_steer[slot]
        self._grav_gain[slot] = GRAVITY * dyn

    # ---------------------------------------------------------------------------- slots

    @property
    def pose(self) -> np.ndarray:
        """(N, 6) ``[x, y, z, pitch, yaw, roll]``, metres and degrees."""
        return self._pose

    @property
    def velocity(self) -> np.ndarray:
        """(N, 3) world-frame velocity of the actor origin [m/s]."""
        return self._vel4[:, :3]

    @property
    def acceleration(self) -> np.ndarray:
        """(N, 3) world-frame acceleration over the last step [m/s^2]."""
        return self._acc4[:, :3]

    @property
    def angular_velocity(self) -> np.ndarray:
        """(N, 3) angular velocity [deg/s]; z is the yaw rate."""
        return self._angvel

    @property
    def control(self) -> np.ndarray:
        """(N, 7) throttle, steer, brake, hand_brake, reverse, manual_gear_shift, gear."""
        return self._control

    @property
    def speed(self) -> np.ndarray:
        """(N,) signed speed along the heading [m/s]; negative when rolling backwards."""
        return self._speed

    @property
    def capacity(self) -> int:
        """Number of slots currently allocated (the length of the public arrays)."""
        return self._capacity

    def add(self, params: VehicleParams, transform: Transform) -> int:
        """Place a vehicle at rest with a neutral control; returns its slot.

        The lowest free slot is reused first, so slot assignment is deterministic.
        """
        slot = self._take_slot()
        self._dyn[slot] = True
        self._params[slot] = params
        self._refresh_params(slot)
        self.set_transform(slot, transform)
        return slot

    def remove(self, slot: int) -> None:
        """Free a slot; its rows return to zero and the slot may be handed out again."""
        self._release_slot(slot)
        self._params[slot] = VehicleParams()
        self._refresh_params(slot)

    def _clear(self, slot: int) -> None:
        for array in (self._pose, self._vel4, self._acc4, self._angvel, self._control):
            array[slot] = 0.0
        self._active[slot] = False
        self._speed[slot] = self._wheel[slot] = self._grav[slot] = 0.0
        self._dyn[slot] = False
        self._heading[slot] = 1.0
        self._cv[slot] = 0.0
        self._cv_on[slot] = False
        self._spin[slot] = 0.0
        self._ack[slot] = 0.0
        self._ack_on[slot] = False
        self._rolled[slot] = 0.0

    # ---------------------------------------------------------------------------- commands

    def params(self, slot: int) -> VehicleParams:
        """The physical limits of the vehicle in ``slot``."""
        self._check(slot)
        return self._params[slot]

    def set_params(self, slot: int, params: VehicleParams) -> None:
        """Replace a vehicle's physical limits (e.g. after ``apply_physics_control``)."""
        self._check(slot)
        self._params[slot] = params
        self._refresh_params(slot)

    def set_control(
        self,
        slot: int,
        throttle: float = 0.0,
        steer: float = 0.0,
        brake: float = 0.0,
        hand_brake: bool = False,
        reverse: bool = False,
        manual_gear_shift: bool = False,
        gear: int = 0,
    ) -> None:
        """Set the vehicle's control; it stays in force until the next call (sticky).

        Throttle and brake are clamped to [0, 1], steer to [-1, 1]. ``reverse`` (or a negative
        ``gear`` with ``manual_gear_shift``) makes throttle drive backwards; ``gear == 0`` with
        ``manual_gear_shift`` is neutral. It ends an Ackermann control.
        """
        self._check(slot)
        if self._ack_on[slot]:
            self._end_ackermann(np.array([slot]))
        self._control[slot] = (
            min(max(throttle, 0.0), 1.0),
            min(max(steer, -1.0), 1.0),
            min(max(brake, 0.0), 1.0),
            float(bool(hand_brake)),
            float(bool(reverse)),
            float(bool(manual_gear_shift)),
            float(int(gear)),
        )
        self._refresh_control(slot)

    def set_controls(self, slots: np.ndarray, controls: np.ndarray) -> None:
        """``set_control`` for many vehicles at once (a batch of commands).

        Args:
            slots: (K,) slots; a slot given twice takes its last control.
            controls: (K, 7) throttle, steer, brake, hand_brake, reverse, manual_gear_shift,
                gear, clamped like ``set_control``.
        """
        slots = np.asarray(slots, dtype=np.intp)
        if len(slots) == 0:
            return
        if slots.min() < 0 or slots.max() >= self._capacity or not self._active[slots].all():
            raise KeyError(f"no vehicle in some of slots {slots.tolist()}")
        c = np.array(controls, dtype=np.float64).reshape(len(slots), 7)
        pedals = c[:, 0:3:2]  # throttle and brake: one call clips both
        np.clip(pedals, 0.0, 1.0, out=pedals)
        np.clip(c[:, STEER], -1.0, 1.0, out=c[:, STEER])
        c[:, 3:6] = c[:, 3:6] != 0.0
        np.trunc(c[:, 6], out=c[:, 6])
        if self._ack_any:
            self._end_ackermann(slots[self._ack_on[slots]])
        self._control[slots] = c
        self._refresh_control(slots)

    def set_transform(self, slot: int, transform: Transform) -> None:
        """Teleport a vehicle.

        As CARLA's teleport keeps the physics state, the world-frame velocity is kept as far as
        the model can hold it: its component along the new heading becomes the speed (a
        kinematic bicycle cannot slide sideways). The angular velocity and the wheel angle are
        kept too.
        """
        self._check(slot)
        t = transform
        self._pose[slot] = (t.x, t.y, t.z, t.pitch, t.yaw, t.roll)
        yaw = math.radians(t.yaw)
        self._heading[slot] = complex(math.cos(yaw), math.sin(yaw))
        self._grav[slot] = 0.0
        vx, vy, vz = self._vel4[slot, :3]
        self._set_speed_from(slot, vx, vy, vz)

    def set_velocity(self, slot: int, vx: float, vy: float, vz: float) -> None:
        """Set the current world-frame velocity once, like CARLA's ``set_target_velocity``.

        Only the component along the heading is kept (the model has no sideways slip); the
        vertical component is kept until the next step re-derives it from the ground. Ignored
        while physics is disabled.
        """
        self._check(slot)
        if self._dyn[slot]:
            self._set_speed_from(slot, vx, vy, vz)

    def _set_speed_from(self, slot: int, vx: float, vy: float, vz: float) -> None:
        heading = complex(self._heading[slot])
        speed = vx * heading.real + vy * heading.imag
        self._speed[slot] = speed
        self._vel4[slot, :3] = (speed * heading.real, speed * heading.imag, vz)

    def set_angular_velocity(self, slot: int, wx: float, wy: float, wz: float) -> None:
        """Set the current angular velocity [deg/s] once (ignored while physics is disabled).

        The yaw rate beyond what speed and steering give becomes a spin (as from an angular
        impulse) that tyre friction damps with ``SPIN_DECAY_TIME``; roll and pitch rates have
        no dynamics and are reported for one step.
        """
        self._check(slot)
        if self._dyn[slot]:
            self._angvel[slot] = (wx, wy, wz)
            self._spun = True
            steered = self._speed[slot] * math.tan(self._wheel[slot]) * self._inv_wb[slot]
            self._spin[slot] = math.radians(wz) - steered
            self._spin_any = self._spin_any or bool(self._spin[slot])

    def set_constant_velocity(self, slot: int, forward: float, right: float, up: float) -> None:
        """Keep the vehicle at this velocity in its own frame every step until cleared
        (CARLA's ``enable_constant_velocity``): pedals, drag and brakes stop acting on it.

        The forward and sideways parts move the vehicle; ``up`` is ignored, as the vehicle
        stays on the ground. Vehicles with physics disabled do not move.
        """
        self._check(slot)
        self._cv[slot] = (forward, right, up)
        self._cv_on[slot] = True
        self._cv_any = True

    def clear_constant_velocity(self, slot: int) -> None:
        """Stop holding the velocity; the vehicle keeps the speed it had and coasts on."""
        self._check(slot)
        self._cv_on[slot] = False
        self._cv[slot] = 0.0
        self._cv_any = bool(self._cv_on.any())

    def constant_velocity(self, slot: int) -> tuple[float, float, float] | None:
        """The velocity held by ``set_constant_velocity`` (vehicle frame), or None."""
        self._check(slot)
        if not self._cv_on[slot]:
            return None
        forward, right, up = (float(v) for v in self._cv[slot])
        return forward, right, up

    def set_ackermann(
        self, slot: int, steer: float, steer_speed: float, speed: float, acceleration: float
    ) -> None:
        """Drive the vehicle by CARLA's ``VehicleAckermannControl`` until the next
        ``set_control``: the front wheels turn to ``steer`` [rad, positive right] at
        ``steer_speed`` [rad/s] (0: the model's own rate), the speed goes to ``speed`` [m/s,
        negative: reverse] with at most ``acceleration`` [m/s^2] (0: as hard as the vehicle
        can, i.e. ``max_accel`` speeding up and ``max_brake_decel`` slowing down).
        """
        self._check(slot)
        max_steer = self._max_steer[slot]
        angle = min(max(steer, -max_steer), max_steer)
        self._ack[slot] = (speed, acceleration)
        self._ack_on[slot] = True
        self._ack_any = True
        self._steer_rate[slot] = (
            steer_speed if steer_speed > 0.0 else max_steer / STEER_FULL_LOCK_TIME
        )
        self._rate_dt = 0.0
        # The reported control: the wheel angle as a steer fraction, reverse for a negative
        # target; the pedals are filled in by each step.
        self._control[slot] = (0.0, angle / max_steer, 0.0, 0.0, float(speed < 0.0), 0.0, 0.0)
        self._refresh_control(slot)
        self._wheel_cmd[slot] = angle

    def ackermann_target(self, slot: int) -> tuple[float, float] | None:
        """(speed, acceleration) of the Ackermann control driving the slot, or None."""
        self._check(slot)
        if not self._ack_on[slot]:
            return None
        speed, acceleration = (float(v) for v in self._ack[slot])
        return speed, acceleration

    def _end_ackermann(self, slots: np.ndarray) -> None:
        self._ack_on[slots] = False
        self._steer_rate[slots] = self._max_steer[slots] / STEER_FULL_LOCK_TIME
        self._rate_dt = 0.0
        self._ack_any = bool(self._ack_on.any())

    def _ackermann_speeds(self, v0: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """New speeds of the Ackermann-driven slots and the mask of those slots."""
        on = self._ack_on & self._dyn
        target = np.clip(self._ack[:, 0], -self._top_rev, self._top_fwd)
        bound = self._ack[:, 1]
        speeding_up = (np.abs(target) > np.abs(v0)) & (target * v0 >= 0.0)
        limit = np.where(speeding_up, self._max_accel, self._brake_decel)
        limit = np.where(bound > 0.0, np.minimum(bound, limit), limit) * dt
        change = np.clip(target - v0, -limit, limit)
        # Report the pedals that would do this.
        pedal = np.abs(change) / np.maximum(limit, 1e-9)
        self._control[:, THROTTLE] = np.where(on & speeding_up, pedal, self._control[:, THROTTLE])
        self._control[:, BRAKE] = np.where(on & ~speeding_up, pedal, self._control[:, BRAKE])
        return v0 + change, on

    def rolled(self, slot: int) -> float:
        """Signed distance [m] the vehicle's wheels have rolled since it was added."""
        self._check(slot)
        return float(self._rolled[slot])

    def wheel_angle(self, slot: int) -> float:
        """The front wheels' current angle [rad] (positive: steering right)."""
        self._check(slot)
        return float(self._wheel[slot])

    def add_yaw_rate(self, slot: int, rate: float) -> None:
        """Spin the vehicle about its vertical axis by ``rate`` [rad/s] (positive: the yaw
        grows), on top of the yaw rate of its steering; tyre friction damps it with
        ``SPIN_DECAY_TIME``. Ignored while physics is disabled."""
        self._check(slot)
        if self._dyn[slot] and rate:
            self._spin[slot] += rate
            self._spin_any = True

    def set_simulate_physics(self, slot: int, enabled: bool) -> None:
        """Enable or disable physics; a disabled vehicle stays where put, at zero velocity."""
        self._check(slot)
        self._dyn[slot] = enabled
        if not enabled:
            self._speed[slot] = self._grav[slot] = self._spin[slot] = 0.0
            self._vel4[slot] = self._acc4[slot] = self._angvel[slot] = 0.0
        self._refresh_control(slot)

    def simulates_physics(self, slot: int) -> bool:
        """Whether physics is enabled for the vehicle in ``slot``."""
        self._check(slot)
        return bool(self._dyn[slot])

    @property
    def gear(self) -> np.ndarray:
        """(N,) gear shown to clients: -1 reverse, the manual gear, else 1..FORWARD_GEARS."""
        control = self._control
        auto = np.minimum(
            1 + (np.abs(self._speed) / self._gear_band).astype(np.int64), FORWARD_GEARS
        )
        gear = np.where(control[:, MANUAL_GEAR_SHIFT] > 0, control[:, GEAR], auto)
        gear = np.where(control[:, REVERSE] > 0, -1, gear).astype(np.int64)
        gear[~self._active] = 0
        return gear

    # ---------------------------------------------------------------------------- step

    def step(self, dt: float, ground_height: GroundHeight | None = None) -> None:
        """Advance every vehicle by ``dt`` seconds.

        Args:
            dt: step length [s], > 0.
            ground_height: ``(xs, ys) -> zs`` road height query, called once with the front
                and rear axle points of every slot; when given, vehicles sit on it (z and pitch
                follow it and slopes pull on them), otherwise z and pitch stay put.
        """
        if not dt > 0.0:
            raise ValueError(f"dt must be positive, got {dt}")
        v0 = self._speed
        hold = self._cv_any
        if hold:
            held = self._cv_on & self._dyn
            np.copyto(v0, self._cv[:, 0], where=held)
        # Longitudinal: drive force falls linearly with the fraction of top speed reached.
        frac = v0 * self._inv_top
        np.maximum(frac, 0.0, out=frac)
        np.minimum(frac, 1.0, out=frac)
        accel = frac * self._a1
        accel += self._a0
        accel -= self._grav
        accel *= dt
        v1 = accel
        v1 += v0
        # Brakes and resistances shrink |v| towards 0 and stop there (static friction).
        slow = v1 * self._drag
        slow *= v1
        slow += self._decel
        slow *= dt
        v2 = np.abs(v1)
        v2 -= slow
        np.maximum(v2, 0.0, out=v2)
        np.copysign(v2, v1, out=v2)
        if self._ack_any:
            driven, ack_on = self._ackermann_speeds(v0, dt)
            np.copyto(v2, driven, where=ack_on)
        if hold:
            np.copyto(v2, self._cv[:, 0], where=held)
        # Steering: rate-limited towards the command, then bounded by the lateral-accel limit.
        if dt != self._rate_dt:
            self._rate_dt = dt
            self._rate_up = self._steer_rate * dt
            self._rate_down = -self._rate_up
        wheel = self._wheel_cmd - self._wheel
        np.minimum(wheel, self._rate_up, out=wheel)
        np.maximum(wheel, self._rate_down, out=wheel)
        wheel += self._wheel
        limit = np.arctan2(self._lat_lim, v2 * v2)
        np.minimum(wheel, limit, out=wheel)
        np.negative(limit, out=limit)
        np.maximum(wheel, limit, out=wheel)
        self._wheel = wheel
        curvature = np.tan(wheel)
        curvature *= self._inv_wb
        # Arc of the rear axle: distance ds (trapezoidal speed), yaw change ds * curvature.
        # The origin, half a wheelbase ahead, moves by ds forward and half_wb * dyaw sideways
        # in the frame of the mid-step heading.
        move = self._move
        ds = np.add(v0, v2, out=self._move_re)
        ds *= 0.5 * dt
        self._rolled += ds
        dyaw = ds * curvature
        np.multiply(dyaw, self._half_wb, out=self._move_im)
        np.multiply(dyaw, 0.5, out=self._turn_im)
        half_turn = np.exp(self._turn)
        heading = self._heading
        heading *= half_turn
        move *= heading
        self._xy += move
        heading *= half_turn
        if self._spin_any:
            heading *= np.exp(1j * dt * self._spin)
        if hold:
            lateral = np.where(held, self._cv[:, 1], 0.0)
            self._xy += heading * (1j * dt) * lateral
        dyn = self._dyn
        # Only vehicles with physics get their yaw re-derived from the heading, so a frozen
        # one keeps exactly the yaw it was given.
        np.degrees(np.arctan2(self._head_im, self._head_re), out=self._yaw, where=dyn)
        # Velocity of the origin: speed along the heading plus the yaw-rate swing.
        yaw_rate = v2 * curvature
        np.degrees(yaw_rate, out=self._yaw_rate)
        if self._spin_any:
            self._yaw_rate += np.degrees(self._spin)
            spin = self._spin
            spin *= math.exp(-dt / SPIN_DECAY_TIME)
            spin[np.abs(spin) < _SPIN_AT_REST] = 0.0
            self._spin_any = bool(spin.any())
        if self._spun:
            # Roll and pitch rates set by set_angular_velocity last one step only.
            self._angvel[:, :2] = 0.0
            self._spun = False
        vnew = self._vnew
        self._vnew_re[:] = v2
        np.multiply(yaw_rate, self._half_wb, out=self._vnew_im)
        if hold:
            self._vnew_im += lateral
        vnew *= heading
        inv_dt = 1.0 / dt
        np.subtract(vnew, self._vel_xy, out=self._acc_xy)
        self._acc_xy *= inv_dt
        self._vel_xy[:] = vnew
        self._speed = v2
        if ground_height is not None:
            self._follow_ground(ground_height, dyn, inv_dt)

    def _follow_ground(self, ground_height: GroundHeight, dyn: np.ndarray, inv_dt: float) -> None:
        """Seat every moving vehicle on the ground under its axles and derive its slope."""
        half = self._heading * self._half_wb
        xy = self._xy
        axles = np.concatenate((xy + half, xy - half))
        heights = np.asarray(ground_height(axles.real, axles.imag), dtype=np.float64)
        n = self._capacity
        front, rear = heights[:n], heights[n:]
        slope = front - rear
        slope *= self._inv_wb  # tan(pitch)
        np.multiply(slope, self._grav_gain, out=self._grav)
        z = front + rear
        z *= 0.5
        np.copyto(self._z, z, where=dyn)
        np.degrees(np.arctan(slope), out=self._pitch, where=dyn)
        # Vertical velocity along the slope (not from z jumps, e.g. a spawn drop, which would
        # otherwise show as a huge spike in velocity and acceleration).
        vz = self._speed * slope
        np.subtract(vz, self._vel_z, out=self._acc_z)
        self._acc_z *= inv_dt
        self._vel_z[:] = vz
