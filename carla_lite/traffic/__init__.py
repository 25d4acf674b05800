"""The server-side Traffic Manager: NPC vehicles driven inside the world's tick."""

from carla_lite.traffic.manager import TrafficManager
from carla_lite.traffic.parameters import TrafficParameters
from carla_lite.traffic.paths import Route
from carla_lite.traffic.scene import TrafficScene, VehicleBody

__all__ = ["Route", "TrafficManager", "TrafficParameters", "TrafficScene", "VehicleBody"]
