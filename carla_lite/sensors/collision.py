"""``sensor.other.collision``: one event per contact of the parent this tick."""

from __future__ import annotations

from carla_lite.sensors.base import Sensor
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import CollisionMeasurement, Measurement


class CollisionSensor(Sensor):
    def measure(self, frame: SensorFrame) -> list[Measurement]:
        parent = self.parent_id
        if not parent:
            return []
        hits = [c for c in frame.contacts if c.actor_id == parent]
        if not hits:
            return []
        stamp = self.stamp(frame)
        return [
            CollisionMeasurement(
                *stamp,
                actor_id=c.actor_id,
                other_id=c.other_id,
                normal_impulse=c.normal_impulse,
            )
            for c in hits
        ]
