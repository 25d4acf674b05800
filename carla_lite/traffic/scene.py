"""What the Traffic Manager reads from the world each tick (and the one thing it writes).

The world fills a ``TrafficScene``; the traffic package never imports the world, so the
arrows stay one way (world -> traffic -> maps, physics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from carla_lite.maps.lane_graph import LaneGraph
from carla_lite.physics import VehicleFleet, VehicleParams


@dataclass(frozen=True, slots=True)
class VehicleBody:
    """Fixed facts of one vehicle the planner needs."""

    slot: int
    params: VehicleParams
    half_length: float
    half_width: float
    is_hero: bool = False


@dataclass(slots=True)
class TrafficScene:
    """One tick's view of the world.

    Attributes:
        graph: The map's lane graph.
        fleet: The vehicles' physics state (poses, speeds; controls are written here).
        bodies: Every vehicle by actor id (Traffic Manager vehicles and others, the hero).
        vehicle_ids, vehicle_slots, vehicle_half_length, vehicle_half_width: The same
            vehicles as arrays, by ascending id.
        walker_xy: (W, 2) walker positions.
        light_state: State of each traffic light row (``LightState`` values).
        lights_key: Changes when the set of traffic lights changes (a new episode).
        light_rows_at: ``(xs, ys, yaws_deg) -> light row or -1`` for points on lanes
            entering a light-controlled junction (the lights' trigger zones).
        light_flags: Vehicle light states by actor id, updated for vehicles whose lights
            the Traffic Manager manages.
    """

    graph: LaneGraph
    fleet: VehicleFleet
    bodies: dict[int, VehicleBody]
    vehicle_ids: np.ndarray
    vehicle_slots: np.ndarray
    vehicle_half_length: np.ndarray
    vehicle_half_width: np.ndarray
    walker_xy: np.ndarray
    light_state: np.ndarray
    lights_key: object
    light_rows_at: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    light_flags: dict[int, int]
