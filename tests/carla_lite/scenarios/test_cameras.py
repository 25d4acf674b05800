"""Cameras through the official client: frames in step with ticks, the client's decoders."""

from __future__ import annotations

import os
from textwrap import dedent

import pytest

from carla_lite.sensors.gl_renderer import RenderError, renderer
from tests.conftest import ServerProcess, run_client


@pytest.fixture(scope="module", autouse=True)
def egl() -> None:
    """The server's cameras need headless EGL: required in CI, a skip elsewhere without it."""
    try:
        renderer()
    except RenderError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have EGL for the camera scenarios: {e}")
        pytest.skip(f"no headless EGL here: {e}")


_SYNC_CAR = """
world = client.get_world()
s = world.get_settings()
s.synchronous_mode = True
s.fixed_delta_seconds = 0.05
world.apply_settings(s)
lib = world.get_blueprint_library()
car = world.spawn_actor(lib.find("vehicle.tesla.model3"), world.get_map().get_spawn_points()[3])

def camera(bp_id, **attributes):
    bp = lib.find(bp_id)
    for key, value in attributes.items():
        bp.set_attribute(key, str(value))
    mount = carla.Transform(carla.Location(x=1.5, z=1.6))
    return world.spawn_actor(bp, mount, attach_to=car)
"""


def test_two_cameras_deliver_every_tick_and_segmentation_converts(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _SYNC_CAR
        + dedent(
            """
        rgb = camera("sensor.camera.rgb", image_size_x=84, image_size_y=84, fov=100)
        sem = camera("sensor.camera.semantic_segmentation", image_size_x=96, image_size_y=64)
        inbox = queue.Queue()
        rgb.listen(lambda image: inbox.put(("rgb", image)))
        sem.listen(lambda image: inbox.put(("sem", image)))
        mismatches, shapes = [], set()
        last = {}
        for tick in range(30):
            frame = world.tick()
            got = {}
            for _ in range(2):
                name, image = inbox.get(timeout=5.0)
                got[name] = image.frame
                shapes.add((name, image.width, image.height, round(image.fov)))
                last[name] = image
            if got != {"rgb": frame, "sem": frame}:
                mismatches.append((frame, got))
        result["mismatches"] = mismatches
        result["shapes"] = sorted(shapes)
        raw = np.frombuffer(last["sem"].raw_data, dtype=np.uint8).reshape(64, 96, 4)
        result["tags"] = sorted(set(raw[:, :, 2].ravel().tolist()))
        result["bottom_tag"] = int(raw[63, 48, 2])
        last["sem"].convert(carla.ColorConverter.CityScapesPalette)
        palette = np.frombuffer(last["sem"].raw_data, dtype=np.uint8).reshape(64, 96, 4)
        result["bottom_rgb"] = palette[63, 48, 2::-1].tolist()
        pixels = np.frombuffer(last["rgb"].raw_data, dtype=np.uint8).reshape(84, 84, 4)
        result["rgb_spread"] = int(pixels[:, :, :3].std())
        result["transform_x"] = last["rgb"].transform.location.x - car.get_transform().location.x
        for sensor in (rgb, sem):
            sensor.stop()
            sensor.destroy()
        """
        ),
    )
    assert result["mismatches"] == []
    assert result["shapes"] == [["rgb", 84, 84, 100], ["sem", 96, 64, 90]]
    assert {1, 11} <= set(result["tags"])  # road and sky at least
    assert result["bottom_tag"] == 1
    assert result["bottom_rgb"] == [128, 64, 128]  # CityScapes "road"
    assert result["rgb_spread"] > 5  # a picture, not a flat colour
    assert abs(result["transform_x"]) > 0.1  # the mount offset is in the camera's transform
    assert server.unknown_rpcs() == []


def test_depth_instance_normals_flow_and_dvs_decode_in_the_client(server: ServerProcess) -> None:
    result = run_client(
        server.port,
        _SYNC_CAR
        + dedent(
            """
        size = {"image_size_x": 64, "image_size_y": 48}
        names = ["depth", "instance_segmentation", "normals", "optical_flow", "dvs"]
        cams = {n: camera("sensor.camera." + n, **size) for n in names}
        inbox = queue.Queue()
        for n, cam in cams.items():
            cam.listen(lambda data, n=n: inbox.put((n, data)))
        car.set_target_velocity(carla.Vector3D(x=8.0))  # motion for the DVS and the flow
        seen = {}
        for _ in range(8):
            world.tick()
            time.sleep(0.05)
            while not inbox.empty():
                n, data = inbox.get()
                seen[n] = data
        result["types"] = {n: type(d).__name__ for n, d in seen.items()}
        depth = seen["depth"]
        depth.convert(carla.ColorConverter.Depth)
        result["depth_ok"] = depth.width == 64
        flow = seen["optical_flow"]
        result["flow_pixels"] = len(flow.raw_data) // 8
        result["flow_coded"] = len(flow.get_color_coded_flow().raw_data)
        dvs = seen.get("dvs")
        result["dvs_events"] = len(dvs) if dvs is not None else 0
        if dvs is not None:
            first = dvs[0]
            result["dvs_xy_ok"] = 0 <= first.x < 64 and 0 <= first.y < 48
            result["dvs_image_pixels"] = len(dvs.to_image())
        normals = np.frombuffer(seen["normals"].raw_data, dtype=np.uint8).reshape(48, 64, 4)
        result["normal_bottom"] = normals[47, 32, :3].tolist()
        inst = np.frombuffer(seen["instance_segmentation"].raw_data, dtype=np.uint8)
        result["instance_tags"] = sorted(set(inst.reshape(-1, 4)[:, 2].tolist()))
        for cam in cams.values():
            cam.stop()
            cam.destroy()
        """
        ),
    )
    assert result["types"] == {
        "depth": "Image",
        "instance_segmentation": "Image",
        "normals": "Image",
        "optical_flow": "OpticalFlowImage",
        "dvs": "DVSEventArray",
    }
    assert result["depth_ok"] is True
    assert result["flow_pixels"] == 64 * 48
    assert result["flow_coded"] == 64 * 48 * 4
    assert result["dvs_events"] > 0 and result["dvs_xy_ok"] is True
    assert result["dvs_image_pixels"] == 64 * 48
    b, g, r = result["normal_bottom"]  # the road below: its normal is the camera's up
    assert g > 200 and abs(b - 128) < 30 and abs(r - 128) < 30
    assert 1 in result["instance_tags"]
    assert server.unknown_rpcs() == []
