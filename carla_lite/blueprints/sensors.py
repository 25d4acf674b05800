"""The 19 sensor blueprints of CARLA 0.9.16, one per listenable entry of the SensorRegistry.

Attribute ids, order and defaults follow ``UActorBlueprintFunctionLibrary`` (``Make*Definition``)
and each sensor's ``GetSensorDefinition``. Sensors built through ``MakeGenericSensorDefinition``
or the camera/lidar makers recommend the role names front/back/...; the others keep
``"default"``. Collision, lane invasion and RSS have no ``sensor_tick`` in CARLA either.
"""

from __future__ import annotations

from .model import AttributeDef, AttributeType, Blueprint, base_variations, tags_of, var

__all__ = ["SENSOR_IDS", "sensor_blueprints"]

B, N, F, S = AttributeType.Bool, AttributeType.Int, AttributeType.Float, AttributeType.String

_SENSOR_ROLES = (
    "front", "back", "left", "right", "front_left", "front_right", "back_left", "back_right",
)  # fmt: skip

_CAMERA = (  # AddCommonCameraParameters
    ("image_size_x", N, "800"), ("image_size_y", N, "600"), ("fov", F, "90.0"),
    ("lens_circle_falloff", F, "5.0"), ("lens_circle_multiplier", F, "0.0"),
    ("lens_k", F, "-1.0"), ("lens_kcube", F, "0.0"),
    ("lens_x_size", F, "0.08"), ("lens_y_size", F, "0.08"),
)  # fmt: skip

_POSTPROCESS = (  # AddCommonPostProcessingEffectsParameters, after exposure_mode
    ("exposure_compensation", F, "0.0"), ("shutter_speed", F, "200.0"), ("iso", F, "100.0"),
    ("fstop", F, "1.4"), ("enable_postprocess_effects", B, "true"), ("gamma", F, "2.2"),
    ("motion_blur_intensity", F, "0.45"), ("motion_blur_max_distortion", F, "0.35"),
    ("lens_flare_intensity", F, "0.1"), ("bloom_intensity", F, "0.675"),
    ("motion_blur_min_object_screen_size", F, "0.1"), ("exposure_min_bright", F, "10.0"),
    ("exposure_max_bright", F, "12.0"), ("exposure_speed_up", F, "3.0"),
    ("exposure_speed_down", F, "1.0"), ("calibration_constant", F, "16.0"),
    ("focal_distance", F, "1000.0"), ("min_fstop", F, "1.2"), ("blade_count", N, "5"),
    ("blur_amount", F, "1.0"), ("blur_radius", F, "0.0"), ("slope", F, "0.88"),
    ("toe", F, "0.55"), ("shoulder", F, "0.26"), ("black_clip", F, "0.0"),
    ("white_clip", F, "0.04"), ("temp", F, "6500.0"), ("tint", F, "0.0"),
    ("chromatic_aberration_intensity", F, "0.0"), ("chromatic_aberration_offset", F, "0.0"),
)  # fmt: skip

_DVS = (  # ADVSCamera::GetSensorDefinition
    ("positive_threshold", F, "0.3"), ("negative_threshold", F, "0.3"),
    ("sigma_positive_threshold", F, "0.0"), ("sigma_negative_threshold", F, "0.0"),
    ("refractory_period_ns", N, "0"), ("use_log", B, "true"), ("log_eps", F, "0.001"),
)  # fmt: skip

_LIDAR = (  # MakeLidarDefinition("ray_cast")
    ("channels", N, "32"), ("range", F, "10.0"), ("points_per_second", N, "56000"),
    ("rotation_frequency", F, "10.0"), ("upper_fov", F, "10.0"), ("lower_fov", F, "-30.0"),
    ("atmosphere_attenuation_rate", F, "0.004"), ("noise_seed", N, "0"),
    ("dropoff_general_rate", F, "0.45"), ("dropoff_intensity_limit", F, "0.8"),
    ("dropoff_zero_intensity", F, "0.4"), ("noise_stddev", F, "0.0"),
    ("horizontal_fov", F, "360.0"),
)  # fmt: skip
_SEMANTIC_LIDAR_IDS = ("channels", "range", "points_per_second", "rotation_frequency",
                       "upper_fov", "lower_fov", "horizontal_fov")  # fmt: skip

_NOISE_SEED = (("noise_seed", N, "0"),)
_GNSS = _NOISE_SEED + tuple(
    (f"noise_{axis}_{kind}", F, "0.0")
    for axis in ("lat", "lon", "alt")
    for kind in ("stddev", "bias")
)
_IMU = (
    _NOISE_SEED
    + tuple((f"noise_accel_stddev_{a}", F, "0.0") for a in "xyz")
    + tuple((f"noise_gyro_stddev_{a}", F, "0.0") for a in "xyz")
    + tuple((f"noise_gyro_bias_{a}", F, "0.0") for a in "xyz")
)
_RADAR = (
    ("horizontal_fov", F, "30"), ("vertical_fov", F, "30"), ("range", F, "100"),
    ("points_per_second", N, "1500"), ("noise_seed", N, "0"),
)  # fmt: skip
_OBSTACLE = (
    ("distance", F, "5.0"), ("hit_radius", F, "0.5"),
    ("only_dynamics", B, "false"), ("debug_linetrace", B, "false"),
)  # fmt: skip

