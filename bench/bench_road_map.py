"""carla_lite's map side and RPC round trips: timings the tests no longer assert. Prints JSON.

* ``road_map_build_s``: ``load_road_map`` of each town from its OpenDRIVE text (LiteTown01,
  and the real CARLA towns of ``../shared/maps/carla_towns`` when present), cold;
* ``cached_reload_ms``: the same call again (the in-process cache);
* ``queries_100k_ms``: surface, ground height and speed limit of 100,000 random points;
* ``rpc_round_trips_per_s``: sequential ``get_server_version`` calls of the official client.

Usage: .venv/bin/python bench/bench_road_map.py [--towns-dir DIR] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import carla
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import free_port, start_server, stop_server  # noqa: E402
from carla_lite.maps import load_road_map  # noqa: E402

SHARED_TOWNS = REPO.parent / "shared" / "maps" / "carla_towns"
REAL_TOWNS = ("Town01", "Town02", "Town04", "Town10HD")
BUILTIN = REPO / "carla_lite" / "maps" / "builtin"


def town_texts(towns_dir: Path) -> dict[str, str]:
    """LiteTown01 and whichever real towns ``towns_dir`` has."""
    texts = {"LiteTown01": (BUILTIN / "LiteTown01.xodr").read_text(encoding="utf-8")}
    for town in REAL_TOWNS:
        path = towns_dir / f"{town}.xodr"
        if path.is_file():
            texts[town] = path.read_text(encoding="utf-8")
    return texts


def bench_town(name: str, text: str) -> dict[str, Any]:
    start = time.perf_counter()
    road_map = load_road_map(f"bench_{name}", text)
    built = time.perf_counter() - start
    start = time.perf_counter()
    again = load_road_map(f"bench_{name}", text)
    cached = time.perf_counter() - start
    assert again is road_map
    x0, y0, x1, y1 = road_map.bounds
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(x0, x1, 100_000), rng.uniform(y0, y1, 100_000)
    start = time.perf_counter()
    road_map.surface(xs, ys)
    road_map.ground_height(xs, ys)
    road_map.speed_limit_kmh(xs, ys)
    queries = time.perf_counter() - start
    return {
        "road_map_build_s": round(built, 3),
        "cached_reload_ms": round(cached * 1000, 3),
        "queries_100k_ms": round(queries * 1000, 1),
    }


def bench_rpc(calls: int) -> float:
    port = free_port()
    proc, _ = start_server(port)
    try:
        client = carla.Client("127.0.0.1", port)
        client.set_timeout(20.0)
        client.get_server_version()
        start = time.perf_counter()
        for _ in range(calls):
            client.get_server_version()
        return calls / (time.perf_counter() - start)
    finally:
        stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--towns-dir", type=Path, default=SHARED_TOWNS)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    towns = {name: bench_town(name, text) for name, text in town_texts(args.towns_dir).items()}
    result = {
        "benchmark": "road_map",
        "towns": towns,
        "rpc_round_trips_per_s": round(bench_rpc(args.calls), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
