"""Packs a world snapshot and sensor events into stream messages."""

from __future__ import annotations

import numpy as np

from carla_lite.protocol import serializers
from carla_lite.world.snapshot import WorldSnapshot

#: Who the static world is when a vehicle hits it (CARLA reports a fake static actor).
STATIC_OBSTACLE_TYPE = "static.building"


def pack_episode_state(
    snapshot: WorldSnapshot, platform_timestamp: float, simulation_state: int = 0
) -> bytes:
    """The world-observer message (stream 1) for one frame: every live actor, active."""
    rows = np.zeros(len(snapshot.ids), dtype=serializers.ACTOR_STATE_DTYPE)
    rows["id"] = snapshot.ids
    rows["actor_state"] = 1
    pose = snapshot.pose
    for column, name in enumerate(("x", "y", "z", "pitch", "yaw", "roll")):
        rows[name] = pose[:, column]
    for block, names in (
        (snapshot.velocity, ("vx", "vy", "vz")),
        (snapshot.angular_velocity, ("wx", "wy", "wz")),
        (snapshot.acceleration, ("ax", "ay", "az")),
    ):
        for column, name in enumerate(names):
            rows[name] = block[:, column]
    v = snapshot.vehicle_rows
    if len(v):
        control = snapshot.vehicle_control
        for column, name in enumerate(
            ("throttle", "steer", "brake", "hand_brake", "reverse", "manual_gear_shift", "gear")
        ):
            rows[name][v] = control[:, column]
        rows["speed_limit"][v] = snapshot.vehicle_speed_limit
        rows["traffic_light_state"][v] = snapshot.vehicle_light_state
        rows["has_traffic_light"][v] = snapshot.vehicle_has_light
        rows["traffic_light_id"][v] = snapshot.vehicle_light_id
    w = snapshot.walker_rows
    if len(w):
        for column, name in enumerate(("walker_dx", "walker_dy", "walker_dz")):
            rows[name][w] = snapshot.walker_direction[:, column]
        rows["walker_speed"][w] = snapshot.walker_speed
    li = snapshot.light_rows
    if len(li):
        rows["sign_id"][li] = snapshot.light_sign_ids
        for column, name in enumerate(("green_time", "yellow_time", "red_time", "elapsed_time")):
            rows[name][li] = snapshot.light_times[:, column]
        rows["pole_index"][li] = snapshot.light_pole_index
        rows["time_is_frozen"][li] = snapshot.light_frozen
        rows["tl_state"][li] = snapshot.light_state
    return serializers.episode_state(
        snapshot.frame,
        snapshot.elapsed_seconds,
        snapshot.episode_id,
        platform_timestamp,
        snapshot.delta_seconds,
        simulation_state,
        rows,
    )
