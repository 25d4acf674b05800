"""All sensors of one episode; asks the active ones to measure each tick."""

from __future__ import annotations

from collections.abc import Collection

from carla_lite.maps import RoadMap
from carla_lite.sensors.base import Sensor, SensorSpec
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import Measurement
from carla_lite.sensors.raycast import static_caster
from carla_lite.sensors.registry import create_sensor


class SensorSuite:
    def __init__(self) -> None:
        self._sensors: dict[int, Sensor] = {}

    def add(self, spec: SensorSpec, road_map: RoadMap) -> None:
        """Create the sensor of a spawned actor (raises SensorConfigError on bad attributes)."""
        sensor = create_sensor(spec)
        if sensor is None:
            return
        if sensor.uses_scene:
            static_caster(road_map)  # the scene and its ray-cast structure, cached per map
        self._sensors[spec.actor_id] = sensor

    def remove(self, actor_id: int) -> None:
        self._sensors.pop(actor_id, None)

    def __contains__(self, actor_id: object) -> bool:
        return actor_id in self._sensors

    def __len__(self) -> int:
        return len(self._sensors)

    def active(self, wanted: Collection[int]) -> list[Sensor]:
        """The sensors among ``wanted`` actor ids (those a client listens to)."""
        sensors = self._sensors
        return [sensors[i] for i in wanted if i in sensors]

    def measure(self, frame: SensorFrame, sensors: list[Sensor]) -> list[Measurement]:
        """Run each due sensor on ``frame``; measurements in sensor order."""
        out: list[Measurement] = []
        for sensor in sensors:
            if sensor.due(frame.delta_seconds):
                out.extend(sensor.measure(frame))
        return out
