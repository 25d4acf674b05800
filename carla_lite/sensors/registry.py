"""Which class simulates each server-side sensor blueprint."""

from __future__ import annotations

from collections.abc import Callable

from carla_lite.sensors.base import Sensor, SensorSpec
from carla_lite.sensors.cameras import (
    DepthCamera,
    DvsCamera,
    InstanceSegmentationCamera,
    NormalsCamera,
    OpticalFlowCamera,
    RgbCamera,
    SemanticSegmentationCamera,
)
from carla_lite.sensors.collision import CollisionSensor
from carla_lite.sensors.gnss import GnssSensor
from carla_lite.sensors.imu import ImuSensor
from carla_lite.sensors.lidar import RayCastLidar, SemanticLidar
from carla_lite.sensors.obstacle import ObstacleDetector
from carla_lite.sensors.radar import Radar

SensorFactory = Callable[[SensorSpec], Sensor]

#: Blueprint id -> sensor class. A sensor blueprint missing here spawns (the client sees
#: the actor and can listen) but never measures anything.
SENSOR_CLASSES: dict[str, SensorFactory] = {
    "sensor.other.collision": CollisionSensor,
    "sensor.other.gnss": GnssSensor,
    "sensor.other.imu": ImuSensor,
    "sensor.lidar.ray_cast": RayCastLidar,
    "sensor.lidar.ray_cast_semantic": SemanticLidar,
    "sensor.other.radar": Radar,
    "sensor.other.obstacle": ObstacleDetector,
    "sensor.camera.rgb": RgbCamera,
    "sensor.camera.depth": DepthCamera,
    "sensor.camera.semantic_segmentation": SemanticSegmentationCamera,
    "sensor.camera.instance_segmentation": InstanceSegmentationCamera,
    "sensor.camera.normals": NormalsCamera,
    "sensor.camera.optical_flow": OpticalFlowCamera,
    "sensor.camera.dvs": DvsCamera,
}


def create_sensor(spec: SensorSpec) -> Sensor | None:
    factory = SENSOR_CLASSES.get(spec.blueprint_id)
    return factory(spec) if factory is not None else None
