"""msgpack values <-> Python records, laid out as CARLA 0.9.16's ``MSGPACK_DEFINE_ARRAY``s.

The client unpacks with msgpack-c, which is strict about element types: integer fields
need msgpack ints, ``bool`` fields need msgpack booleans, ``float``/``double`` fields
accept floats or ints, and byte vectors (``semantic_tags``, stream tokens) must be
``bin``. Everything built here therefore converts explicitly (``float(...)``,
``int(...)``, ``bool(...)``, ``bytes(...)``); pack the results with
``use_bin_type=True``. Decoders are lenient about missing trailing elements (msgpack-c
keeps the C++ defaults) and strict about types: they raise :class:`WireError`.

Layouts are checked against the wheel's DWARF by
``tests/carla_lite/protocol/test_wire_layouts.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from carla_lite.geom import BoundingBox, Transform, Vector3

__all__ = [
    "COMMAND_FIELDS",
    "ActorDescription",
    "Command",
    "CommandType",
    "EpisodeSettings",
    "VehicleControl",
    "WalkerControl",
    "WeatherParameters",
    "WireError",
    "actor_definition_to_wire",
    "actor_description_from_wire",
    "actor_description_to_wire",
    "actor_to_wire",
    "bbox_to_wire",
    "decode_command",
    "error",
    "error_void",
    "location_from_wire",
    "location_to_wire",
    "ok",
    "ok_void",
    "transform_from_wire",
    "transform_to_wire",
]


class WireError(ValueError):
    """A msgpack value does not have the shape or types CARLA's wire format requires."""


# --------------------------------------------------------------------------------------
# Response<T> / Response<void> wrappers (rpc/Response.h)
# --------------------------------------------------------------------------------------


def ok(value: Any) -> list[Any]:
    """Wraps a successful ``Response<T>``: ``[[1, value]]`` (variant index 1 = T)."""
    return [[1, value]]


def error(message: str) -> list[Any]:
    """Wraps a failed ``Response<T>``: ``[[0, [message]]]``; the client raises it."""
    return [[0, [str(message)]]]


def ok_void() -> list[Any]:
    """A successful ``Response<void>``: an empty ``optional<ResponseError>``."""
    return [[False]]


def error_void(message: str) -> list[Any]:
    """A failed ``Response<void>``: ``[[True, [message]]]``."""
    return [[True, [str(message)]]]


# --------------------------------------------------------------------------------------
# Strict scalar readers
# --------------------------------------------------------------------------------------


def _float(raw: Any, what: str) -> float:
    # msgpack-c converts ints to float/double fields, but never bools.
    if type(raw) is float or type(raw) is int:
        return float(raw)
    raise WireError(f"{what}: expected a number, got {type(raw).__name__} {raw!r:.60}")


def _int(raw: Any, what: str) -> int:
    if type(raw) is int:
        return raw
    raise WireError(f"{what}: expected an integer, got {type(raw).__name__} {raw!r:.60}")


def _bool(raw: Any, what: str) -> bool:
    if type(raw) is bool:
        return raw
    raise WireError(f"{what}: expected a boolean, got {type(raw).__name__} {raw!r:.60}")


def _str(raw: Any, what: str) -> str:
    if type(raw) is str:
        return raw
    if type(raw) is bytes:  # std::string also accepts bin
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"{what}: bin is not UTF-8 ({exc})") from None
    raise WireError(f"{what}: expected a string, got {type(raw).__name__} {raw!r:.60}")


def _array(raw: Any, what: str) -> list[Any] | tuple[Any, ...]:
    if type(raw) is list or type(raw) is tuple:
        return raw
    raise WireError(f"{what}: expected an array, got {type(raw).__name__} {raw!r:.60}")


# --------------------------------------------------------------------------------------
# Geometry (geom/Vector3D.h, geom/Rotation.h, geom/Transform.h, geom/BoundingBox.h)
# --------------------------------------------------------------------------------------


def location_to_wire(v: Vector3) -> list[float]:
    """``geom::Vector3D`` / ``Location``: ``[x, y, z]``."""
    return [float(v.x), float(v.y), float(v.z)]


