"""The cameras on the built-in map: hand-made SensorFrames rendered by the EGL rasteriser."""

from __future__ import annotations

import math
import os
import random
import struct
import threading

import numpy as np
import pytest

from carla_lite.maps import RoadMap, load_road_map
from carla_lite.maps.catalog import BUILTIN_DIR, DEFAULT_MAP
from carla_lite.protocol import measurement_codec, serializers
from carla_lite.sensors import gl_renderer
from carla_lite.sensors.base import SensorConfigError, SensorSpec
from carla_lite.sensors.cameras import (
    DVS_EVENT_DTYPE,
    DepthCamera,
    DvsCamera,
    InstanceSegmentationCamera,
    NormalsCamera,
    OpticalFlowCamera,
    RgbCamera,
    SemanticSegmentationCamera,
)
from carla_lite.sensors.frame import Bodies, SensorFrame
from carla_lite.sensors.gl_renderer import MAX_FRAMEBUFFERS, RenderError, renderer
from carla_lite.sensors.measurements import (
    DvsMeasurement,
    FloatImageMeasurement,
    ImageMeasurement,
    Measurement,
)
from carla_lite.sensors.registry import create_sensor
from carla_lite.sensors.suite import SensorSuite

CAMERA_ID = 100
CAR_ID = 300  # > 255: the instance id needs both bytes
CAR_EXTENT = (2.2, 1.0, 0.75)
NOON = (10.0, 0.0, 0.0, 0.0, 30.0, 60.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.03, 0.0331, 0.0)
NIGHT = (10.0, 0.0, 0.0, 0.0, 30.0, -40.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.03, 0.0331, 0.0)
W, H = 96, 72


@pytest.fixture(scope="module", autouse=True)
def egl() -> None:
    """The cameras need headless EGL: required in CI, a skip elsewhere without it."""
    try:
        renderer()
    except RenderError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have EGL for the camera tests: {e}")
        pytest.skip(f"no headless EGL here: {e}")


@pytest.fixture(scope="module")
def road_map() -> RoadMap:
    return load_road_map(DEFAULT_MAP, (BUILTIN_DIR / f"{DEFAULT_MAP}.xodr").read_text())


def ground_z(road_map: RoadMap, x: float, y: float) -> float:
    return float(road_map.ground_height(np.array([x]), np.array([y]))[0])


def ahead(pose: tuple[float, ...], distance: float) -> tuple[float, float]:
    yaw = math.radians(pose[4])
    return pose[0] + distance * math.cos(yaw), pose[1] + distance * math.sin(yaw)


def car(pose: tuple[float, ...], actor_id: int = CAR_ID) -> Bodies:
    """One car whose box stands on z = pose[2] (the actor origin at its bottom centre)."""
    return Bodies(
        ids=np.array([actor_id], np.uint32),
        pose=np.array([pose], np.float64),
        velocity=np.zeros((1, 3)),
        box_center=np.array([[0.0, 0.0, CAR_EXTENT[2]]]),
        box_extent=np.array([CAR_EXTENT]),
        semantic_tag=np.array([14], np.uint8),
        color=np.array([[200, 30, 30]], np.uint8),
    )


def make_frame(
    road_map: RoadMap,
    camera_pose: tuple[float, ...],
    bodies: Bodies | None = None,
    *,
    frame: int = 1,
    dt: float = 0.05,
    weather: tuple[float, ...] = NOON,
) -> SensorFrame:
    bodies = bodies if bodies is not None else Bodies.empty()
    ids = [CAMERA_ID, *(int(i) for i in bodies.ids)]
    poses = [list(camera_pose), *(list(p) for p in bodies.pose)]
    kinematics = np.zeros((len(ids), 15))
    kinematics[:, :6] = poses
    return SensorFrame(
        frame=frame,
        timestamp=frame * dt,
        delta_seconds=dt,
        road_map=road_map,
        weather=weather,
        ids=np.array(ids, np.uint32),
        kinematics=kinematics,
        rows={actor_id: row for row, actor_id in enumerate(ids)},
        bodies=bodies,
    )


def spec(blueprint: str, **attributes: str) -> SensorSpec:
    values = {"image_size_x": str(W), "image_size_y": str(H), "fov": "90", **attributes}
    return SensorSpec(CAMERA_ID, blueprint, values, parent_id=0)


def image(measurements: list[Measurement]) -> np.ndarray:
    assert len(measurements) == 1
    m = measurements[0]
    assert isinstance(m, ImageMeasurement)
    return m.bgra


