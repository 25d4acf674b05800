"""Blueprint records and the attribute rules of CARLA's ``ActorAttribute``.

CARLA builds every definition from *variations* (modifiable attributes whose value is the
first recommended value) and plain *attributes* (read-only, no recommended values), in that
order (``rpc::ActorDefinition`` from ``FActorDefinition``). :func:`var` and :func:`const`
mirror the two kinds, so the tables in the sibling modules read like the server's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from carla_lite.geom import BoundingBox, Vector3
from carla_lite.physics.params import VehicleParams

__all__ = [
    "AttributeDef",
    "AttributeType",
    "Blueprint",
    "base_variations",
    "box",
    "const",
    "parse_value",
    "tags_of",
    "var",
]


class AttributeType(IntEnum):
    """``carla::rpc::ActorAttributeType`` as sent on the wire (u8)."""

    Bool = 1
    Int = 2
    Float = 3
    String = 4
    RGBColor = 5


@dataclass(frozen=True)
class AttributeDef:
    """One ``rpc::ActorAttribute`` of a blueprint.

    Attributes:
        id: attribute name, e.g. ``"image_size_x"``.
        type: value type; the client parses ``value`` with it.
        value: the default, as the string CARLA sends (``"true"``, ``"90.0"``, ``"0,0,0"``).
        recommended_values: the suggested values; for a variation the first one is ``value``.
        is_modifiable: whether ``set_attribute`` may change it.
        restrict_to_recommended: whether only ``recommended_values`` are accepted.
    """

    id: str
    type: AttributeType
    value: str
    recommended_values: tuple[str, ...] = ()
    is_modifiable: bool = False
    restrict_to_recommended: bool = False


@dataclass(frozen=True)
class Blueprint:
    """One actor definition of the library.

    ``bounding_box`` is shared by every actor spawned from the blueprint: copy it before
    changing it.

    Attributes:
        id: blueprint id, e.g. ``"vehicle.tesla.model3"``.
        tags: what the client matches ``filter()`` patterns against besides the id.
        attributes: the attributes in the order the server sends them.
        semantic_tag: CityScapes label id of the actor (0 when it has no mesh).
        bounding_box: actor-relative box, or None for actors without a body.
        vehicle_params: physical limits for vehicles, None otherwise.
    """

    id: str
    tags: tuple[str, ...]
    attributes: tuple[AttributeDef, ...]
    semantic_tag: int
    bounding_box: BoundingBox | None
    vehicle_params: VehicleParams | None

    def attribute(self, attribute_id: str) -> AttributeDef | None:
        """Return the attribute called ``attribute_id``, or None if there is none."""
        for attr in self.attributes:
            if attr.id == attribute_id:
                return attr
        return None

    def has_attribute(self, attribute_id: str) -> bool:
        """Return whether the blueprint has an attribute called ``attribute_id``."""
        return self.attribute(attribute_id) is not None

    @property
    def kind(self) -> str:
        """Category from the id: vehicle, walker, sensor, controller, static, traffic, spectator."""
        return self.id.split(".", 1)[0]


def var(
    attr_id: str, attr_type: AttributeType, *recommended: str, restrict: bool = False
) -> AttributeDef:
    """A modifiable attribute (``FActorVariation``): its value is the first recommended one."""
    if not recommended:
        raise ValueError(f"variation {attr_id!r} needs at least one recommended value")
    return AttributeDef(attr_id, attr_type, recommended[0], tuple(recommended), True, restrict)


def const(attr_id: str, attr_type: AttributeType, value: str) -> AttributeDef:
    """A read-only attribute (``FActorAttribute``) with no recommended values."""
    return AttributeDef(attr_id, attr_type, value)


def tags_of(blueprint_id: str) -> tuple[str, ...]:
    """Tags as ``FillIdAndTags`` makes them: the lower-cased parts of the id."""
    return tuple(blueprint_id.lower().split("."))


def base_variations(
    blueprint_id: str, role_names: tuple[str, ...] = ("default",)
) -> list[AttributeDef]:
    """The attributes every definition starts with: ``role_name`` and ``ros_name``.

    Args:
        blueprint_id: the definition id; it is the default ``ros_name``.
        role_names: recommended role names, the first being the default.

    Returns:
        A fresh list to extend with the definition's own attributes.
    """
    return [
        var("role_name", AttributeType.String, *role_names),
        var("ros_name", AttributeType.String, blueprint_id),
    ]


def box(ex: float, ey: float, ez: float, cx: float = 0.0, cz: float | None = None) -> BoundingBox:
    """Actor-relative box from half extents; by default centred at half height (vehicles)."""
    return BoundingBox(Vector3(cx, 0.0, ez if cz is None else cz), Vector3(ex, ey, ez))


_INT_RE = re.compile(r"^\s*[+-]?\d+")
_FLOAT_RE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_value(attr_type: AttributeType, value: str) -> bool | int | float | str | tuple[int, ...]:
    """Parse ``value`` the way the C++ client does (``ActorAttribute::As``).

    Bools are case-insensitive ``true``/``false``; ints and floats follow ``std::stoi`` /
    ``std::stof`` (a numeric prefix is enough, so CARLA's own ``"3.5f"`` parses); colours are
    ``"r,g,b"`` with each channel in 0..255.

    Raises:
        ValueError: if ``value`` is not a valid ``attr_type``.
    """
    if attr_type is AttributeType.Bool:
        low = value.strip().lower()
        if low not in ("true", "false"):
            raise ValueError(f"{value!r} is not a bool (true/false)")
        return low == "true"
    if attr_type is AttributeType.Int:
        m = _INT_RE.match(value)
        if m is None:
            raise ValueError(f"{value!r} is not an int")
        return int(m.group(0))
    if attr_type is AttributeType.Float:
        m = _FLOAT_RE.match(value)
        if m is None:
            raise ValueError(f"{value!r} is not a float")
        return float(m.group(0))
    if attr_type is AttributeType.RGBColor:
        parts = value.split(",")
        if len(parts) != 3:
            raise ValueError(f"{value!r} is not a colour 'r,g,b'")
        channels = tuple(int(p) for p in parts)
        if any(not 0 <= c <= 255 for c in channels):
            raise ValueError(f"{value!r} has a channel outside 0..255")
        return channels
    return value
