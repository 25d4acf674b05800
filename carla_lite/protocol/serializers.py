"""Binary stream messages, byte for byte as the ``carla==0.9.16`` wheel decodes them.

Every stream message is ``SensorHeader`` (48 B, packed) followed by a sensor-specific
body. The client picks the decoder from the header's ``sensor_type``, the 0-based index
of the sensor in the SensorRegistry (``sensor/SensorRegistry.h``). Offsets and sizes
below come from the wheel's DWARF (``gdb ptype /o``) and are re-checked by
``tests/carla_lite/protocol/test_wire_layouts.py``.

Bodies:

* episode state (17): ``EpisodeStateSerializer::Header`` (36 B) + N x
  ``ActorDynamicState`` (119 B, :data:`ACTOR_STATE_DTYPE`);
* images (1, 13, 14, 15, 16) and normals (2): ``ImageHeader`` (12 B: width, height, fov) +
  BGRA pixels (``NormalsImage`` is ``ImageTmpl<Color>`` too);
* optical flow (8): ``ImageHeader`` + ``OpticalFlowPixel`` (x, y as f32) per pixel;
* DVS (3): ``DVSHeader`` (12 B: width, height, fov) + packed ``DVSEvent`` records (13 B:
  x u16, y u16, t i64, pol bool), :data:`DVS_EVENT_DTYPE`;
* collision (0): msgpack ``[self_actor, other_actor, normal_impulse]``;
* obstacle detection (7): msgpack ``[self_actor, other_actor, distance]``;
* GNSS (4): msgpack ``geom::GeoLocation`` ``[latitude, longitude, altitude]`` (doubles);
* IMU (5): msgpack ``[accelerometer, gyroscope, compass]`` (compass is one float in
  0.9.16; later sources make it a vector);
* lidar (11) / semantic lidar (10): u32 header ``[horizontal_angle as f32 bits,
  channel_count, points of channel 0..n-1]`` + packed points (16 B x,y,z,intensity /
  24 B x,y,z,cos_inc_angle,object_idx,object_tag);
* radar (9): packed ``RadarDetection`` records (16 B: velocity, azimuth, altitude,
  depth), no extra header.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import msgpack
import numpy as np

from carla_lite.geom import Transform, Vector3

__all__ = [
    "ACTOR_STATE_ACTIVE",
    "ACTOR_STATE_DTYPE",
    "DVS_EVENT_DTYPE",
    "EPISODE_HEADER",
    "IMAGE_HEADER",
    "IMAGE_SENSOR_TYPES",
    "LIDAR_DETECTION_DTYPE",
    "RADAR_DETECTION_DTYPE",
    "SEMANTIC_LIDAR_DETECTION_DTYPE",
    "SENSOR_HEADER",
    "SENSOR_REGISTRY",
    "SensorType",
    "collision_event",
    "dvs_event_array",
    "episode_state",
    "gnss_measurement",
    "image",
    "imu_measurement",
    "lidar_measurement",
    "new_actor_states",
    "normals_image",
    "obstacle_detection_event",
    "optical_flow_image",
    "radar_measurement",
    "semantic_lidar_measurement",
    "sensor_header",
]


class SensorType(IntEnum):
    """0-based SensorRegistry index of 0.9.16 (the header's ``sensor_type``)."""

    COLLISION = 0
    DEPTH_CAMERA = 1
    NORMALS_CAMERA = 2
    DVS_CAMERA = 3
    GNSS = 4
    IMU = 5
    LANE_INVASION = 6
    OBSTACLE_DETECTION = 7
    OPTICAL_FLOW_CAMERA = 8
    RADAR = 9
    SEMANTIC_LIDAR = 10
    LIDAR = 11
    RSS = 12
    RGB_CAMERA = 13
    SEMANTIC_SEGMENTATION_CAMERA = 14
    INSTANCE_SEGMENTATION_CAMERA = 15
    COSMOS_CONTROL_CAMERA = 16
    WORLD_OBSERVER = 17
    GBUFFER_UINT8 = 18
    GBUFFER_FLOAT = 19
    V2X = 20
    CUSTOM_V2X = 21


#: ``(sensor class, serializer class)`` per SensorType, as in the wheel's
#: ``CompositeSerializer<std::pair<...>...>``.
SENSOR_REGISTRY: tuple[tuple[str, str], ...] = (
    ("ACollisionSensor", "CollisionEventSerializer"),
    ("ADepthCamera", "ImageSerializer"),
    ("ANormalsCamera", "NormalsImageSerializer"),
    ("ADVSCamera", "DVSEventArraySerializer"),
    ("AGnssSensor", "GnssSerializer"),
    ("AInertialMeasurementUnit", "IMUSerializer"),
    ("ALaneInvasionSensor", "NoopSerializer"),
    ("AObstacleDetectionSensor", "ObstacleDetectionEventSerializer"),
    ("AOpticalFlowCamera", "OpticalFlowImageSerializer"),
    ("ARadar", "RadarSerializer"),
    ("ARayCastSemanticLidar", "SemanticLidarSerializer"),
    ("ARayCastLidar", "LidarSerializer"),
    ("ARssSensor", "NoopSerializer"),
    ("ASceneCaptureCamera", "ImageSerializer"),
    ("ASemanticSegmentationCamera", "ImageSerializer"),
    ("AInstanceSegmentationCamera", "ImageSerializer"),
    ("ACosmosControlSensor", "ImageSerializer"),
    ("FWorldObserver", "EpisodeStateSerializer"),
    ("FCameraGBufferUint8", "GBufferUint8Serializer"),
    ("FCameraGBufferFloat", "GBufferFloatSerializer"),
    ("AV2XSensor", "CAMDataSerializer"),
    ("ACustomV2XSensor", "CustomV2XDataSerializer"),
)

#: Sensor types whose body is ``ImageHeader`` + 4 bytes per pixel (BGRA).
IMAGE_SENSOR_TYPES = frozenset(
    {
        SensorType.DEPTH_CAMERA,
        SensorType.RGB_CAMERA,
        SensorType.SEMANTIC_SEGMENTATION_CAMERA,
        SensorType.INSTANCE_SEGMENTATION_CAMERA,
        SensorType.COSMOS_CONTROL_CAMERA,
    }
)

#: ``SensorHeaderSerializer::Header``: sensor_type u64, frame u64, timestamp f64,
#: sensor_transform (x, y, z, pitch, yaw, roll as f32). 48 B.
SENSOR_HEADER = struct.Struct("<QQd6f")
#: ``EpisodeStateSerializer::Header``: episode_id u64, platform_timestamp f64,
#: delta_seconds f32, map_origin 3 x i32, simulation_state u32. 36 B.
EPISODE_HEADER = struct.Struct("<Qdf3iI")
#: ``ImageSerializer::ImageHeader``: width u32, height u32, fov_angle f32. 12 B.
IMAGE_HEADER = struct.Struct("<IIf")

#: ``rpc::ActorState::Active``; every live actor must carry it in every snapshot.
ACTOR_STATE_ACTIVE = 1

# (name, format, offset). The union at 65 (54 B) overlaps per actor kind.
_ACTOR_STATE_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("id", "<u4", 0),
    ("actor_state", "u1", 4),
    ("x", "<f4", 5),
    ("y", "<f4", 9),
    ("z", "<f4", 13),
    ("pitch", "<f4", 17),
    ("yaw", "<f4", 21),
    ("roll", "<f4", 25),
    ("vx", "<f4", 29),
    ("vy", "<f4", 33),
    ("vz", "<f4", 37),
    ("wx", "<f4", 41),
    ("wy", "<f4", 45),
    ("wz", "<f4", 49),
    ("ax", "<f4", 53),
    ("ay", "<f4", 57),
    ("az", "<f4", 61),
    # vehicle_data: PackedVehicleControl (19 B) + speed limit, light, failure.
    ("throttle", "<f4", 65),
    ("steer", "<f4", 69),
    ("brake", "<f4", 73),
    ("hand_brake", "u1", 77),
    ("reverse", "u1", 78),
    ("manual_gear_shift", "u1", 79),
    ("gear", "<i4", 80),
    ("speed_limit", "<f4", 84),
    ("traffic_light_state", "u1", 88),
    ("has_traffic_light", "u1", 89),
    ("traffic_light_id", "<u4", 90),
    ("failure_state", "u1", 94),
    # traffic_light_data (54 B); traffic_sign_data is sign_id alone.
    ("sign_id", "S32", 65),
    ("green_time", "<f4", 97),
    ("yellow_time", "<f4", 101),
    ("red_time", "<f4", 105),
    ("elapsed_time", "<f4", 109),
    ("pole_index", "<u4", 113),
    ("time_is_frozen", "u1", 117),
    ("tl_state", "u1", 118),
    # walker_control: PackedWalkerControl (17 B).
    ("walker_dx", "<f4", 65),
    ("walker_dy", "<f4", 69),
    ("walker_dz", "<f4", 73),
    ("walker_speed", "<f4", 77),
    ("walker_jump", "u1", 81),
)

