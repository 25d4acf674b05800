"""Slot bookkeeping shared by the struct-of-arrays bodies (vehicles, walkers)."""

from __future__ import annotations

import heapq

import numpy as np


class SlotArrays:
    """Reusable rows of per-body arrays: the lowest free slot is handed out first.

    Subclasses own the arrays; they provide ``_allocate(capacity)`` (grow every array, keep
    rows) and ``_clear(slot)`` (zero one row), and set ``_kind`` for error messages.
    """

    _kind = "body"
    _active: np.ndarray
    _capacity: int

    def __init__(self) -> None:
        self._free: list[int] = []

    def _allocate(self, capacity: int) -> None:
        raise NotImplementedError

    def _clear(self, slot: int) -> None:
        raise NotImplementedError

    @property
    def active(self) -> np.ndarray:
        """(N,) whether each slot holds a body."""
        return self._active

    def slots(self) -> np.ndarray:
        """Indices of the occupied slots, ascending."""
        return np.flatnonzero(self._active)

    def _check(self, slot: int) -> None:
        if not (0 <= slot < self._capacity and self._active[slot]):
            raise KeyError(f"no {self._kind} in slot {slot}")

    def _take_slot(self) -> int:
        """A cleared, now active slot; the arrays double when every slot is taken."""
        if not self._free and self._active.all():
            self._allocate(self._capacity * 2)
        if not self._free:
            self._free = [int(s) for s in np.flatnonzero(~self._active)]
            heapq.heapify(self._free)
        slot = heapq.heappop(self._free)
        self._clear(slot)
        self._active[slot] = True
        return slot

    def _release_slot(self, slot: int) -> None:
        """Zero a slot's rows and make it available again."""
        self._check(slot)
        self._clear(slot)
        heapq.heappush(self._free, slot)
