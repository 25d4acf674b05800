"""Packs a world snapshot and sensor events into stream messages."""

from __future__ import annotations

import numpy as np

from carla_lite.protocol import serializers
from carla_lite.world.snapshot import WorldSnapshot

#: Who the static world is when a vehicle hits it (CARLA reports a fake static actor).
STATIC_OBSTACLE_TYPE = "static.building"


def _block(first: str, names: tuple[str, ...], base: str) -> tuple[int, tuple[str, tuple[int]]]:
    """Offset and format of consecutive same-type fields ``names`` starting at ``first``."""
    fields = serializers.ACTOR_STATE_DTYPE.fields
    assert fields is not None
    start = fields[first][1]
    size = np.dtype(base).itemsize
    if [fields[name][1] for name in names] != [start + size * k for k in range(len(names))]:
        raise AssertionError(f"ActorDynamicState fields {names} are not contiguous")
    return start, (base, (len(names),))


def _blocks_view(**blocks: tuple[str, tuple[str, ...], str]) -> np.dtype:
    """A dtype over ACTOR_STATE_DTYPE rows that sees each block of fields as one array."""
    offsets, formats = zip(*(_block(*spec) for spec in blocks.values()), strict=True)
    return np.dtype(
        {
            "names": list(blocks),
            "formats": list(formats),
            "offsets": list(offsets),
            "itemsize": serializers.ACTOR_STATE_DTYPE.itemsize,
        }
    )


# Packing whole blocks of fields at once keeps the per-frame cost to a few numpy calls.
_BLOCKS = _blocks_view(
    kinematics=("x", ("x", "y", "z", "pitch", "yaw", "roll", "vx", "vy", "vz",
                      "wx", "wy", "wz", "ax", "ay", "az"), "<f4"),
    pedals=("throttle", ("throttle", "steer", "brake"), "<f4"),
    flags=("hand_brake", ("hand_brake", "reverse", "manual_gear_shift"), "u1"),
    light_times=("green_time", ("green_time", "yellow_time", "red_time", "elapsed_time"), "<f4"),
    walker_direction=("walker_dx", ("walker_dx", "walker_dy", "walker_dz"), "<f4"),
)  # fmt: skip
_templates: dict[int, np.ndarray] = {}


def _template(snapshot: WorldSnapshot) -> np.ndarray:
    """Rows with the fields that only change with the set of actors, cached per layout.

    Kept as raw bytes: copying a dtype with overlapping (union) fields goes field by field
    and costs far more than a plain byte copy.
    """
    rows = _templates.get(snapshot.layout_version)
    if rows is None:
        _templates.clear()
        rows = np.zeros(len(snapshot.ids), dtype=serializers.ACTOR_STATE_DTYPE)
        rows["id"] = snapshot.ids
        rows["actor_state"] = serializers.ACTOR_STATE_ACTIVE
        li = snapshot.light_rows
        if len(li):
            rows["sign_id"][li] = snapshot.light_sign_ids
            rows["pole_index"][li] = snapshot.light_pole_index
        rows = rows.view(np.uint8)
        _templates[snapshot.layout_version] = rows
    return rows


def pack_episode_state(
    snapshot: WorldSnapshot, platform_timestamp: float, simulation_state: int = 0
) -> bytes:
    """The world-observer message (stream 1) for one frame: every live actor, active."""
    rows = _template(snapshot).copy().view(serializers.ACTOR_STATE_DTYPE)
    blocks = rows.view(_BLOCKS)
    blocks["kinematics"] = snapshot.kinematics
    v = snapshot.vehicle_rows
    if len(v):
        control = snapshot.vehicle_control
        blocks["pedals"][v] = control[:, 0:3]
        blocks["flags"][v] = control[:, 3:6]
        rows["gear"][v] = control[:, 6]
        rows["speed_limit"][v] = snapshot.vehicle_speed_limit
        rows["traffic_light_state"][v] = snapshot.vehicle_light_state
        rows["has_traffic_light"][v] = snapshot.vehicle_has_light
        rows["traffic_light_id"][v] = snapshot.vehicle_light_id
    w = snapshot.walker_rows
    if len(w):
        blocks["walker_direction"][w] = snapshot.walker_direction
        rows["walker_speed"][w] = snapshot.walker_speed
    li = snapshot.light_rows
    if len(li):
        blocks["light_times"][li] = snapshot.light_times
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
