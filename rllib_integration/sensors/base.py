"""Sensor base classes: what every sensor, real or pseudo, offers the SensorInterface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import carla

    from rllib_integration.sensors.sensor_interface import SensorInterface


class BaseSensor:
    """A named sensor attached to the hero, feeding parsed data into a SensorInterface.

    Args:
        name: the key of this sensor's data in ``get_data()``'s result.
        attributes: the sensor's config (``type`` plus type-specific attributes).
        interface: where data is delivered; the sensor registers itself there.
        parent: the actor the sensor is attached to (the hero).
    """

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        interface: SensorInterface,
        parent: carla.Actor,
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.interface = interface
        self.parent = parent
        interface.register(name, self)

    def is_event_sensor(self) -> bool:
        """Event sensors (collision, lane invasion...) may send nothing on a tick."""
        return False

    def parse(self, data: Any) -> Any:
        """Turn raw measurement data into the value users get (identity by default)."""
        return data

    def update_sensor(self, data: Any, frame: int) -> None:
        """Parse ``data`` of ``frame`` and hand it to the interface.

        Runs in the client's streaming thread for CARLA sensors: a parse error is handed to
        the interface, which raises it from ``get_data`` in the env's thread.
        """
        try:
            parsed = self.parse(data)
        except Exception as exc:
            self.interface.fail(self.name, exc)
            return
        self.interface.put(self.name, frame, parsed)

    def callback(self, data: Any) -> None:
        """``listen`` callback of CARLA sensors: the measurement carries its frame."""
        self.update_sensor(data, data.frame)

    def destroy(self) -> None:
        """Release what the sensor holds; safe to call twice."""


class PseudoSensor(BaseSensor):
    """A sensor computed client-side after each tick (e.g. the BirdView).

    The SensorInterface calls ``tick`` synchronously right after every ``world.tick()``,
    with the frame just run, so pseudo-sensor data always belongs to that frame.
    """

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> None:
        """Produce this frame's data (call ``update_sensor(data, frame)``)."""
        raise NotImplementedError
