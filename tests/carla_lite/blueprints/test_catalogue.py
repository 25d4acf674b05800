"""The catalogue's content against CARLA 0.9.16's documented library."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase

import pytest

from carla_lite.blueprints import AttributeType, Blueprint, default_library, parse_value
from carla_lite.blueprints.sensors import SENSOR_IDS


def client_filter(pattern: str) -> list[Blueprint]:
    """What ``BlueprintLibrary.filter`` keeps: the id or any tag matches the pattern."""
    return [
        bp
        for bp in default_library()
        if fnmatchcase(bp.id, pattern) or any(fnmatchcase(t, pattern) for t in bp.tags)
    ]


def value_of(bp: Blueprint, attr_id: str) -> str:
    """The default of ``attr_id``; fails the test when the blueprint lacks it."""
    attr = bp.attribute(attr_id)
    assert attr is not None, f"{bp.id} has no {attr_id}"
    return attr.value


def test_counts_per_category() -> None:
    kinds = Counter(bp.kind for bp in default_library())
    assert kinds["vehicle"] == 41
    assert kinds["walker"] == 49
    assert kinds["sensor"] == 19
    assert kinds["controller"] == 1
    assert kinds["traffic"] == 11
    assert kinds["static"] >= 30
    assert set(kinds) == {"vehicle", "walker", "sensor", "controller", "static", "traffic"}


@pytest.mark.parametrize(
    "bp_id",
    [
        "vehicle.lincoln.mkz_2017",
        "vehicle.lincoln.mkz_2020",
        "vehicle.tesla.model3",
        "vehicle.audi.a2",
        "vehicle.carlamotors.carlacola",
        "vehicle.carlamotors.firetruck",
        "vehicle.carlamotors.european_hgv",
        "vehicle.mitsubishi.fusorosa",
        "vehicle.tesla.cybertruck",
        "vehicle.harley-davidson.low_rider",
        "vehicle.bh.crossbike",
        "vehicle.diamondback.century",
        "vehicle.gazelle.omafiets",
        "walker.pedestrian.0001",
        "walker.pedestrian.0049",
        "controller.ai.walker",
        "traffic.traffic_light",
        "traffic.stop",
        "traffic.yield",
        "traffic.speed_limit.30",
        "traffic.speed_limit.90",
        "static.prop.constructioncone",
        "static.trigger.friction",
    ],
)
def test_known_ids_present(bp_id: str) -> None:
    assert default_library().get(bp_id).id == bp_id


def test_every_sensor_of_the_0916_registry() -> None:
    expected = {
        *(f"sensor.camera.{n}" for n in ("rgb", "depth", "semantic_segmentation",
                                         "instance_segmentation", "dvs", "optical_flow",
                                         "normals", "cosmos_visualization")),
        "sensor.lidar.ray_cast", "sensor.lidar.ray_cast_semantic",
        *(f"sensor.other.{n}" for n in ("collision", "lane_invasion", "obstacle", "gnss", "imu",
                                        "radar", "rss", "v2x", "v2x_custom")),
    }  # fmt: skip
    assert set(SENSOR_IDS) == expected
    assert not any("wide_angle" in s or "hss" in s for s in SENSOR_IDS)  # later than 0.9.16


def test_client_side_filters() -> None:
    assert len(client_filter("vehicle.*")) == 41
    assert len(client_filter("walker.pedestrian.*")) == 49
    assert {bp.id for bp in client_filter("model3")} == {"vehicle.tesla.model3"}
    assert len(client_filter("sensor.camera.*")) == 8
    assert len(client_filter("tesla")) == 2


def test_vehicle_attributes_match_make_vehicle_definition() -> None:
    bp = default_library().get("vehicle.tesla.model3")
    role = bp.attribute("role_name")
    assert role is not None and role.value == "autopilot" and role.is_modifiable
    assert role.recommended_values == ("autopilot", "scenario", "ego_vehicle")
    sticky = bp.attribute("sticky_control")
    assert sticky is not None and (sticky.type, sticky.value) == (AttributeType.Bool, "true")
    color = bp.attribute("color")
    assert color is not None and color.type is AttributeType.RGBColor and color.is_modifiable
    assert color.value == color.recommended_values[0]
    for attr_id, value in (("base_type", "car"), ("number_of_wheels", "4"), ("generation", "1")):
        attr = bp.attribute(attr_id)
        assert attr is not None and attr.value == value and not attr.is_modifiable
    assert not bp.has_attribute("driver_id")


def test_vehicle_classes_and_generations() -> None:
    lib = default_library()
    base = {bp.id: value_of(bp, "base_type") for bp in client_filter("vehicle.*")}
    assert set(base.values()) == {"car", "truck", "van", "bus", "motorcycle", "bicycle"}
    assert base["vehicle.mitsubishi.fusorosa"] == "bus"
    assert base["vehicle.gazelle.omafiets"] == "bicycle"
    gen2 = [bp.id for bp in client_filter("vehicle.*") if value_of(bp, "generation") == "2"]
    assert len(gen2) == 14 and "vehicle.lincoln.mkz_2020" in gen2
    bike = lib.get("vehicle.harley-davidson.low_rider")
    driver = bike.attribute("driver_id")
    assert driver is not None and driver.restrict_to_recommended
    assert value_of(bike, "number_of_wheels") == "2"
    assert value_of(lib.get("vehicle.carlamotors.european_hgv"), "number_of_wheels") == "6"
    assert not lib.get("vehicle.tesla.cybertruck").has_attribute("color")


def test_walker_attributes() -> None:
    bp = default_library().get("walker.pedestrian.0001")
    speed = bp.attribute("speed")
    assert speed is not None and speed.type is AttributeType.Float
    assert len(speed.recommended_values) >= 3  # generate_traffic.py reads [1] and [2]
    walk, run = (float(v) for v in speed.recommended_values[1:3])
    assert 0.5 < walk < run < 4.0
    inv = bp.attribute("is_invincible")
    assert inv is not None and inv.is_modifiable and inv.value == "true"
    for attr_id in ("age", "gender", "generation", "can_use_wheelchair"):
        attr = bp.attribute(attr_id)
        assert attr is not None and not attr.is_modifiable
    chair = bp.attribute("use_wheelchair")
    assert chair is not None and chair.value == "false" and chair.restrict_to_recommended
    assert value_of(default_library().get("walker.pedestrian.0010"), "age") == "child"


@pytest.mark.parametrize(
    ("bp_id", "attr_id", "attr_type", "value"),
    [
        ("sensor.camera.rgb", "image_size_x", AttributeType.Int, "800"),
        ("sensor.camera.rgb", "image_size_y", AttributeType.Int, "600"),
        ("sensor.camera.rgb", "fov", AttributeType.Float, "90.0"),
        ("sensor.camera.rgb", "gamma", AttributeType.Float, "2.2"),
        ("sensor.camera.rgb", "exposure_mode", AttributeType.String, "histogram"),
        ("sensor.camera.depth", "fov", AttributeType.Float, "90.0"),
        ("sensor.camera.dvs", "positive_threshold", AttributeType.Float, "0.3"),
        ("sensor.lidar.ray_cast", "channels", AttributeType.Int, "32"),
        ("sensor.lidar.ray_cast", "range", AttributeType.Float, "10.0"),
        ("sensor.lidar.ray_cast", "points_per_second", AttributeType.Int, "56000"),
        ("sensor.lidar.ray_cast", "rotation_frequency", AttributeType.Float, "10.0"),
        ("sensor.lidar.ray_cast", "upper_fov", AttributeType.Float, "10.0"),
        ("sensor.lidar.ray_cast", "lower_fov", AttributeType.Float, "-30.0"),
        ("sensor.lidar.ray_cast", "horizontal_fov", AttributeType.Float, "360.0"),
        ("sensor.other.radar", "horizontal_fov", AttributeType.Float, "30"),
        ("sensor.other.radar", "range", AttributeType.Float, "100"),
        ("sensor.other.gnss", "noise_lat_stddev", AttributeType.Float, "0.0"),
        ("sensor.other.gnss", "noise_seed", AttributeType.Int, "0"),
        ("sensor.other.imu", "noise_gyro_bias_z", AttributeType.Float, "0.0"),
        ("sensor.other.obstacle", "distance", AttributeType.Float, "5.0"),
        ("sensor.other.obstacle", "hit_radius", AttributeType.Float, "0.5"),
        ("sensor.other.obstacle", "only_dynamics", AttributeType.Bool, "false"),
        ("sensor.other.obstacle", "debug_linetrace", AttributeType.Bool, "false"),
        ("sensor.other.v2x", "scenario", AttributeType.String, "highway"),
    ],
)
def test_sensor_defaults(bp_id: str, attr_id: str, attr_type: AttributeType, value: str) -> None:
    attr = default_library().get(bp_id).attribute(attr_id)
    assert attr is not None
    assert (attr.type, attr.value, attr.is_modifiable) == (attr_type, value, True)


def test_sensors_role_name_and_tick() -> None:
    for bp in client_filter("sensor.*"):
        assert bp.has_attribute("role_name")
        tickless = bp.id in {
            "sensor.other.collision",
            "sensor.other.lane_invasion",
            "sensor.other.rss",
        }
        assert bp.has_attribute("sensor_tick") != tickless, bp.id
    assert value_of(default_library().get("sensor.camera.rgb"), "role_name") == "front"


def test_every_value_parses_per_its_type() -> None:
    for bp in default_library():
        ids = [a.id for a in bp.attributes]
        assert len(ids) == len(set(ids)), bp.id
        for attr in bp.attributes:
            parse_value(attr.type, attr.value)
            for rec in attr.recommended_values:
                parse_value(attr.type, rec)
            if attr.is_modifiable:
                assert attr.recommended_values and attr.value == attr.recommended_values[0]
            else:
                assert attr.recommended_values == ()


def test_tags_are_the_id_parts() -> None:
    for bp in default_library():
        assert bp.tags == tuple(bp.id.split(".")), bp.id


def test_semantic_tags() -> None:
    lib = default_library()
    expected = {
        "vehicle.tesla.model3": 14, "vehicle.carlamotors.firetruck": 15,
        "vehicle.mitsubishi.fusorosa": 16, "vehicle.yamaha.yzf": 18, "vehicle.bh.crossbike": 19,
        "walker.pedestrian.0005": 12, "traffic.traffic_light": 7, "traffic.stop": 8,
        "static.prop.barrel": 20,
    }  # fmt: skip
    for bp_id, tag in expected.items():
        assert lib.get(bp_id).semantic_tag == tag, bp_id


def test_bounding_boxes() -> None:
    lib = default_library()
    for bp in lib:
        if bp.kind in ("vehicle", "walker", "traffic") or bp.id.startswith("static.prop."):
            assert bp.bounding_box is not None, bp.id
            e = bp.bounding_box.extent
            assert min(e.x, e.y, e.z) > 0, bp.id
    model3 = lib.get("vehicle.tesla.model3").bounding_box
    assert model3 is not None
    assert model3.extent.x == pytest.approx(2.396, abs=1e-3)
    assert model3.extent.y == pytest.approx(1.082, abs=1e-3)
    assert model3.location.z == pytest.approx(model3.extent.z)
    mkz = lib.get("vehicle.lincoln.mkz_2017").bounding_box
    assert mkz is not None and mkz.extent.x == pytest.approx(2.451, abs=1e-3)
    walker = lib.get("walker.pedestrian.0001").bounding_box
    assert walker is not None and walker.extent.z == pytest.approx(0.93)
    assert walker.location.z == 0.0


def test_vehicle_params_sane() -> None:
    for bp in client_filter("vehicle.*"):
        p = bp.vehicle_params
        assert p is not None and bp.bounding_box is not None, bp.id
        length = 2 * bp.bounding_box.extent.x
        assert 0.4 * length < p.wheelbase < 0.75 * length, bp.id
        assert 30.0 <= p.max_steer_deg <= 75.0
        assert 0 < p.max_accel < p.max_brake_decel
        assert 5.0 < p.max_speed <= 60.0 and 0 < p.max_reverse_speed < p.max_speed
        assert p.mass > 0 and p.drag >= 0 and p.rolling_resistance >= 0
    lib = default_library()
    car = lib.get("vehicle.lincoln.mkz_2017").vehicle_params
    bike = lib.get("vehicle.gazelle.omafiets").vehicle_params
    truck = lib.get("vehicle.carlamotors.firetruck").vehicle_params
    assert car is not None and bike is not None and truck is not None
    assert 2.6 < car.wheelbase < 3.1
    assert bike.max_speed < truck.max_speed < car.max_speed
    assert truck.mass > car.mass > bike.mass
    for bp in default_library():
        if bp.kind != "vehicle":
            assert bp.vehicle_params is None
