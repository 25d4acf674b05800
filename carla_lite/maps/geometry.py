"""Vectorised evaluation of OpenDRIVE road geometry (reference lines, profiles, lanes).

All functions work in OpenDRIVE's frame (y left, heading counter-clockwise) and take numpy
arrays of ``s`` so that a whole road is evaluated in a few array operations. Curves without
a closed form (spiral positions, polynomial arc length) are integrated with Gauss-Legendre
quadrature between precomputed nodes, which is exact to far below a millimetre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from carla_lite.maps.opendrive import Geometry, Lane, LaneSection, Poly3, Road

FloatArray = NDArray[np.float64]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(5)
# Node spacing for the spiral/polynomial tables: short enough that the integrands (cos and
# sin of a slowly turning heading) are polynomial-like between nodes.
_NODE_STEP = 1.0


class _Curve:
    """One planView primitive: ``evaluate(ds)`` -> local x, y, heading (ODR frame)."""

    def __init__(self, g: Geometry) -> None:
        self.g = g

    def evaluate(self, ds: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        raise NotImplementedError

    def max_curvature(self) -> float:
        return 0.0


class _Line(_Curve):
    def evaluate(self, ds: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        g = self.g
        return (
            g.x + ds * math.cos(g.hdg),
            g.y + ds * math.sin(g.hdg),
            np.full_like(ds, g.hdg),
        )


class _Arc(_Curve):
    def evaluate(self, ds: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        g = self.g
        k = g.params[0]
        hdg = g.hdg + k * ds
        if abs(k) < 1e-12:
            return g.x + ds * math.cos(g.hdg), g.y + ds * math.sin(g.hdg), hdg
        return (
            g.x + (np.sin(hdg) - math.sin(g.hdg)) / k,
            g.y - (np.cos(hdg) - math.cos(g.hdg)) / k,
            hdg,
        )

    def max_curvature(self) -> float:
        return abs(self.g.params[0])


class _Spiral(_Curve):
    """Clothoid: curvature varies linearly, position is integrated numerically."""

    def __init__(self, g: Geometry) -> None:
        super().__init__(g)
        self.k0, k1 = g.params
        self.rate = (k1 - self.k0) / g.length
        n = max(1, math.ceil(g.length / _NODE_STEP))
        self.step = g.length / n
        nodes: FloatArray = np.arange(n + 1, dtype=np.float64) * self.step
        dx, dy = self._integrate(nodes[:-1], nodes[1:])
        self.node_x = np.concatenate(([0.0], np.cumsum(dx)))
        self.node_y = np.concatenate(([0.0], np.cumsum(dy)))
        self.n = n

    def _heading(self, u: FloatArray) -> FloatArray:
        return self.g.hdg + self.k0 * u + 0.5 * self.rate * u * u

    def _integrate(self, a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
        half = 0.5 * (b - a)
        u = (0.5 * (a + b))[:, None] + half[:, None] * _GL_X[None, :]
        th = self._heading(u)
        return half * (np.cos(th) @ _GL_W), half * (np.sin(th) @ _GL_W)

    def evaluate(self, ds: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        idx = np.clip((ds / self.step).astype(np.int64), 0, self.n - 1)
        start: FloatArray = idx.astype(np.float64) * self.step
        dx, dy = self._integrate(start, ds)
        return self.g.x + self.node_x[idx] + dx, self.g.y + self.node_y[idx] + dy, self._heading(ds)

    def max_curvature(self) -> float:
        return max(abs(p) for p in self.g.params)


class _Polynomial(_Curve):
    """poly3 / paramPoly3: cubic (u(p), v(p)) in the local frame, mapped from s by arc length."""

    def __init__(self, g: Geometry) -> None:
        super().__init__(g)
        if g.kind == "poly3":
            self.cu = np.array([0.0, 1.0, 0.0, 0.0])
            self.cv = np.array(g.params)
            # u advances no faster than arc length, so p (= u) ends at or before `length`.
            p_max = g.length
        else:
            self.cu = np.array(g.params[:4])
            self.cv = np.array(g.params[4:])
            p_max = 1.0 if g.normalized else g.length
        n = max(16, math.ceil(g.length / (0.25 * _NODE_STEP)))
        p = np.linspace(0.0, p_max, n + 1)
        half = 0.5 * (p[1:] - p[:-1])
        q = (0.5 * (p[1:] + p[:-1]))[:, None] + half[:, None] * _GL_X[None, :]
        du, dv = self._derivative(q)
        seg = half * (np.hypot(du, dv) @ _GL_W)
        self.s_table = np.concatenate(([0.0], np.cumsum(seg)))
        self.p_table = p
        self.max_k = float(np.max(np.abs(self._curvature(p)))) if n else 0.0

    def _derivative(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        cu, cv = self.cu, self.cv
        return cu[1] + p * (2 * cu[2] + 3 * cu[3] * p), cv[1] + p * (2 * cv[2] + 3 * cv[3] * p)

    def _param(self, ds: FloatArray) -> FloatArray:
        """Curve parameter at arc length ``ds``: table interpolation plus one Newton step."""
        p = np.interp(ds, self.s_table, self.p_table)
        i = np.clip(np.searchsorted(self.p_table, p, side="right") - 1, 0, len(self.p_table) - 2)
        a = self.p_table[i]
        half = 0.5 * (p - a)
        q = (0.5 * (p + a))[:, None] + half[:, None] * _GL_X[None, :]
        du, dv = self._derivative(q)
        arc = self.s_table[i] + half * (np.hypot(du, dv) @ _GL_W)
        du0, dv0 = self._derivative(p)
        return np.asarray(p - (arc - ds) / np.maximum(np.hypot(du0, dv0), 1e-9))

    def _curvature(self, p: FloatArray) -> FloatArray:
        du, dv = self._derivative(p)
        ddu = 2 * self.cu[2] + 6 * self.cu[3] * p
        ddv = 2 * self.cv[2] + 6 * self.cv[3] * p
        speed = np.maximum(np.hypot(du, dv), 1e-9)
        return np.asarray((du * ddv - dv * ddu) / speed**3)

    def evaluate(self, ds: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        g = self.g
        p = self._param(ds)
        cu, cv = self.cu, self.cv
        u = cu[0] + p * (cu[1] + p * (cu[2] + p * cu[3]))
        v = cv[0] + p * (cv[1] + p * (cv[2] + p * cv[3]))
        du, dv = self._derivative(p)
        ch, sh = math.cos(g.hdg), math.sin(g.hdg)
        return g.x + u * ch - v * sh, g.y + u * sh + v * ch, g.hdg + np.arctan2(dv, du)

    def max_curvature(self) -> float:
        return self.max_k


_CURVES: dict[str, type[_Curve]] = {
    "line": _Line,
    "arc": _Arc,
    "spiral": _Spiral,
    "poly3": _Polynomial,
    "paramPoly3": _Polynomial,
}


class ReferenceLine:
    """A road's planView as a function of s."""

    def __init__(self, geometries: Sequence[Geometry]) -> None:
        self.curves = [_CURVES[g.kind](g) for g in geometries]
        self.starts = np.array([g.s for g in geometries])
        self.ends = np.array([g.s + g.length for g in geometries])

    def evaluate(self, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Reference-line points at ``s``.

        Args:
            s: Arc-length positions along the road [m]; clamped to the planView.

        Returns:
            x, y, heading arrays in OpenDRIVE's frame.
        """
        s = np.asarray(s, dtype=np.float64)
        idx = np.clip(np.searchsorted(self.starts, s, side="right") - 1, 0, len(self.curves) - 1)
        x = np.empty_like(s)
        y = np.empty_like(s)
        hdg = np.empty_like(s)
        for i in np.unique(idx):
            mask = idx == i
            curve = self.curves[i]
            ds = np.clip(s[mask] - self.starts[i], 0.0, curve.g.length)
            x[mask], y[mask], hdg[mask] = curve.evaluate(ds)
        return x, y, hdg

    def max_curvature(self) -> float:
        """Largest absolute curvature over the road [1/m]."""
        return max(c.max_curvature() for c in self.curves)


class Poly3Profile:
    """A piecewise cubic (elevation, laneOffset, lane width/border) as a function of s."""

    def __init__(self, records: Sequence[Poly3], base: float = 0.0) -> None:
        self.starts = np.array([r.s + base for r in records], dtype=np.float64)
        self.coeffs = np.array([(r.a, r.b, r.c, r.d) for r in records], dtype=np.float64)

    def _index(self, s: FloatArray) -> tuple[NDArray[np.int64], FloatArray]:
        if len(self.starts) == 1:  # the common case; skips the search
            return np.zeros(s.shape, dtype=np.int64), s - self.starts[0]
        idx = np.clip(np.searchsorted(self.starts, s, side="right") - 1, 0, len(self.starts) - 1)
        return idx, s - self.starts[idx]

    def value(self, s: FloatArray) -> FloatArray:
        """Profile value at ``s`` (0 where the profile has no records)."""
        s = np.asarray(s, dtype=np.float64)
        if not len(self.starts):
            return np.zeros_like(s)
        idx, ds = self._index(s)
        a, b, c, d = self.coeffs[idx].T
        return np.asarray(a + ds * (b + ds * (c + ds * d)))

    def slope(self, s: FloatArray) -> FloatArray:
        """First derivative with respect to s."""
        s = np.asarray(s, dtype=np.float64)
        if not len(self.starts):
            return np.zeros_like(s)
        idx, ds = self._index(s)
        _, b, c, d = self.coeffs[idx].T
        return np.asarray(b + ds * (2 * c + 3 * d * ds))


class _LaneProfile:
    """Width (or outer border) of one lane inside its section."""

    def __init__(self, lane: Lane, section_s: float) -> None:
        self.is_border = not lane.widths
        self.profile = Poly3Profile(lane.borders if self.is_border else lane.widths, section_s)


class RoadGeometry:
    """Everything needed to turn (road, lane, s) into positions."""

    def __init__(self, road: Road) -> None:
        self.road = road
        self.ref = ReferenceLine(road.geometries)
        self.elevation = Poly3Profile(road.elevations)
        self.lane_offset = Poly3Profile(road.lane_offsets)
        self.section_starts = np.array([sec.s for sec in road.sections])
        self.section_ends = np.append(self.section_starts[1:], road.length)
        self.lane_profiles = [
            {lid: _LaneProfile(lane, sec.s) for lid, lane in sec.lanes.items() if lid != 0}
            for sec in road.sections
        ]

    def section_index(self, s: float) -> int:
        """Index of the lane section containing ``s``."""
        idx = int(np.searchsorted(self.section_starts, s, side="right")) - 1
        return min(max(idx, 0), len(self.section_starts) - 1)

    def section(self, index: int) -> LaneSection:
        return self.road.sections[index]

    def lane_edges(self, index: int, s: FloatArray) -> dict[int, tuple[FloatArray, FloatArray]]:
        """Inner and outer lateral offsets t (ODR frame) of every lane of a section.

        Args:
            index: Lane-section index.
            s: Road s positions (expected inside the section).

        Returns:
            ``{lane_id: (t_inner, t_outer)}``; the lane offset is included.
        """
        s = np.asarray(s, dtype=np.float64)
        centre = self.lane_offset.value(s)
        edges: dict[int, tuple[FloatArray, FloatArray]] = {}
        section = self.road.sections[index]
        profiles = self.lane_profiles[index]
        for ids, sign in ((section.left_ids, 1.0), (section.right_ids, -1.0)):
            inner = centre
            for lid in ids:
                prof = profiles[lid]
                if prof.is_border:
                    outer = centre + sign * prof.profile.value(s)
                else:
                    outer = inner + sign * prof.profile.value(s)
                edges[lid] = (inner, outer)
                inner = outer
        return edges

    def points(self, s: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(s, t) -> x, y, reference heading in ODR frame (``t`` broadcast against ``s``)."""
        x, y, hdg = self.ref.evaluate(s)
        if np.ndim(t) > np.ndim(s):
            x, y, hdg = x[:, None], y[:, None], hdg[:, None]
        return x - t * np.sin(hdg), y + t * np.cos(hdg), hdg
