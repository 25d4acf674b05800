"""GNSS: the geo reference as the 0.9.16 client reads it, the geo transform, noise."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from carla_lite.maps import MapLoadError, load_road_map
from carla_lite.maps.georeference import (
    GeoReference,
    GeoReferenceError,
    parse_geo_reference,
    to_geolocation,
)
from carla_lite.sensors.base import SensorConfigError, SensorSpec
from carla_lite.sensors.frame import SensorFrame
from carla_lite.sensors.gnss import GnssSensor
from carla_lite.sensors.measurements import GnssMeasurement
from carla_lite.sensors.registry import create_sensor
from tests.carla_lite.sensors.motion_frames import kinematics_row, make_frame
from tests.conftest import REPO_ROOT, run_python

TOWN = REPO_ROOT / "carla_lite" / "maps" / "builtin" / "LiteTown01.xodr"
REFERENCES = [
    "+proj=tmerc +lat_0=49.5 +lon_0=8.4 +k=1 +x_0=0 +y_0=0 +datum=WGS84",
    "+lat_0=-33.25 +lon_0=151.125",
    "+lat_0=1e1 +lon_0=0x10 +foo",
    "+lat_0=5 +lat_0=6 +lon_0=1",
    "+proj=utm +zone=32 +ellps=WGS84",  # no lat_0/lon_0: the client's 42, 2
    "+lat_0=nan +lon_0=3",
    "",
]
POINTS = [(0.0, 0.0, 0.0), (100.0, 0.0, 0.0), (0.0, 100.0, 2.5), (1234.5, -2345.25, 7.0)]


def _with_reference(text: str, reference: str) -> str:
    return re.sub(
        r"<geoReference>.*?</geoReference>", f"<geoReference>{reference}</geoReference>", text
    )


def test_geo_transform_matches_the_real_client(tmp_path: Path) -> None:
    text = TOWN.read_text(encoding="utf-8")
    paths = []
    for i, reference in enumerate(REFERENCES):
        path = tmp_path / f"ref{i}.xodr"
        path.write_text(_with_reference(text, reference), encoding="utf-8")
        paths.append(str(path))
    answer = run_python(
        f"""
        out = []
        for path in {paths!r}:
            m = carla.Map('T', open(path).read())
            row = []
            for x, y, z in {POINTS!r}:
                g = m.transform_to_geolocation(carla.Location(x, y, z))
                row.append([g.latitude, g.longitude, g.altitude])
            out.append(row)
        result['geo'] = out
        """
    )
    for reference, expected_row in zip(REFERENCES, answer["geo"], strict=True):
        geo = parse_geo_reference(reference)
        for (x, y, z), expected in zip(POINTS, expected_row, strict=True):
            got = to_geolocation(geo, x, y, z)
            assert got == pytest.approx(expected, abs=1e-12), (reference, (x, y, z))


def test_geo_reference_parsing_follows_the_client() -> None:
    assert parse_geo_reference("+proj=tmerc +lat_0=49.5 +lon_0=8.4") == GeoReference(49.5, 8.4)
    assert parse_geo_reference("+lat_0=5.5xyz +lon_0=+7.") == GeoReference(5.5, 7.0)
    assert parse_geo_reference("+lat_0=0x1p3 +lon_0=-.5") == GeoReference(8.0, -0.5)
    # Split on single spaces only: a tab-separated pair is not a key=value element.
    assert parse_geo_reference("+lat_0=5\t+lon_0=7") == GeoReference(42.0, 2.0)
    assert parse_geo_reference(None) == GeoReference(42.0, 2.0)
    assert parse_geo_reference("+lat_0=5") == GeoReference(42.0, 2.0)
    for bad in ("+lat_0=abc +lon_0=3", "+lat_0=5 +lon_0=", "+lat_0=1e400 +lon_0=1"):
        with pytest.raises(GeoReferenceError, match=r"geoReference \+l"):
            parse_geo_reference(bad)
    with pytest.raises(GeoReferenceError, match="finite"):
        parse_geo_reference("+lat_0=inf +lon_0=1")


def test_a_map_with_an_unreadable_geo_reference_is_refused() -> None:
    text = _with_reference(TOWN.read_text(encoding="utf-8"), "+lat_0=north +lon_0=3")
    with pytest.raises(MapLoadError, match=r"header: geoReference \+lat_0='north'"):
        load_road_map("BadGeo", text)
    road_map = load_road_map("Geo", _with_reference(text, "+lat_0=48.1 +lon_0=11.6"))
    assert road_map.geo_reference == GeoReference(48.1, 11.6)


def _spec(**attributes: str) -> SensorSpec:
    return SensorSpec(7, "sensor.other.gnss", attributes, parent_id=3)


def _read(sensor: GnssSensor, frame: SensorFrame) -> GnssMeasurement:
    (m,) = sensor.measure(frame)
    assert isinstance(m, GnssMeasurement)
    return m


def test_gnss_reports_the_sensor_location_on_the_globe() -> None:
    geo = GeoReference(49.5, 8.4)
    sensor = create_sensor(_spec())
    assert isinstance(sensor, GnssSensor)
    pose = (120.0, -40.0, 3.0, 0.0, 30.0, 0.0)
    frame = make_frame({3: kinematics_row(pose), 7: kinematics_row(pose)}, geo=geo)
    (m,) = sensor.measure(frame)
    assert isinstance(m, GnssMeasurement)
    assert (m.latitude, m.longitude, m.altitude) == to_geolocation(geo, 120.0, -40.0, 3.0)
    assert m.frame == 7 and m.transform.x == 120.0
    # Moving east (+x) raises the longitude; +y raises the latitude (0.9.16's transform).
    moved = make_frame({3: kinematics_row(), 7: kinematics_row((130.0, -30.0, 3.0))}, geo=geo)
    m2 = _read(sensor, moved)
    assert m2.longitude > m.longitude and m2.latitude > m.latitude


def test_gnss_bias_and_seeded_noise() -> None:
    frame = make_frame({3: kinematics_row(), 7: kinematics_row((10.0, 20.0, 1.0))})
    exact = to_geolocation(GeoReference(0.0, 0.0), 10.0, 20.0, 1.0)
    biased = GnssSensor(_spec(noise_lat_bias="0.5", noise_lon_bias="-0.25", noise_alt_bias="2"))
    m = _read(biased, frame)
    assert m.latitude == pytest.approx(exact[0] + 0.5)
    assert m.longitude == pytest.approx(exact[1] - 0.25)
    assert m.altitude == pytest.approx(exact[2] + 2.0)

    def readings(seed: str) -> list[float]:
        sensor = GnssSensor(_spec(noise_alt_stddev="1.5", noise_lat_stddev="1e-5", noise_seed=seed))
        return [_read(sensor, frame).altitude for _ in range(200)]

    a, b, c = readings("3"), readings("3"), readings("4")
    assert a == b and a != c
    mean = sum(a) / len(a)
    spread = math.sqrt(sum((v - mean) ** 2 for v in a) / len(a))
    assert abs(mean - exact[2]) < 0.4 and 1.2 < spread < 1.8


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("noise_alt_stddev", "-1"), ("noise_lat_stddev", "inf"), ("noise_lon_bias", "nan")],
)
def test_gnss_rejects_bad_noise_attributes(attribute: str, value: str) -> None:
    with pytest.raises(SensorConfigError, match=attribute):
        GnssSensor(_spec(**{attribute: value}))


def test_geo_answer_is_json_safe() -> None:
    # The transform never yields NaN for the client's own default origin.
    assert all(math.isfinite(v) for v in to_geolocation(GeoReference(), 1e5, -1e5, 0.0))
    json.dumps(to_geolocation(GeoReference(), 1.0, 2.0, 3.0))
