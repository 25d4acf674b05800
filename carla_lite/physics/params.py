"""Per-vehicle physical limits, filled from each blueprint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VehicleParams:
    """Limits of the kinematic-bicycle vehicle model, SI units.

    Attributes:
        wheelbase: distance between axles [m].
        max_steer_deg: front-wheel angle at steer = +-1 [deg].
        max_accel: acceleration at full throttle from standstill [m/s^2].
        max_brake_decel: deceleration at full brake [m/s^2].
        max_speed: top speed forward [m/s].
        max_reverse_speed: top speed in reverse [m/s].
        drag: aerodynamic drag factor, deceleration = drag * v^2 [1/m].
        rolling_resistance: constant deceleration while rolling [m/s^2].
        mass: vehicle mass [kg], used for collision impulses.
    """

    wheelbase: float = 2.8
    max_steer_deg: float = 70.0
    max_accel: float = 4.0
    max_brake_decel: float = 9.0
    max_speed: float = 50.0
    max_reverse_speed: float = 8.0
    drag: float = 0.0004
    rolling_resistance: float = 0.15
    mass: float = 1600.0