def location_from_wire(raw: Any, what: str = "Vector3D") -> Vector3:
    """Reads ``[x, y, z]``; missing trailing components default to 0."""
    a = _array(raw, what)
    n = len(a)
    return Vector3(
        _float(a[0], f"{what}.x") if n > 0 else 0.0,
        _float(a[1], f"{what}.y") if n > 1 else 0.0,
        _float(a[2], f"{what}.z") if n > 2 else 0.0,
    )


def transform_to_wire(t: Transform) -> list[list[float]]:
    """``geom::Transform``: ``[[x, y, z], [pitch, yaw, roll]]``."""
    return [[float(t.x), float(t.y), float(t.z)], [float(t.pitch), float(t.yaw), float(t.roll)]]


def transform_from_wire(raw: Any, what: str = "Transform") -> Transform:
    """Reads ``[[x, y, z], [pitch, yaw, roll]]`` into a :class:`Transform`."""
    a = _array(raw, what)
    loc = location_from_wire(a[0], f"{what}.location") if len(a) > 0 else Vector3()
    rot = location_from_wire(a[1], f"{what}.rotation") if len(a) > 1 else Vector3()
    return Transform(loc.x, loc.y, loc.z, rot.x, rot.y, rot.z)


def bbox_to_wire(bb: BoundingBox, actor_id: int = 0) -> list[Any]:
    """``geom::BoundingBox``: ``[location, extent, rotation, actor_id]`` (rotation zero)."""
    return [
        location_to_wire(bb.location),
        location_to_wire(bb.extent),
        [0.0, 0.0, 0.0],
        int(actor_id),
    ]


# --------------------------------------------------------------------------------------
# Settings and controls
# --------------------------------------------------------------------------------------


def _from_fields(cls: type, raw: Any, readers: Sequence[Any], what: str) -> Any:
    """Builds ``cls`` from a positional array, keeping defaults for missing elements."""
    a = _array(raw, what)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for name, reader, value in zip(names, readers, a, strict=False):
        kwargs[name] = reader(value, f"{what}.{name}")
    return cls(**kwargs)


def _optional_float(raw: Any, what: str) -> float | None:
    # boost::optional<T> is packed as [false] or [true, value].
    a = _array(raw, what)
    if not a or not _bool(a[0], f"{what}[0]"):
        return None
    if len(a) < 2:
        raise WireError(f"{what}: optional marked present but has no value")
    return _float(a[1], f"{what}[1]")


@dataclass(slots=True)
class EpisodeSettings:
    """``rpc::EpisodeSettings``: 11 fields, in wire order, with CARLA's C++ defaults."""

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

    def to_wire(self) -> list[Any]:
        """Packs the 11-element array; ``fixed_delta_seconds`` as an optional."""
        fixed = (
            [False] if self.fixed_delta_seconds is None else [True, float(self.fixed_delta_seconds)]
        )
        return [
            bool(self.synchronous_mode),
            bool(self.no_rendering_mode),
            fixed,
            bool(self.substepping),
            float(self.max_substep_delta_time),
            int(self.max_substeps),
            float(self.max_culling_distance),
            bool(self.deterministic_ragdolls),
            float(self.tile_stream_distance),
            float(self.actor_active_distance),
            bool(self.spectator_as_ego),
        ]

    @classmethod
    def from_wire(cls, raw: Any) -> EpisodeSettings:
        """Reads the array the client sends with ``set_episode_settings``.

        Raises:
            WireError: not an array, or an element has the wrong type.
        """
        return _from_fields(
            cls,
            raw,
            (
                _bool,
                _bool,
                _optional_float,
                _bool,
                _float,
                _int,
                _float,
                _bool,
                _float,
                _float,
                _bool,
            ),
            "EpisodeSettings",
        )


