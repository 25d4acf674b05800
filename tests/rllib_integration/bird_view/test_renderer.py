"""BirdView renderer, map-layer helpers and sensor config, without a server."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import carla
import numpy as np
import pytest

from rllib_integration.errors import ConfigError
from rllib_integration.sensors.bird_view import map_layer, palette
from rllib_integration.sensors.bird_view.map_layer import MapLayer
from rllib_integration.sensors.bird_view.palette import MapLabel
from rllib_integration.sensors.bird_view.renderer import (
    MASK_CHANNELS,
    ActorKind,
    ActorShape,
    BirdViewRenderer,
    Pose,
    TrafficLightShape,
)
from rllib_integration.sensors.bird_view_manager import BirdviewManager
from rllib_integration.sensors.sensor_interface import SensorInterface

SIZE = 300
RADIUS = 15.0
PPM = SIZE / (2 * RADIUS)


def flat_layer(
    ppm: float = PPM / np.sqrt(2), marks: Sequence[tuple[float, float]] = ()
) -> MapLayer:
    """A 200 m road-coloured square from (-100, -100), with 1 px markings at ``marks``."""
    side = int(200 * ppm)
    labels = np.full((side, side), MapLabel.ROAD, np.uint8)
    for x, y in marks:
        labels[round((y + 100) * ppm), round((x + 100) * ppm)] = MapLabel.MARKING
    return MapLayer.from_rasters("Flat", ppm, (-100.0, -100.0), labels, labels * 0 + 255)


def ahead_right(hero: Pose, ahead: float, right: float) -> tuple[float, float]:
    yaw = np.radians(hero.yaw)
    return (
        hero.x + ahead * np.cos(yaw) - right * np.sin(yaw),
        hero.y + ahead * np.sin(yaw) + right * np.cos(yaw),
    )


def car(kind: ActorKind, x: float, y: float, yaw: float) -> ActorShape:
    return ActorShape(kind, x, y, yaw, 2.4, 1.0)


def rows_cols(image: np.ndarray, color: tuple[int, int, int]) -> tuple[Any, Any]:
    rows, cols = np.nonzero(np.all(image == np.array(color, np.uint8), axis=2))
    return rows, cols


@pytest.mark.parametrize("yaw", [0.0, 33.0, 90.0, -135.0])
def test_geometry_any_heading(yaw: float) -> None:
    hero = Pose(3.0, -7.0, yaw)
    renderer = BirdViewRenderer(flat_layer(), SIZE, RADIUS)
    front = ahead_right(hero, 10.0, 0.0)
    side = ahead_right(hero, 0.0, 5.0)
    actors = [
        car(ActorKind.HERO, hero.x, hero.y, yaw),
        car(ActorKind.VEHICLE, *front, yaw),
        ActorShape(ActorKind.TWO_WHEELER, *side, yaw, 1.0, 0.4),
    ]
    image = renderer.render(hero, actors)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    assert tuple(image[225, 150]) == palette.HERO
    assert tuple(image[125, 150]) == palette.VEHICLE
    assert tuple(image[225, 200]) == palette.TWO_WHEELER
    rows, cols = rows_cols(image, palette.HERO)
    # Heading up: the 4.8 m long car is 48 px tall, 20 px wide, nose at the top.
    assert rows.max() - rows.min() == pytest.approx(48, abs=1)
    assert cols.max() - cols.min() == pytest.approx(20, abs=1)
    assert np.sum(rows == rows.min()) < 8 < np.sum(rows == rows.max())


@pytest.mark.parametrize("yaw", [0.0, 57.0, 180.0])
def test_map_warp_matches_actor_transform(yaw: float) -> None:
    """A map pixel and an actor at the same world point land on the same output pixel."""
    hero = Pose(0.0, 0.0, yaw)
    point = ahead_right(hero, 8.0, -3.0)
    renderer = BirdViewRenderer(flat_layer(marks=[point]), SIZE, RADIUS)
    image = renderer.render(hero, [])
    rows, cols = np.nonzero(np.any(image != palette.ROAD, axis=2))
    expected_col, expected_row = 150 - 3 * PPM, 225 - 8 * PPM
    assert np.mean(cols) == pytest.approx(expected_col, abs=1.5)
    assert np.mean(rows) == pytest.approx(expected_row, abs=1.5)


def test_walkers_double_and_traffic_lights() -> None:
    hero = Pose(0.0, 0.0, 0.0)
    renderer = BirdViewRenderer(flat_layer(), SIZE, RADIUS)
    walker = ActorShape(ActorKind.WALKER, 5.0, 0.0, 0.0, 0.25, 0.25)
    lights = [
        TrafficLightShape(10.0, 5.0, int(carla.TrafficLightState.Green)),
        TrafficLightShape(500.0, 500.0, int(carla.TrafficLightState.Red)),  # out of view
    ]
    image = renderer.render(hero, [walker], lights)
    rows, _ = rows_cols(image, palette.WALKER)
    assert rows.max() - rows.min() == pytest.approx(2 * 2 * 0.25 * PPM, abs=1)
    green_rows, green_cols = rows_cols(image, palette.CHAMELEON_0)
    # 1.4 m radius (14 px), its centre 10 m ahead and 5 m right, inside a white ring.
    assert green_cols.max() - green_cols.min() == pytest.approx(2 * 14, abs=2)
    assert np.mean(green_rows) == pytest.approx(225 - 100, abs=1)
    assert np.mean(green_cols) == pytest.approx(150 + 50, abs=1)
    ring = image[125, 150 + 50 + 12 : 150 + 50 + 17]
    assert np.all(ring == palette.WHITE, axis=1).any()
    assert not rows_cols(image, palette.SCARLET_RED_0)[0].size


def test_masks_channels() -> None:
    hero = Pose(0.0, 0.0, 20.0)
    labels = np.full((400, 400), MapLabel.SIDEWALK, np.uint8)
    labels[:, 200:] = MapLabel.ROAD
    road = (labels == MapLabel.ROAD).astype(np.uint8) * 255
    layer = MapLayer.from_rasters("Half", 2.0, (-100.0, -100.0), labels, road)
    renderer = BirdViewRenderer(layer, 84, RADIUS)
    actors = [
        car(ActorKind.HERO, 0.0, 0.0, 20.0),
        car(ActorKind.VEHICLE, *ahead_right(hero, 8.0, 0.0), 20.0),
        ActorShape(ActorKind.WALKER, *ahead_right(hero, 3.0, 4.0), 0.0, 0.3, 0.3),
    ]
    lights = [TrafficLightShape(*ahead_right(hero, 5.0, -5.0), int(carla.TrafficLightState.Yellow))]
    masks = renderer.render_masks(hero, actors, lights)
    assert masks.shape == (84, 84, len(MASK_CHANNELS)) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 255}
    channel = {name: masks[:, :, i] for i, name in enumerate(MASK_CHANNELS)}
    assert channel["hero"][63, 42] == 255 and channel["vehicles"][63, 42] == 0
    assert channel["vehicles"].any() and channel["walkers"].any()
    assert channel["traffic_light_yellow"].any() and not channel["traffic_light_red"].any()
    assert not channel["lane_markings"].any()
    # Road and sidewalk split the image (world x = 0 is the border, rotated by 20 deg).
    assert np.all((channel["road"] > 0) ^ (channel["sidewalk"] > 0))


def test_marking_groups_replicate_original() -> None:
    solid, broken = carla.LaneMarkingType.Solid, carla.LaneMarkingType.Broken
    white, yellow = carla.LaneMarkingColor.White, carla.LaneMarkingColor.Yellow
    samples = [(solid, white)] * 4 + [(broken, yellow)] * 3
    groups = map_layer._marking_groups(samples)
    # The first sample and the one where the type changes are skipped; the new run
    # restarts from the previous run's last sample.
    assert [(g[0], g[2]) for g in groups if g[2]] == [(solid, [1, 2, 3]), (broken, [3, 5, 6])]
    assert groups[-1][1] == yellow


def test_dashes_follow_original_pattern() -> None:
    arc = np.arange(0.0, 7.01, 0.25)
    points = np.stack((arc, np.zeros_like(arc)), axis=1)
    dashes = map_layer._dashes(points, arc)
    # 1 m chunks (0.95 m from first to last sample), every third: at 0, 3 and 6 m.
    assert [(d[0, 0], d[-1, 0]) for d in dashes] == [
        pytest.approx((0.0, 0.95)),
        pytest.approx((3.0, 3.95)),
        pytest.approx((6.0, 6.95)),
    ]


def test_cache_dir_default_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(map_layer.CACHE_DIR_ENV, raising=False)
    assert map_layer.default_cache_dir() == (
        Path.home() / ".cache" / "rllib_integration" / "birdview"
    )
    monkeypatch.setenv(map_layer.CACHE_DIR_ENV, str(tmp_path / "x" / ".." / "c"))
    assert map_layer.default_cache_dir() == tmp_path / "c" / "birdview"
    assert map_layer.default_cache_dir().is_absolute()
    key = map_layer.cache_key("<OpenDRIVE/>", 7.0)
    assert key != map_layer.cache_key("<OpenDRIVE/>", 7.5)
    assert key != map_layer.cache_key("<OpenDRIVE />", 7.0)


class _NoWorld:
    """A parent whose world must never be reached (config errors come first)."""

    id = 1

    def get_world(self) -> Any:
        raise AssertionError("config validation should fail before get_world")


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"radius": 15}, "missing required attribute 'size'"),
        ({"size": 300}, "missing required attribute 'radius'"),
        ({"size": "300", "radius": 15}, "'size' must be a positive int"),
        ({"size": 300.0, "radius": 15}, "'size' must be a positive int"),
        ({"size": True, "radius": 15}, "'size' must be a positive int"),
        ({"size": 300, "radius": -1}, "'radius' must be a positive number"),
        ({"size": 300, "radius": 15, "masks": "yes"}, "'masks' must be a bool"),
        ({"size": 300, "radius": 15, "raduis": 3}, "unknown attribute(s) raduis; valid: type"),
    ],
)
def test_manager_config_errors(attributes: dict[str, Any], message: str) -> None:
    interface = SensorInterface()
    with pytest.raises(ConfigError, match=re.escape(message)):
        BirdviewManager(
            "birdview", {"type": "sensor.birdview", **attributes}, interface, _NoWorld()
        )
    assert interface.sensors == {}  # nothing half-registered
    assert issubclass(ConfigError, ValueError)
