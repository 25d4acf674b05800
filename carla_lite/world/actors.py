"""Actor records kept by the world."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from carla_lite.blueprints import Blueprint
from carla_lite.geom import BoundingBox, Transform, Vector3
from carla_lite.physics.physics_control import VehiclePhysicsControl


class ActorKind(enum.Enum):
    VEHICLE = "vehicle"
    WALKER = "walker"
    SENSOR = "sensor"
    TRAFFIC_LIGHT = "traffic_light"
    TRAFFIC_SIGN = "traffic_sign"
    CONTROLLER = "controller"
    SPECTATOR = "spectator"
    STATIC = "static"


def kind_of(blueprint_id: str) -> ActorKind:
    """The actor class the client will build for a blueprint id (client/detail/ActorFactory)."""
    if blueprint_id.startswith("vehicle."):
        return ActorKind.VEHICLE
    if blueprint_id.startswith("walker."):
        return ActorKind.WALKER
    if blueprint_id.startswith("sensor."):
        return ActorKind.SENSOR
    if blueprint_id.startswith("traffic.traffic_light"):
        return ActorKind.TRAFFIC_LIGHT
    if blueprint_id.startswith("traffic."):
        return ActorKind.TRAFFIC_SIGN
    if blueprint_id.startswith("controller."):
        return ActorKind.CONTROLLER
    if blueprint_id == "spectator":
        return ActorKind.SPECTATOR
    return ActorKind.STATIC


#: Sensors the client implements itself: spawned on the server, but with no stream.
CLIENT_SIDE_SENSORS = frozenset({"sensor.other.lane_invasion"})

ZERO_BOX = BoundingBox(Vector3(), Vector3())


@dataclass(slots=True)
class VehicleExtras:
    """A vehicle's state from its physics calls that the fleet's arrays do not hold.

    Attributes:
        physics_control: the last ``apply_physics_control`` (None: the blueprint's default).
        ackermann_settings: Ackermann controller gains, speed kp ki kd then acceleration kp ki
            kd (None: CARLA's defaults).
        wheel_pitch_offset: degrees ``set_wheel_pitch_angle`` added to each wheel's rolling
            angle (FL, FR, BL, BR).
    """

    physics_control: VehiclePhysicsControl | None = None
    ackermann_settings: tuple[float, ...] | None = None
    wheel_pitch_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])


@dataclass(slots=True, eq=False)
class Actor:
    """One live actor.

    ``transform`` is authoritative for actors without physics (spectator, lights, props);
    vehicles and walkers read theirs from the physics arrays through ``slot``; attached
    actors (``parent_id`` != 0) are placed at ``relative`` to their parent every tick.
    """

    id: int
    blueprint: Blueprint
    attributes: dict[str, str]
    kind: ActorKind
    transform: Transform
    parent_id: int = 0
    attachment_type: int = 0
    relative: Transform = field(default_factory=Transform)
    slot: int = -1
    sticky_control: bool = True
    children: list[int] = field(default_factory=list)
    #: What a vehicle's physics calls set beyond the fleet's arrays.
    vehicle: VehicleExtras = field(default_factory=VehicleExtras)

    @property
    def type_id(self) -> str:
        return self.blueprint.id

    @property
    def bounding_box(self) -> BoundingBox:
        return self.blueprint.bounding_box or ZERO_BOX

    @property
    def semantic_tags(self) -> bytes:
        return bytes([self.blueprint.semantic_tag]) if self.blueprint.semantic_tag else b""
