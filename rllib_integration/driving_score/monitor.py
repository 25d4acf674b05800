"""Feeds the criteria from the official client each tick and keeps the route's record.

Everything read per tick is client-side state of the tick's frame (the hero's transform
and velocity, the lights' states, ``Map.get_waypoint``): no RPC per tick. The stop lines
of the traffic lights (``TrafficLight.get_stop_waypoints``) and the stop signs' areas are
looked up once per world and cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rllib_integration.driving_score.criteria import (
    BlockedCriterion,
    CollisionCriterion,
    OutsideLanesCriterion,
    RedLightCriterion,
    RouteDeviationCriterion,
    StopArea,
    StopLine,
    StopSignCriterion,
    angle_gap,
)
from rllib_integration.driving_score.infractions import ROUTE_ENDING, Infraction
from rllib_integration.driving_score.record import RouteRecord
from rllib_integration.routing.route import Route, RouteProgress

if TYPE_CHECKING:
    import carla

#: Lights whose stop lines are farther than this are not checked this tick [m].
LIGHT_REACH = 40.0
#: How far beyond a lane's edge still counts as on the road [m] (the Leaderboard's).
ALLOWED_OUT_DISTANCE = 1.3
#: A lane whose heading is this far from the route's [deg] runs the other way.
WRONG_WAY_GAP = 120.0


@dataclass(frozen=True)
class CriteriaConfig:
    """Thresholds of the route-ending rules (the Leaderboard's values by default).

    Attributes:
        max_route_deviation: farther than this from the route ends it [m].
        max_blocked_time: stopped this long in a row ends the route [s].
        goal_distance: within this of the goal with 99 % done completes the route [m].
    """

    max_route_deviation: float = 30.0
    max_blocked_time: float = 180.0
    goal_distance: float = 10.0


@dataclass
class StepReport:
    """What one tick changed: metres of route gained, new infractions, and the end."""

    progress: float = 0.0
    infractions: list[Infraction] = field(default_factory=list)
    ended: str | None = None  # "completed", or the ending infraction's kind

    @property
    def completed(self) -> bool:
        """The route was completed this tick."""
        return self.ended == "completed"


class RouteMonitor:
    """Scores one drive of ``route`` by the hero.

    Args:
        route: the route to drive.
        world: the ``carla.World`` (for the traffic lights and stop signs).
        carla_map: its ``carla.Map``.
        config: the route-ending thresholds.
    """

    def __init__(
        self,
        route: Route,
        world: carla.World,
        carla_map: carla.Map,
        config: CriteriaConfig | None = None,
    ) -> None:
        self.route = route
        self.map = carla_map
        self.config = config or CriteriaConfig()
        self.progress = RouteProgress(route)
        self.record = RouteRecord(route.name, route.length)
        lights, stop_lines, stop_areas = _signals(world)
        self._lights = lights
        #: ``(metres along the route, light)`` of every stop line the route crosses, in order.
        self.lights_on_route = _lights_on_route(route, stop_lines, [light for light, _ in lights])
        self.collisions = CollisionCriterion()
        self.red_lights = RedLightCriterion(stop_lines)
        self.stop_signs = StopSignCriterion(stop_areas)
        self.outside = OutsideLanesCriterion()
        self.deviation = RouteDeviationCriterion(self.config.max_route_deviation)
        self.blocked = BlockedCriterion(self.config.max_blocked_time)
        self._start_time: float | None = None
        self._previous: tuple[float, float] | None = None

    @property
    def done(self) -> bool:
        """The route has ended (completed or failed)."""
        return self.record.status != "Running"

    def update(
        self, hero: carla.Actor, time: float, collision: tuple[Any, Any] | None = None
    ) -> StepReport:
        """Score the tick at simulation ``time`` [s].

        Args:
            hero: the hero vehicle.
            time: the tick's simulation time (``snapshot.timestamp.elapsed_seconds``).
            collision: this tick's collision: ``(other_actor, impulse)`` as the collision
                sensor gives it (``rllib_integration`` parses it so), or None.
        """
        report = StepReport()
        if self.done:
            return report
        if self._start_time is None:
            self._start_time = time
        transform = hero.get_transform()
        x, y = transform.location.x, transform.location.y
        yaw = transform.rotation.yaw
        velocity = hero.get_velocity()
        speed = math.hypot(velocity.x, velocity.y)
        if self._previous is not None:
            self.record.driven += math.hypot(x - self._previous[0], y - self._previous[1])
        self._previous = (x, y)
        self.record.duration = time - self._start_time

        report.progress = self.progress.update(x, y)
        found: list[Infraction] = []
        if collision is not None:
            other = collision[0]
            found += self.collisions.update(
                time, x, y, getattr(other, "id", None), str(getattr(other, "type_id", "static"))
            )
        found += self.red_lights.update(time, x, y, yaw, self._red_lights(x, y))
        found += self.stop_signs.update(time, x, y, speed)
        off_road, wrong_lane = self._lane_state(transform)
        found += self.outside.update(time, x, y, off_road, wrong_lane)
        found += self.deviation.update(time, x, y, self.progress.distance_to_route)
        found += self.blocked.update(time, x, y, speed)

        record = self.record
        record.infractions += found
        record.progress = self.progress.distance
        record.outside_distance = self.outside.distance
        report.infractions = found
        ending = next((i for i in found if i.kind in ROUTE_ENDING), None)
        goal_x, goal_y, _ = self.route.goal
        near_goal = math.hypot(x - goal_x, y - goal_y) <= self.config.goal_distance
        if ending is not None:
            record.status = f"Failed - {ending.kind.value}"
            report.ended = ending.kind.value
        elif self.progress.fraction >= 0.99 or (
            near_goal and self.progress.remaining <= self.config.goal_distance
        ):
            record.progress = self.route.length
            record.status = "Completed"
            report.ended = "completed"
        return report

    def next_light(self, reach: float) -> tuple[float, bool] | None:
        """``(metres to it, red or yellow)`` of the next stop line on the route within
        ``reach`` [m] of the progress point, or None."""
        import carla

        here = self.progress.distance
        for at, light in self.lights_on_route:
            if at >= here - 1.0:
                if at - here > reach:
                    return None
                stopping = light.state in (
                    carla.TrafficLightState.Red,
                    carla.TrafficLightState.Yellow,
                )
                return max(at - here, 0.0), bool(stopping)
        return None

    def finish(self, status: str) -> RouteRecord:
        """End a route still running (e.g. ``"Failed - timeout"``); the record."""
        if not self.done:
            self.record.status = status
        return self.record

    def _red_lights(self, x: float, y: float) -> set[int]:
        red: set[int] = set()
        for light, (lx, ly) in self._lights:
            if abs(lx - x) < LIGHT_REACH and abs(ly - y) < LIGHT_REACH and _is_red(light):
                red.add(light.id)
        return red

    def _lane_state(self, transform: carla.Transform) -> tuple[bool, bool]:
        """``(off_road, wrong_lane)`` of the hero's position.

        Off the road is farther than half a lane plus ``ALLOWED_OUT_DISTANCE`` from the
        nearest driving (or parking) lane's centre, as the Leaderboard's test: cutting a
        junction's corner a little is not leaving the road. A wrong lane is one running
        against the route, outside junctions.
        """
        import carla

        location = transform.location
        driving = self.map.get_waypoint(
            location, project_to_road=True, lane_type=carla.LaneType.Driving
        )
        parking = self.map.get_waypoint(
            location, project_to_road=True, lane_type=carla.LaneType.Parking
        )
        nearest = min(
            (w for w in (driving, parking) if w is not None),
            key=lambda w: location.distance(w.transform.location),
            default=None,
        )
        if nearest is None:
            return True, False
        gap = location.distance(nearest.transform.location)
        if gap > nearest.lane_width / 2.0 + ALLOWED_OUT_DISTANCE:
            return True, False
        if driving is None or driving.is_junction or nearest is not driving:
            return False, False
        route_yaw = self.route.point_at(self.progress.distance)[3]
        heading_gap = abs(angle_gap(driving.transform.rotation.yaw, route_yaw))
        return False, heading_gap > WRONG_WAY_GAP


def _is_red(light: Any) -> bool:
    import carla

    return bool(light.state == carla.TrafficLightState.Red)


def _lights_on_route(
    route: Route, stop_lines: list[StopLine], lights: list[Any]
) -> list[tuple[float, Any]]:
    """The stop lines the route crosses, by their distance along it."""
    by_id = {light.id: light for light in lights}
    found: list[tuple[float, Any]] = []
    xy = route.points[:, :2]
    for line in stop_lines:
        gaps = np.hypot(xy[:, 0] - line.x, xy[:, 1] - line.y)
        index = int(np.argmin(gaps))
        heading = abs(angle_gap(float(route.points[index, 3]), line.yaw))
        if gaps[index] <= line.half_width and heading < 45.0 and line.light_id in by_id:
            found.append((float(route.cumulative[index]), by_id[line.light_id]))
    return sorted(found, key=lambda item: item[0])


_signal_cache: dict[int, tuple[list[Any], list[StopLine], list[StopArea]]] = {}


def _signals(world: carla.World) -> tuple[list[Any], list[StopLine], list[StopArea]]:
    """The world's lights (with a position to cull by), stop lines and stop areas, cached."""
    cached = _signal_cache.get(world.id)
    if cached is not None:
        return cached
    actors = world.get_actors()
    lights: list[Any] = []
    stop_lines: list[StopLine] = []
    for light in actors.filter("traffic.traffic_light*"):
        lines = [
            StopLine(
                light.id,
                waypoint.transform.location.x,
                waypoint.transform.location.y,
                waypoint.transform.rotation.yaw,
                waypoint.lane_width / 2.0,
            )
            for waypoint in light.get_stop_waypoints()
        ]
        if lines:  # culled by its first stop line: a light's lines are a few metres apart
            stop_lines += lines
            lights.append((light, (lines[0].x, lines[0].y)))
    stop_areas: list[StopArea] = []
    for sign in actors.filter("traffic.stop*"):
        transform = sign.get_transform()
        volume = sign.trigger_volume
        centre = transform.transform(volume.location)
        stop_areas.append(
            StopArea(
                sign.id,
                centre.x,
                centre.y,
                transform.rotation.yaw + volume.rotation.yaw,
                volume.extent.x,
                volume.extent.y,
            )
        )
    _signal_cache.clear()  # one world at a time
    _signal_cache[world.id] = (lights, stop_lines, stop_areas)
    return lights, stop_lines, stop_areas
