"""Micro-benchmark of carla_lite.physics: one world tick's physics for 1, 50 and 200 vehicles.

Prints JSON with microseconds per call (best batch mean): ``step`` is
``VehicleFleet.step`` without ground, ``step_ground`` with an analytic ground query,
``collision`` the vehicle-vehicle pairs plus the static test of box perimeters, and ``tick``
the step with ground followed by the collision checks.

Run: ``.venv/bin/python bench/bench_physics.py``
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable

import numpy as np

from carla_lite.geom import Transform
from carla_lite.physics import (
    VehicleFleet,
    VehicleParams,
    overlapping_pairs,
    perimeter_samples,
    static_contacts,
)

DT = 0.05
HALF_LEN, HALF_WID, HEIGHT = 2.4, 1.0, 1.5
SIZES = (1, 50, 200)


def ground(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Gentle rolling terrain."""
    return 0.5 * np.sin(0.01 * xs) + 0.002 * ys


def blocked(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Buildings beyond a 1 km wide road strip."""
    return np.abs(ys) > 500.0


def make_fleet(n: int) -> VehicleFleet:
    """Vehicles in 4 m lanes, 12 m apart, on varied throttle and steer."""
    fleet = VehicleFleet()
    rng = np.random.default_rng(0)
    for k in range(n):
        slot = fleet.add(VehicleParams(), Transform(x=12.0 * (k // 20), y=4.0 * (k % 20)))
        fleet.set_control(slot, throttle=float(rng.uniform(0.3, 0.8)), steer=0.02 * (k % 3 - 1))
    return fleet


def collide(fleet: VehicleFleet) -> None:
    """The collision queries a world tick makes for all vehicles."""
    slots = fleet.slots()
    pose = fleet.pose[slots]
    n = len(slots)
    half_len, half_wid = np.full(n, HALF_LEN), np.full(n, HALF_WID)
    z_low = pose[:, 2]
    overlapping_pairs(pose[:, 0], pose[:, 1], pose[:, 4], half_len, half_wid, z_low, z_low + HEIGHT)
    samples = perimeter_samples(pose[:, 0], pose[:, 1], pose[:, 4], half_len, half_wid)
    static_contacts(samples, blocked)


def time_us(call: Callable[[], None], calls: int = 500, batches: int = 15) -> float:
    """Fastest batch's mean time per call [us]: the least disturbed by other load."""
    for _ in range(calls // 5):
        call()
    means = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for _ in range(calls):
            call()
        means.append((time.perf_counter_ns() - start) / calls / 1e3)
    return round(min(means), 2)


def main() -> None:
    results = []
    for n in SIZES:
        fleet = make_fleet(n)

        def tick(fleet: VehicleFleet = fleet) -> None:
            fleet.step(DT, ground)
            collide(fleet)

        results.append(
            {
                "vehicles": n,
                "step_us": time_us(lambda fleet=fleet: fleet.step(DT)),
                "step_ground_us": time_us(lambda fleet=fleet: fleet.step(DT, ground)),
                "collision_us": time_us(lambda fleet=fleet: collide(fleet)),
                "tick_us": time_us(tick),
            }
        )
    report = {
        "benchmark": "carla_lite.physics",
        "dt": DT,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