_V2X_RADIO_HEAD = (("noise_seed", N, "0"), ("transmit_power", F, "21.5"),
                   ("receiver_sensitivity", F, "-99.0"), ("frequency_ghz", F, "5.9"),
                   ("combined_antenna_gain", F, "10.0"))  # fmt: skip
_V2X_RADIO_TAIL = (("path_loss_exponent", F, "2.7"), ("d_ref", F, "1.0"),
                   ("filter_distance", F, "500.0"), ("use_etsi_fading", B, "true"),
                   ("custom_fading_stddev", F, "0.0"))  # fmt: skip
_V2X_CAM = (
    ("gen_cam_min", F, "0.1"), ("gen_cam_max", F, "1.0"), ("fixed_rate", B, "false"),
    *((f"noise_{axis}_{kind}", F, "0.0") for axis in ("lat", "lon", "alt", "head")
      for kind in ("stddev", "bias")),
    *((f"noise_accel_stddev_{a}", F, "0.0") for a in "xyz"),
    ("noise_yawrate_stddev", F, "0.0"), ("noise_yawrate_bias", F, "0.0"),
    ("noise_vel_stddev_x", F, "0.0"),
)  # fmt: skip


def _vars(rows: tuple[tuple[str, AttributeType, str], ...]) -> list[AttributeDef]:
    return [var(attr_id, attr_type, value) for attr_id, attr_type, value in rows]


def _v2x_radio() -> list[AttributeDef]:
    return [
        *_vars(_V2X_RADIO_HEAD),
        var("scenario", S, "highway", "rural", "urban", restrict=True),
        var("path_loss_model", S, "winner", "geometric", restrict=True),
        *_vars(_V2X_RADIO_TAIL),
    ]


def _sensor(bp_id: str, roles: tuple[str, ...], tick: bool, rest: list[AttributeDef]) -> Blueprint:
    attrs = base_variations(bp_id, roles)
    if tick:
        attrs.append(var("sensor_tick", F, "0.0"))
    return Blueprint(bp_id, tags_of(bp_id), tuple(attrs + rest), 0, None, None)


def _camera(
    name: str, postprocess: bool = False, extra: list[AttributeDef] | None = None
) -> Blueprint:
    rest = _vars(_CAMERA)
    if postprocess:
        rest.append(var("exposure_mode", S, "histogram", "manual", restrict=True))
        rest += _vars(_POSTPROCESS)
    return _sensor(f"sensor.camera.{name}", _SENSOR_ROLES, True, rest + (extra or []))


def sensor_blueprints() -> list[Blueprint]:
    """Build every sensor blueprint, in SensorRegistry order."""
    semantic_lidar = [row for row in _LIDAR if row[0] in _SEMANTIC_LIDAR_IDS]
    semantic_lidar.sort(key=lambda row: _SEMANTIC_LIDAR_IDS.index(row[0]))
    default = ("default",)
    return [
        _sensor("sensor.other.collision", _SENSOR_ROLES, False, []),
        _camera("depth"),
        _camera("normals"),
        _camera("dvs", postprocess=True, extra=_vars(_DVS)),
        _sensor("sensor.other.gnss", default, True, _vars(_GNSS)),
        _sensor("sensor.other.imu", default, True, _vars(_IMU)),
        _sensor("sensor.other.lane_invasion", _SENSOR_ROLES, False, []),
        _sensor("sensor.other.obstacle", _SENSOR_ROLES, True, _vars(_OBSTACLE)),
        _camera("optical_flow"),
        _sensor("sensor.other.radar", default, True, _vars(_RADAR)),
        _sensor(
            "sensor.lidar.ray_cast_semantic", _SENSOR_ROLES, True, _vars(tuple(semantic_lidar))
        ),
        _sensor("sensor.lidar.ray_cast", _SENSOR_ROLES, True, _vars(_LIDAR)),
        _sensor("sensor.other.rss", _SENSOR_ROLES, False, []),
        _camera("rgb", postprocess=True),
        _camera("semantic_segmentation"),
        _camera("instance_segmentation"),
        _camera("cosmos_visualization"),
        _sensor("sensor.other.v2x", default, True, [*_v2x_radio(), *_vars(_V2X_CAM)]),
        _sensor("sensor.other.v2x_custom", default, True, _v2x_radio()),
    ]


SENSOR_IDS: tuple[str, ...] = tuple(bp.id for bp in sensor_blueprints())
