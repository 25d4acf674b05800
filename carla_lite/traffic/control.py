"""Vehicle control: speeds to stop in time, path-tracking steering, pedals.

Pure functions over arrays of the Traffic Manager's vehicles; ``Rows`` holds each vehicle's
fixed columns (wheelbase, steering lock, acceleration, half extents...).
"""

from __future__ import annotations

import math

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph
from carla_lite.traffic.paths import HORIZON

#: Per-vehicle columns, one row per Traffic Manager vehicle.
Rows = dict[str, np.ndarray]

COMFORT_DECEL = 3.5  # [m/s^2] planned braking for lights, curves and traffic
TIME_HEADWAY = 0.8  # [s] extra gap per m/s of own speed
SPEED_GAIN = 1.5  # [1/s] acceleration per m/s of speed error
BRAKE_GAIN = 3.0  # [1/s] deceleration per m/s of speed above the target
HOLD_SPEED = 0.3  # [m/s] below this with a stop target, the brake is held
MIN_LOOK_AHEAD = 1.5  # [m] pure-pursuit correction distance at low speed
MAX_LOOK_AHEAD = 4.0  # [m]
LOOK_AHEAD_TIME = 0.3  # [s]
STEER_LAG = 0.15  # [s] the wheels' time to full lock: the curvature that far ahead is used
WIDE_VEHICLE_CLEARANCE = 0.3  # [m] kept from the lane's inner edge by oversized vehicles
PLAN_PERIOD = 0.25  # [s] of simulation between two plans (controls hold in between)
MIN_LOOK_AHEAD_POINTS = 16  # path waypoints checked for hazards at least


def stop_speed(distance: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Highest speed that still stops within ``distance`` at the comfortable deceleration."""
    room = np.maximum(distance, 0.0)
    return np.where(active, np.sqrt(2.0 * COMFORT_DECEL * room), np.inf)


def look_ahead(g: LaneGraph, speed: np.ndarray) -> int:
    """Waypoints of the path worth checking this plan: the fastest vehicle's braking
    distance, headway and a margin (the buffer itself always holds ``HORIZON``)."""
    v = float(np.abs(speed).max()) + 2.0
    reach = v * v / (2.0 * COMFORT_DECEL) + v * (TIME_HEADWAY + PLAN_PERIOD) + 15.0
    # Plain min/max: np.clip's Python wrapper costs more than this on one number.
    return min(max(math.ceil(reach / g.spacing), MIN_LOOK_AHEAD_POINTS), HORIZON)


def steering(
    g: LaneGraph,
    path: np.ndarray,
    d0: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pyaw: np.ndarray,
    speed: np.ndarray,
    lane_offset: np.ndarray,
    st: Rows,
) -> np.ndarray:
    """Path-tracking steering: the lane's curvature ahead plus pure-pursuit corrections.

    For the bicycle model, a look-ahead ``L`` corrects a lateral error ``e`` and a heading
    error ``psi`` with the curvature ``-2 e / L^2 - 2 sin(psi) / L`` (pure pursuit,
    linearised); adding the lane's own curvature (feed-forward) keeps the car on the lane
    centre through curves instead of cutting them.
    """
    rows = np.arange(len(path))
    # Reference: the lane at the car's station, from waypoint 0 along its arc.
    w0 = path[:, 0]
    arc = -d0
    bend = g.signed_curvature[w0]
    dx, dy = px - g.x[w0], py - g.y[w0]
    # A vehicle wider than its lane keeps to the kerb side rather than overhang the
    # oncoming lane (CARLA's towns are right-hand traffic, so that is right).
    overhang = np.maximum(st["half_width"] - 0.5 * g.width[w0] + WIDE_VEHICLE_CLEARANCE, 0.0)
    offset = lane_offset + overhang
    lateral = dy * g.hx[w0] - dx * g.hy[w0] - 0.5 * bend * arc**2 - offset
    ref_yaw = g.yaw[w0] + np.degrees(bend * arc)
    heading = np.radians((pyaw - ref_yaw + 180.0) % 360.0 - 180.0)
    look = np.clip(LOOK_AHEAD_TIME * np.abs(speed) + MIN_LOOK_AHEAD, 0.0, MAX_LOOK_AHEAD)
    # The lane's curvature where the car will be once the wheels have turned.
    reach = np.abs(speed) * STEER_LAG - d0
    ahead = np.clip((reach / g.spacing).astype(np.int64), 0, path.shape[1] - 1)
    feed_forward = g.signed_curvature[path[rows, ahead]]
    curvature = feed_forward - 2.0 * lateral / look**2 - 2.0 * np.sin(heading) / look
    wheel = np.arctan(curvature * st["wheelbase"])
    return np.clip(wheel / st["max_steer"], -1.0, 1.0)


def pedals(speed: np.ndarray, target: np.ndarray, st: Rows) -> tuple[np.ndarray, np.ndarray]:
    """Throttle and brake towards the target speed (harder when braking), the brake held
    at a standstill."""
    error = target - speed
    gain = np.where(error < 0.0, BRAKE_GAIN, SPEED_GAIN)
    accel = np.clip(gain * error, -st["brake_decel"], st["max_accel"])
    throttle = np.clip(accel / st["max_accel"] + 0.05 * (target > HOLD_SPEED), 0.0, 1.0)
    brake = np.clip(-accel / st["brake_decel"], 0.0, 1.0)
    brake = np.where(accel < -0.2, brake, 0.0)
    hold = (target < HOLD_SPEED) & (speed < 1.0)
    throttle = np.where(hold, 0.0, np.where(accel < 0.0, 0.0, throttle))
    brake = np.where(hold, 1.0, brake)
    return throttle, brake
