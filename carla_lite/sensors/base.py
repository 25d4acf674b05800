"""The sensor contract: built from a spawned actor's attributes, asked once per tick."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from carla_lite.geom import Transform
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import Measurement


class SensorConfigError(ValueError):
    """A sensor attribute the simulation cannot use (names the attribute and the value)."""


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A spawned sensor: its actor id, blueprint, attribute values and parent (0: none)."""

    actor_id: int
    blueprint_id: str
    attributes: Mapping[str, str]
    parent_id: int = 0

    def number(self, name: str, default: float) -> float:
        raw = self.attributes.get(name)
        if raw is None or raw == "":
            return default
        try:
            return float(raw)
        except ValueError:
            raise SensorConfigError(
                f"{self.blueprint_id}: attribute {name}={raw!r} is not a number"
            ) from None

    def integer(self, name: str, default: int) -> int:
        return int(self.number(name, default))


class Sensor(ABC):
    """One server-side sensor.

    ``sensor_tick`` (seconds, 0 = every tick) is honoured here like CARLA's sensors:
    a measurement is due once that much simulation time has passed since the last one.
    """

    #: Draws or ray-casts the map's scene: the suite builds that scene when the sensor
    #: spawns (up to a second on a large town) rather than inside its first tick.
    uses_scene: ClassVar[bool] = False

    def __init__(self, spec: SensorSpec) -> None:
        self.spec = spec
        self.sensor_tick = max(0.0, spec.number("sensor_tick", 0.0))
        self._since_last = 0.0
        self._interval = 0.0  # [s] simulation time since the previous measurement

    @property
    def actor_id(self) -> int:
        return self.spec.actor_id

    @property
    def parent_id(self) -> int:
        return self.spec.parent_id

    def due(self, delta_seconds: float) -> bool:
        """Advance this sensor's clock by one tick; True when it measures this tick."""
        self._since_last += delta_seconds
        if self.sensor_tick <= 0.0 or self._since_last + 1e-9 >= self.sensor_tick:
            self._interval, self._since_last = self._since_last, 0.0
            return True
        return False

    def interval(self, frame: SensorFrame) -> float:
        """Simulation time [s] this measurement covers: since the previous one (the frame's
        delta when ``due`` has not run)."""
        return self._interval if self._interval > 0.0 else frame.delta_seconds

    def stamp(self, frame: SensorFrame) -> tuple[int, int, float, Transform]:
        """What every measurement starts with: sensor id, frame, time, world transform."""
        return self.actor_id, frame.frame, frame.timestamp, frame.transform(self.actor_id)

    @abstractmethod
    def measure(self, frame: SensorFrame) -> list[Measurement]:
        """This tick's measurements (empty when there is nothing to report)."""
