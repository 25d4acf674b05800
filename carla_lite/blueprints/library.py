"""The blueprint library: lookup by id and uid, the wire rows, and spawn-time validation."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache

from .model import AttributeType, Blueprint, parse_value
from .props import SPECTATOR, misc_blueprints, prop_blueprints
from .sensors import sensor_blueprints
from .vehicles import vehicle_blueprints
from .walkers import walker_blueprints

__all__ = [
    "BlueprintLibrary",
    "DefinitionRow",
    "InvalidDescriptionError",
    "default_library",
    "spectator_blueprint",
    "validate_description",
]

# (id, type, value, recommended_values, is_modifiable, restrict_to_recommended)
AttributeRow = tuple[str, int, str, list[str], bool, bool]
# (uid, id, comma-separated tags, attributes): the fields of rpc::ActorDefinition.
DefinitionRow = tuple[int, str, str, list[AttributeRow]]


class InvalidDescriptionError(ValueError):
    """A spawn request whose attributes do not fit the blueprint."""


class BlueprintLibrary:
    """An ordered, immutable set of blueprints; a blueprint's uid is its index + 1.

    Unlisted blueprints (the spectator) are found by :meth:`get` and have uid 0, but are not
    part of :meth:`all`, :meth:`definitions`, ``len`` or ``in``, and cannot be spawned.

    Args:
        blueprints: the definitions, in the order they are sent to the client.
        unlisted: definitions the world needs but the client never sees in the library.

    Raises:
        ValueError: if two blueprints share an id.
    """

    def __init__(self, blueprints: Iterable[Blueprint], unlisted: Iterable[Blueprint] = ()) -> None:
        self._all = tuple(blueprints)
        self._uid = {bp.id: i + 1 for i, bp in enumerate(self._all)}
        self._unlisted = {bp.id: bp for bp in unlisted}
        if len(self._uid) != len(self._all) or set(self._uid) & set(self._unlisted):
            raise ValueError("duplicate blueprint ids in the library")

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Blueprint]:
        return iter(self._all)

    def __contains__(self, blueprint_id: object) -> bool:
        return blueprint_id in self._uid

    def all(self) -> tuple[Blueprint, ...]:
        """Every blueprint, in uid order."""
        return self._all

    def get(self, blueprint_id: str) -> Blueprint:
        """Return the blueprint called ``blueprint_id``.

        Raises:
            KeyError: if there is none; the message lists close matches.
        """
        uid = self._uid.get(blueprint_id)
        if uid is None:
            if blueprint_id in self._unlisted:
                return self._unlisted[blueprint_id]
            close = difflib.get_close_matches(blueprint_id, list(self._uid), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no blueprint {blueprint_id!r} in the library{hint}")
        return self._all[uid - 1]

    def uid(self, blueprint_id: str) -> int:
        """Return the uid of ``blueprint_id``, 0 if unlisted (KeyError like :meth:`get`)."""
        return self._uid.get(self.get(blueprint_id).id, 0)

    def by_uid(self, uid: int) -> Blueprint:
        """Return the blueprint with uid ``uid``.

        Raises:
            KeyError: if no blueprint has that uid.
        """
        if not 1 <= uid <= len(self._all):
            raise KeyError(f"no blueprint with uid {uid}")
        return self._all[uid - 1]

    def definitions(self) -> Iterator[DefinitionRow]:
        """Yield the ``rpc::ActorDefinition`` fields of every blueprint, in uid order."""
        for uid, bp in enumerate(self._all, start=1):
            attrs: list[AttributeRow] = [
                (
                    a.id,
                    int(a.type),
                    a.value,
                    list(a.recommended_values),
                    a.is_modifiable,
                    a.restrict_to_recommended,
                )
                for a in bp.attributes
            ]
            yield uid, bp.id, ",".join(bp.tags), attrs


@lru_cache(maxsize=1)
def default_library() -> BlueprintLibrary:
    """The CARLA 0.9.16 library, built once (the spectator is not part of it)."""
    return BlueprintLibrary(
        [
            *vehicle_blueprints(),
            *walker_blueprints(),
            *sensor_blueprints(),
            *prop_blueprints(),
            *misc_blueprints(),
        ],
        unlisted=[SPECTATOR],
    )


def spectator_blueprint() -> Blueprint:
    """The definition of the spectator actor, which the library does not list."""
    return SPECTATOR


def validate_description(bp: Blueprint, attributes: Mapping[str, str]) -> dict[str, str]:
    """Check a spawn request against its blueprint and fill in the defaults.

    The client already validates, but a buggy or hostile one must get an error, not a crash.

    Args:
        bp: the blueprint the request names.
        attributes: attribute id to value, as sent in ``rpc::ActorDescription``.

    Returns:
        Every attribute of ``bp``, with the sent values merged over the defaults.

    Raises:
        InvalidDescriptionError: for the spectator, an unknown attribute, a value that does
            not parse as the attribute's type, a changed read-only attribute, or a value
            outside the recommended ones where those are enforced.
    """
    if bp.kind == "spectator":
        raise InvalidDescriptionError("the spectator cannot be spawned")
    known = {a.id: a for a in bp.attributes}
    merged = {a.id: a.value for a in bp.attributes}
    for attr_id, raw in attributes.items():
        attr = known.get(attr_id)
        if attr is None:
            raise InvalidDescriptionError(f"{bp.id}: unknown attribute {attr_id!r}")
        if not isinstance(raw, str):
            raise InvalidDescriptionError(f"{bp.id}: attribute {attr_id!r} value must be a string")
        value = raw.strip()
        try:
            parsed = parse_value(attr.type, value)
        except ValueError as err:
            raise InvalidDescriptionError(
                f"{bp.id}: attribute {attr_id!r} expects {attr.type.name}: {err}"
            ) from None
        if not attr.is_modifiable:
            if parsed != parse_value(attr.type, attr.value):
                raise InvalidDescriptionError(
                    f"{bp.id}: attribute {attr_id!r} is read-only ({attr.value!r})"
                )
            continue
        if attr.restrict_to_recommended and not _is_recommended(
            attr.type, parsed, attr.recommended_values
        ):
            allowed = ", ".join(attr.recommended_values)
            raise InvalidDescriptionError(
                f"{bp.id}: attribute {attr_id!r} must be one of {allowed}, got {value!r}"
            )
        merged[attr_id] = value
    return merged


def _is_recommended(attr_type: AttributeType, parsed: object, recommended: tuple[str, ...]) -> bool:
    return any(parse_value(attr_type, r) == parsed for r in recommended)
