"""Episode settings as the world keeps them (the wire layout lives in protocol/)."""

from __future__ import annotations

from dataclasses import dataclass

#: Step used when the world ticks without a fixed delta [s].
DEFAULT_VARIABLE_DELTA = 0.05


@dataclass(slots=True)
class WorldSettings:
    """CARLA's episode settings, same names and defaults as ``carla.WorldSettings``."""

    synchronous_mode: bool = False
    no_rendering_mode: bool = False
    fixed_delta_seconds: float | None = None
    substepping: bool = True
    max_substep_delta_time: float = 0.01
    max_substeps: int = 10
    max_culling_distance: float = 0.0
    deterministic_ragdolls: bool = True
    tile_stream_distance: float = 3000.0
    actor_active_distance: float = 2000.0
    spectator_as_ego: bool = True
