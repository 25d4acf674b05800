"""Traffic-light cycling per junction group and the "vehicle at a light" test.

CARLA cycles the lights of one junction in turn: one light goes green, then yellow, then
every light of the group stays red for ``red_time`` before the next one goes green.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

DEFAULT_GREEN_TIME = 10.0
DEFAULT_YELLOW_TIME = 3.0
DEFAULT_RED_TIME = 2.0
#: A vehicle counts as facing a light if its heading is within this of the trigger's [deg].
HEADING_TOLERANCE_DEG = 60.0


class LightState(enum.IntEnum):
    """``carla.TrafficLightState`` values."""

    RED = 0
    YELLOW = 1
    GREEN = 2
    OFF = 3
    UNKNOWN = 4


@dataclass(slots=True)
class Light:
    actor_id: int
    sign_id: str
    group: int
    pole_index: int
    state: LightState = LightState.RED
    elapsed: float = 0.0
    green_time: float = DEFAULT_GREEN_TIME
    yellow_time: float = DEFAULT_YELLOW_TIME
    red_time: float = DEFAULT_RED_TIME
    frozen: bool = False
    # Trigger box: centre, yaw, half length/width, in the CARLA frame.
    trigger: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(slots=True)
class _Group:
    lights: list[int] = field(default_factory=list)  # indexes into TrafficLightSystem.lights
    active: int = 0  # index in ``lights`` of the light whose turn it is
    phase_time: float = 0.0


class TrafficLightSystem:
    """All traffic lights of an episode, grouped by junction."""

    def __init__(self) -> None:
        self.lights: list[Light] = []
        self._groups: list[_Group] = []
        self._by_actor: dict[int, int] = {}
        self._trigger_arrays: tuple[np.ndarray, ...] | None = None

    def add_group(self, lights: list[Light]) -> None:
        """Add the lights of one junction; the first starts green, the others red."""
        group = _Group()
        for index, light in enumerate(lights):
            light.group = len(self._groups)
            light.pole_index = index
            self._by_actor[light.actor_id] = len(self.lights)
            group.lights.append(len(self.lights))
            self.lights.append(light)
        self._groups.append(group)
        self._trigger_arrays = None
        self._apply_phase(group)

    def get(self, actor_id: int) -> Light | None:
        index = self._by_actor.get(actor_id)
        return None if index is None else self.lights[index]

    def group_of(self, actor_id: int) -> list[int]:
        """Actor ids of every light in the same junction group."""
        light = self.get(actor_id)
        if light is None:
            return []
        return [self.lights[i].actor_id for i in self._groups[light.group].lights]

    # -- commands -------------------------------------------------------------------------
    def set_state(self, actor_id: int, state: int) -> None:
        light = self._require(actor_id)
        light.state = LightState(state)
        light.elapsed = 0.0

    def set_times(
        self,
        actor_id: int,
        *,
        green: float | None = None,
        yellow: float | None = None,
        red: float | None = None,
    ) -> None:
        light = self._require(actor_id)
        if green is not None:
            light.green_time = float(green)
        if yellow is not None:
            light.yellow_time = float(yellow)
        if red is not None:
            light.red_time = float(red)

    def freeze(self, actor_id: int, frozen: bool) -> None:
        self._require(actor_id).frozen = frozen

    def freeze_all(self, frozen: bool) -> None:
        for light in self.lights:
            light.frozen = frozen

    def reset_group(self, actor_id: int) -> None:
        light = self._require(actor_id)
        group = self._groups[light.group]
        group.active, group.phase_time = 0, 0.0
        self._apply_phase(group)

    def reset_all(self) -> None:
        for group in self._groups:
            group.active, group.phase_time = 0, 0.0
            self._apply_phase(group)

    # -- simulation -----------------------------------------------------------------------
    def step(self, dt: float) -> None:
        """Advance every unfrozen group by ``dt`` seconds."""
        for light in self.lights:
            if not light.frozen:
                light.elapsed += dt
        for group in self._groups:
            active = self.lights[group.lights[group.active]]
            if active.frozen:
                continue
            group.phase_time += dt
            cycle = active.green_time + active.yellow_time + active.red_time
            if group.phase_time >= cycle:
                group.phase_time -= cycle
                group.active = (group.active + 1) % len(group.lights)
            self._apply_phase(group)

    def _apply_phase(self, group: _Group) -> None:
        active = self.lights[group.lights[group.active]]
        if group.phase_time < active.green_time:
            wanted = LightState.GREEN
        elif group.phase_time < active.green_time + active.yellow_time:
            wanted = LightState.YELLOW
        else:
            wanted = LightState.RED
        for position, index in enumerate(group.lights):
            light = self.lights[index]
            if light.frozen:
                continue
            state = wanted if position == group.active else LightState.RED
            if state != light.state:
                light.state = state
                light.elapsed = 0.0

    def lights_facing(self, xs: np.ndarray, ys: np.ndarray, yaws: np.ndarray) -> np.ndarray:
        """Index of the light whose trigger box holds each vehicle, or -1."""
        result = np.full(len(xs), -1, dtype=np.int64)
        if not self.lights or len(xs) == 0:
            return result
        if self._trigger_arrays is None:
            t = np.array([light.trigger for light in self.lights], dtype=np.float64)
            yaw = np.radians(t[:, 2])
            self._trigger_arrays = (t[:, 0], t[:, 1], np.cos(yaw), np.sin(yaw), t[:, 3], t[:, 4])
        cx, cy, c, s, half_len, half_wid = self._trigger_arrays
        dx = xs[:, None] - cx[None, :]
        dy = ys[:, None] - cy[None, :]
        along = dx * c + dy * s
        across = -dx * s + dy * c
        vyaw = np.radians(yaws)[:, None]
        heading_ok = (np.cos(vyaw) * c + np.sin(vyaw) * s) > math.cos(
            math.radians(HEADING_TOLERANCE_DEG)
        )
        inside = (np.abs(along) <= half_len) & (np.abs(across) <= half_wid) & heading_ok
        hit = inside.any(axis=1)
        result[hit] = inside[hit].argmax(axis=1)
        return result

    def _require(self, actor_id: int) -> Light:
        light = self.get(actor_id)
        if light is None:
            raise KeyError(f"actor {actor_id} is not a traffic light")
        return light