@dataclass(slots=True)
class VehicleControl:
    """``rpc::VehicleControl`` (7 fields in 0.9.16; no timestamp)."""

    throttle: float = 0.0
    steer: float = 0.0
    brake: float = 0.0
    hand_brake: bool = False
    reverse: bool = False
    manual_gear_shift: bool = False
    gear: int = 0

    def to_wire(self) -> list[Any]:
        """``[throttle, steer, brake, hand_brake, reverse, manual_gear_shift, gear]``."""
        return [
            float(self.throttle),
            float(self.steer),
            float(self.brake),
            bool(self.hand_brake),
            bool(self.reverse),
            bool(self.manual_gear_shift),
            int(self.gear),
        ]

    @classmethod
    def from_wire(cls, raw: Any) -> VehicleControl:
        """Reads a client ``VehicleControl``.

        Raises:
            WireError: not an array, or an element has the wrong type.
        """
        return _from_fields(
            cls, raw, (_float, _float, _float, _bool, _bool, _bool, _int), "VehicleControl"
        )


@dataclass(slots=True)
class WalkerControl:
    """``rpc::WalkerControl``: ``[direction, speed, jump]``; direction defaults to +x."""

    direction: Vector3 = field(default_factory=lambda: Vector3(1.0, 0.0, 0.0))
    speed: float = 0.0
    jump: bool = False

    def to_wire(self) -> list[Any]:
        """``[[dx, dy, dz], speed, jump]``."""
        return [location_to_wire(self.direction), float(self.speed), bool(self.jump)]

    @classmethod
    def from_wire(cls, raw: Any) -> WalkerControl:
        """Reads a client ``WalkerControl``.

        Raises:
            WireError: not an array, or an element has the wrong type.
        """
        return _from_fields(cls, raw, (location_from_wire, _float, _bool), "WalkerControl")


@dataclass(slots=True)
class WeatherParameters:
    """``rpc::WeatherParameters``: 14 floats in wire order.

    Defaults are those of the 0.9.16 client's ``carla.WeatherParameters()``.
    """

    cloudiness: float = 0.0
    precipitation: float = 0.0
    precipitation_deposits: float = 0.0
    wind_intensity: float = 0.0
    sun_azimuth_angle: float = 0.0
    sun_altitude_angle: float = 0.0
    fog_density: float = 0.0
    fog_distance: float = 0.0
    fog_falloff: float = 0.0
    wetness: float = 0.0
    scattering_intensity: float = 0.0
    mie_scattering_scale: float = 0.0
    rayleigh_scattering_scale: float = 0.0331
    dust_storm: float = 0.0

    def to_wire(self) -> list[float]:
        """The 14 floats in declaration order."""
        return [float(getattr(self, f.name)) for f in dataclasses.fields(self)]

    @classmethod
    def from_wire(cls, raw: Any) -> WeatherParameters:
        """Reads the array sent by ``set_weather_parameters``.

        Raises:
            WireError: not an array, or an element is not a number.
        """
        return _from_fields(cls, raw, (_float,) * 14, "WeatherParameters")


# --------------------------------------------------------------------------------------
# Actors (rpc/ActorAttribute.h, ActorDefinition.h, ActorDescription.h, Actor.h)
# --------------------------------------------------------------------------------------


def actor_definition_to_wire(
    uid: int,
    id: str,
    tags: str,
    attributes: Sequence[tuple[str, int, str, Sequence[str], bool, bool]],
) -> list[Any]:
    """``rpc::ActorDefinition``: ``[uid, id, tags, [ActorAttribute]]``.

    Args:
        uid: Blueprint uid.
        id: Blueprint id, e.g. ``"vehicle.tesla.model3"``.
        tags: Comma-separated tags (the client splits them).
        attributes: ``(id, type, value, recommended_values, is_modifiable,
            restrict_to_recommended)`` per attribute; ``type`` is ``ActorAttributeType``.
    """
    return [
        int(uid),
        str(id),
        str(tags),
        [
            [str(a_id), int(a_type), str(value), [str(r) for r in recs], bool(mod), bool(restr)]
            for a_id, a_type, value, recs, mod, restr in attributes
        ],
    ]


@dataclass(slots=True)
class ActorDescription:
    """``rpc::ActorDescription``: what the client asks to spawn.

    Attributes:
        uid: Blueprint uid.
        id: Blueprint id.
        attributes: Attribute id -> ``(ActorAttributeType, value string)``.
    """

    uid: int
    id: str
    attributes: dict[str, tuple[int, str]] = field(default_factory=dict)


