"""Leaderboard-style driving score of a route: criteria, infractions and the route record.

The criteria follow the CARLA Leaderboard (1.0): route completion; collisions with
pedestrians, vehicles and the static world; running red lights and stop signs; driving
outside the route's lanes (off the road or in a lane of the opposite direction), which
discounts that share of the route from the completion; route deviation and the agent
blocked, which end the route. The infraction penalty is the product of each infraction's
coefficient, the driving score is completion x penalty.

``criteria`` holds the rules on plain numbers (testable without a simulator); ``monitor``
feeds them from the official client's API each tick.
"""

from rllib_integration.driving_score.infractions import PENALTIES, Infraction, InfractionKind
from rllib_integration.driving_score.monitor import CriteriaConfig, RouteMonitor, StepReport
from rllib_integration.driving_score.record import RouteRecord, summarize

__all__ = [
    "PENALTIES",
    "CriteriaConfig",
    "Infraction",
    "InfractionKind",
    "RouteMonitor",
    "RouteRecord",
    "StepReport",
    "summarize",
]
