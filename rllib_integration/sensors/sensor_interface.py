"""Collects every sensor's data for the tick just run, matched by frame."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from rllib_integration.errors import ConfigError, SensorError, SensorTimeoutError

if TYPE_CHECKING:
    import carla

    from rllib_integration.sensors.base import BaseSensor, PseudoSensor

log = logging.getLogger(__name__)

#: How long ``get_data`` waits for a sensor's data of the current frame [s] (original: 10).
DEFAULT_TIMEOUT = 10.0


class SensorInterface:
    """Registry of the hero's sensors and the buffers of their data.

    CARLA sensors deliver data from the client's streaming threads; ``put`` is thread-safe.
    ``get_data(frame)`` returns ``{name: (frame, data)}`` with one entry per regular sensor,
    all for ``frame`` (older data is dropped, a missing one raises after ``timeout``), plus
    one entry per event sensor that reported something since the previous call (its first
    event; later ones of the same interval are dropped, like the original's Collision sensor
    that kept one event per frame).
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._sensors: dict[str, BaseSensor] = {}
        self._latest: dict[str, tuple[int, Any]] = {}
        self._events: dict[str, deque[tuple[int, Any]]] = {}
        self._cond = threading.Condition()
        self._failure: tuple[str, BaseException] | None = None

    @property
    def sensors(self) -> dict[str, BaseSensor]:
        """Every registered sensor by name (a copy)."""
        with self._cond:
            return dict(self._sensors)

    def register(self, name: str, sensor: BaseSensor) -> None:
        with self._cond:
            if name in self._sensors:
                raise ConfigError(f"a sensor named {name!r} is already registered")
            self._sensors[name] = sensor
            if sensor.is_event_sensor():
                self._events[name] = deque()

    def put(self, name: str, frame: int, data: Any) -> None:
        """Store one item of data (called from sensor callbacks, any thread)."""
        with self._cond:
            if name in self._events:
                self._events[name].append((frame, data))
            elif name in self._sensors:
                latest = self._latest.get(name)
                if latest is None or frame >= latest[0]:
                    self._latest[name] = (frame, data)
            self._cond.notify_all()

    def fail(self, name: str, error: BaseException) -> None:
        """Record that sensor ``name`` could not parse its data (called from its thread).

        The error is raised from the next ``get_data`` instead of being lost in the client's
        streaming thread.
        """
        with self._cond:
            self._failure = self._failure or (name, error)
            self._cond.notify_all()

    def tick_pseudo_sensors(self, frame: int, snapshot: carla.WorldSnapshot) -> None:
        """Let every pseudo-sensor produce its data for ``frame`` (synchronously)."""
        from rllib_integration.sensors.base import PseudoSensor

        for sensor in list(self._sensors.values()):
            if isinstance(sensor, PseudoSensor):
                pseudo: PseudoSensor = sensor
                pseudo.tick(frame, snapshot)

    def get_data(self, frame: int | None = None) -> dict[str, tuple[int, Any]]:
        """Every sensor's data for ``frame`` (or the latest data if ``frame`` is None).

        Raises:
            SensorTimeoutError: a regular sensor sent nothing for ``frame`` within
                ``timeout`` seconds; the message names the late sensors.
        """
        deadline = time.monotonic() + self.timeout
        with self._cond:
            regular = [n for n in self._sensors if n not in self._events]
            while True:
                if self._failure is not None:
                    name, error = self._failure
                    self._failure = None
                    raise SensorError(
                        f"sensor {name!r} failed to parse its data: {error}"
                    ) from error
                late = [n for n in regular if not self._has(n, frame)]
                if not late:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SensorTimeoutError(
                        f"sensor(s) {', '.join(sorted(late))} sent no data for frame {frame} "
                        f"within {self.timeout:.1f} s"
                    )
                self._cond.wait(remaining)
            data = {name: self._latest[name] for name in regular}
            for name, queue in self._events.items():
                first = None
                while queue and (frame is None or queue[0][0] <= frame):
                    item = queue.popleft()
                    first = first or item
                if first is not None:
                    data[name] = first
        return data

    def _has(self, name: str, frame: int | None) -> bool:
        latest = self._latest.get(name)
        return latest is not None and (frame is None or latest[0] >= frame)

    def destroy(self) -> None:
        """Destroy every sensor and forget them and their data."""
        with self._cond:
            sensors = list(self._sensors.items())
            self._sensors.clear()
            self._latest.clear()
            self._events.clear()
            self._failure = None
        for name, sensor in sensors:
            try:
                sensor.destroy()
            except Exception:  # one broken sensor must not leave the others alive
                log.exception("destroying sensor %r failed", name)
