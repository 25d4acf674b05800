"""The hero's CARLA sensors: spawning from config and parsing their measurements.

Every concrete class keeps the original project's name and output format (see the table in
each class docstring). The parsers are small pure functions over the attributes the
``carla`` measurement classes expose (``raw_data``, ``width``, ``height``...), so they can
be tested on plain stand-ins; the classes' ``parse`` methods only pick those attributes.

Output formats:

=============================== ===== =========================================================
class                           event ``parse()`` output
=============================== ===== =========================================================
CameraRGB                       no    uint8 (H, W, 3), RGB
CameraDepth                     no    uint8 (H, W, 3), the encoded depth as RGB (not metres)
CameraSemanticSegmentation      no    uint8 (H, W, 3), RGB; the tag is in channel 0 (red)
CameraInstanceSegmentation      no    uint8 (H, W, 3), RGB; tag in channel 0, the object id in
                                      channels 1 (low byte) and 2 (high byte)
CameraDVS                       yes   uint8 (H, W, 3); 255 at positive events in channel 2,
                                      at negative events in channel 0
Lidar                           no    float32 (N, 4): x, y, z, intensity
SemanticLidar                   no    structured (N,) :data:`SEMANTIC_LIDAR_DTYPE`
Radar                           no    float32 (N, 4) in :data:`RADAR_COLUMNS` order
Gnss                            no    float64 [latitude, longitude, altitude]
Imu                             no    float64 [acc x, y, z, gyro x, y, z, compass]
LaneInvasion                    yes   [transform, crossed_lane_markings]
Collision                       yes   [other_actor, norm(normal_impulse)], first event per frame
Obstacle                        yes   [other_actor, distance]
=============================== ===== =========================================================
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import carla
import numpy as np

from rllib_integration.blueprints import blueprint_library
from rllib_integration.errors import CarlaServerError, ConfigError
from rllib_integration.sensors.base import BaseSensor, PseudoSensor

if TYPE_CHECKING:
    from rllib_integration.sensors.sensor_interface import SensorInterface

__all__ = [
    "DEFAULT_TRANSFORM",
    "DVS_EVENT_DTYPE",
    "RADAR_COLUMNS",
    "SEMANTIC_LIDAR_DTYPE",
    "BaseSensor",
    "CameraDVS",
    "CameraDepth",
    "CameraInstanceSegmentation",
    "CameraRGB",
    "CameraSemanticSegmentation",
    "CarlaSensor",
    "Collision",
    "Gnss",
    "Imu",
    "LaneInvasion",
    "Lidar",
    "Obstacle",
    "PseudoSensor",
    "Radar",
    "SemanticLidar",
    "bgra_to_rgb",
    "collision_to_list",
    "dvs_events",
    "dvs_to_image",
    "gnss_to_array",
    "imu_to_array",
    "lidar_points",
    "parse_transform",
    "radar_detections",
    "semantic_lidar_points",
]

logger = logging.getLogger(__name__)

#: Sensor placement used when the config gives no ``transform`` (x, y, z, roll, pitch, yaw).
DEFAULT_TRANSFORM = "0,0,0,0,0,0"
_TRANSFORM_FORMAT = '"x,y,z,roll,pitch,yaw" or a list of 6 numbers ([m], [deg])'

#: ``carla::sensor::data::DVSEvent``: packed (13 B), as the client's ``raw_data`` holds them.
DVS_EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("pol", "?")])

#: ``carla::sensor::data::SemanticLidarDetection`` (24 B). The original parsed all six
#: fields as float32, which turned the two uint32 ids into garbage; the field names are
#: those of ``carla.SemanticLidarDetection``.
SEMANTIC_LIDAR_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("cos_inc_angle", "<f4"),
        ("object_idx", "<u4"),
        ("object_tag", "<u4"),
    ]
)

#: The columns of :class:`Radar`'s output. The wire holds velocity, azimuth, altitude,
#: depth; the original returned them reversed (its comment claimed another order). The
#: reversed order is kept so that code written for the original reads the same columns.
RADAR_COLUMNS = ("depth", "altitude", "azimuth", "velocity")
_RADAR_WIRE_COLUMNS = ("velocity", "azimuth", "altitude", "depth")
_RADAR_INDEX = [_RADAR_WIRE_COLUMNS.index(c) for c in RADAR_COLUMNS]


# ---------------------------------------------------------------------------- parsers


def bgra_to_rgb(raw_data: Any, width: int, height: int) -> np.ndarray:
    """Convert a camera's BGRA pixel buffer into an RGB image.

    Args:
        raw_data: ``width * height`` BGRA pixels (``carla.Image.raw_data``).
        width: image width [px].
        height: image height [px].

    Returns:
        A new contiguous uint8 array of shape (height, width, 3).

    Raises:
        ValueError: the buffer does not hold ``width * height`` pixels.
    """
    pixels = np.frombuffer(raw_data, dtype=np.uint8)
    if pixels.size != width * height * 4:
        raise ValueError(
            f"{width}x{height} BGRA image needs {width * height * 4} bytes, got {pixels.size}"
        )
    # Copy: the buffer belongs to the measurement, and users expect a writeable array.
    return np.ascontiguousarray(pixels.reshape(height, width, 4)[:, :, 2::-1])


def dvs_events(raw_data: Any) -> np.ndarray:
    """The events of a DVS camera measurement as a :data:`DVS_EVENT_DTYPE` array (a copy)."""
    return np.frombuffer(raw_data, dtype=DVS_EVENT_DTYPE).copy()


def dvs_to_image(events: np.ndarray, width: int, height: int) -> np.ndarray:
    """Render DVS events as the original did: 255 in channel 2 (positive) or 0 (negative).

    Args:
        events: :data:`DVS_EVENT_DTYPE` records.
        width: image width [px].
        height: image height [px].

    Returns:
        uint8 array of shape (height, width, 3).
    """
    image = np.zeros((height, width, 3), dtype=np.uint8)
    channel = events["pol"].astype(np.intp) * 2
    image[events["y"], events["x"], channel] = 255
    return image


def lidar_points(raw_data: Any) -> np.ndarray:
    """Ray-cast lidar points as a float32 (N, 4) array: x, y, z, intensity (a copy)."""
    return np.frombuffer(raw_data, dtype="<f4").reshape(-1, 4).copy()


def semantic_lidar_points(raw_data: Any) -> np.ndarray:
    """Semantic lidar points as a structured (N,) :data:`SEMANTIC_LIDAR_DTYPE` array (a copy).

    ``points[["x", "y", "z"]]`` or ``points["object_tag"]`` select fields;
    ``numpy.lib.recfunctions.structured_to_unstructured`` turns fields into a plain array.
    """
    return np.frombuffer(raw_data, dtype=SEMANTIC_LIDAR_DTYPE).copy()


def radar_detections(raw_data: Any) -> np.ndarray:
    """Radar detections as a float32 (N, 4) array in :data:`RADAR_COLUMNS` order.

    Velocity [m/s] is towards the sensor negative; azimuth and altitude are in [rad];
    depth in [m].
    """
    wire = np.frombuffer(raw_data, dtype="<f4").reshape(-1, 4)
    return np.ascontiguousarray(wire[:, _RADAR_INDEX])


def gnss_to_array(latitude: float, longitude: float, altitude: float) -> np.ndarray:
    """float64 [latitude [deg], longitude [deg], altitude [m]]."""
    return np.array([latitude, longitude, altitude], dtype=np.float64)


def imu_to_array(accelerometer: Any, gyroscope: Any, compass: float) -> np.ndarray:
    """float64 [acc x, y, z [m/s²], gyro x, y, z [rad/s], compass [rad]].

    Args:
        accelerometer: a vector with ``x``, ``y``, ``z`` (``carla.Vector3D``).
        gyroscope: a vector with ``x``, ``y``, ``z``.
        compass: heading [rad], 0 is north.
    """
    a, g = accelerometer, gyroscope
    return np.array([a.x, a.y, a.z, g.x, g.y, g.z, compass], dtype=np.float64)


def collision_to_list(other_actor: Any, normal_impulse: Any) -> list[Any]:
    """``[other_actor, |normal_impulse|]`` (Euclidean norm [N s])."""
    n = normal_impulse
    return [other_actor, math.sqrt(n.x * n.x + n.y * n.y + n.z * n.z)]


def parse_transform(value: Any, sensor_name: str = "?") -> tuple[float, ...]:
    """Parse a sensor's ``transform`` config into (x, y, z, roll, pitch, yaw).

    Args:
        value: ``"x,y,z,roll,pitch,yaw"`` or a sequence of 6 numbers.
        sensor_name: for the error message.

    Raises:
        ConfigError: not 6 finite numbers.
    """
    error = ConfigError(
        f"sensor {sensor_name!r}: transform must be {_TRANSFORM_FORMAT}, got {value!r}"
    )
    if isinstance(value, str):
        parts: Sequence[Any] = value.split(",")
    elif isinstance(value, Sequence):
        parts = value
    else:
        raise error
    # bool is an int subclass, but a YAML ``true`` in a transform is surely a mistake.
    if len(parts) != 6 or any(isinstance(p, bool) for p in parts):
        raise error
    try:
        numbers = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise error from None
    if not all(math.isfinite(n) for n in numbers):
        raise error
    return numbers


def _check_value(sensor_name: str, attribute: Any, value: str) -> None:
    """Reject numbers CARLA would read as 0 or refuse at spawn, before spawning.

    The client only checks booleans in ``set_attribute``; ints and floats are parsed by
    the server when the actor is spawned (real CARLA silently reads garbage as 0).
    """
    kind = attribute.type
    if kind == carla.ActorAttributeType.Int:
        try:
            ok = float(value).is_integer()
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                f"sensor {sensor_name!r}: attribute {attribute.id!r} must be an integer, "
                f"got {value!r}"
            )
    elif kind == carla.ActorAttributeType.Float:
        try:
            ok = math.isfinite(float(value))
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                f"sensor {sensor_name!r}: attribute {attribute.id!r} must be a number, "
                f"got {value!r}"
            )


# ---------------------------------------------------------------------------- sensors


class CarlaSensor(BaseSensor):
    """A sensor actor of the simulator, attached to ``parent`` and listening.

    ``attributes`` holds ``type`` (the blueprint id), an optional ``transform`` (relative
    to the parent, :data:`DEFAULT_TRANSFORM` by default) and blueprint attributes, which
    are all applied (``role_name`` is set to ``name``). The caller's dict is not modified.

    Attributes:
        sensor: the spawned ``carla.Sensor`` (None once destroyed).

    Raises:
        ConfigError: unknown blueprint, bad transform, unknown or invalid attribute, or
            ``name`` already registered in ``interface``.
        CarlaServerError: the server refused to spawn the sensor or did not answer.
    """

    def __init__(
        self,
        name: str,
        attributes: Mapping[str, Any],
        interface: SensorInterface,
        parent: carla.Actor,
    ) -> None:
        config = dict(attributes)
        sensor_type = str(config.pop("type", ""))
        location_rotation = parse_transform(config.pop("transform", DEFAULT_TRANSFORM), name)
        world = parent.get_world()
        blueprint = self._blueprint(world, name, sensor_type, config)
        x, y, z, roll, pitch, yaw = location_rotation
        transform = carla.Transform(
            carla.Location(x=x, y=y, z=z), carla.Rotation(pitch=pitch, yaw=yaw, roll=roll)
        )
        try:
            actor = world.spawn_actor(blueprint, transform, attach_to=parent)
        except RuntimeError as e:
            raise CarlaServerError(
                f"sensor {name!r}: could not spawn {sensor_type!r} attached to actor "
                f"{parent.id}: {e}"
            ) from e
        # Registered only once the actor exists, so that a failed spawn leaves the
        # interface untouched and the same name can be tried again.
        try:
            super().__init__(name, dict(attributes), interface, parent)
        except ValueError as e:
            _release(actor, name)
            raise ConfigError(f"sensor {name!r}: {e}") from e
        self.sensor: carla.Sensor | None = actor
        actor.listen(self.callback)

    @staticmethod
    def _blueprint(
        world: carla.World, name: str, sensor_type: str, config: dict[str, Any]
    ) -> carla.ActorBlueprint:
        library = blueprint_library(world)
        try:
            blueprint = library.find(sensor_type)
        except IndexError as e:
            known = [bp.id for bp in library.filter("sensor.*")]
            close = difflib.get_close_matches(sensor_type, known, n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"sensor {name!r}: unknown sensor blueprint {sensor_type!r}{hint}"
            ) from e
        blueprint.set_attribute("role_name", name)
        for key, value in config.items():
            key, text = str(key), str(value)
            if not blueprint.has_attribute(key):
                valid = sorted(a.id for a in blueprint)
                raise ConfigError(
                    f"sensor {name!r}: {sensor_type} has no attribute {key!r}; "
                    f"valid: {', '.join(valid)}"
                )
            _check_value(name, blueprint.get_attribute(key), text)
            try:
                blueprint.set_attribute(key, text)
            except (ValueError, RuntimeError) as e:
                raise ConfigError(
                    f"sensor {name!r}: invalid value {text!r} for attribute {key!r} "
                    f"of {sensor_type}: {e}"
                ) from e
        return blueprint

    def destroy(self) -> None:
        """Stop listening and destroy the actor; safe to call twice, never raises.

        Destroying runs on teardown paths (env close, a lost server), where raising would
        hide the original error: failures are logged instead.
        """
        actor, self.sensor = self.sensor, None
        if actor is not None:
            _release(actor, self.name)


def _release(actor: carla.Actor, name: str) -> None:
    """Stop and destroy a sensor actor, logging (not raising) what fails."""
    try:
        actor.stop()
    except Exception:  # the client raises RuntimeError, or worse on a dead server
        logger.debug("sensor %r: stop() failed", name, exc_info=True)
    try:
        actor.destroy()
    except Exception:
        logger.warning("sensor %r: could not destroy its actor", name, exc_info=True)


class CameraRGB(CarlaSensor):
    """``sensor.camera.rgb``: uint8 (H, W, 3) RGB."""

    def parse(self, data: Any) -> np.ndarray:
        return bgra_to_rgb(data.raw_data, data.width, data.height)


class CameraDepth(CarlaSensor):
    """``sensor.camera.depth``: the encoded depth as uint8 (H, W, 3) RGB, not metres.

    Depth [m] = 1000 * (R + G * 256 + B * 256²) / (256³ - 1).
    """

    def parse(self, data: Any) -> np.ndarray:
        return bgra_to_rgb(data.raw_data, data.width, data.height)


class CameraSemanticSegmentation(CarlaSensor):
    """``sensor.camera.semantic_segmentation``: uint8 (H, W, 3); the tag is channel 0."""

    def parse(self, data: Any) -> np.ndarray:
        return bgra_to_rgb(data.raw_data, data.width, data.height)


class CameraInstanceSegmentation(CarlaSensor):
    """``sensor.camera.instance_segmentation``: uint8 (H, W, 3); tag in channel 0, the
    object id in channels 1 and 2 (low, high byte)."""

    def parse(self, data: Any) -> np.ndarray:
        return bgra_to_rgb(data.raw_data, data.width, data.height)


class CameraDVS(CarlaSensor):
    """``sensor.camera.dvs``: an event sensor rendering its events (see :func:`dvs_to_image`)."""

    def is_event_sensor(self) -> bool:
        return True

    def parse(self, data: Any) -> np.ndarray:
        return dvs_to_image(dvs_events(data.raw_data), data.width, data.height)


class Lidar(CarlaSensor):
    """``sensor.lidar.ray_cast``: float32 (N, 4) x, y, z, intensity."""

    def parse(self, data: Any) -> np.ndarray:
        return lidar_points(data.raw_data)


class SemanticLidar(CarlaSensor):
    """``sensor.lidar.ray_cast_semantic``: structured (N,) :data:`SEMANTIC_LIDAR_DTYPE`."""

    def parse(self, data: Any) -> np.ndarray:
        return semantic_lidar_points(data.raw_data)


class Radar(CarlaSensor):
    """``sensor.other.radar``: float32 (N, 4) in :data:`RADAR_COLUMNS` order."""

    def parse(self, data: Any) -> np.ndarray:
        return radar_detections(data.raw_data)


class Gnss(CarlaSensor):
    """``sensor.other.gnss``: float64 [latitude, longitude, altitude]."""

    def parse(self, data: Any) -> np.ndarray:
        return gnss_to_array(data.latitude, data.longitude, data.altitude)


class Imu(CarlaSensor):
    """``sensor.other.imu``: float64 [acc x, y, z, gyro x, y, z, compass]."""

    def parse(self, data: Any) -> np.ndarray:
        return imu_to_array(data.accelerometer, data.gyroscope, data.compass)


class LaneInvasion(CarlaSensor):
    """``sensor.other.lane_invasion``: ``[transform, crossed_lane_markings]`` events."""

    def is_event_sensor(self) -> bool:
        return True

    def parse(self, data: Any) -> list[Any]:
        return [data.transform, list(data.crossed_lane_markings)]


class Collision(CarlaSensor):
    """``sensor.other.collision``: ``[other_actor, |normal_impulse|]``, first event per frame.

    One collision usually raises several events in the same frame (one per contact);
    like the original, only the first is kept.
    """

    def __init__(
        self,
        name: str,
        attributes: Mapping[str, Any],
        interface: SensorInterface,
        parent: carla.Actor,
    ) -> None:
        # Set before listening starts (in CarlaSensor.__init__): callbacks may come at once.
        self._last_event_frame = -1
        super().__init__(name, attributes, interface, parent)

    def is_event_sensor(self) -> bool:
        return True

    def callback(self, data: Any) -> None:
        if data.frame == self._last_event_frame:
            return
        self._last_event_frame = data.frame
        super().callback(data)

    def parse(self, data: Any) -> list[Any]:
        return collision_to_list(data.other_actor, data.normal_impulse)


class Obstacle(CarlaSensor):
    """``sensor.other.obstacle``: ``[other_actor, distance]`` events (distance [m])."""

    def is_event_sensor(self) -> bool:
        return True

    def parse(self, data: Any) -> list[Any]:
        return [data.other_actor, data.distance]
