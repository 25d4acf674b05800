"""RouteExperiment: the base of experiments that drive routes and are scored on them.

A subclass defines actions, observations and reward as any ``BaseExperiment``; this base
picks each episode's route, spawns the hero at its start, scores every tick with the
Leaderboard's criteria (``self.task.record``) and ends the episode when the route ends:
completed or failed (terminated), or out of time (truncated). With
``route.end_on_infraction`` any infraction also terminates it, as CaRL trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rllib_integration.base_experiment import BaseExperiment
from rllib_integration.driving_score import StepReport
from rllib_integration.route_task import ROUTE_DEFAULTS, RouteTask

if TYPE_CHECKING:
    import random

    import carla

    from rllib_integration.carla_core import CarlaCore
    from rllib_integration.routing import Route


class RouteExperiment(BaseExperiment):
    """Base class of route-driving experiments.

    Config keys of its own: ``route`` (see ``rllib_integration.route_task``) plus
    ``route.end_on_infraction`` (default False: only the Leaderboard's route-ending rules
    end an episode).

    Attributes:
        task: the route task (route, monitor, record).
        last_report: what the latest ``get_done_status`` scored.
    """

    default_config: Mapping[str, Any] = {"route": {**ROUTE_DEFAULTS, "end_on_infraction": False}}

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        route_config = dict(self.config["route"])
        self.end_on_infraction = bool(route_config.pop("end_on_infraction"))
        self.task = RouteTask(route_config, self.config["hero"])
        self.core: CarlaCore | None = None
        self.last_report = StepReport()
        self.timed_out = False

    def queue_routes(self, routes: list[Route]) -> None:
        """Drive these routes in the next episodes, in order (e.g. a benchmark)."""
        self.task.queue_routes(routes)

    def hero_spawn_points(
        self, core: CarlaCore, rng: random.Random
    ) -> list[carla.Transform] | None:
        """The start of the episode's route."""
        self.core = core
        return self.task.hero_spawn_points(core, rng)

    def reset(self) -> None:
        """Start scoring the new route (the hero is at its start now)."""
        super().reset()
        self.last_report = StepReport()
        self.timed_out = False
        # A base class may call reset() from its __init__, before this one has finished.
        core, task = getattr(self, "core", None), getattr(self, "task", None)
        if core is not None and core.hero is not None and task is not None:
            task.start(core)

    def observe_route(self, sensor_data: Mapping[str, tuple[int, Any]]) -> None:
        """Subclasses call this from ``get_observation`` (it keeps the tick's collision)."""
        self.task.observe(sensor_data)

    def get_done_status(self, observation: Any, core: CarlaCore) -> tuple[bool, bool]:
        """Score the tick; ``(terminated, truncated)`` from the route's end."""
        report, self.timed_out = self.task.update(core)
        self.last_report = report
        terminated = report.ended is not None
        if self.end_on_infraction and report.infractions and not terminated:
            terminated = True
            self.task.monitor.finish(f"Failed - {report.infractions[0].kind.value}")  # type: ignore[union-attr]
        if self.timed_out:
            self.task.monitor.finish("Failed - timeout")  # type: ignore[union-attr]
        return terminated, self.timed_out and not terminated

    def episode_metrics(self) -> dict[str, float]:
        """Route completion, driving score, collisions per km, ... of the episode so far."""
        return self.task.metrics()


def on_routes(experiment_class: type[BaseExperiment]) -> type[RouteExperiment]:
    """``experiment_class`` driving routes: its actions, observations and reward, with the
    episode's route, hero start and driving score of ``RouteExperiment``.

    The episode ends by the route's rules only (the class's own end rules are not used),
    e.g. to score any trained agent on a route benchmark.
    """
    if issubclass(experiment_class, RouteExperiment):
        return experiment_class

    class Routed(RouteExperiment, experiment_class):  # type: ignore[misc, valid-type]
        def get_observation(self, sensor_data: dict[str, tuple[int, Any]]) -> tuple[Any, dict]:
            self.observe_route(sensor_data)
            return super().get_observation(sensor_data)

    Routed.__name__ = Routed.__qualname__ = f"{experiment_class.__name__}OnRoutes"
    return Routed
