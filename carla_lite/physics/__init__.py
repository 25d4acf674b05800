"""Vectorised physics: vehicle dynamics, walker kinematics and oriented-box collisions."""

from carla_lite.physics.collision import (
    PairResponse,
    StaticContacts,
    StaticResponse,
    box_corners,
    contact_normal_and_depth,
    overlapping_pairs,
    perimeter_samples,
    resolve_static,
    resolve_vehicle_pair,
    static_contacts,
    static_hits,
)
from carla_lite.physics.params import VehicleParams
from carla_lite.physics.vehicle_dynamics import VehicleFleet
from carla_lite.physics.walkers import WalkerCrowd

__all__ = [
    "PairResponse",
    "StaticContacts",
    "StaticResponse",
    "VehicleFleet",
    "VehicleParams",
    "WalkerCrowd",
    "box_corners",
    "contact_normal_and_depth",
    "overlapping_pairs",
    "perimeter_samples",
    "resolve_static",
    "resolve_vehicle_pair",
    "static_contacts",
    "static_hits",
]
