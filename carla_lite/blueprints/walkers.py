"""The 49 pedestrian blueprints ``walker.pedestrian.0001``-``0049`` (``MakePedestrianDefinition``).

Children (0009-0014, 0048, 0049 in the 0.9.16 pedestrian catalogue) have the small capsule
``(0.25, 0.25, 0.55)``; adults ``(0.1877, 0.1877, 0.93)``. A walker's origin is its capsule
centre, so the box is not offset. ``speed`` lists stop, walk and run speeds:
``generate_traffic.py`` reads ``recommended_values[1]`` to walk and ``[2]`` to run.
"""

from __future__ import annotations

from .model import AttributeType, Blueprint, base_variations, box, const, tags_of, var

__all__ = ["CHILDREN", "POLICE", "walker_blueprints"]

CHILDREN = frozenset({9, 10, 11, 12, 13, 14, 48, 49})
POLICE = frozenset({30, 32})
# Best-effort genders of the meshes (the catalogue does not state them).
_FEMALE = frozenset(
    {
        1,
        5,
        6,
        7,
        8,
        9,
        11,
        12,
        13,
        16,
        17,
        19,
        21,
        22,
        23,
        24,
        25,
        31,
        33,
        36,
        37,
        39,
        41,
        42,
        43,
        46,
        48,
    }
)
_ELDERLY = frozenset({26, 27, 28, 29, 47})
# Every walker may sit in a wheelchair: generate_traffic.py sets use_wheelchair=true on any
# walker that has can_use_wheelchair, which a restricted ("false",) list would reject.
_WHEELCHAIR = frozenset(range(1, 50))

PEDESTRIAN_COUNT = 49
_ADULT_SPEEDS = ("0.0", "1.4", "2.8")
_CHILD_SPEEDS = ("0.0", "1.1", "2.2")
_ELDERLY_SPEEDS = ("0.0", "1.1", "1.9")


def _blueprint(n: int) -> Blueprint:
    t = AttributeType
    bp_id = f"walker.pedestrian.{n:04d}"
    child = n in CHILDREN
    if child:
        age, speeds = "child", _CHILD_SPEEDS
    elif n in _ELDERLY:
        age, speeds = "elderly", _ELDERLY_SPEEDS
    else:
        age, speeds = "adult", _ADULT_SPEEDS
    wheelchair = n in _WHEELCHAIR
    attrs = base_variations(bp_id, ("pedestrian",))
    attrs += [
        const("gender", t.String, "female" if n in _FEMALE else "male"),
        const("generation", t.Int, "1" if n <= 14 else "2"),
        const("age", t.String, age),
        const("can_use_wheelchair", t.Bool, "true" if wheelchair else "false"),
        var("speed", t.Float, *speeds),
        var("is_invincible", t.Bool, "true"),
        var(
            "use_wheelchair",
            t.Bool,
            *(("false", "true") if wheelchair else ("false",)),
            restrict=True,
        ),
    ]
    extent = (0.25, 0.25, 0.55) if child else (0.18767888844013214, 0.18767888844013214, 0.93)
    return Blueprint(
        id=bp_id,
        tags=tags_of(bp_id),
        attributes=tuple(attrs),
        semantic_tag=12,  # Pedestrian
        bounding_box=box(*extent, cz=0.0),
        vehicle_params=None,
    )


def walker_blueprints() -> list[Blueprint]:
    """Build every pedestrian blueprint, in id order."""
    return [_blueprint(n) for n in range(1, PEDESTRIAN_COUNT + 1)]
