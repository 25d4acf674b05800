"""Non-moving and helper blueprints: static props, the friction trigger, traffic signs and
lights, ``controller.ai.walker`` and the spectator.

Props are a representative subset of the 0.9.16 ``static.prop.*`` catalogue (the full list has
about 150 entries); each has the read-only ``size`` attribute and role name ``"prop"``.
"""

from __future__ import annotations

from carla_lite.geom import BoundingBox, Vector3

from .model import AttributeType, Blueprint, base_variations, box, const, tags_of, var

__all__ = ["PROPS", "SPECTATOR", "SPEED_LIMITS", "misc_blueprints", "prop_blueprints"]

# name, size, half extents (x, y, z); the box sits on the ground at the prop origin.
# fmt: off
PROPS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("advertisement", "medium", (0.10, 0.95, 1.25)),
    ("atm", "medium", (0.45, 0.40, 1.05)),
    ("barbeque", "small", (0.45, 0.35, 0.55)),
    ("barrel", "small", (0.30, 0.30, 0.45)),
    ("bench01", "medium", (0.90, 0.35, 0.45)),
    ("bench02", "medium", (0.90, 0.35, 0.45)),
    ("bench03", "medium", (0.90, 0.35, 0.45)),
    ("bin", "small", (0.30, 0.30, 0.50)),
    ("box01", "small", (0.30, 0.30, 0.30)),
    ("box02", "small", (0.30, 0.30, 0.30)),
    ("box03", "small", (0.30, 0.30, 0.30)),
    ("busstop", "huge", (2.10, 0.95, 1.35)),
    ("clothcontainer", "medium", (0.60, 0.60, 0.95)),
    ("colacan", "tiny", (0.04, 0.04, 0.07)),
    ("constructioncone", "small", (0.1720348298549652, 0.1720348298549652, 0.2928849756717682)),
    ("container", "big", (1.00, 0.70, 0.75)),
    ("creasedbox01", "small", (0.35, 0.30, 0.15)),
    ("dirtdebris01", "medium", (1.00, 1.00, 0.05)),
    ("doghouse", "medium", (0.50, 0.45, 0.50)),
    ("foodcart", "big", (1.10, 0.70, 1.20)),
    ("fountain", "huge", (2.00, 2.00, 1.40)),
    ("garbage01", "tiny", (0.10, 0.10, 0.05)),
    ("gardenlamp", "small", (0.15, 0.15, 0.45)),
    ("gnome", "tiny", (0.10, 0.10, 0.20)),
    ("haybale", "medium", (0.60, 0.60, 0.60)),
    ("kiosk_01", "huge", (1.50, 1.20, 1.50)),
    ("mailbox", "small", (0.25, 0.25, 0.65)),
    ("motorhelmet", "tiny", (0.15, 0.15, 0.15)),
    ("plantpot01", "small", (0.30, 0.30, 0.35)),
    ("plasticchair", "small", (0.36523768305778503, 0.37522444128990173, 0.6356779336929321)),
    ("plastictable", "medium", (1.241101622581482, 1.241101622581482, 1.239898920059204)),
    ("shoppingcart", "medium", (0.50, 0.30, 0.50)),
    ("streetbarrier", "medium", (1.00, 0.25, 0.55)),
    ("streetsign", "medium", (0.10, 0.40, 1.30)),
    ("trafficcone01", "small", (0.20, 0.20, 0.50)),
    ("trafficcone02", "small", (0.20, 0.20, 0.40)),
    ("trafficwarning", "medium", (1.186714768409729, 1.4352929592132568, 1.40)),
    ("trashbag", "small", (0.30, 0.30, 0.30)),
    ("trashcan01", "small", (0.30, 0.30, 0.50)),
    ("travelcase", "small", (0.25, 0.15, 0.35)),
    ("vendingmachine", "big", (0.50, 0.45, 0.95)),
    ("warningaccident", "medium", (0.35, 0.45, 0.55)),
    ("warningconstruction", "medium", (0.35, 0.45, 0.55)),
)
# fmt: on

SPEED_LIMITS = (30, 40, 50, 60, 90, 100, 110, 120)

_STATIC, _TRAFFIC_LIGHT, _TRAFFIC_SIGN = 20, 7, 8  # CityScapes label ids


def _prop(name: str, size: str, extent: tuple[float, float, float]) -> Blueprint:
    bp_id = f"static.prop.{name}"
    attrs = [*base_variations(bp_id, ("prop",)), const("size", AttributeType.String, size)]
    return Blueprint(bp_id, tags_of(bp_id), tuple(attrs), _STATIC, box(*extent), None)


def prop_blueprints() -> list[Blueprint]:
    """Build the static prop blueprints, in table (alphabetical) order."""
    return [_prop(*row) for row in PROPS]


def _plain(bp_id: str, semantic_tag: int, bbox: BoundingBox | None) -> Blueprint:
    return Blueprint(bp_id, tags_of(bp_id), tuple(base_variations(bp_id)), semantic_tag, bbox, None)


def _friction_trigger() -> Blueprint:
    bp_id = "static.trigger.friction"
    f = AttributeType.Float
    # AddVariationsForTrigger really sends "3.5f" / "1.0f"; std::stof reads the numeric prefix.
    attrs = [*base_variations(bp_id), var("friction", f, "3.5f")]
    attrs += [var(f"extent_{axis}", f, "1.0f") for axis in "xyz"]
    return Blueprint(bp_id, tags_of(bp_id), tuple(attrs), 0, None, None)


def misc_blueprints() -> list[Blueprint]:
    """Build the controller, trigger and traffic blueprints (the spectator is separate)."""
    sign = box(0.1, 0.45, 1.4)
    return [
        _plain("controller.ai.walker", 0, None),
        _friction_trigger(),
        _plain("traffic.traffic_light", _TRAFFIC_LIGHT, box(0.3, 0.3, 2.9)),
        _plain("traffic.stop", _TRAFFIC_SIGN, sign),
        _plain("traffic.yield", _TRAFFIC_SIGN, sign),
        *(_plain(f"traffic.speed_limit.{v}", _TRAFFIC_SIGN, sign) for v in SPEED_LIMITS),
    ]


SPECTATOR = Blueprint(
    id="spectator",
    tags=("spectator",),
    attributes=(),
    semantic_tag=0,
    bounding_box=BoundingBox(Vector3(), Vector3()),
    vehicle_params=None,
)
"""The spectator's definition: not part of the library list, but the world needs one."""
