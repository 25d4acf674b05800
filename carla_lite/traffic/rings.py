"""Rings in a "waits for" relation: vehicles each waiting for the next, round a loop."""

from __future__ import annotations

import math

import numpy as np


def ring_labels(waits_for: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The ring each row is on, labelled by the smallest key on it; -1 off any ring.

    Args:
        waits_for: (N,) the row each row waits for, or -1. Each row waits for at most one,
            so every chain ends in a ring or at a row that waits for nothing.
        keys: (N,) distinct non-negative labels (actor ids).

    Vectorised with pointer jumping: after ``2^k >= N`` steps every row sits on the ring its
    chain ends in, and the minimum over ``2^k`` successors of a ring row is its ring's.
    """
    n = len(waits_for)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    step = np.append(np.where(waits_for >= 0, waits_for, n), n)  # row n: "waits for nothing"
    doublings = math.ceil(math.log2(n + 1)) + 1
    jump = step
    for _ in range(doublings):
        jump = jump[jump]
    on_ring = np.zeros(n + 1, dtype=bool)
    on_ring[jump] = True
    on_ring[n] = False
    big = int(keys.max()) + 1
    label = np.append(np.where(on_ring[:n], keys, big), big)
    jump = step
    for _ in range(doublings):
        label = np.minimum(label, label[jump])
        jump = jump[jump]
    return np.where(on_ring[:n], label[:n], -1)
