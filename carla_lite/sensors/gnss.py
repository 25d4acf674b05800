"""``sensor.other.gnss``: the sensor's geographic position, like CARLA 0.9.16's ``AGnssSensor``.

The position is the map's geo transform (``carla_lite.maps.georeference``, the same numbers as
the client's ``carla.Map.transform_to_geolocation``) of the sensor's world location, plus each
axis' bias and a normal error: ``noise_{lat,lon}_{bias,stddev}`` in degrees,
``noise_alt_{bias,stddev}`` in metres, drawn from a generator seeded with ``noise_seed``.
"""

from __future__ import annotations

import math

import numpy as np

from carla_lite.maps.georeference import to_geolocation
from carla_lite.sensors.base import Sensor, SensorConfigError, SensorSpec
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.measurements import GnssMeasurement, Measurement

_AXES = ("lat", "lon", "alt")


class GnssSensor(Sensor):
    def __init__(self, spec: SensorSpec) -> None:
        super().__init__(spec)
        self.bias = np.array([spec.number(f"noise_{a}_bias", 0.0) for a in _AXES])
        self.stddev = np.array([spec.number(f"noise_{a}_stddev", 0.0) for a in _AXES])
        for axis, value in zip(_AXES, self.stddev, strict=True):
            if not (math.isfinite(value) and value >= 0.0):
                raise SensorConfigError(
                    f"{spec.blueprint_id}: attribute noise_{axis}_stddev={value} must be a "
                    "finite number >= 0"
                )
        for axis, value in zip(_AXES, self.bias, strict=True):
            if not math.isfinite(value):
                raise SensorConfigError(
                    f"{spec.blueprint_id}: attribute noise_{axis}_bias={value} must be a "
                    "finite number"
                )
        self.rng = np.random.default_rng(max(0, spec.integer("noise_seed", 0)))

    def measure(self, frame: SensorFrame) -> list[Measurement]:
        x, y, z = (float(v) for v in frame.pose_row(self.actor_id)[0:3])
        latitude, longitude, altitude = to_geolocation(frame.road_map.geo_reference, x, y, z)
        error = self.bias.copy()
        if self.stddev.any():
            error += self.rng.normal(0.0, self.stddev)
        return [
            GnssMeasurement(
                *self.stamp(frame),
                latitude=latitude + float(error[0]),
                longitude=longitude + float(error[1]),
                altitude=altitude + float(error[2]),
            )
        ]
