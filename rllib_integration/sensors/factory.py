"""Builds the hero's sensors from their config entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rllib_integration.errors import ConfigError
from rllib_integration.sensors import sensor as _sensor

if TYPE_CHECKING:
    import carla

    from rllib_integration.sensors.base import BaseSensor
    from rllib_integration.sensors.sensor_interface import SensorInterface

__all__ = ["BIRDVIEW_TYPE", "SENSOR_CLASSES", "SUPPORTED_TYPES", "SensorFactory"]

#: The client-side bird's-eye-view pseudo-sensor (not a CARLA blueprint).
BIRDVIEW_TYPE = "sensor.birdview"

#: Sensor class per CARLA blueprint id.
SENSOR_CLASSES: dict[str, type[_sensor.CarlaSensor]] = {
    "sensor.camera.rgb": _sensor.CameraRGB,
    "sensor.camera.depth": _sensor.CameraDepth,
    "sensor.camera.semantic_segmentation": _sensor.CameraSemanticSegmentation,
    "sensor.camera.instance_segmentation": _sensor.CameraInstanceSegmentation,
    "sensor.camera.dvs": _sensor.CameraDVS,
    "sensor.lidar.ray_cast": _sensor.Lidar,
    "sensor.lidar.ray_cast_semantic": _sensor.SemanticLidar,
    "sensor.other.radar": _sensor.Radar,
    "sensor.other.gnss": _sensor.Gnss,
    "sensor.other.imu": _sensor.Imu,
    "sensor.other.lane_invasion": _sensor.LaneInvasion,
    "sensor.other.collision": _sensor.Collision,
    "sensor.other.obstacle": _sensor.Obstacle,
}

#: Every ``type`` the factory accepts.
SUPPORTED_TYPES: tuple[str, ...] = (*SENSOR_CLASSES, BIRDVIEW_TYPE)


class SensorFactory:
    """Creates sensors by their config's ``type``."""

    @staticmethod
    def spawn(
        name: str,
        attributes: Mapping[str, Any],
        interface: SensorInterface,
        parent: carla.Actor,
    ) -> BaseSensor:
        """Create the sensor ``name`` described by ``attributes``, attached to ``parent``.

        Args:
            name: the sensor's key in ``interface.get_data()``.
            attributes: its config: ``type`` plus type-specific entries (not modified).
            interface: where the sensor registers and delivers its data.
            parent: the actor it is attached to (the hero).

        Returns:
            The sensor, already registered and listening.

        Raises:
            ConfigError: ``attributes`` is not a mapping, its ``type`` is missing or not
                supported (the message lists the supported types), or the sensor's own
                config is invalid.
            CarlaServerError: the server could not spawn the sensor.
        """
        if not isinstance(attributes, Mapping):
            raise ConfigError(
                f"sensor {name!r}: expected a mapping of attributes, got {attributes!r}"
            )
        # Sensors may pop what they consume (the original's did); the caller's config
        # must survive unchanged, e.g. to build the same sensors on the next reset.
        attributes = dict(attributes)
        sensor_type = attributes.get("type", "")
        if sensor_type == BIRDVIEW_TYPE:
            # Imported lazily: the BirdView needs OpenCV and map rasterisation, which
            # configs without a bird's-eye view should not have to import.
            from rllib_integration.sensors.bird_view_manager import BirdviewManager

            return BirdviewManager(name, attributes, interface, parent)
        sensor_class = SENSOR_CLASSES.get(sensor_type) if isinstance(sensor_type, str) else None
        if sensor_class is None:
            raise ConfigError(
                f"sensor {name!r}: sensor of type {sensor_type!r} not supported; "
                f"supported: {', '.join(SUPPORTED_TYPES)}"
            )
        return sensor_class(name, attributes, interface, parent)
