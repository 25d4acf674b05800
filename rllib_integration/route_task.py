"""RouteTask: a route per episode, the hero spawned at its start, and its driving score.

Any experiment can own one (``RouteExperiment`` does): ``hero_spawn_points`` picks the
episode's route and returns its start; ``start`` begins scoring once the hero is there;
``observe`` takes the tick's collision; ``update`` scores the tick and says whether the
route ended. Routes come from, in this order: a queue set by the caller (``queue_routes``,
e.g. an evaluation's fixed benchmark), a route file (``route.file``), or the seeded
generator (``route.length``).

Config (the ``route`` section of the experiment)::

    route:
      length: 300              # [m] generated routes
      seed: null               # int: one seeded sequence of routes (a fixed benchmark);
                               # null: each episode's route drawn from the env's seed
      file: null               # yaml of routes (start, goal, via); used instead of length
      order: random            # route file: random | sequential
      collision_sensor: collision  # the hero sensor giving collisions (added if absent)
      max_deviation: 30.0      # [m] farther from the route ends it (Leaderboard: 30)
      max_blocked_time: 180.0  # [s] stopped this long ends it (Leaderboard: 180)
      seconds_per_meter: 0.8   # time allowed per metre of route before a timeout
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rllib_integration.driving_score import CriteriaConfig, RouteMonitor, RouteRecord, StepReport
from rllib_integration.errors import ConfigError
from rllib_integration.routing import Route, RouteGenerator, load_route_file, planner_for

if TYPE_CHECKING:
    import carla

    from rllib_integration.carla_core import CarlaCore
    from rllib_integration.routing import RouteSpec

ROUTE_DEFAULTS: dict[str, Any] = {
    "length": 300.0,
    "seed": None,
    "file": None,
    "order": "random",
    "collision_sensor": "collision",
    "max_deviation": 30.0,
    "max_blocked_time": 180.0,
    "seconds_per_meter": 0.8,
}
ORDERS = ("random", "sequential")
COLLISION_TYPE = "sensor.other.collision"
#: Spawn candidates along the start of a route [m], tried in order: the start may be taken
#: by an NPC (13 places every 4 m: a whole queue of cars rarely covers them all).
SPAWN_OFFSETS = tuple(float(d) for d in range(0, 52, 4))
#: Height above the road the hero is dropped from [m] (as CARLA's spawn points).
SPAWN_LIFT = 0.5


class RouteTask:
    """Routes and their scoring for one experiment.

    Args:
        route_config: the validated ``route`` section (``ROUTE_DEFAULTS`` keys).
        hero_config: the experiment's ``hero`` section; a collision sensor is added to its
            ``sensors`` when ``route.collision_sensor`` names none.

    Raises:
        ConfigError: a bad value in ``route``, or a named collision sensor of another type.
    """

    def __init__(self, route_config: Mapping[str, Any], hero_config: dict[str, Any]) -> None:
        self.config = dict(route_config)
        if self.config["order"] not in ORDERS:
            raise ConfigError(
                f"experiment.route.order: {self.config['order']!r}; valid: {', '.join(ORDERS)}"
            )
        for key in ("length", "max_deviation", "max_blocked_time", "seconds_per_meter"):
            value = self.config[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"experiment.route.{key}: expected a number, got {value!r}")
            if not value > 0:
                raise ConfigError(f"experiment.route.{key}: must be > 0, got {value!r}")
        route_file = self.config["file"]
        if route_file is not None and not isinstance(route_file, str | os.PathLike):
            raise ConfigError(f"experiment.route.file: expected null or a path, got {route_file!r}")
        self.criteria = CriteriaConfig(
            max_route_deviation=float(self.config["max_deviation"]),
            max_blocked_time=float(self.config["max_blocked_time"]),
        )
        self.collision_sensor = str(self.config["collision_sensor"])
        sensors = hero_config.setdefault("sensors", {})
        sensor = sensors.setdefault(self.collision_sensor, {"type": COLLISION_TYPE})
        if not isinstance(sensor, Mapping) or sensor.get("type") != COLLISION_TYPE:
            raise ConfigError(
                f"experiment.hero.sensors.{self.collision_sensor}: route scoring needs it to "
                f"be a {COLLISION_TYPE} (or set experiment.route.collision_sensor)"
            )
        self._file_routes: list[RouteSpec] | None = (
            load_route_file(self.config["file"]) if self.config["file"] else None
        )
        self._next_in_file = 0
        seed = self.config["seed"]
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ConfigError(f"experiment.route.seed: expected null or an int, got {seed!r}")
        self._sequence: RouteGenerator | None = None  # built on the map, with route.seed
        self._drawn = 0
        self._queue: deque[Route] = deque()
        self.route: Route | None = None
        self.monitor: RouteMonitor | None = None
        self._collision: Any = None
        self._start_time: float | None = None

    # -- episode --------------------------------------------------------------------------
    def queue_routes(self, routes: Iterable[Route]) -> None:
        """Drive these routes in the next episodes, in order, before any other."""
        self._queue.extend(routes)

    def hero_spawn_points(self, core: CarlaCore, rng: random.Random) -> list[carla.Transform]:
        """Pick the episode's route; the places along its start to spawn the hero at."""
        import carla

        assert core.map is not None
        self.route = self._next_route(core.map, rng)
        self.monitor = None
        points = []
        for offset in SPAWN_OFFSETS:
            x, y, z, yaw = self.route.point_at(offset)
            points.append(
                carla.Transform(carla.Location(x, y, z + SPAWN_LIFT), carla.Rotation(yaw=yaw))
            )
        return points

    def start(self, core: CarlaCore) -> None:
        """Begin scoring the route (after the hero spawned)."""
        assert self.route is not None and core.world is not None and core.map is not None
        self.monitor = RouteMonitor(self.route, core.world, core.map, self.criteria)
        self._collision = None
        self._start_time = None

    def observe(self, sensor_data: Mapping[str, tuple[int, Any]]) -> None:
        """Keep the tick's collision (if any) for ``update``."""
        entry = sensor_data.get(self.collision_sensor)
        self._collision = entry[1] if entry is not None else None

    def update(self, core: CarlaCore) -> tuple[StepReport, bool]:
        """Score the tick: ``(report, timed_out)``."""
        assert self.monitor is not None and core.hero is not None and core.world is not None
        time = core.world.get_snapshot().timestamp.elapsed_seconds
        if self._start_time is None:
            self._start_time = time
        report = self.monitor.update(core.hero, time, self._collision)
        self._collision = None
        timed_out = False
        if not self.monitor.done:
            allowed = self.monitor.route.length * float(self.config["seconds_per_meter"])
            timed_out = time - self._start_time > allowed
        return report, timed_out

    @property
    def record(self) -> RouteRecord | None:
        """The current route's record (None before the first episode)."""
        return self.monitor.record if self.monitor is not None else None

    def metrics(self) -> dict[str, float]:
        """The episode's driving metrics (for RLlib callbacks and TensorBoard)."""
        record = self.record
        if record is None:
            return {}
        rates = record.per_km()
        return {
            "route_completion": record.route_completion,
            "infraction_penalty": record.infraction_penalty,
            "driving_score": record.driving_score,
            "collisions_per_km": rates["collisions"],
            "infractions_per_km": rates["infractions"],
            "km_driven": record.driven / 1000.0,
        }

    # -- routes ---------------------------------------------------------------------------
    def _next_route(self, carla_map: carla.Map, rng: random.Random) -> Route:
        if self._queue:
            return self._queue.popleft()
        planner = planner_for(carla_map)
        if self._file_routes is not None:
            if self.config["order"] == "sequential":
                spec = self._file_routes[self._next_in_file % len(self._file_routes)]
                self._next_in_file += 1
            else:
                spec = rng.choice(self._file_routes)
            return spec.plan(planner)
        length = float(self.config["length"])
        if self.config["seed"] is not None:
            if self._sequence is None or self._sequence.planner is not planner:
                self._sequence = RouteGenerator(planner, self.config["seed"])
                self._drawn = 0
            self._drawn += 1
            return self._sequence.generate(length, f"route_{self._drawn - 1:02d}")
        # One generator per episode, seeded from the env's rng: a seeded reset replays it.
        generator = RouteGenerator(planner, rng.randrange(2**32))
        return generator.generate(length)
