"""Routes over a map's road topology: planning, seeded generation, route files, progress.

``Route`` is a dense polyline (about one point per metre) with the lane heading at each
point; ``RoutePlanner`` plans the shortest lane-following path between two locations over
``carla.Map.get_topology()``; ``RouteGenerator`` draws seeded routes of a given length;
``load_route_file`` reads start/goal lists from yaml. Only the official client's ``carla.Map``
API is used, so routes plan the same way on real CARLA and carla_lite.
"""

from rllib_integration.routing.generator import RouteGenerator
from rllib_integration.routing.planner import RoutePlanner, planner_for
from rllib_integration.routing.route import Route, RouteProgress
from rllib_integration.routing.route_file import RouteSpec, load_route_file

__all__ = [
    "Route",
    "RouteGenerator",
    "RoutePlanner",
    "RouteProgress",
    "RouteSpec",
    "load_route_file",
    "planner_for",
]
