"""Measurements -> CARLA 0.9.16 stream messages (one encoder per measurement type)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from carla_lite.protocol import serializers as ser
from carla_lite.protocol.serializers import SensorType
from carla_lite.sensors import measurements as m

#: ``actor id -> rpc::Actor`` wire record; 0 stands for the static world.
ActorWire = Callable[[int], Any]
Encoder = Callable[[Any, ActorWire], bytes]

#: The image serializer index of each camera (the blueprint id's last part).
IMAGE_CAMERAS: dict[str, int] = {
    "rgb": SensorType.RGB_CAMERA,
    "depth": SensorType.DEPTH_CAMERA,
    "semantic_segmentation": SensorType.SEMANTIC_SEGMENTATION_CAMERA,
    "instance_segmentation": SensorType.INSTANCE_SEGMENTATION_CAMERA,
    "cosmos_visualization": SensorType.COSMOS_CONTROL_CAMERA,
}


def _collision(x: m.CollisionMeasurement, actor: ActorWire) -> bytes:
    return ser.collision_event(
        x.frame, x.timestamp, x.transform, actor(x.actor_id), actor(x.other_id), x.normal_impulse
    )


def _obstacle(x: m.ObstacleMeasurement, actor: ActorWire) -> bytes:
    return ser.obstacle_detection_event(
        x.frame, x.timestamp, x.transform, actor(x.actor_id), actor(x.other_id), x.distance
    )


def _image(x: m.ImageMeasurement, actor: ActorWire) -> bytes:
    height, width = x.bgra.shape[:2]
    return ser.image(
        IMAGE_CAMERAS[x.camera],
        x.frame,
        x.timestamp,
        x.transform,
        width,
        height,
        x.fov,
        x.bgra.tobytes(),
    )


def _camera_image(x: m.ImageMeasurement, actor: ActorWire) -> bytes:
    if x.camera == "normals":
        height, width = x.bgra.shape[:2]
        return ser.normals_image(
            x.frame, x.timestamp, x.transform, width, height, x.fov, x.bgra.tobytes()
        )
    return _image(x, actor)


def _float_image(x: m.FloatImageMeasurement, actor: ActorWire) -> bytes:
    if x.camera != "optical_flow":
        raise TypeError(f"no stream encoder for a float image of camera {x.camera!r}")
    return ser.optical_flow_image(x.frame, x.timestamp, x.transform, x.fov, x.pixels)


def _dvs(x: m.DvsMeasurement, actor: ActorWire) -> bytes:
    return ser.dvs_event_array(
        x.frame, x.timestamp, x.transform, x.width, x.height, x.fov, x.events
    )


def _gnss(x: m.GnssMeasurement, actor: ActorWire) -> bytes:
    return ser.gnss_measurement(
        x.frame, x.timestamp, x.transform, x.latitude, x.longitude, x.altitude
    )


def _imu(x: m.ImuMeasurement, actor: ActorWire) -> bytes:
    return ser.imu_measurement(
        x.frame, x.timestamp, x.transform, x.accelerometer, x.gyroscope, x.compass
    )


def _lidar(x: m.LidarMeasurement, actor: ActorWire) -> bytes:
    return ser.lidar_measurement(
        x.frame,
        x.timestamp,
        x.transform,
        x.horizontal_angle,
        x.points_per_channel.tolist(),
        x.points,
    )


def _semantic_lidar(x: m.SemanticLidarMeasurement, actor: ActorWire) -> bytes:
    return ser.semantic_lidar_measurement(
        x.frame,
        x.timestamp,
        x.transform,
        x.horizontal_angle,
        x.points_per_channel.tolist(),
        x.points,
    )


def _radar(x: m.RadarMeasurement, actor: ActorWire) -> bytes:
    return ser.radar_measurement(x.frame, x.timestamp, x.transform, x.detections)


ENCODERS: dict[type, Encoder] = {
    m.CollisionMeasurement: _collision,
    m.ObstacleMeasurement: _obstacle,
    m.ImageMeasurement: _camera_image,
    m.FloatImageMeasurement: _float_image,
    m.DvsMeasurement: _dvs,
    m.GnssMeasurement: _gnss,
    m.ImuMeasurement: _imu,
    m.LidarMeasurement: _lidar,
    m.SemanticLidarMeasurement: _semantic_lidar,
    m.RadarMeasurement: _radar,
}


def encode(measurement: m.Measurement, actor: ActorWire) -> bytes:
    """The stream message of one measurement.

    Raises:
        TypeError: a measurement type with no encoder (a bug in the sensor, not the client).
    """
    encoder = ENCODERS.get(type(measurement))
    if encoder is None:
        raise TypeError(f"no stream encoder for {type(measurement).__name__}")
    return encoder(measurement, actor)
