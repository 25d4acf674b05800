"""Whether a place is clearly free for the hero, judged on the client's own copy of the world.

Moving the hero there (instead of destroying and respawning it) needs no server-side
collision check, so the check here is conservative: bounding circles plus a margin. A False
only means "let the server decide" (a real spawn, which checks the exact shapes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import carla

#: Kept between the hero's bounding circle and another body's [m].
FREE_MARGIN = 0.5
#: The actors whose bodies can take a place.
BODY_PREFIXES = ("vehicle.", "walker.")


def reach(actor: carla.Actor) -> float:
    """Radius around the actor's origin that holds its bounding box in the ground plane."""
    box = actor.bounding_box
    return math.hypot(box.extent.x, box.extent.y) + math.hypot(box.location.x, box.location.y)


def clearly_free(place: carla.Transform, hero: carla.Actor, others: Iterable[carla.Actor]) -> bool:
    """True when no body of ``others`` (but the hero) comes near the hero put at ``place``."""
    hero_reach = reach(hero) + FREE_MARGIN
    here = place.location
    for actor in others:
        if actor.id == hero.id or not actor.type_id.startswith(BODY_PREFIXES):
            continue
        there = actor.get_location()
        gap = hero_reach + reach(actor)
        if (there.x - here.x) ** 2 + (there.y - here.y) ** 2 < gap * gap:
            return False
    return True
