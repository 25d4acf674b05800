"""The RGB camera's light from the weather: sun, sky ambient, sky gradient and fog."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lighting:
    """The RGB camera's light from ``carla.WeatherParameters`` (wire order, 14 floats).

    Uses cloudiness, precipitation, sun azimuth and altitude, fog density and distance.
    """

    sun_dir: tuple[float, float, float]
    sun_rgb: tuple[float, float, float]
    ambient_rgb: tuple[float, float, float]
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    fog_rgb: tuple[float, float, float]
    fog_density: float  # [1/m]
    fog_start: float  # [m]

    @staticmethod
    def from_weather(weather: tuple[float, ...]) -> Lighting:
        w = tuple(weather) + (0.0,) * (14 - len(weather))
        cloud = min(max(w[0] / 100.0, 0.0), 1.0)
        rain = min(max(w[1] / 100.0, 0.0), 1.0)
        azimuth, altitude = math.radians(w[4]), w[5]
        fog = min(max(w[6] / 100.0, 0.0), 1.0)
        alt = math.radians(altitude)
        sun_dir = (
            math.cos(alt) * math.cos(azimuth),
            math.cos(alt) * math.sin(azimuth),
            math.sin(alt),
        )
        day = _smoothstep(-8.0, 6.0, altitude)  # twilight to full daylight
        sun_power = 0.8 * min(max(math.sin(alt) * 4.0, 0.0), 1.0) * (1.0 - 0.8 * cloud)
        sun_power *= 1.0 - 0.5 * rain
        overcast = 0.15 * cloud * day
        ambient = (0.1 + 0.45 * day + overcast) * (1.0 - 0.25 * rain)
        grey = 0.75 * day + 0.05
        clear_zenith = (0.25 * day + 0.02, 0.45 * day + 0.03, 0.85 * day + 0.08)
        clear_horizon = (0.70 * day + 0.05, 0.80 * day + 0.05, 0.92 * day + 0.08)
        overcast_mix = max(cloud, rain)
        zenith = _mix(clear_zenith, (grey * 0.8,) * 3, overcast_mix)
        horizon = _mix(clear_horizon, (grey,) * 3, overcast_mix)
        fog_rgb = _mix(horizon, (0.7 * day + 0.1,) * 3, 0.5)
        return Lighting(
            sun_dir=sun_dir,
            sun_rgb=(sun_power * 1.0, sun_power * 0.96, sun_power * 0.88),
            ambient_rgb=(ambient * 0.95, ambient * 0.98, ambient * 1.05),
            zenith=zenith,
            horizon=horizon,
            fog_rgb=fog_rgb,
            # A light haze always; fog_density 100 hides everything beyond ~50 m.
            fog_density=0.0008 + 0.06 * fog**1.5,
            fog_start=max(w[7], 0.0),
        )


@functools.lru_cache(maxsize=16)
def weather_lighting(weather: tuple[float, ...]) -> Lighting:
    """``Lighting.from_weather``, remembered for the last few weathers."""
    return Lighting.from_weather(weather)


def _smoothstep(a: float, b: float, x: float) -> float:
    t = min(max((x - a) / (b - a), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: tuple[float, ...], b: tuple[float, ...], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)
