"""Kinds of infraction, their Leaderboard penalty coefficients, and one recorded event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class InfractionKind(StrEnum):
    """What went wrong (values are the Leaderboard's result-file names)."""

    COLLISION_PEDESTRIAN = "collisions_pedestrian"
    COLLISION_VEHICLE = "collisions_vehicle"
    COLLISION_STATIC = "collisions_layout"
    RED_LIGHT = "red_light"
    STOP_SIGN = "stop_infraction"
    OUTSIDE_ROUTE_LANES = "outside_route_lanes"
    ROUTE_DEVIATION = "route_dev"
    AGENT_BLOCKED = "vehicle_blocked"


COLLISIONS = (
    InfractionKind.COLLISION_PEDESTRIAN,
    InfractionKind.COLLISION_VEHICLE,
    InfractionKind.COLLISION_STATIC,
)

#: The Leaderboard's coefficients: each infraction multiplies the penalty by its value.
#: Outside-lanes driving discounts the completion instead; deviation and blocking end the
#: route (their cost is the completion lost).
PENALTIES: dict[InfractionKind, float] = {
    InfractionKind.COLLISION_PEDESTRIAN: 0.50,
    InfractionKind.COLLISION_VEHICLE: 0.60,
    InfractionKind.COLLISION_STATIC: 0.65,
    InfractionKind.RED_LIGHT: 0.70,
    InfractionKind.STOP_SIGN: 0.80,
}

#: Infractions that end the route.
ROUTE_ENDING = (InfractionKind.ROUTE_DEVIATION, InfractionKind.AGENT_BLOCKED)


@dataclass(frozen=True)
class Infraction:
    """One infraction: its kind, when [s of simulation] and where [m], and what was hit."""

    kind: InfractionKind
    time: float
    x: float
    y: float
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        """A json-friendly form."""
        return {
            "kind": self.kind.value,
            "time_s": round(self.time, 2),
            "location": [round(self.x, 1), round(self.y, 1)],
            "detail": self.detail,
        }