#: ``sensor::data::ActorDynamicState`` (packed, 119 B) with the union members as
#: overlapping fields. Fill only the union fields of the actor's kind.
ACTOR_STATE_DTYPE = np.dtype(
    {
        "names": [f[0] for f in _ACTOR_STATE_FIELDS],
        "formats": [f[1] for f in _ACTOR_STATE_FIELDS],
        "offsets": [f[2] for f in _ACTOR_STATE_FIELDS],
        "itemsize": 119,
    }
)

#: ``sensor::data::LidarDetection``: x, y, z, intensity (16 B).
LIDAR_DETECTION_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")])
#: ``sensor::data::SemanticLidarDetection`` (24 B).
SEMANTIC_LIDAR_DETECTION_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("cos_inc_angle", "<f4"),
        ("object_idx", "<u4"),
        ("object_tag", "<u4"),
    ]
)
#: ``sensor::data::RadarDetection`` (16 B).
RADAR_DETECTION_DTYPE = np.dtype(
    [("velocity", "<f4"), ("azimuth", "<f4"), ("altitude", "<f4"), ("depth", "<f4")]
)

#: ``sensor::data::DVSEvent`` (13 B, packed): x, y [px], t [ns], polarity.
DVS_EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("pol", "?")])

_IDENTITY = Transform()


