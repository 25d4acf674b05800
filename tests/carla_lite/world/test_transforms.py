"""Attached actors (walker controllers, sensors) follow their parents: vectorised composition."""

from __future__ import annotations

import random

import numpy as np

from carla_lite.geom import Transform
from carla_lite.world.transforms import compose, compose_rows


def test_compose_rows_matches_compose() -> None:
    rng = random.Random(4)
    parents, relatives, expected = [], [], []
    for _ in range(200):
        p = Transform(
            *(rng.uniform(-300, 300) for _ in range(3)), *(rng.uniform(-200, 200) for _ in range(3))
        )
        r = Transform(
            *(rng.uniform(-3, 3) for _ in range(3)), *(rng.uniform(-90, 90) for _ in range(3))
        )
        parents.append((p.x, p.y, p.z, p.pitch, p.yaw, p.roll))
        relatives.append((r.x, r.y, r.z, r.pitch, r.yaw, r.roll))
        t = compose(p, r)
        expected.append((t.x, t.y, t.z, t.pitch, t.yaw, t.roll))
    got = compose_rows(np.array(parents), np.array(relatives))
    np.testing.assert_allclose(got, np.array(expected), atol=1e-9)
    assert compose_rows(np.zeros((0, 6)), np.zeros((0, 6))).shape == (0, 6)