def actor_description_from_wire(raw: Any) -> ActorDescription:
    """Reads ``[uid, id, [[attr_id, type, value], ...]]``.

    Raises:
        WireError: wrong shape or types.
    """
    a = _array(raw, "ActorDescription")
    n = len(a)
    uid = _int(a[0], "ActorDescription.uid") if n > 0 else 0
    bp_id = _str(a[1], "ActorDescription.id") if n > 1 else ""
    attrs: dict[str, tuple[int, str]] = {}
    if n > 2:
        for i, item in enumerate(_array(a[2], "ActorDescription.attributes")):
            what = f"ActorDescription.attributes[{i}]"
            it = _array(item, what)
            if len(it) < 3:
                raise WireError(f"{what}: expected [id, type, value], got {it!r:.80}")
            attrs[_str(it[0], f"{what}.id")] = (
                _int(it[1], f"{what}.type"),
                _str(it[2], f"{what}.value"),
            )
    return ActorDescription(uid, bp_id, attrs)


def actor_description_to_wire(desc: ActorDescription) -> list[Any]:
    """Packs ``[uid, id, [[attr_id, type, value], ...]]``."""
    return [
        int(desc.uid),
        str(desc.id),
        [[str(k), int(t), str(v)] for k, (t, v) in desc.attributes.items()],
    ]


def actor_to_wire(
    actor_id: int,
    parent_id: int,
    description: ActorDescription,
    bounding_box: BoundingBox,
    semantic_tags: bytes,
    stream_token: bytes,
) -> list[Any]:
    """``rpc::Actor``: ``[id, parent_id, description, bounding_box, semantic_tags, token]``.

    Args:
        actor_id: Actor id.
        parent_id: Parent actor id, 0 for none.
        description: The description the actor was spawned from.
        bounding_box: Actor-relative bounding box.
        semantic_tags: One byte per CityScapes tag (packed as bin, as the client demands).
        stream_token: 24 bytes for a server-side sensor, ``b""`` otherwise.

    Raises:
        WireError: a token that is neither empty nor 24 bytes.
    """
    token = bytes(stream_token)
    if len(token) not in (0, 24):
        raise WireError(f"Actor {actor_id}: stream_token must be 0 or 24 bytes, got {len(token)}")
    return [
        int(actor_id),
        int(parent_id),
        actor_description_to_wire(description),
        bbox_to_wire(bounding_box, actor_id),
        bytes(semantic_tags),
        token,
    ]


# --------------------------------------------------------------------------------------
# Commands (rpc/Command.h), for apply_batch
# --------------------------------------------------------------------------------------


class CommandType(IntEnum):
    """Variant index of ``rpc::Command::CommandType`` in 0.9.16 (order from DWARF)."""

    SpawnActor = 0
    DestroyActor = 1
    ApplyVehicleControl = 2
    ApplyVehicleAckermannControl = 3
    ApplyWalkerControl = 4
    ApplyVehiclePhysicsControl = 5
    ApplyTransform = 6
    ApplyWalkerState = 7
    ApplyTargetVelocity = 8
    ApplyTargetAngularVelocity = 9
    ApplyImpulse = 10
    ApplyForce = 11
    ApplyAngularImpulse = 12
    ApplyTorque = 13
    SetSimulatePhysics = 14
    SetEnableGravity = 15
    SetAutopilot = 16
    ShowDebugTelemetry = 17
    SetVehicleLightState = 18
    ApplyLocation = 19
    ConsoleCommand = 20
    SetTrafficLightState = 21