def new_actor_states(n: int) -> np.ndarray:
    """A zeroed array of ``n`` :data:`ACTOR_STATE_DTYPE` records."""
    return np.zeros(n, dtype=ACTOR_STATE_DTYPE)


def sensor_header(sensor_type: int, frame: int, timestamp: float, transform: Transform) -> bytes:
    """Packs the 48-byte sensor header.

    Args:
        sensor_type: SensorRegistry index (:class:`SensorType`).
        frame: Simulation frame number.
        timestamp: Simulation time [s] (the client's ``elapsed_seconds``).
        transform: Sensor world transform.
    """
    t = transform
    return SENSOR_HEADER.pack(sensor_type, frame, timestamp, t.x, t.y, t.z, t.pitch, t.yaw, t.roll)


def episode_state(
    frame: int,
    timestamp: float,
    episode_id: int,
    platform_timestamp: float,
    delta_seconds: float,
    simulation_state: int,
    actors: np.ndarray,
) -> bytes:
    """The world-observer message (stream 1) for one frame.

    Args:
        frame: Frame number (must increase from message to message).
        timestamp: Simulation time [s].
        episode_id: Episode id; a change resets the client's episode.
        platform_timestamp: Wall-clock seconds.
        delta_seconds: Step length; must equal ``fixed_delta_seconds`` in f32.
        simulation_state: Bit flags: 1 MapChange, 2 PendingLightUpdate.
        actors: :data:`ACTOR_STATE_DTYPE` array listing every live actor.

    Raises:
        ValueError: ``actors`` is not a 1-D array of 119-byte records.
    """
    if actors.dtype.itemsize != ACTOR_STATE_DTYPE.itemsize or actors.ndim != 1:
        raise ValueError(
            f"actors must be a 1-D ACTOR_STATE_DTYPE array, got {actors.dtype} x {actors.shape}"
        )
    return b"".join(
        (
            sensor_header(SensorType.WORLD_OBSERVER, frame, timestamp, _IDENTITY),
            EPISODE_HEADER.pack(
                episode_id, platform_timestamp, delta_seconds, 0, 0, 0, simulation_state
            ),
            actors.tobytes(),
        )
    )


def _vec(v: Vector3) -> list[float]:
    return [float(v.x), float(v.y), float(v.z)]


def collision_event(
    frame: int,
    timestamp: float,
    sensor_transform: Transform,
    self_actor_wire: Any,
    other_actor_wire: Any,
    normal_impulse: Vector3,
) -> bytes:
    """A collision sensor message.

    Args:
        frame: Frame of the collision.
        timestamp: Simulation time [s].
        sensor_transform: Sensor world transform.
        self_actor_wire: ``wire_types.actor_to_wire`` of the sensor's parent.
        other_actor_wire: ``wire_types.actor_to_wire`` of the other actor.
        normal_impulse: Impulse [N s].
    """
    body = msgpack.packb(
        [self_actor_wire, other_actor_wire, _vec(normal_impulse)], use_bin_type=True
    )
    return sensor_header(SensorType.COLLISION, frame, timestamp, sensor_transform) + body