def depth_m(bgra: np.ndarray) -> np.ndarray:
    b, g, r = (bgra[..., i].astype(np.float64) for i in range(3))
    return (r + g * 256 + b * 65536) / (256**3 - 1) * 1000.0


@pytest.fixture(scope="module")
def street(road_map: RoadMap) -> dict[str, tuple[float, ...]]:
    """A camera 0.5 m above a lane centre looking along the lane, a car 10 m ahead."""
    sp = road_map.spawn_points[3]
    z = ground_z(road_map, sp.x, sp.y)
    camera = (sp.x, sp.y, z + 0.5, 0.0, sp.yaw, 0.0)
    cx, cy = ahead(camera, 10.0)
    return {"camera": camera, "car": (cx, cy, ground_z(road_map, cx, cy), 0.0, sp.yaw, 0.0)}


def test_car_ahead_has_its_tag_id_and_distance(road_map: RoadMap, street: dict) -> None:
    frame = make_frame(road_map, street["camera"], car(street["car"]))
    centre = (H // 2, W // 2)
    sem = image(
        SemanticSegmentationCamera(spec("sensor.camera.semantic_segmentation")).measure(frame)
    )
    assert sem.shape == (H, W, 4) and sem.dtype == np.uint8
    assert sem[centre][2] == 14  # red: Car
    inst = image(
        InstanceSegmentationCamera(spec("sensor.camera.instance_segmentation")).measure(frame)
    )
    b, g, r = (int(v) for v in inst[centre][:3])
    assert (r, g, b) == (14, CAR_ID & 255, CAR_ID >> 8)
    depth = depth_m(image(DepthCamera(spec("sensor.camera.depth")).measure(frame)))
    # The camera's ray along its axis meets the car's rear face at 10 m - half its length.
    assert depth[centre] == pytest.approx(10.0 - CAR_EXTENT[0], abs=0.05)
    # Road below the car, up to the image's bottom row.
    assert set(sem[H - 1, W // 2 - 5 : W // 2 + 5, 2].tolist()) == {1}
    assert not (inst[..., 1] == 0).all()


def test_measurement_fields(road_map: RoadMap, street: dict) -> None:
    frame = make_frame(road_map, street["camera"], frame=12)
    [m] = RgbCamera(spec("sensor.camera.rgb", fov="70")).measure(frame)
    assert isinstance(m, ImageMeasurement)
    assert (m.sensor_id, m.frame, m.camera, m.fov) == (CAMERA_ID, 12, "rgb", 70.0)
    assert m.timestamp == pytest.approx(0.6)
    assert (m.transform.x, m.transform.yaw) == pytest.approx(
        (street["camera"][0], street["camera"][4])
    )
    assert m.bgra.shape == (H, W, 4)
    assert (m.bgra[..., 3] == 255).all()


def test_top_down_views_see_road_sidewalk_and_sky(road_map: RoadMap, street: dict) -> None:
    cam = SemanticSegmentationCamera(spec("sensor.camera.semantic_segmentation"))
    sp = road_map.spawn_points[3]
    down = (sp.x, sp.y, ground_z(road_map, sp.x, sp.y) + 3.0, -90.0, sp.yaw, 0.0)
    assert image(cam.measure(make_frame(road_map, down)))[H // 2, W // 2, 2] == 1  # Roads
    walk = road_map.random_sidewalk_location(random.Random(4))
    assert walk is not None
    down = (walk.x, walk.y, walk.z + 3.0, -90.0, 0.0, 0.0)
    assert image(cam.measure(make_frame(road_map, down)))[H // 2, W // 2, 2] == 2  # SideWalks
    up = (*street["camera"][:3], 89.0, 0.0, 0.0)
    sky = image(cam.measure(make_frame(road_map, up)))
    assert sky[H // 2, W // 2, 2] == 11  # Sky
    depth = depth_m(
        image(DepthCamera(spec("sensor.camera.depth")).measure(make_frame(road_map, up)))
    )
    assert depth[H // 2, W // 2] == pytest.approx(1000.0)


def test_fov_is_horizontal(road_map: RoadMap, street: dict) -> None:
    frame = make_frame(road_map, street["camera"], car(street["car"]))

    def car_width(fov: str) -> int:
        cam = SemanticSegmentationCamera(
            spec("sensor.camera.semantic_segmentation", fov=fov, image_size_x="160")
        )
        row = image(cam.measure(frame))[H // 2 + 4, :, 2]
        return int(np.count_nonzero(row == 14))

    wide, narrow = car_width("90"), car_width("45")
    expected = math.tan(math.radians(45)) / math.tan(math.radians(22.5))
    assert narrow / wide == pytest.approx(expected, rel=0.1)


def test_rgb_follows_the_weather(road_map: RoadMap, street: dict) -> None:
    cam = RgbCamera(spec("sensor.camera.rgb"))
    day = image(cam.measure(make_frame(road_map, street["camera"], weather=NOON)))
    night = image(cam.measure(make_frame(road_map, street["camera"], weather=NIGHT)))
    assert day[..., :3].mean() > 2 * night[..., :3].mean()
    # Sky (blue above red) in the top rows by day, road (grey) at the bottom.
    top = day[0, W // 2].astype(int)
    assert top[0] > top[2]  # BGRA: blue > red
    bottom = day[H - 1, W // 2].astype(int)
    assert abs(bottom[0] - bottom[2]) < 30


def test_normals_of_the_ground_face_the_camera(road_map: RoadMap) -> None:
    sp = road_map.spawn_points[3]
    down = (sp.x, sp.y, ground_z(road_map, sp.x, sp.y) + 3.0, -90.0, sp.yaw, 0.0)
    normals = image(
        NormalsCamera(spec("sensor.camera.normals")).measure(make_frame(road_map, down))
    )
    b, g, r = (int(v) for v in normals[H // 2, W // 2, :3])
    assert b >= 250 and abs(g - 128) <= 3 and abs(r - 128) <= 3  # (0, 0, 1): towards us


def test_optical_flow_moves_with_the_car(road_map: RoadMap, street: dict) -> None:
    cam = OpticalFlowCamera(spec("sensor.camera.optical_flow"))
    first = cam.measure(make_frame(road_map, street["camera"], car(street["car"])))
    assert isinstance(first[0], FloatImageMeasurement)
    assert np.abs(first[0].pixels).max() == 0.0  # no previous image: no motion
    x, y, z, p, yaw, r = street["car"]
    yaw_rad = math.radians(yaw)
    moved = (x - 1.0 * math.sin(yaw_rad), y + 1.0 * math.cos(yaw_rad), z, p, yaw, r)  # 1 m right
    [m] = cam.measure(make_frame(road_map, street["camera"], car(moved), frame=2))
    assert isinstance(m, FloatImageMeasurement)
    assert m.pixels.shape == (H, W, 2) and m.pixels.dtype == np.float32
    # The car moved right: flow to the right (x > 0) on the car, none on the static road.
    car_px = m.pixels[H // 2 + 2, W // 2 + 4]
    assert car_px[0] > 0.01 and abs(car_px[1]) < 0.01
    assert np.abs(m.pixels[H - 1, 0]).max() < 1e-6


def test_dvs_fires_when_the_scene_moves(road_map: RoadMap, street: dict) -> None:
    cam = DvsCamera(spec("sensor.camera.dvs"))
    assert cam.measure(make_frame(road_map, street["camera"], car(street["car"]))) == []
    still = cam.measure(make_frame(road_map, street["camera"], car(street["car"]), frame=2))
    assert still == []  # nothing changed: no events, no message
    moved = (*ahead(street["car"], 2.0), *street["car"][2:])
    [m] = cam.measure(make_frame(road_map, street["camera"], car(moved), frame=3))
    assert isinstance(m, DvsMeasurement)
    assert m.events.dtype == DVS_EVENT_DTYPE and len(m.events) > 10
    assert (m.width, m.height) == (W, H)
    # Only the car's outline changed: events around the image centre, where it stands.
    assert abs(m.events["x"].astype(int) - W // 2).max() < W // 4
    assert abs(m.events["y"].astype(int) - H // 2).max() < H // 4
    t = m.events["t"]
    assert (np.diff(t) >= 0).all()
    assert t.min() > round(2 * 0.05 * 1e9) and t.max() <= round(3 * 0.05 * 1e9)
    assert m.events["pol"].any()  # the dark cabin uncovers brighter background


def test_sensor_tick_skips_frames(road_map: RoadMap, street: dict) -> None:
    suite = SensorSuite()
    suite.add(spec("sensor.camera.rgb", sensor_tick="0.1"), road_map)
    got = []
    for frame in range(1, 7):
        measured = suite.measure(
            make_frame(road_map, street["camera"], frame=frame, dt=0.05),
            suite.active([CAMERA_ID]),
        )
        got.append(len(measured))
    assert got == [0, 1, 0, 1, 0, 1]


def test_every_camera_blueprint_is_registered() -> None:
    for name in ("rgb", "depth", "semantic_segmentation", "instance_segmentation"):
        assert create_sensor(spec(f"sensor.camera.{name}")) is not None
    for name in ("normals", "optical_flow", "dvs"):
        assert create_sensor(spec(f"sensor.camera.{name}")) is not None


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("image_size_x", "wide"),
        ("image_size_x", "0"),
        ("image_size_y", "100000"),
        ("fov", "0"),
        ("fov", "180"),
    ],
)
def test_bad_attributes_name_the_attribute(attribute: str, value: str) -> None:
    with pytest.raises(SensorConfigError, match=attribute) as info:
        RgbCamera(spec("sensor.camera.rgb", **{attribute: value}))
    assert repr(value) in str(info.value)


def test_bad_dvs_attributes_name_the_attribute() -> None:
    with pytest.raises(SensorConfigError, match="positive_threshold"):
        DvsCamera(spec("sensor.camera.dvs", positive_threshold="0"))
    with pytest.raises(SensorConfigError, match="use_log"):
        DvsCamera(spec("sensor.camera.dvs", use_log="maybe"))


def _header(message: bytes) -> tuple[int, int]:
    sensor_type, frame = struct.unpack_from("<QQ", message)
    return sensor_type, frame


def test_camera_measurements_encode(road_map: RoadMap, street: dict) -> None:
    frame = make_frame(road_map, street["camera"], car(street["car"]))
    normals = NormalsCamera(spec("sensor.camera.normals")).measure(frame)[0]
    message = measurement_codec.encode(normals, lambda _i: None)
    assert _header(message) == (serializers.SensorType.NORMALS_CAMERA, 1)
    assert len(message) == 48 + 12 + W * H * 4
    flow = OpticalFlowCamera(spec("sensor.camera.optical_flow")).measure(frame)[0]
    message = measurement_codec.encode(flow, lambda _i: None)
    assert _header(message) == (serializers.SensorType.OPTICAL_FLOW_CAMERA, 1)
    assert len(message) == 48 + 12 + W * H * 8
    assert struct.unpack_from("<IIf", message, 48) == (W, H, 90.0)
    events = np.zeros(3, dtype=DVS_EVENT_DTYPE)
    events["x"], events["t"], events["pol"] = [1, 2, 3], [5, 6, 7], [True, False, True]
    dvs = DvsMeasurement(CAMERA_ID, 4, 0.2, frame.transform(CAMERA_ID), W, H, 90.0, events)
    message = measurement_codec.encode(dvs, lambda _i: None)
    assert _header(message) == (serializers.SensorType.DVS_CAMERA, 4)
    assert len(message) == 48 + 12 + 3 * 13
    assert struct.unpack_from("<HHq?", message, 48 + 12 + 13) == (2, 0, 6, False)


def test_many_bodies_cars_and_walkers(road_map: RoadMap, street: dict) -> None:
    """More bodies than the first instance buffers hold; walkers keep their own tag."""
    n = 40
    distances = 8.0 + 5.0 * np.arange(n)
    poses = np.array(
        [(*ahead(street["car"], float(d) - 10.0), *street["car"][2:]) for d in distances]
    )
    is_walker = np.arange(n) % 2 == 0
    bodies = Bodies(
        ids=np.arange(500, 500 + n, dtype=np.uint32),
        pose=poses,
        velocity=np.zeros((n, 3)),
        box_center=np.where(is_walker[:, None], [[0.0, 0.0, 0.9]], [[0.0, 0.0, 0.75]]),
        box_extent=np.where(is_walker[:, None], [[0.3, 0.3, 0.9]], [list(CAR_EXTENT)]),
        semantic_tag=np.where(is_walker, 12, 14).astype(np.uint8),
        color=np.full((n, 3), 120, np.uint8),
    )
    frame = make_frame(road_map, street["camera"], bodies)
    sem = image(
        SemanticSegmentationCamera(spec("sensor.camera.semantic_segmentation")).measure(frame)
    )
    # The first body (a walker, 8 m ahead) hides the rest at the image centre.
    assert sem[H // 2, W // 2, 2] == 12
    inst = image(
        InstanceSegmentationCamera(spec("sensor.camera.instance_segmentation")).measure(frame)
    )
    b, g = int(inst[H // 2, W // 2, 0]), int(inst[H // 2, W // 2, 1])
    assert (b << 8) | g == 500
    fewer = make_frame(road_map, street["camera"], car(street["car"]))
    sem = image(
        SemanticSegmentationCamera(spec("sensor.camera.semantic_segmentation")).measure(fewer)
    )
    assert sem[H // 2, W // 2, 2] == 14  # back to one car: no stale instances drawn


def test_fog_hides_the_distance(road_map: RoadMap, street: dict) -> None:
    cam = RgbCamera(spec("sensor.camera.rgb"))
    clear = image(cam.measure(make_frame(road_map, street["camera"])))
    foggy_weather = list(NOON)
    foggy_weather[6] = 100.0  # fog_density
    foggy = image(cam.measure(make_frame(road_map, street["camera"], weather=tuple(foggy_weather))))
    # Near the horizon (far away) the foggy image is flat; near the camera it is not fogged.
    horizon = foggy[H // 2 - 3 : H // 2 + 3, :, :3].astype(float)
    assert horizon.std() < clear[H // 2 - 3 : H // 2 + 3, :, :3].astype(float).std()
    assert np.abs(foggy[H - 1].astype(int) - clear[H - 1].astype(int)).max() < 40


def test_cameras_render_from_any_thread(road_map: RoadMap, street: dict) -> None:
    """RPC handlers tick the world on their own threads: the context follows the caller."""
    cam = DepthCamera(spec("sensor.camera.depth"))
    frame = make_frame(road_map, street["camera"], car(street["car"]))
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(image(cam.measure(frame))))]
    threads.append(threading.Thread(target=lambda: results.append(image(cam.measure(frame)))))
    for t in threads:
        t.start()
        t.join()
    results.append(image(cam.measure(frame)))
    assert len(results) == 3
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_missing_egl_fails_the_spawn_naming_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import moderngl

    def no_egl(**_kwargs: object) -> None:
        raise OSError("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(gl_renderer, "_RENDERER", None)
    monkeypatch.setattr(moderngl, "create_standalone_context", no_egl)
    with pytest.raises(SensorConfigError) as info:
        RgbCamera(spec("sensor.camera.rgb"))
    message = str(info.value)
    assert "sensor.camera.rgb" in message and "libEGL.so.1" in message
    assert "libegl1 libegl-mesa0 libgl1-mesa-dri" in message


def test_many_image_sizes_reuse_a_bounded_set_of_framebuffers(
    road_map: RoadMap, street: dict
) -> None:
    frame = make_frame(road_map, street["camera"], car(street["car"]))
    for width in range(40, 40 + 2 * MAX_FRAMEBUFFERS):
        cam = SemanticSegmentationCamera(
            spec("sensor.camera.semantic_segmentation", image_size_x=str(width))
        )
        sem = image(cam.measure(frame))
        assert sem.shape == (H, width, 4) and sem[H // 2, width // 2, 2] == 14
    assert len(renderer()._fbos) <= MAX_FRAMEBUFFERS


def test_flow_of_a_turning_camera_and_depth_straight_down(road_map: RoadMap, street: dict) -> None:
    cam = OpticalFlowCamera(spec("sensor.camera.optical_flow"))
    x, y, z, pitch, yaw, roll = street["camera"]
    cam.measure(make_frame(road_map, (x, y, z, pitch, yaw, roll)))
    [m] = cam.measure(make_frame(road_map, (x, y, z, pitch, yaw + 5.0, roll), frame=2))
    assert isinstance(m, FloatImageMeasurement)
    # Turning right moves the whole picture left: about tan(5 deg) / (2 tan(45 deg)) at the
    # centre of the image (image fractions), the same sign everywhere below the horizon.
    centre = m.pixels[H - 10, W // 2]
    assert centre[0] == pytest.approx(-math.tan(math.radians(5.0)) / 2.0, rel=0.15)
    assert (m.pixels[H // 2 + 2 :, :, 0] < 0).all()
    sp = road_map.spawn_points[3]
    down = (sp.x, sp.y, ground_z(road_map, sp.x, sp.y) + 3.0, -90.0, sp.yaw, 0.0)
    depth = depth_m(
        image(DepthCamera(spec("sensor.camera.depth")).measure(make_frame(road_map, down)))
    )
    assert depth[H // 2, W // 2] == pytest.approx(3.0, abs=0.01)
