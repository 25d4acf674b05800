"""The result of one route: completion, infractions, penalty and driving score."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rllib_integration.driving_score.infractions import (
    COLLISIONS,
    PENALTIES,
    Infraction,
    InfractionKind,
)


@dataclass
class RouteRecord:
    """One route driven.

    Attributes:
        name: the route's name.
        length: the route's length [m].
        progress: metres of route completed.
        outside_distance: metres driven off the road or in wrong-way lanes.
        driven: metres driven in all.
        duration: simulated seconds.
        infractions: every infraction, in order.
        status: ``Completed``, ``Failed - <reason>`` or ``Running``.
    """

    name: str
    length: float
    progress: float = 0.0
    outside_distance: float = 0.0
    driven: float = 0.0
    duration: float = 0.0
    infractions: list[Infraction] = field(default_factory=list)
    status: str = "Running"

    @property
    def route_completion(self) -> float:
        """Percent of the route completed, less the share driven outside the lanes."""
        if self.length <= 0:
            return 100.0
        done = min(self.progress / self.length, 1.0)
        outside = min(self.outside_distance / self.length, 1.0)
        return 100.0 * done * (1.0 - outside)

    @property
    def infraction_penalty(self) -> float:
        """The product of the coefficients of every infraction (1.0: none)."""
        penalty = 1.0
        for infraction in self.infractions:
            penalty *= PENALTIES.get(infraction.kind, 1.0)
        return penalty

    @property
    def driving_score(self) -> float:
        """Route completion x infraction penalty (0..100)."""
        return self.route_completion * self.infraction_penalty

    def counts(self) -> dict[str, int]:
        """Infractions per kind (every kind listed, zeros included)."""
        counted = Counter(i.kind for i in self.infractions)
        return {kind.value: counted.get(kind, 0) for kind in InfractionKind}

    def per_km(self) -> dict[str, float]:
        """Infractions per km driven, per kind, plus ``collisions`` and ``infractions``."""
        km = max(self.driven / 1000.0, 1e-3)  # a car that never moved: per metre, not per 0
        counts = self.counts()
        rates = {kind: n / km for kind, n in counts.items()}
        rates["collisions"] = sum(counts[k.value] for k in COLLISIONS) / km
        rates["infractions"] = len(self.infractions) / km
        return rates

    def to_dict(self) -> dict[str, Any]:
        """A json-friendly summary with every infraction."""
        return {
            "name": self.name,
            "status": self.status,
            "route_length_m": round(self.length, 1),
            "route_completion": round(self.route_completion, 2),
            "infraction_penalty": round(self.infraction_penalty, 4),
            "driving_score": round(self.driving_score, 2),
            "driven_m": round(self.driven, 1),
            "duration_s": round(self.duration, 1),
            "infractions": self.counts(),
            "infractions_per_km": {k: round(v, 3) for k, v in self.per_km().items()},
            "events": [i.to_dict() for i in self.infractions],
        }


def summarize(records: Sequence[RouteRecord]) -> dict[str, Any]:
    """Means over routes (the Leaderboard's global figures) and infractions per km overall."""
    if not records:
        return {"routes": 0, "driving_score": math.nan, "route_completion": math.nan}
    n = len(records)
    km = max(sum(r.driven for r in records) / 1000.0, 1e-3)
    totals: Counter[str] = Counter()
    for record in records:
        totals.update(record.counts())
    collisions = sum(totals[k.value] for k in COLLISIONS)
    return {
        "routes": n,
        "driving_score": sum(r.driving_score for r in records) / n,
        "route_completion": sum(r.route_completion for r in records) / n,
        "infraction_penalty": sum(r.infraction_penalty for r in records) / n,
        "driven_km": km,
        "infractions": dict(totals),
        "infractions_per_km": {
            **{kind: count / km for kind, count in totals.items()},
            "collisions": collisions / km,
            "infractions": sum(totals.values()) / km,
        },
    }
