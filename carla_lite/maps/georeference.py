"""The map's geographic origin (OpenDRIVE ``<header><geoReference>``) and CARLA's geo transform.

The 0.9.16 client reads only ``+lat_0=`` and ``+lon_0=`` out of the proj string: it splits the
text on single spaces, keeps ``key=value`` pairs whose key is exactly ``+lat_0`` / ``+lon_0``
(a later pair wins) and converts the value with ``std::stod`` (a numeric prefix; leading
whitespace, hexadecimal and ``inf`` are accepted). A value ``stod`` cannot read makes the
client's map construction throw, so such a map is refused here. When either key is missing, or
a value is NaN, the client falls back to latitude 42, longitude 2 (with a warning); carla_lite
does the same so that its GNSS agrees with ``carla.Map.transform_to_geolocation``.

The transform (``geom::GeoLocation::Transform`` in 0.9.16) is an inverse spherical transverse
Mercator about the origin, with CARLA's x as easting and y as northing, on a sphere of radius
:data:`GEO_RADIUS`; the altitude is the origin's (always 0 from a proj string) plus z. The
client does this in double precision from the float32 location.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

#: Radius [m] of the sphere of CARLA 0.9.16's geo transform (a constant in the wheel).
GEO_RADIUS = 6375585.7452
#: What the client uses when the geoReference does not name both lat_0 and lon_0.
DEFAULT_LATITUDE = 42.0
DEFAULT_LONGITUDE = 2.0

# ``std::stod`` accepts the longest prefix ``strtod`` reads (after leading whitespace).
_DECIMAL = re.compile(r"[ \t\n\v\f\r]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_HEX = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)"
)
_SPECIAL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(infinity|inf|nan)", re.IGNORECASE)


class GeoReferenceError(ValueError):
    """A geoReference value the client's ``std::stod`` cannot read (names key and value)."""


@dataclass(frozen=True, slots=True)
class GeoReference:
    """The geographic position of the map origin: degrees and metres."""

    latitude: float = DEFAULT_LATITUDE
    longitude: float = DEFAULT_LONGITUDE
    altitude: float = 0.0


def _stod(key: str, raw: str) -> float:
    """``std::stod``: the number at the start of ``raw``; GeoReferenceError when there is none
    or when it overflows a double (``std::out_of_range``)."""
    match = _HEX.match(raw)
    if match:
        sign, body = match.groups()
        if "p" not in body.lower():
            body += "p0"
        value = float.fromhex(body)
        if math.isinf(value):
            raise GeoReferenceError(f"geoReference {key}={raw!r}: out of the range of a double")
        return -value if sign == "-" else value
    match = _SPECIAL.match(raw)
    if match:
        sign, word = match.groups()
        value = float("nan") if word.lower() == "nan" else math.inf
        return -value if sign == "-" else value
    match = _DECIMAL.match(raw)
    if not match:
        raise GeoReferenceError(
            f"geoReference {key}={raw!r}: not a number (the CARLA client cannot read it)"
        )
    value = float(match.group(1))
    if math.isinf(value):
        raise GeoReferenceError(f"geoReference {key}={raw!r}: out of the range of a double")
    return value


def parse_geo_reference(text: str | None) -> GeoReference:
    """The origin a 0.9.16 client reads from a ``<geoReference>`` text (None: no element).

    Raises:
        GeoReferenceError: a ``+lat_0`` / ``+lon_0`` value that makes the client throw, or an
            infinite one (the client would compute NaN coordinates).
    """
    latitude: float | None = None
    longitude: float | None = None
    for element in (text or "").split(" "):
        parts = element.split("=")
        if len(parts) != 2:
            continue
        key, value = parts
        if key == "+lat_0":
            latitude = _stod(key, value)
        elif key == "+lon_0":
            longitude = _stod(key, value)
    if latitude is None or longitude is None or math.isnan(latitude) or math.isnan(longitude):
        return GeoReference()
    if math.isinf(latitude) or math.isinf(longitude):
        # The client takes these and reports NaN coordinates everywhere: refuse the map.
        raise GeoReferenceError(
            f"geoReference +lat_0={latitude} +lon_0={longitude}: must be finite numbers"
        )
    return GeoReference(latitude, longitude)


def to_geolocation(
    reference: GeoReference, x: float, y: float, z: float
) -> tuple[float, float, float]:
    """``(latitude, longitude, altitude)`` of a CARLA-frame point, as the 0.9.16 client computes.

    Args:
        reference: The map's origin.
        x, y, z: CARLA-frame location [m] (rounded to float32 like ``carla::geom::Location``).
    """
    fx, fy, fz = (float(np.float32(v)) for v in (x, y, z))
    lat0 = reference.latitude * math.pi / 180.0
    lon0 = reference.longitude * math.pi / 180.0
    east = fx / GEO_RADIUS
    north = fy / GEO_RADIUS + lat0
    latitude = math.asin(math.sin(north) / math.cosh(east))
    longitude = math.atan2(math.sinh(east), math.cos(north)) + lon0
    return (
        latitude * 180.0 / math.pi,
        longitude * 180.0 / math.pi,
        fz + reference.altitude,
    )
