"""The Leaderboard's rules on plain numbers: each criterion turns a tick into infractions.

Every criterion has ``update(...) -> list[Infraction]`` and counts an event once: a
collision with the same actor (or at the same place) is one infraction, a red light is run
once per approach, outside-lanes driving is one infraction per excursion (its distance is
what discounts the completion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rllib_integration.driving_score.infractions import Infraction, InfractionKind

#: A second collision with the same actor within this time is the same one [s].
SAME_ACTOR_TIME = 5.0
#: A collision this close to the last one counted is the same one [m] (the Leaderboard's).
SAME_PLACE_DISTANCE = 3.0
#: Below this speed a vehicle has stopped [m/s] (stop signs, blocking).
STOPPED_SPEED = 0.1


def collision_kind(type_id: str) -> InfractionKind:
    """The collision kind of hitting an actor of blueprint ``type_id``."""
    if type_id.startswith("walker."):
        return InfractionKind.COLLISION_PEDESTRIAN
    if type_id.startswith("vehicle."):
        return InfractionKind.COLLISION_VEHICLE
    return InfractionKind.COLLISION_STATIC


class CollisionCriterion:
    """Collisions with pedestrians, vehicles and the static world."""

    def __init__(self) -> None:
        self._last_by_actor: dict[int, float] = {}
        self._last_counted: tuple[float, float, float] | None = None  # time, x, y

    def update(
        self, time: float, x: float, y: float, other_id: int | None, other_type: str | None
    ) -> list[Infraction]:
        """A collision this tick with actor ``other_id`` of type ``other_type`` (or none).

        It is the same collision as one before if it is with the same actor within
        ``SAME_ACTOR_TIME``, or within ``SAME_PLACE_DISTANCE`` of the last one counted
        within that time (scraping along a wall, a pile-up).
        """
        if other_type is None:
            return []
        actor = -1 if other_id is None else other_id
        last = self._last_by_actor.get(actor)
        self._last_by_actor[actor] = time
        if last is not None and time - last <= SAME_ACTOR_TIME:
            return []
        if self._last_counted is not None:
            then, last_x, last_y = self._last_counted
            near = math.hypot(x - last_x, y - last_y) < SAME_PLACE_DISTANCE
            if near and time - then <= SAME_ACTOR_TIME:
                return []
        self._last_counted = (time, x, y)
        return [Infraction(collision_kind(other_type), time, x, y, other_type)]


@dataclass(frozen=True)
class StopLine:
    """Where a lane must stop for a traffic light: a segment across the lane.

    Attributes:
        light_id: the traffic light's actor id.
        x, y: the centre of the line [m].
        yaw: the lane direction [deg] (driving crosses the line along it).
        half_width: half the lane width [m].
    """

    light_id: int
    x: float
    y: float
    yaw: float
    half_width: float

    def side(self, x: float, y: float) -> tuple[float, float]:
        """``(along, across)`` [m] of a point: along < 0 before the line."""
        yaw = math.radians(self.yaw)
        dx, dy = x - self.x, y - self.y
        return dx * math.cos(yaw) + dy * math.sin(yaw), -dx * math.sin(yaw) + dy * math.cos(yaw)


class RedLightCriterion:
    """Crossing a stop line while its light is red (once per light until the next light)."""

    #: Headings more than this away from the lane's [deg] do not cross the line driving.
    MAX_HEADING_GAP = 60.0

    def __init__(self, stop_lines: list[StopLine]) -> None:
        self.stop_lines = stop_lines
        self._previous: tuple[float, float] | None = None
        self._last_light: int | None = None

    def update(
        self, time: float, x: float, y: float, yaw: float, red_lights: set[int]
    ) -> list[Infraction]:
        """The vehicle at (x, y) heading ``yaw`` [deg]; ``red_lights`` the ids now red."""
        previous, self._previous = self._previous, (x, y)
        if previous is None:
            return []
        found: list[Infraction] = []
        for line in self.stop_lines:
            if abs(angle_gap(yaw, line.yaw)) > self.MAX_HEADING_GAP:
                continue
            before, _ = line.side(*previous)
            after, across = line.side(x, y)
            if before < 0.0 <= after and abs(across) <= line.half_width + 0.5:
                if line.light_id in red_lights and line.light_id != self._last_light:
                    found.append(
                        Infraction(InfractionKind.RED_LIGHT, time, x, y, f"light {line.light_id}")
                    )
                self._last_light = line.light_id
        return found


@dataclass(frozen=True)
class StopArea:
    """A stop sign's trigger area: an oriented rectangle (centre, yaw [deg], half sizes [m])."""

    sign_id: int
    x: float
    y: float
    yaw: float
    half_length: float
    half_width: float

    def contains(self, x: float, y: float) -> bool:
        """Whether (x, y) is inside the rectangle."""
        yaw = math.radians(self.yaw)
        dx, dy = x - self.x, y - self.y
        along = dx * math.cos(yaw) + dy * math.sin(yaw)
        across = -dx * math.sin(yaw) + dy * math.cos(yaw)
        return abs(along) <= self.half_length and abs(across) <= self.half_width


