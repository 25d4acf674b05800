"""Reference-line primitives against brute-force numerical integration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carla_lite.maps.geometry import Poly3Profile, ReferenceLine
from carla_lite.maps.opendrive import Geometry, Poly3


def _integrate_heading(x0: float, y0: float, heading, s: float) -> tuple[float, float]:
    u = np.linspace(0.0, s, 400_001)
    th = heading(u)
    return x0 + float(np.trapezoid(np.cos(th), u)), y0 + float(np.trapezoid(np.sin(th), u))


def test_line_and_arc_closed_form() -> None:
    line = ReferenceLine([Geometry(0.0, 1.0, 2.0, 0.5, 10.0, "line")])
    x, y, h = line.evaluate(np.array([4.0]))
    assert x[0] == pytest.approx(1.0 + 4.0 * math.cos(0.5))
    assert y[0] == pytest.approx(2.0 + 4.0 * math.sin(0.5))
    assert h[0] == pytest.approx(0.5)
    # Quarter circle of radius 10 turning left from the origin ends at (10, 10).
    arc = ReferenceLine([Geometry(0.0, 0.0, 0.0, 0.0, 10 * math.pi / 2, "arc", (0.1,))])
    x, y, h = arc.evaluate(np.array([10 * math.pi / 2]))
    assert (x[0], y[0], h[0]) == pytest.approx((10.0, 10.0, math.pi / 2))


@pytest.mark.parametrize("k0,k1", [(0.0, 0.05), (0.03, -0.02), (-0.1, -0.1)])
def test_spiral_matches_numerical_integration(k0: float, k1: float) -> None:
    length = 60.0
    ref = ReferenceLine([Geometry(0.0, 3.0, -1.0, 0.2, length, "spiral", (k0, k1))])
    for s in (0.0, 7.3, 33.0, 60.0):
        x, y, h = ref.evaluate(np.array([s]))

        def heading(u, k0=k0, k1=k1):
            return 0.2 + k0 * u + 0.5 * (k1 - k0) / length * u * u

        ex, ey = _integrate_heading(3.0, -1.0, heading, s)
        assert x[0] == pytest.approx(ex, abs=1e-6)
        assert y[0] == pytest.approx(ey, abs=1e-6)
        assert h[0] == pytest.approx(float(heading(np.array(s))))


def test_param_poly3_is_arc_length_parametrised() -> None:
    # A straight segment with a non-uniform parameter: u = 10 p + 10 p^2 (p in [0, 1]).
    g = Geometry(0.0, 0.0, 0.0, 0.0, 20.0, "paramPoly3", (0, 10, 10, 0, 0, 0, 0, 0), True)
    x, y, _ = ReferenceLine([g]).evaluate(np.array([0.0, 5.0, 20.0]))
    assert x == pytest.approx([0.0, 5.0, 20.0], abs=1e-4)
    assert y == pytest.approx([0.0, 0.0, 0.0])


def test_poly3_follows_its_polynomial() -> None:
    g = Geometry(0.0, 0.0, 0.0, 0.0, 30.0, "poly3", (0.5, 0.0, 0.01, 0.0))
    x, y, h = ReferenceLine([g]).evaluate(np.linspace(0, 30, 7))
    assert y == pytest.approx(0.5 + 0.01 * x**2, abs=1e-6)
    assert np.tan(h) == pytest.approx(0.02 * x, abs=1e-6)
    # Arc length 30 along the parabola ends before u = 30.
    assert x[-1] < 30.0


def test_geometry_sequence_and_clamping() -> None:
    ref = ReferenceLine(
        [
            Geometry(0.0, 0.0, 0.0, 0.0, 10.0, "line"),
            Geometry(10.0, 10.0, 0.0, math.pi / 2, 5.0, "line"),
        ]
    )
    x, y, _ = ref.evaluate(np.array([-1.0, 9.99, 12.0, 99.0]))
    assert x == pytest.approx([0.0, 9.99, 10.0, 10.0])
    assert y == pytest.approx([0.0, 0.0, 2.0, 5.0])


def test_poly3_profile_pieces() -> None:
    prof = Poly3Profile([Poly3(0.0, 1.0, 0.1, 0.0, 0.0), Poly3(10.0, 5.0, 0.0, 0.0, 0.01)])
    assert prof.value(np.array([0.0, 5.0, 10.0, 12.0])) == pytest.approx([1.0, 1.5, 5.0, 5.08])
    assert prof.slope(np.array([5.0, 12.0])) == pytest.approx([0.1, 0.12])
    assert Poly3Profile([]).value(np.array([3.0])) == pytest.approx([0.0])
