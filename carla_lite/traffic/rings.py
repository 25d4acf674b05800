"""Rings in a "waits for" relation: vehicles each waiting for the next, round a loop."""

from __future__ import annotations

import numpy as np


def ring_labels(waits_for: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The ring each row is on, labelled by the smallest key on it; -1 off any ring.

    Args:
        waits_for: (N,) the row each row waits for, or -1. Each row waits for at most one,
            so every chain ends in a ring or at a row that waits for nothing.
        keys: (N,) distinct non-negative labels (actor ids).

    Plain Python over the waiting rows only: they are few, and following each chain once
    costs less than numpy calls on the whole fleet.
    """
    label = np.full(len(waits_for), -1, dtype=np.int64)
    waiting = np.flatnonzero(waits_for >= 0).tolist()
    if not waiting:
        return label
    step = waits_for.tolist()
    done = [False] * len(step)
    for start in waiting:
        chain: dict[int, int] = {}  # row -> position on this walk
        row = start
        while row >= 0 and not done[row] and row not in chain:
            chain[row] = len(chain)
            row = step[row]
        if row >= 0 and row in chain:  # the walk closed a new ring, entered at ``row``
            ring = list(chain)[chain[row] :]
            label[ring] = min(int(keys[r]) for r in ring)
        for r in chain:
            done[r] = True
    return label