class StopSignCriterion:
    """Leaving a stop sign's area without having stopped inside it."""

    def __init__(self, areas: list[StopArea]) -> None:
        self.areas = areas
        self._inside: StopArea | None = None
        self._stopped = False

    def update(self, time: float, x: float, y: float, speed: float) -> list[Infraction]:
        """The vehicle at (x, y) moving at ``speed`` [m/s]."""
        current = next((a for a in self.areas if a.contains(x, y)), None)
        found: list[Infraction] = []
        if self._inside is not None and current is not self._inside:
            if not self._stopped:
                found.append(
                    Infraction(InfractionKind.STOP_SIGN, time, x, y, f"stop {self._inside.sign_id}")
                )
            self._stopped = False
        self._inside = current
        if current is not None and speed < STOPPED_SPEED:
            self._stopped = True
        return found


class OutsideLanesCriterion:
    """Driving off the road or in a lane of the opposite direction.

    Each excursion is one infraction; ``distance`` [m] sums the metres driven outside,
    which the record discounts from the route completion.
    """

    def __init__(self) -> None:
        self.distance = 0.0
        self._outside = False
        self._previous: tuple[float, float] | None = None

    @property
    def is_outside(self) -> bool:
        """The vehicle was outside the route's lanes at the last update."""
        return self._outside

    def update(
        self, time: float, x: float, y: float, off_road: bool, wrong_lane: bool
    ) -> list[Infraction]:
        """The vehicle at (x, y); whether it is off the road or in a wrong-way lane now."""
        previous, self._previous = self._previous, (x, y)
        outside = off_road or wrong_lane
        if outside and previous is not None:
            self.distance += math.hypot(x - previous[0], y - previous[1])
        started = outside and not self._outside
        self._outside = outside
        if not started:
            return []
        detail = "off road" if off_road else "wrong lane"
        return [Infraction(InfractionKind.OUTSIDE_ROUTE_LANES, time, x, y, detail)]


class RouteDeviationCriterion:
    """Farther than ``max_distance`` [m] from the route: the route ends."""

    def __init__(self, max_distance: float) -> None:
        self.max_distance = max_distance

    def update(self, time: float, x: float, y: float, distance_to_route: float) -> list[Infraction]:
        """The vehicle's distance to the route now."""
        if distance_to_route <= self.max_distance:
            return []
        detail = f"{distance_to_route:.0f} m from the route"
        return [Infraction(InfractionKind.ROUTE_DEVIATION, time, x, y, detail)]


class BlockedCriterion:
    """Stopped (below ``STOPPED_SPEED``) for ``max_time`` [s] in a row: the route ends."""

    def __init__(self, max_time: float) -> None:
        self.max_time = max_time
        self._since: float | None = None
        #: Seconds stopped in a row at the last update (0 while moving).
        self.stopped_for = 0.0

    def update(self, time: float, x: float, y: float, speed: float) -> list[Infraction]:
        """The vehicle's speed [m/s] now."""
        if speed >= STOPPED_SPEED:
            self._since = None
            self.stopped_for = 0.0
            return []
        if self._since is None:
            self._since = time
        self.stopped_for = time - self._since
        if self.stopped_for < self.max_time:
            return []
        return [
            Infraction(InfractionKind.AGENT_BLOCKED, time, x, y, f"stopped {self.max_time:.0f} s")
        ]


def angle_gap(a: float, b: float) -> float:
    """``a - b`` wrapped into [-180, 180) degrees."""
    return (a - b + 180.0) % 360.0 - 180.0
