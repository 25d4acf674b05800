"""BirdView against carla_lite with the official client: golden images, geometry, caches.

Client work runs in ``scenarios.py`` subprocesses (the 0.9.16 client can abort a process).

Golden images: ``golden/golden_84.png``, ``golden/golden_300.png`` (RGB) and
``golden/masks_84.png`` (the 9 mask channels side by side) of the golden scenario (see
``scenarios.GOLDEN_*``). After an intended change of the drawing, regenerate them with::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/rllib_integration/bird_view -k golden

and look at the new PNGs before committing them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from rllib_integration.sensors.bird_view import palette
from rllib_integration.sensors.bird_view.renderer import MASK_CHANNELS
from tests.conftest import REPO_ROOT, ServerProcess

GOLDEN = Path(__file__).resolve().parent / "golden"
#: Pixels allowed to differ from a golden image (OpenCV rasterisation may move an edge
#: pixel between versions); the images are otherwise deterministic.
GOLDEN_TOLERANCE = 0.002


def run_scenario(server: ServerProcess, name: str, out: Path, cache: Path, *extra: str) -> Any:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tests.rllib_integration.bird_view.scenarios", name]
    command += ["--port", str(server.port), "--out", str(out), "--cache-dir", str(cache)]
    done = subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=180, cwd=REPO_ROOT
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"scenario {name} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1][len("RESULT ") :])


def compare_golden(image: np.ndarray, name: str) -> None:
    path = GOLDEN / f"{name}.png"
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        assert cv2.imwrite(str(path), bgr)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert stored is not None, f"missing golden image {path}; run with UPDATE_GOLDEN=1"
    assert stored.shape == bgr.shape
    differ = np.any(stored != bgr, axis=2) if bgr.ndim == 3 else stored != bgr
    assert differ.mean() <= GOLDEN_TOLERANCE, (
        f"{name}: {int(differ.sum())} pixels differ from {path} "
        "(UPDATE_GOLDEN=1 regenerates after an intended change)"
    )


def blob(image: np.ndarray, color: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(np.all(image == np.array(color, dtype=np.uint8), axis=2))
    return rows, cols


def test_golden_images(server: ServerProcess, tmp_path: Path) -> None:
    result = run_scenario(server, "golden", tmp_path / "out", tmp_path / "cache")
    assert result["hero_transform"][3] == pytest.approx(0.0)
    for size in (84, 300):
        image = np.load(tmp_path / "out" / f"golden_{size}.npy")
        assert image.shape == (size, size, 3) and image.dtype == np.uint8
        # The hero (green) at its place, facing up: its nose is its topmost row.
        rows, cols = blob(image, palette.HERO)
        assert abs(np.median(rows) - (size / 2 + size / 4)) <= size / 40
        assert abs(np.median(cols) - size / 2) <= 1
        for color in (palette.VEHICLE, palette.TWO_WHEELER, palette.SCARLET_RED_0, palette.WALKER):
            assert len(blob(image, color)[0]) > 0, f"{color} missing at {size} px"
        compare_golden(image, f"golden_{size}")
    masks = np.load(tmp_path / "out" / "masks_84.npy")
    assert masks.shape == (84, 84, len(MASK_CHANNELS)) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 255}
    for name in ("road", "lane_markings", "sidewalk", "hero", "vehicles", "walkers"):
        assert masks[:, :, MASK_CHANNELS.index(name)].any(), name
    assert masks[:, :, MASK_CHANNELS.index("traffic_light_red")].any()
    assert not masks[:, :, MASK_CHANNELS.index("traffic_light_green")].any()
    hero = masks[:, :, MASK_CHANNELS.index("hero")]
    assert hero[63, 42] == 255 and masks[63, 42, MASK_CHANNELS.index("road")] == 255
    compare_golden(np.concatenate(list(np.moveaxis(masks, 2, 0)), axis=1), "masks_84")


@pytest.mark.parametrize("spawn_yaw", [0.0, -180.0, 90.0])
def test_geometry(server: ServerProcess, tmp_path: Path, spawn_yaw: float) -> None:
    """Hero at (row 225, col 150) in green; 10 m ahead is 100 px up; right is right."""
    result = run_scenario(
        server, "geometry", tmp_path / "out", tmp_path / "cache", f"--spawn-yaw={spawn_yaw}"
    )
    image = np.load(tmp_path / "out" / "geometry.npy")
    ppm = 300 / (2 * 15.0)
    assert tuple(image[225, 150]) == palette.HERO
    hero_rows, hero_cols = blob(image, palette.HERO)
    car_rows, car_cols = blob(image, palette.VEHICLE)
    # Same blueprint as the hero: its blob's vertical middle is the hero's, 10 m up.
    hero_mid = (hero_rows.min() + hero_rows.max()) / 2
    assert hero_mid == pytest.approx(225, abs=1.0)
    assert hero_rows.max() - hero_rows.min() == pytest.approx(2 * result["extent_x"] * ppm, abs=2)
    ahead = car_cols < 170
    right = ~ahead
    ahead_mid = (car_rows[ahead].min() + car_rows[ahead].max()) / 2
    assert hero_mid - ahead_mid == pytest.approx(10 * ppm, abs=1.0)
    assert np.median(car_cols[ahead]) == pytest.approx(150, abs=1.0)
    assert np.median(car_cols[right]) == pytest.approx(150 + 4 * ppm, abs=1.0)
    assert np.median(car_rows[right]) == pytest.approx(np.median(hero_rows), abs=1.0)
    # The nose (0.8 m point) is at the top: the top row of the hero is narrow.
    top = hero_cols[hero_rows == hero_rows.min()]
    bottom = hero_cols[hero_rows == hero_rows.max()]
    assert len(top) < len(bottom) / 2


def test_map_cache(server: ServerProcess, tmp_path: Path) -> None:
    """Rendered once per process and dir; reused from disk; a corrupted file re-rendered."""
    cache = tmp_path / "cache"
    first = run_scenario(server, "cache", tmp_path / "out", cache)
    assert first["stats_0"] == {"rendered": 1, "disk": 0, "memory": 0}
    # The second construction (an env reset) neither renders nor reads the disk.
    assert first["stats_1"] == {"rendered": 1, "disk": 0, "memory": 1}
    assert len(first["files"]) == 1, first["files"]  # no temp file left behind
    (name,) = first["files"]
    assert re.fullmatch(r"LiteTown01_[0-9a-f]{40}\.npz", name)

    second = run_scenario(server, "cache", tmp_path / "out", cache)
    assert second["stats_0"] == {"rendered": 0, "disk": 1, "memory": 0}
    assert second["files"] == first["files"]

    (cache / name).write_bytes(b"PK\x03\x04 this is not a complete npz file")
    third = run_scenario(server, "cache", tmp_path / "out", cache)
    assert third["stats_0"] == {"rendered": 1, "disk": 0, "memory": 0}
    with np.load(cache / name) as data:  # replaced by a complete file
        assert data["labels"].dtype == np.uint8


def test_no_actor_lookup_per_frame(server: ServerProcess, tmp_path: Path) -> None:
    """``get_actors`` once for the first frame, then only when an actor appears."""
    result = run_scenario(server, "actors_lookup", tmp_path / "out", tmp_path / "cache")
    calls = result["calls_per_frame"]
    assert len(calls[0]) == 1 and calls[0][0] is not None and calls[0][0] >= 3
    assert calls[1] == calls[2] == calls[4] == calls[5] == []
    assert calls[3] == [1]  # just the new id
    assert result["refreshes"] == 2
    blue = result["blue_pixels"]
    assert blue[0] == blue[1] == blue[2] > 0
    assert blue[3] > blue[2]  # the new car is drawn in the frame it appears
