"""BlueprintLibrary lookup, wire rows and spawn-time validation."""

from __future__ import annotations

import msgpack
import pytest

from carla_lite.blueprints import (
    AttributeType,
    BlueprintLibrary,
    InvalidDescriptionError,
    default_library,
    spectator_blueprint,
    validate_description,
)
from carla_lite.blueprints.props import misc_blueprints, prop_blueprints
from carla_lite.blueprints.sensors import sensor_blueprints
from carla_lite.blueprints.vehicles import vehicle_blueprints
from carla_lite.blueprints.walkers import walker_blueprints


def test_default_library_is_cached_and_ordered() -> None:
    lib = default_library()
    assert default_library() is lib
    assert [bp.id for bp in lib.all()] == [bp.id for bp in lib]
    assert len(lib.all()) == len(lib)


def test_uids_are_stable_index_plus_one() -> None:
    lib = default_library()
    rebuilt = BlueprintLibrary(
        [
            *vehicle_blueprints(),
            *walker_blueprints(),
            *sensor_blueprints(),
            *prop_blueprints(),
            *misc_blueprints(),
        ]
    )
    for i, bp in enumerate(lib.all()):
        assert lib.uid(bp.id) == i + 1 == rebuilt.uid(bp.id)
        assert lib.by_uid(i + 1) is bp
    assert lib.uid("vehicle.audi.a2") == 1


def test_get_unknown_lists_close_matches() -> None:
    lib = default_library()
    with pytest.raises(KeyError, match=r"vehicle\.tesla\.model3"):
        lib.get("vehicle.tesla.modle3")
    with pytest.raises(KeyError):
        lib.uid("nothing.like.this")
    with pytest.raises(KeyError):
        lib.by_uid(0)
    with pytest.raises(KeyError):
        lib.by_uid(len(lib) + 1)
    assert "sensor.camera.rgb" in lib and "sensor.camera.nope" not in lib


def test_duplicate_ids_rejected() -> None:
    bp = default_library().get("vehicle.audi.a2")
    with pytest.raises(ValueError, match="duplicate"):
        BlueprintLibrary([bp, bp])


def test_definitions_match_the_wire_contract() -> None:
    """``rpc::ActorDefinition`` = [uid:u32, id:str, tags:str, [ActorAttribute]]."""
    rows = list(default_library().definitions())
    assert len(rows) == len(default_library())
    for uid, (row_uid, bp_id, tags, attrs) in enumerate(rows, start=1):
        assert row_uid == uid and isinstance(bp_id, str)
        assert tags == ",".join(default_library().get(bp_id).tags)
        for attr_id, attr_type, value, recommended, modifiable, restrict in attrs:
            assert isinstance(attr_id, str) and isinstance(value, str)
            assert type(attr_type) is int and 1 <= attr_type <= 5
            assert isinstance(recommended, list) and all(isinstance(r, str) for r in recommended)
            assert type(modifiable) is bool and type(restrict) is bool
    packed = msgpack.packb(rows, use_bin_type=True)
    assert msgpack.unpackb(packed, raw=False) == [[*r[:3], [list(a) for a in r[3]]] for r in rows]


def test_attribute_type_values_match_the_client() -> None:
    carla = pytest.importorskip("carla")
    names = {name: int(value) for name, value in carla.ActorAttributeType.names.items()}
    assert names == {t.name: int(t) for t in AttributeType}


def test_spectator_is_found_but_not_listed_or_spawnable() -> None:
    lib = default_library()
    spectator = spectator_blueprint()
    assert spectator.id == "spectator" and spectator.kind == "spectator"
    assert lib.get("spectator") is spectator and lib.uid("spectator") == 0
    assert "spectator" not in lib
    assert all(bp.id != "spectator" for bp in lib.all())
    assert all(row[1] != "spectator" for row in lib.definitions())
    with pytest.raises(InvalidDescriptionError, match="spectator"):
        validate_description(spectator, {})


def _all_defaults(bp_id: str) -> dict[str, str]:
    """What the real client sends: every attribute with its current value."""
    return {a.id: a.value for a in default_library().get(bp_id).attributes}


def test_validate_merges_over_defaults() -> None:
    bp = default_library().get("vehicle.tesla.model3")
    sent = _all_defaults(bp.id) | {"role_name": "hero", "color": "10,20,30"}
    merged = validate_description(bp, sent)
    assert merged["role_name"] == "hero" and merged["color"] == "10,20,30"
    assert validate_description(bp, {}) == _all_defaults(bp.id)
    cam = default_library().get("sensor.camera.rgb")
    merged = validate_description(cam, {"image_size_x": " 84 ", "sensor_tick": "0.05"})
    assert merged["image_size_x"] == "84" and merged["fov"] == "90.0"
    assert validate_description(cam, {"enable_postprocess_effects": "False"})


@pytest.mark.parametrize(
    ("bp_id", "sent", "message"),
    [
        ("vehicle.tesla.model3", {"colour": "1,2,3"}, "unknown attribute"),
        ("vehicle.tesla.model3", {"color": "1,2"}, "RGBColor"),
        ("vehicle.tesla.model3", {"color": "1,2,300"}, "RGBColor"),
        ("vehicle.tesla.model3", {"sticky_control": "yes"}, "Bool"),
        ("vehicle.tesla.model3", {"number_of_wheels": "3"}, "read-only"),
        ("vehicle.tesla.model3", {"base_type": "truck"}, "read-only"),
        ("sensor.camera.rgb", {"image_size_x": "wide"}, "Int"),
        ("sensor.camera.rgb", {"fov": "ninety"}, "Float"),
        ("sensor.camera.rgb", {"exposure_mode": "auto"}, "must be one of"),
        ("vehicle.harley-davidson.low_rider", {"driver_id": "99"}, "must be one of"),
        ("sensor.other.v2x", {"path_loss_model": "free_space"}, "must be one of"),
    ],
)
def test_validate_rejects(bp_id: str, sent: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidDescriptionError, match=message):
        validate_description(default_library().get(bp_id), sent)


def test_validate_rejects_non_string_values() -> None:
    bp = default_library().get("sensor.camera.rgb")
    with pytest.raises(InvalidDescriptionError, match="string"):
        validate_description(bp, {"fov": 90.0})  # type: ignore[dict-item]


def test_validate_accepts_unchanged_read_only_and_recommended() -> None:
    bp = default_library().get("walker.pedestrian.0001")
    merged = validate_description(bp, {"generation": "1", "use_wheelchair": "true", "speed": "1.4"})
    assert merged["use_wheelchair"] == "true"
    trigger = default_library().get("static.trigger.friction")
    assert validate_description(trigger, {"friction": "2.0"})["extent_x"] == "1.0f"