#: ``MSGPACK_DEFINE_ARRAY`` member order of every command payload. The DWARF member
#: order matches, except that ``SetAutopilot`` also has ``tm_port``, which is not
#: serialized.
COMMAND_FIELDS: dict[CommandType, tuple[str, ...]] = {
    CommandType.SpawnActor: (
        "description",
        "transform",
        "parent",
        "attachment_type",
        "socket_name",
        "do_after",
    ),
    CommandType.DestroyActor: ("actor",),
    CommandType.ApplyVehicleControl: ("actor", "control"),
    CommandType.ApplyVehicleAckermannControl: ("actor", "control"),
    CommandType.ApplyWalkerControl: ("actor", "control"),
    CommandType.ApplyVehiclePhysicsControl: ("actor", "physics_control"),
    CommandType.ApplyTransform: ("actor", "transform"),
    CommandType.ApplyWalkerState: ("actor", "transform", "speed"),
    CommandType.ApplyTargetVelocity: ("actor", "velocity"),
    CommandType.ApplyTargetAngularVelocity: ("actor", "angular_velocity"),
    CommandType.ApplyImpulse: ("actor", "impulse"),
    CommandType.ApplyForce: ("actor", "force"),
    CommandType.ApplyAngularImpulse: ("actor", "impulse"),
    CommandType.ApplyTorque: ("actor", "torque"),
    CommandType.SetSimulatePhysics: ("actor", "enabled"),
    CommandType.SetEnableGravity: ("actor", "enabled"),
    CommandType.SetAutopilot: ("actor", "enabled"),
    CommandType.ShowDebugTelemetry: ("actor", "enabled"),
    CommandType.SetVehicleLightState: ("actor", "light_state"),
    CommandType.ApplyLocation: ("actor", "location"),
    CommandType.ConsoleCommand: ("cmd",),
    CommandType.SetTrafficLightState: ("actor", "traffic_light_state"),
}

_VECTOR_COMMANDS = frozenset(
    {
        CommandType.ApplyTargetVelocity,
        CommandType.ApplyTargetAngularVelocity,
        CommandType.ApplyImpulse,
        CommandType.ApplyForce,
        CommandType.ApplyAngularImpulse,
        CommandType.ApplyTorque,
        CommandType.ApplyLocation,
    }
)
_BOOL_COMMANDS = frozenset(
    {
        CommandType.SetSimulatePhysics,
        CommandType.SetEnableGravity,
        CommandType.SetAutopilot,
        CommandType.ShowDebugTelemetry,
    }
)
_STATE_COMMANDS = frozenset({CommandType.SetVehicleLightState, CommandType.SetTrafficLightState})
_MAX_COMMAND_DEPTH = 8


@dataclass(slots=True)
class Command:
    """One decoded ``apply_batch`` command.

    Only the fields relevant to ``type`` are set; the rest keep their defaults.

    Attributes:
        type: The variant.
        actor_id: Target actor (0 for ``SpawnActor`` / ``ConsoleCommand``; inside a
            ``do_after`` list, 0 stands for the actor being spawned).
        description: ``SpawnActor``: what to spawn.
        transform: ``SpawnActor``, ``ApplyTransform``, ``ApplyWalkerState``.
        parent: ``SpawnActor``: parent actor id, or None.
        attachment_type: ``SpawnActor``: ``AttachmentType`` (garbage without a parent).
        socket_name: ``SpawnActor``: socket/bone name.
        do_after: ``SpawnActor``: commands to run on the new actor.
        control: ``ApplyVehicleControl`` (:class:`VehicleControl`) or
            ``ApplyWalkerControl`` (:class:`WalkerControl`).
        vector: ``ApplyLocation``, ``ApplyTargetVelocity``,
            ``ApplyTargetAngularVelocity``, ``ApplyImpulse``, ``ApplyForce``,
            ``ApplyAngularImpulse``, ``ApplyTorque``.
        speed: ``ApplyWalkerState``.
        enabled: ``SetSimulatePhysics``, ``SetEnableGravity``, ``SetAutopilot``,
            ``ShowDebugTelemetry``.
        value: ``SetVehicleLightState`` (light flags) or ``SetTrafficLightState``
            (``TrafficLightState``).
        text: ``ConsoleCommand``.
        payload: The raw payload array (always set; the only data for
            ``ApplyVehicleAckermannControl`` and ``ApplyVehiclePhysicsControl``).
    """

    type: CommandType
    actor_id: int = 0
    description: ActorDescription | None = None
    transform: Transform | None = None
    parent: int | None = None
    attachment_type: int = 0
    socket_name: str = ""
    do_after: list[Command] = field(default_factory=list)
    control: VehicleControl | WalkerControl | None = None
    vector: Vector3 | None = None
    speed: float = 0.0
    enabled: bool = False
    value: int = 0
    text: str = ""
    payload: Any = None


