"""Traffic-light cycling per junction group and the "vehicle at a light" test.

CARLA cycles the lights of one junction in turn: one light goes green, then yellow, then
every light of the group stays red for ``red_time`` before the next one goes green. State
lives in numpy arrays (one row per light) so a town with dozens of lights costs a handful
of vectorised operations per tick.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

DEFAULT_GREEN_TIME = 10.0
DEFAULT_YELLOW_TIME = 3.0
DEFAULT_RED_TIME = 2.0
#: A vehicle counts as facing a light if its heading is within this of the trigger's [deg].
HEADING_TOLERANCE_DEG = 60.0
_COS_TOLERANCE = math.cos(math.radians(HEADING_TOLERANCE_DEG))


class CellGrid(Protocol):
    """The map's lookup grid (``RoadMap.cell_grid``)."""

    @property
    def cell(self) -> float: ...
    @property
    def nx(self) -> int: ...
    @property
    def ny(self) -> int: ...

    def clamped_index(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray: ...


class LightState(enum.IntEnum):
    """``carla.TrafficLightState`` values."""

    RED = 0
    YELLOW = 1
    GREEN = 2
    OFF = 3
    UNKNOWN = 4


@dataclass(frozen=True, slots=True)
class Light:
    """The fixed facts of one light; its changing state is in ``TrafficLightSystem``."""

    actor_id: int
    sign_id: str
    #: Trigger box: centre x, y, yaw [deg], half length, half width (CARLA frame).
    trigger: tuple[float, float, float, float, float]


class TrafficLightSystem:
    """All traffic lights of an episode, grouped by junction."""

    def __init__(self) -> None:
        self.lights: list[Light] = []
        self._index: dict[int, int] = {}
        self.group = np.zeros(0, dtype=np.int64)  # group of each light
        self.pole_index = np.zeros(0, dtype=np.uint32)  # position in its group
        # One row per light: green, yellow, red durations and time in the current state [s].
        self.timing = np.zeros((0, 4))
        # Light states plus a GREEN sentinel row: index -1 reads "no light ahead".
        self.state_or_green = np.array([LightState.GREEN], dtype=np.uint8)
        self.frozen = np.zeros(0, dtype=bool)
        self._bind_views()
        self._group_start = np.zeros(0, dtype=np.int64)
        self._group_size = np.zeros(0, dtype=np.int64)
        self._active = np.zeros(0, dtype=np.int64)  # position of the light whose turn it is
        self._phase = np.zeros(0)  # time into the active light's green-yellow-red cycle
        # Cached from the above, refreshed by _apply_phases: the per-tick step only adds dt
        # and compares until some group reaches its next phase boundary.
        self._next_change = np.zeros(0)
        self._running = np.zeros(0, dtype=bool)
        self._not_frozen = np.zeros(0, dtype=bool)
        self._zones: np.ndarray | None = None
        self._zone_yaw = np.zeros(1)

    def __len__(self) -> int:
        return len(self.lights)

    def add_group(self, lights: list[Light]) -> None:
        """Add the lights of one junction; the first starts green, the others red."""
        if not lights:
            return
        n, start, g = len(lights), len(self.lights), len(self._group_start)
        for offset, light in enumerate(lights):
            self._index[light.actor_id] = start + offset
        self.lights.extend(lights)
        self.group = np.append(self.group, np.full(n, g))
        self.pole_index = np.append(self.pole_index, np.arange(n, dtype=np.uint32))
        self.state_or_green = np.insert(
            self.state_or_green, -1, np.full(n, LightState.RED, dtype=np.uint8)
        )
        defaults = [DEFAULT_GREEN_TIME, DEFAULT_YELLOW_TIME, DEFAULT_RED_TIME, 0.0]
        self.timing = np.vstack([self.timing, np.tile(defaults, (n, 1))])
        self._bind_views()
        self.frozen = np.append(self.frozen, np.zeros(n, dtype=bool))
        self._group_start = np.append(self._group_start, start)
        self._group_size = np.append(self._group_size, n)
        self._active = np.append(self._active, 0)
        self._phase = np.append(self._phase, 0.0)
        self._apply_phases()

    def _bind_views(self) -> None:
        self.state = self.state_or_green[:-1]
        self.times = self.timing[:, :3]
        self.elapsed = self.timing[:, 3]

    def index_of(self, actor_id: int) -> int:
        """Row of a light; KeyError naming the actor if it is not a traffic light."""
        try:
            return self._index[actor_id]
        except KeyError:
            raise KeyError(f"actor {actor_id} is not a traffic light") from None

    def get(self, actor_id: int) -> Light | None:
        index = self._index.get(actor_id)
        return None if index is None else self.lights[index]

    def group_of(self, actor_id: int) -> list[int]:
        """Actor ids of every light in the same junction group."""
        g = self.group[self.index_of(actor_id)]
        start, size = self._group_start[g], self._group_size[g]
        return [light.actor_id for light in self.lights[start : start + size]]

    # -- commands -------------------------------------------------------------------------
    def set_state(self, actor_id: int, state: int) -> None:
        """Force a light's state; the group's cycle continues from there, like CARLA."""
        i = self.index_of(actor_id)
        wanted = LightState(state)
        g = self.group[i]
        green, yellow, _red = self.times[i]
        if wanted in (LightState.GREEN, LightState.YELLOW):
            self._active[g] = self.pole_index[i]
            self._phase[g] = 0.0 if wanted is LightState.GREEN else green
        elif self._active[g] == self.pole_index[i] and wanted is LightState.RED:
            self._phase[g] = green + yellow
        self.state[i] = wanted
        self.elapsed[i] = 0.0
        if wanted not in (LightState.OFF, LightState.UNKNOWN):
            self._apply_phases()

    def set_times(
        self,
        actor_id: int,
        *,
        green: float | None = None,
        yellow: float | None = None,
        red: float | None = None,
    ) -> None:
        i = self.index_of(actor_id)
        for column, value in enumerate((green, yellow, red)):
            if value is not None:
                if not (math.isfinite(value) and value >= 0.0):
                    raise ValueError(f"light times must be finite and >= 0 s, got {value}")
                self.times[i, column] = value
        self._apply_phases()

    def freeze(self, actor_id: int, frozen: bool) -> None:
        self.frozen[self.index_of(actor_id)] = frozen
        self._apply_phases()

    def freeze_all(self, frozen: bool) -> None:
        self.frozen[:] = frozen
        self._apply_phases()

    def reset_group(self, actor_id: int) -> None:
        g = self.group[self.index_of(actor_id)]
        self._active[g], self._phase[g] = 0, 0.0
        self._apply_phases()

    def reset_all(self) -> None:
        self._active[:] = 0
        self._phase[:] = 0.0
        self._apply_phases()

    # -- simulation -----------------------------------------------------------------------
    def step(self, dt: float) -> None:
        """Advance every unfrozen group by ``dt`` seconds."""
        if not self.lights:
            return
        np.add(self.elapsed, dt, out=self.elapsed, where=self._not_frozen)
        np.add(self._phase, dt, out=self._phase, where=self._running)
        if not (self._phase >= self._next_change).any():
            return
        active = self._group_start + self._active
        cycle = self.times[active].sum(axis=1)
        done = self._running & (self._phase >= cycle)
        if done.any():
            self._phase[done] -= cycle[done]
            self._active[done] = (self._active[done] + 1) % self._group_size[done]
        self._apply_phases()

    def _apply_phases(self) -> None:
        active = self._group_start + self._active
        green, yellow = self.times[active, 0], self.times[active, 1]
        wanted = np.where(
            self._phase < green,
            np.uint8(LightState.GREEN),
            np.where(self._phase < green + yellow, np.uint8(LightState.YELLOW), np.uint8(0)),
        )
        new_state = np.full(len(self.lights), np.uint8(LightState.RED))
        new_state[active] = wanted
        changed = (new_state != self.state) & ~self.frozen
        self.state[changed] = new_state[changed]
        self.elapsed[changed] = 0.0
        self._not_frozen = ~self.frozen
        self._running = self._not_frozen[active]
        boundaries = np.cumsum(self.times[active], axis=1)  # green end, yellow end, cycle end
        upcoming = np.where(boundaries > self._phase[:, None], boundaries, np.inf)
        self._next_change = np.where(self._running, upcoming.min(axis=1), np.inf)

    def build_zones(self, grid: CellGrid) -> None:
        """Rasterise the trigger boxes on ``grid`` so ``lights_facing`` is a lookup."""
        self._grid = grid
        zones = np.zeros(grid.nx * grid.ny, dtype=np.int32)  # light row + 1; 0 = none
        for row, light in enumerate(self.lights):
            cx, cy, yaw_deg, half_len, half_wid = light.trigger
            reach = math.hypot(half_len, half_wid)
            xs = np.arange(cx - reach, cx + reach + grid.cell, grid.cell / 2)
            ys = np.arange(cy - reach, cy + reach + grid.cell, grid.cell / 2)
            gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
            c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
            dx, dy = gx - cx, gy - cy
            inside = (np.abs(dx * c + dy * s) <= half_len) & (np.abs(dy * c - dx * s) <= half_wid)
            zones[grid.clamped_index(gx[inside], gy[inside])] = row + 1
        self._zones = zones
        yaws = [math.radians(light.trigger[2]) for light in self.lights]
        self._zone_yaw = np.array([*yaws, 0.0])  # index -1: the "no light" sentinel

    def lights_facing(self, cells: np.ndarray, yaws_deg: np.ndarray) -> np.ndarray:
        """Row of the light whose trigger holds each vehicle (by grid cell and heading), or -1.

        Args:
            cells: flat indices of the vehicles' positions on the grid given to
                ``build_zones``.
            yaws_deg: the vehicles' headings; a vehicle must face the light's direction.
        """
        if self._zones is None:
            return np.full(len(cells), -1, dtype=np.int64)
        zone = self._zones[cells].astype(np.int64)
        zone -= 1
        facing = np.cos(np.radians(yaws_deg) - self._zone_yaw[zone]) > _COS_TOLERANCE
        return np.where(facing, zone, -1)
