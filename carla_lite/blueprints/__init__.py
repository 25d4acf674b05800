"""CARLA 0.9.16's blueprint library as data.

``default_library()`` holds every definition the real server lists (vehicles, walkers,
sensors, a subset of static props, the friction trigger, traffic signs and lights and the
walker AI controller) with the attributes, defaults and recommended values the client
expects; ``validate_description`` checks a spawn request against its blueprint.

Modules: ``model`` (records and attribute rules), ``vehicles``, ``walkers``, ``sensors``,
``props`` (tables), ``library`` (lookup, wire rows, validation).
"""

from .library import (
    BlueprintLibrary,
    DefinitionRow,
    InvalidDescriptionError,
    default_library,
    spectator_blueprint,
    validate_description,
)
from .model import AttributeDef, AttributeType, Blueprint, parse_value

__all__ = [
    "AttributeDef",
    "AttributeType",
    "Blueprint",
    "BlueprintLibrary",
    "DefinitionRow",
    "InvalidDescriptionError",
    "default_library",
    "parse_value",
    "spectator_blueprint",
    "validate_description",
]