def obstacle_detection_event(
    frame: int,
    timestamp: float,
    sensor_transform: Transform,
    self_actor_wire: Any,
    other_actor_wire: Any,
    distance: float,
) -> bytes:
    """An obstacle-detection sensor message: msgpack ``[self, other, distance]``."""
    body = msgpack.packb([self_actor_wire, other_actor_wire, float(distance)], use_bin_type=True)
    return sensor_header(SensorType.OBSTACLE_DETECTION, frame, timestamp, sensor_transform) + body


def image(
    sensor_type: int,
    frame: int,
    timestamp: float,
    transform: Transform,
    width: int,
    height: int,
    fov: float,
    bgra: bytes,
) -> bytes:
    """A camera message: header + ``ImageHeader`` + ``width*height`` BGRA pixels.

    The client overwrites alpha with 255.

    Raises:
        ValueError: not an image sensor type, or a pixel buffer of the wrong size.
    """
    if sensor_type not in IMAGE_SENSOR_TYPES:
        raise ValueError(f"sensor type {sensor_type} does not use the image layout")
    expected = width * height * 4
    if len(memoryview(bgra).cast("B")) != expected:
        raise ValueError(f"{width}x{height} BGRA image needs {expected} bytes")
    return b"".join(
        (
            sensor_header(sensor_type, frame, timestamp, transform),
            IMAGE_HEADER.pack(width, height, fov),
            bgra,
        )
    )


def normals_image(
    frame: int,
    timestamp: float,
    transform: Transform,
    width: int,
    height: int,
    fov: float,
    bgra: bytes,
) -> bytes:
    """A normals camera message: header + ``ImageHeader`` + ``width*height`` BGRA pixels.

    Raises:
        ValueError: a pixel buffer of the wrong size.
    """
    expected = width * height * 4
    if len(memoryview(bgra).cast("B")) != expected:
        raise ValueError(f"{width}x{height} BGRA image needs {expected} bytes")
    return b"".join(
        (
            sensor_header(SensorType.NORMALS_CAMERA, frame, timestamp, transform),
            IMAGE_HEADER.pack(width, height, fov),
            bgra,
        )
    )