def decode_command(raw: Any) -> Command:
    """Decodes one ``rpc::Command``: ``[[variant_index, payload]]``.

    Raises:
        WireError: unknown variant index or a malformed payload; the message names the
            command.
    """
    return _decode_command(raw, 0)


def _decode_command(raw: Any, depth: int) -> Command:
    if depth > _MAX_COMMAND_DEPTH:
        raise WireError("Command: do_after nested too deeply")
    outer = _array(raw, "Command")
    if len(outer) < 1:
        raise WireError("Command: empty array")
    variant = _array(outer[0], "Command.command")
    if len(variant) < 2:
        raise WireError(f"Command: expected [index, payload], got {variant!r:.80}")
    index = _int(variant[0], "Command index")
    try:
        ctype = CommandType(index)
    except ValueError:
        raise WireError(f"Command: unknown command index {index}") from None
    name = ctype.name
    payload = _array(variant[1], name)
    cmd = Command(ctype, payload=payload)
    n = len(payload)
    try:
        if ctype is CommandType.SpawnActor:
            if n < 2:
                raise WireError(f"{name}: needs at least [description, transform]")
            cmd.description = actor_description_from_wire(payload[0])
            cmd.transform = transform_from_wire(payload[1], f"{name}.transform")
            if n > 2:
                opt = _array(payload[2], f"{name}.parent")
                if opt and _bool(opt[0], f"{name}.parent[0]"):
                    if len(opt) < 2:
                        raise WireError(f"{name}.parent: optional marked present, no value")
                    cmd.parent = _int(opt[1], f"{name}.parent")
            if n > 3:
                cmd.attachment_type = _int(payload[3], f"{name}.attachment_type")
            if n > 4:
                cmd.socket_name = _str(payload[4], f"{name}.socket_name")
            if n > 5:
                cmd.do_after = [
                    _decode_command(c, depth + 1) for c in _array(payload[5], f"{name}.do_after")
                ]
            return cmd
        if ctype is CommandType.ConsoleCommand:
            cmd.text = _str(payload[0], f"{name}.cmd") if n > 0 else ""
            return cmd
        if n < 1:
            raise WireError(f"{name}: missing actor id")
        cmd.actor_id = _int(payload[0], f"{name}.actor")
        if ctype is CommandType.DestroyActor:
            return cmd
        if n < 2:
            raise WireError(f"{name}: missing {COMMAND_FIELDS[ctype][1]}")
        value = payload[1]
        if ctype is CommandType.ApplyVehicleControl:
            cmd.control = VehicleControl.from_wire(value)
        elif ctype is CommandType.ApplyWalkerControl:
            cmd.control = WalkerControl.from_wire(value)
        elif ctype is CommandType.ApplyTransform:
            cmd.transform = transform_from_wire(value, f"{name}.transform")
        elif ctype is CommandType.ApplyWalkerState:
            cmd.transform = transform_from_wire(value, f"{name}.transform")
            cmd.speed = _float(payload[2], f"{name}.speed") if n > 2 else 0.0
        elif ctype in _VECTOR_COMMANDS:
            cmd.vector = location_from_wire(value, f"{name}.{COMMAND_FIELDS[ctype][1]}")
        elif ctype in _BOOL_COMMANDS:
            cmd.enabled = _bool(value, f"{name}.enabled")
        elif ctype in _STATE_COMMANDS:
            cmd.value = _int(value, f"{name}.{COMMAND_FIELDS[ctype][1]}")
        # ApplyVehicleAckermannControl / ApplyVehiclePhysicsControl: payload only.
        return cmd
    except WireError as exc:
        msg = str(exc)
        if not msg.startswith(name):
            msg = f"{name}: {msg}"
        raise WireError(msg) from None
