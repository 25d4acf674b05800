"""SensorFactory dispatch without a simulator (the real spawns are in test_end_to_end)."""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

import pytest

from rllib_integration.errors import ConfigError
from rllib_integration.sensors import factory as factory_module
from rllib_integration.sensors import sensor as s
from rllib_integration.sensors.factory import SUPPORTED_TYPES, SensorFactory
from rllib_integration.sensors.sensor_interface import SensorInterface


def test_every_original_type_maps_to_its_class() -> None:
    expected = {
        "sensor.camera.rgb": s.CameraRGB,
        "sensor.camera.depth": s.CameraDepth,
        "sensor.camera.semantic_segmentation": s.CameraSemanticSegmentation,
        "sensor.camera.dvs": s.CameraDVS,
        "sensor.lidar.ray_cast": s.Lidar,
        "sensor.lidar.ray_cast_semantic": s.SemanticLidar,
        "sensor.other.radar": s.Radar,
        "sensor.other.gnss": s.Gnss,
        "sensor.other.imu": s.Imu,
        "sensor.other.lane_invasion": s.LaneInvasion,
        "sensor.other.collision": s.Collision,
        "sensor.other.obstacle": s.Obstacle,
    }
    added = {"sensor.camera.instance_segmentation": s.CameraInstanceSegmentation}
    assert {**expected, **added} == factory_module.SENSOR_CLASSES
    assert set(SUPPORTED_TYPES) == {*expected, *added, "sensor.birdview"}


@pytest.mark.parametrize("attributes", [{"type": "sensor.camera.thermal"}, {}, {"type": None}])
def test_unknown_or_missing_type_lists_the_supported_ones(attributes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        SensorFactory.spawn("front", attributes, SensorInterface(), parent=None)
    message = str(info.value)
    assert "'front'" in message and "not supported" in message
    for sensor_type in SUPPORTED_TYPES:
        assert sensor_type in message
    assert SensorInterface().sensors == {}


def test_attributes_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="'front': expected a mapping"):
        not_a_mapping: Any = ["sensor.camera.rgb"]
        SensorFactory.spawn("front", not_a_mapping, SensorInterface(), None)


class Recorder:
    """Stands in for a sensor class; records its arguments and pops like the original."""

    calls: ClassVar[list[tuple[Any, ...]]] = []

    def __init__(self, name: str, attributes: dict[str, Any], interface: Any, parent: Any):
        attributes.pop("type")
        attributes.pop("transform", None)
        Recorder.calls.append((name, attributes, interface, parent))


def test_spawn_passes_a_copy_and_returns_the_sensor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(factory_module.SENSOR_CLASSES, "sensor.camera.rgb", Recorder)
    Recorder.calls = []
    config = {"type": "sensor.camera.rgb", "transform": [1, 0, 2, 0, 0, 0], "fov": 60}
    interface, parent = SensorInterface(), object()
    sensor = SensorFactory.spawn("front", config, interface, parent)
    assert isinstance(sensor, Recorder)
    assert Recorder.calls == [("front", {"fov": 60}, interface, parent)]
    assert config == {"type": "sensor.camera.rgb", "transform": [1, 0, 2, 0, 0, 0], "fov": 60}


def test_birdview_is_imported_lazily_and_dispatched(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real bird_view_manager module is someone else's; a stand-in checks the dispatch.
    fake = types.ModuleType("rllib_integration.sensors.bird_view_manager")
    fake.BirdviewManager = Recorder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    Recorder.calls = []
    config = {"type": "sensor.birdview", "size": 84, "radius": 20}
    sensor = SensorFactory.spawn("birdview", config, SensorInterface(), None)
    assert isinstance(sensor, Recorder)
    assert Recorder.calls[0][:2] == ("birdview", {"size": 84, "radius": 20})
    assert config["type"] == "sensor.birdview"