def optical_flow_image(
    frame: int, timestamp: float, transform: Transform, fov: float, flow: np.ndarray
) -> bytes:
    """An optical flow message: header + ``ImageHeader`` + (x, y) f32 per pixel.

    Args:
        frame: Frame number.
        timestamp: Simulation time [s].
        transform: Sensor world transform.
        fov: Horizontal field of view [deg].
        flow: ``(height, width, 2)`` float32, rows top-down.

    Raises:
        ValueError: ``flow`` is not ``(height, width, 2)``.
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"optical flow must be (height, width, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    return b"".join(
        (
            sensor_header(SensorType.OPTICAL_FLOW_CAMERA, frame, timestamp, transform),
            IMAGE_HEADER.pack(width, height, fov),
            np.ascontiguousarray(flow, dtype="<f4").tobytes(),
        )
    )


def dvs_event_array(
    frame: int,
    timestamp: float,
    transform: Transform,
    width: int,
    height: int,
    fov: float,
    events: np.ndarray,
) -> bytes:
    """A DVS message: header + ``DVSHeader`` (width, height, fov) + packed events.

    Args:
        events: A structured array with fields x, y, t, pol (converted to
            :data:`DVS_EVENT_DTYPE` when laid out otherwise).

    Raises:
        ValueError: ``events`` lacks one of the fields.
    """
    if events.dtype != DVS_EVENT_DTYPE:
        names = events.dtype.names or ()
        missing = [n for n in ("x", "y", "t", "pol") if n not in names]
        if missing:
            raise ValueError(f"DVS events need the fields x, y, t, pol; missing {missing}")
        packed = np.empty(len(events), dtype=DVS_EVENT_DTYPE)
        for name in ("x", "y", "t", "pol"):
            packed[name] = events[name]
        events = packed
    return b"".join(
        (
            sensor_header(SensorType.DVS_CAMERA, frame, timestamp, transform),
            IMAGE_HEADER.pack(width, height, fov),
            np.ascontiguousarray(events).tobytes(),
        )
    )


def gnss_measurement(
    frame: int,
    timestamp: float,
    transform: Transform,
    latitude: float,
    longitude: float,
    altitude: float,
) -> bytes:
    """A GNSS message: msgpack ``geom::GeoLocation`` ``[lat, lon, alt]`` (degrees, m)."""
    body = msgpack.packb([float(latitude), float(longitude), float(altitude)])
    return sensor_header(SensorType.GNSS, frame, timestamp, transform) + body


def imu_measurement(
    frame: int,
    timestamp: float,
    transform: Transform,
    accelerometer: Vector3,
    gyroscope: Vector3,
    compass: float,
) -> bytes:
    """An IMU message: msgpack ``[accelerometer m/s², gyroscope rad/s, compass rad]``."""
    body = msgpack.packb([_vec(accelerometer), _vec(gyroscope), float(compass)])
    return sensor_header(SensorType.IMU, frame, timestamp, transform) + body


def _lidar(
    sensor_type: int,
    frame: int,
    timestamp: float,
    transform: Transform,
    horizontal_angle: float,
    points_per_channel: Sequence[int],
    points: np.ndarray,
    dtype: np.dtype,
) -> bytes:
    if points.dtype != dtype:
        points = np.ascontiguousarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] * 4 != dtype.itemsize:
            raise ValueError(f"points must be {dtype} records or (N, {dtype.itemsize // 4}) f32")
    counts = [int(c) for c in points_per_channel]
    if sum(counts) != len(points):
        raise ValueError(f"points_per_channel sums to {sum(counts)}, got {len(points)} points")
    angle_bits = struct.unpack("<I", struct.pack("<f", horizontal_angle))[0]
    header = struct.pack(f"<{2 + len(counts)}I", angle_bits, len(counts), *counts)
    return b"".join(
        (
            sensor_header(sensor_type, frame, timestamp, transform),
            header,
            np.ascontiguousarray(points).tobytes(),
        )
    )


def lidar_measurement(
    frame: int,
    timestamp: float,
    transform: Transform,
    horizontal_angle: float,
    points_per_channel: Sequence[int],
    points: np.ndarray,
) -> bytes:
    """A ray-cast lidar message, as the 0.9.16 client decodes it (points, channel counts and
    horizontal angle checked through the client in tests/carla_lite/scenarios/test_lidar_radar.py).

    Args:
        frame: Frame number.
        timestamp: Simulation time [s].
        transform: Sensor world transform.
        horizontal_angle: Rotation of the lidar at the end of the frame [rad].
        points_per_channel: Number of points of each channel (channel_count entries).
        points: :data:`LIDAR_DETECTION_DTYPE` records or an ``(N, 4)`` float32 array,
            sensor-local, ordered by channel.

    Raises:
        ValueError: wrong point layout or counts.
    """
    return _lidar(
        SensorType.LIDAR,
        frame,
        timestamp,
        transform,
        horizontal_angle,
        points_per_channel,
        points,
        LIDAR_DETECTION_DTYPE,
    )


def semantic_lidar_measurement(
    frame: int,
    timestamp: float,
    transform: Transform,
    horizontal_angle: float,
    points_per_channel: Sequence[int],
    points: np.ndarray,
) -> bytes:
    """A semantic lidar message; ``points`` are :data:`SEMANTIC_LIDAR_DETECTION_DTYPE`.

    Raises:
        ValueError: wrong point layout or counts.
    """
    if points.dtype != SEMANTIC_LIDAR_DETECTION_DTYPE:
        raise ValueError("semantic lidar points must be SEMANTIC_LIDAR_DETECTION_DTYPE records")
    return _lidar(
        SensorType.SEMANTIC_LIDAR,
        frame,
        timestamp,
        transform,
        horizontal_angle,
        points_per_channel,
        points,
        SEMANTIC_LIDAR_DETECTION_DTYPE,
    )


def radar_measurement(
    frame: int, timestamp: float, transform: Transform, detections: np.ndarray
) -> bytes:
    """A radar message: packed :data:`RADAR_DETECTION_DTYPE` records (or ``(N, 4)`` f32).

    Raises:
        ValueError: wrong detection layout.
    """
    if detections.dtype != RADAR_DETECTION_DTYPE:
        detections = np.ascontiguousarray(detections, dtype=np.float32)
        if detections.ndim != 2 or detections.shape[1] != 4:
            raise ValueError("radar detections must be RADAR_DETECTION_DTYPE or (N, 4) f32")
    return (
        sensor_header(SensorType.RADAR, frame, timestamp, transform)
        + np.ascontiguousarray(detections).tobytes()
    )
