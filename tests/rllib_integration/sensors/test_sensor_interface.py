"""SensorInterface: frame matching, event draining, registration and destroy."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rllib_integration.errors import CarlaServerError, SensorTimeoutError
from rllib_integration.sensors.sensor import BaseSensor, PseudoSensor
from rllib_integration.sensors.sensor_interface import SensorInterface


class FakeSensor(BaseSensor):
    """A regular sensor that counts its destroy calls."""

    def __init__(self, name: str, interface: SensorInterface) -> None:
        super().__init__(name, {"type": "fake"}, interface, parent=None)
        self.destroyed = 0

    def destroy(self) -> None:
        self.destroyed += 1


class FakeEventSensor(FakeSensor):
    def is_event_sensor(self) -> bool:
        return True


class FakePseudoSensor(PseudoSensor):
    def __init__(self, name: str, interface: SensorInterface) -> None:
        super().__init__(name, {}, interface, parent=None)
        self.snapshots: list[Any] = []

    def tick(self, frame: int, snapshot: Any) -> None:
        self.snapshots.append(snapshot)
        self.update_sensor(f"view {frame}", frame)


def test_returns_each_sensor_data_of_the_frame_asked() -> None:
    interface = SensorInterface(timeout=0.2)
    a, b = FakeSensor("a", interface), FakeSensor("b", interface)
    a.update_sensor("a1", 1)
    b.update_sensor("b1", 1)
    assert interface.get_data(1) == {"a": (1, "a1"), "b": (1, "b1")}
    a.update_sensor("a3", 3)
    b.update_sensor("b3", 3)
    a.update_sensor("a2", 2)  # a late, older frame must not replace frame 3
    assert interface.get_data(3) == {"a": (3, "a3"), "b": (3, "b3")}
    assert interface.get_data() == {"a": (3, "a3"), "b": (3, "b3")}


def test_old_data_does_not_satisfy_a_newer_frame_and_the_late_sensor_is_named() -> None:
    interface = SensorInterface(timeout=0.2)
    front, lidar = FakeSensor("front_camera", interface), FakeSensor("lidar", interface)
    front.update_sensor("f4", 4)
    lidar.update_sensor("l3", 3)
    start = time.monotonic()
    with pytest.raises(SensorTimeoutError) as info:
        interface.get_data(4)
    assert time.monotonic() - start >= 0.19
    message = str(info.value)
    assert "lidar" in message and "front_camera" not in message
    assert "frame 4" in message
    assert isinstance(info.value, CarlaServerError), "RLlib restarts on CarlaServerError"


def test_waits_for_data_delivered_from_another_thread() -> None:
    interface = SensorInterface(timeout=5.0)
    cam = FakeSensor("cam", interface)
    cam.update_sensor("old", 6)

    def deliver() -> None:
        time.sleep(0.1)
        cam.callback(type("Image", (), {"frame": 7})())

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        frame, data = interface.get_data(7)["cam"]
    finally:
        thread.join()
    assert frame == 7 and type(data).__name__ == "Image"


def test_event_sensors_are_drained_per_call_and_never_waited_for() -> None:
    interface = SensorInterface(timeout=0.2)
    cam = FakeSensor("cam", interface)
    collision = FakeEventSensor("collision", interface)
    lane = FakeEventSensor("lane", interface)
    cam.update_sensor("c5", 5)
    assert interface.get_data(5) == {"cam": (5, "c5")}, "no event: no key, no wait"

    collision.update_sensor("hit A", 5)
    collision.update_sensor("hit B", 5)
    collision.update_sensor("hit C", 6)
    lane.update_sensor("solid", 6)
    collision.update_sensor("future", 8)  # delivered early: belongs to a later call
    cam.update_sensor("c6", 6)
    data = interface.get_data(6)
    assert data["collision"] == (5, "hit A"), "the first event since the previous call"
    assert data["lane"] == (6, "solid"), "each event sensor gets its own event"
    cam.update_sensor("c7", 7)
    assert "collision" not in interface.get_data(7), "events are not returned twice"
    cam.update_sensor("c8", 8)
    assert interface.get_data(8)["collision"] == (8, "future")


def test_duplicate_names_are_rejected() -> None:
    interface = SensorInterface()
    first = FakeSensor("cam", interface)
    with pytest.raises(ValueError, match="'cam' is already registered"):
        FakeEventSensor("cam", interface)
    assert interface.sensors == {"cam": first}


def test_destroy_is_idempotent_and_forgets_sensors_and_data() -> None:
    interface = SensorInterface(timeout=0.1)
    cam, hit = FakeSensor("cam", interface), FakeEventSensor("hit", interface)
    cam.update_sensor("c1", 1)
    hit.update_sensor("h1", 1)
    interface.destroy()
    interface.destroy()
    assert (cam.destroyed, hit.destroyed) == (1, 1)
    assert interface.sensors == {}
    cam.update_sensor("late", 2)  # a callback racing the destroy is ignored
    assert interface.get_data(2) == {}
    again = FakeSensor("cam", interface)  # the names are free again (next episode)
    again.update_sensor("c3", 3)
    assert interface.get_data(3) == {"cam": (3, "c3")}


def test_pseudo_sensors_produce_data_of_the_frame_they_are_ticked_with() -> None:
    interface = SensorInterface(timeout=0.1)
    view = FakePseudoSensor("birdview", interface)
    FakeEventSensor("hit", interface)
    snapshot = object()
    interface.tick_pseudo_sensors(12, snapshot)
    assert view.snapshots == [snapshot]
    assert interface.get_data(12) == {"birdview": (12, "view 12")}
