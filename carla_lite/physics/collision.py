"""Oriented-box collisions in the ground plane: detection, contact geometry and response.

Boxes are actor bounding boxes already placed in the world by the caller: centre ``(cx, cy)``
(actor location plus the rotated bounding-box offset), yaw in degrees (CARLA frame, from +x
towards +y), half length along the heading and half width across it, and a vertical extent
``[z_low, z_high]``. All functions are vectorised over boxes or pairs.

Detection is a sort-and-sweep broad phase on bounding circles followed by the separating axis
test (SAT), which for two rectangles only needs their four edge directions. Response is a
single inelastic impulse along the contact normal plus a positional split of the penetration,
which stays stable at the large steps (0.05-0.1 s) RL training uses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import numpy as np

#: A float or an array of them (``_projections`` serves both).
Num = TypeVar("Num", float, np.ndarray)
#: Fraction of the approach speed kept after a vehicle-vehicle impact.
RESTITUTION = 0.2
#: Extra distance pushed apart on top of the penetration, so resolved boxes no longer touch [m].
SEPARATION_MARGIN = 1e-3

#: Box-local perimeter samples, ``length + i*width`` in units of the half extents: corners
#: interleaved with edge midpoints, walking round the box.
_PERIMETER = np.array([1 + 1j, 1, 1 - 1j, -1j, -1 - 1j, -1, -1 + 1j, 1j], dtype=np.complex128)
_CORNERS = _PERIMETER[::2]


def _local_to_world(
    local: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
) -> np.ndarray:
    """Place box-local unit points ``local (M,)`` (complex, length + i*width) on every box.

    Points are built as complex numbers ``x + i*y`` (rotation is one multiply by
    ``exp(i*yaw)``) and returned viewed as (N, M, 2) float pairs.
    """
    rotation = np.exp(1j * np.radians(np.asarray(yaw_deg, dtype=np.float64)))
    offsets = np.multiply.outer(np.asarray(half_len, dtype=np.float64), local.real)
    offsets = offsets + 1j * np.multiply.outer(np.asarray(half_wid, dtype=np.float64), local.imag)
    offsets *= rotation[:, None]
    offsets += (np.asarray(cx, dtype=np.float64) + 1j * np.asarray(cy, dtype=np.float64))[:, None]
    return offsets.view(np.float64).reshape(*offsets.shape, 2)


def box_corners(
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
) -> np.ndarray:
    """Corners of oriented boxes, (N, 4, 2), in order front-right, front-left, rear-left,
    rear-right (y points right in CARLA's frame)."""
    return _local_to_world(_CORNERS, cx, cy, yaw_deg, half_len, half_wid)


def perimeter_samples(
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
) -> np.ndarray:
    """Corners and edge midpoints of oriented boxes, (N, 8, 2), walking round each box.

    The midpoints catch obstacles narrower than a box side, such as a curb between two corners.
    """
    return _local_to_world(_PERIMETER, cx, cy, yaw_deg, half_len, half_wid)


def _sat_depth(
    i: np.ndarray,
    j: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
    with_normal: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Separating-axis test for box pairs ``(i[k], j[k])``.

    Returns:
        ``(depth (K,), normal (K, 2) or None)``: the smallest overlap of the two boxes'
        projections over the four candidate axes (<= 0 when some axis separates them) and,
        with ``with_normal``, that axis as a unit vector pointing from box i towards box j.
    """
    yaw_i = np.radians(yaw_deg[i])
    yaw_j = np.radians(yaw_deg[j])
    ci, si = np.cos(yaw_i), np.sin(yaw_i)
    cj, sj = np.cos(yaw_j), np.sin(yaw_j)
    # |cos| and |sin| of the relative angle: how much each box's edges project on the other's.
    rel = yaw_j - yaw_i
    rel_c, rel_s = np.abs(np.cos(rel)), np.abs(np.sin(rel))
    li, wi, lj, wj = half_len[i], half_wid[i], half_len[j], half_wid[j]
    dx, dy = cx[j] - cx[i], cy[j] - cy[i]
    along, overlap = _projections(dx, dy, ci, si, cj, sj, rel_c, rel_s, (li, wi, lj, wj))
    depth = np.minimum(np.minimum(overlap[0], overlap[1]), np.minimum(overlap[2], overlap[3]))
    if not with_normal:
        return depth, None
    best = np.argmin(np.stack(overlap), axis=0)
    axis_x = np.choose(best, (ci, -si, cj, -sj))
    axis_y = np.choose(best, (si, ci, sj, cj))
    sign = np.where(np.choose(best, along) < 0.0, -1.0, 1.0)
    return depth, np.stack((axis_x * sign, axis_y * sign), axis=1)


def _projections(
    dx: Num,
    dy: Num,
    ci: Num,
    si: Num,
    cj: Num,
    sj: Num,
    rel_c: Num,
    rel_s: Num,
    extents: tuple[Num, Num, Num, Num],
) -> tuple[tuple[Num, Num, Num, Num], tuple[Num, Num, Num, Num]]:
    """Centre offsets and overlaps of box pairs on the four SAT axes: i's forward (c, s) and
    lateral (-s, c), then j's.

    Only ``+ - * abs``, so floats and arrays give bit-identical results (see
    ``_few_overlapping``). ``extents``: half length and width of box i, then of box j.
    """
    li, wi, lj, wj = extents
    along = (dx * ci + dy * si, dy * ci - dx * si, dx * cj + dy * sj, dy * cj - dx * sj)
    overlap = (
        li + lj * rel_c + wj * rel_s - abs(along[0]),
        wi + lj * rel_s + wj * rel_c - abs(along[1]),
        lj + li * rel_c + wi * rel_s - abs(along[2]),
        wj + li * rel_s + wi * rel_c - abs(along[3]),
    )
    return along, overlap


#: Up to this many candidate pairs the narrow phase runs on Python floats: cheaper than the
#: fixed cost of the vectorised test's numpy calls.
FEW_PAIRS = 8


def _few_overlapping(
    i: np.ndarray,
    j: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
) -> np.ndarray:
    """``_sat_depth(...) > 0`` for a few pairs: numpy for the trigonometry (one call each),
    Python floats for the rest."""
    k = len(i)
    both = np.concatenate((i, j))
    yaw = np.radians(yaw_deg[both])
    angles = np.concatenate((yaw, yaw[k:] - yaw[:k]))  # boxes i, boxes j, relative angles
    cos, sin = np.cos(angles).tolist(), np.sin(angles).tolist()
    x, y = cx[both].tolist(), cy[both].tolist()
    length, width = half_len[both].tolist(), half_wid[both].tolist()
    hits = []
    for a in range(k):
        b, rel = a + k, a + 2 * k
        _, overlap = _projections(
            x[b] - x[a], y[b] - y[a], cos[a], sin[a], cos[b], sin[b],
            abs(cos[rel]), abs(sin[rel]), (length[a], width[a], length[b], width[b]),
        )  # fmt: skip
        hits.append(all(o > 0.0 for o in overlap))
    return np.array(hits, dtype=bool)


#: Up to this many bodies the broad phase tests every pair rather than sweep.
DENSE_BROAD_PHASE = 256


def _sweep_candidates(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs whose intervals ``[lo, hi]`` intersect (sort and sweep)."""
    n = lo.shape[0]
    order = np.argsort(lo, kind="stable")
    lo_sorted, hi_sorted = lo[order], hi[order]
    # Sorted by lo, box p's partners are the q > p whose lo is within p's hi.
    end = np.searchsorted(lo_sorted, hi_sorted, side="right")
    counts = np.maximum(end - np.arange(1, n + 1), 0)
    total = int(counts.sum())
    p = np.repeat(np.arange(n), counts)
    starts = np.cumsum(counts) - counts
    q = p + 1 + (np.arange(total) - np.repeat(starts, counts))
    return order[p], order[q]


def overlapping_pairs(
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
    z_low: np.ndarray,
    z_high: np.ndarray,
) -> np.ndarray:
    """Index pairs of boxes that overlap, in the ground plane and in height.

    Boxes that only touch (zero overlap on some axis) do not count.

    Returns:
        (K, 2) int64 array of pairs ``i < j``, sorted by ``i`` then ``j``.
    """
    cx, cy, yaw_deg, half_len, half_wid, z_low, z_high = (
        np.asarray(a, dtype=np.float64)
        for a in (cx, cy, yaw_deg, half_len, half_wid, z_low, z_high)
    )
    n = cx.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    radius = np.hypot(half_len, half_wid)
    if n <= DENSE_BROAD_PHASE:
        # All pairs at once: for a town's worth of bodies fewer numpy calls than the sweep,
        # and the pairs come sorted by i, then j.
        i, j = _all_pairs(n)
        dx, dy = cx[j] - cx[i], cy[j] - cy[i]
        reach = radius[i] + radius[j]
        near = np.flatnonzero(dx * dx + dy * dy <= reach * reach)
        i, j = i[near], j[near]
        keep = (z_low[i] < z_high[j]) & (z_low[j] < z_high[i])
        i, j = i[keep], j[keep]
    else:
        # Sweep along the axis the boxes spread most on, which yields the fewest candidates.
        sweep = cx if np.ptp(cx) >= np.ptp(cy) else cy
        a, b = _sweep_candidates(sweep - radius, sweep + radius)
        i, j = np.minimum(a, b), np.maximum(a, b)
        dx, dy = cx[j] - cx[i], cy[j] - cy[i]
        reach = radius[i] + radius[j]
        keep = (dx * dx + dy * dy <= reach * reach) & (z_low[i] < z_high[j])
        keep &= z_low[j] < z_high[i]
        i, j = i[keep], j[keep]
        order = np.lexsort((j, i))
        i, j = i[order], j[order]
    if i.size == 0:  # sparse traffic: skip the narrow phase
        return np.zeros((0, 2), dtype=np.int64)
    if i.size <= FEW_PAIRS:
        hit = _few_overlapping(i, j, cx, cy, yaw_deg, half_len, half_wid)
    else:
        depth, _ = _sat_depth(i, j, cx, cy, yaw_deg, half_len, half_wid)
        hit = depth > 0.0
    return np.stack((i[hit], j[hit]), axis=1).astype(np.int64)


@functools.lru_cache(maxsize=8)
def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j of n boxes, sorted by i, then j (a flat list gathers faster than
    an n x n array is built)."""
    i, j = np.triu_indices(n, 1)
    i, j = i.astype(np.int64), j.astype(np.int64)
    i.flags.writeable = j.flags.writeable = False  # shared by every call
    return i, j


def contact_normal_and_depth(
    i: int | np.ndarray,
    j: int | np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    yaw_deg: np.ndarray,
    half_len: np.ndarray,
    half_wid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-translation vector of box pairs.

    Args:
        i, j: box indices, scalars or equal-length int arrays (one entry per pair).
        cx, cy, yaw_deg, half_len, half_wid: all boxes, as for ``overlapping_pairs``.

    Returns:
        ``(normal, depth)``: unit normals (K, 2) pointing from box i to box j and the
        penetration depths (K,); moving j by ``normal * depth`` (or i by the opposite) ends the
        overlap. A depth <= 0 means the pair does not overlap. Scalar indices give K = 1.
    """
    ii = np.atleast_1d(np.asarray(i, dtype=np.int64))
    jj = np.atleast_1d(np.asarray(j, dtype=np.int64))
    cx, cy, yaw_deg, half_len, half_wid = (
        np.asarray(a, dtype=np.float64) for a in (cx, cy, yaw_deg, half_len, half_wid)
    )
    depth, normal = _sat_depth(ii, jj, cx, cy, yaw_deg, half_len, half_wid, with_normal=True)
    assert normal is not None
    return normal, depth


class StaticContacts(NamedTuple):
    """Result of ``static_contacts``."""

    hit: np.ndarray
    """(N,) bool: some sample of the box lies on blocked ground."""
    point: np.ndarray
    """(N, 2) mean of the box's blocked samples (the sample mean where nothing is blocked)."""


def static_contacts(
    samples: np.ndarray, blocked: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> StaticContacts:
    """Which boxes touch the static world, and where.

    Args:
        samples: (N, M, 2) points per box, e.g. ``perimeter_samples`` or ``box_corners``.
        blocked: ``(xs, ys) -> bool array``, True where the ground is an obstacle (the world
            passes ``surface == SURFACE_OFFROAD``).

    Returns:
        The hit flags and contact points. The point is the mean of the blocked samples rather
        than the first one: for a box driven into a wall the whole front edge is blocked and
        its mean, the front midpoint, gives a normal straight back from the wall.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n, m = samples.shape[:2]
    mask = np.asarray(blocked(samples[..., 0].ravel(), samples[..., 1].ravel()), dtype=bool)
    weights = mask.reshape(n, m).astype(np.float64)
    count = weights.sum(axis=1)
    hit = count > 0.0
    if not hit.all():
        weights[~hit] = 1.0
        count[~hit] = m
    point = np.matmul(weights[:, None, :], samples)[:, 0] / count[:, None]
    return StaticContacts(hit, point)


def static_hits(
    samples: np.ndarray, blocked: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """(N,) bool: whether any sample point of each box lies on blocked ground.

    See ``static_contacts``, which also gives the contact points.
    """
    return static_contacts(samples, blocked).hit


class PairResponse(NamedTuple):
    """Result of ``resolve_vehicle_pair``; all world frame."""

    velocity_i: np.ndarray
    """(K, 3) velocity of body i after the impact [m/s]."""
    velocity_j: np.ndarray
    """(K, 3) velocity of body j after the impact [m/s]."""
    impulse_i: np.ndarray
    """(K, 3) impulse body i received [N s]; body j received the opposite."""
    shift_i: np.ndarray
    """(K, 2) displacement that separates body i [m]."""
    shift_j: np.ndarray
    """(K, 2) displacement that separates body j [m]."""


def resolve_vehicle_pair(
    mass_i: np.ndarray,
    mass_j: np.ndarray,
    velocity_i: np.ndarray,
    velocity_j: np.ndarray,
    normal: np.ndarray,
    depth: np.ndarray,
    restitution: float = RESTITUTION,
) -> PairResponse:
    """Inelastic impact of overlapping body pairs along their contact normals.

    The impulse acts only while the bodies approach each other along the normal, so resting or
    separating contacts are merely pushed apart. Momentum is conserved exactly; the positional
    split moves each body in inverse proportion to its mass.

    Args:
        mass_i, mass_j: (K,) masses [kg].
        velocity_i, velocity_j: (K, 3) velocities [m/s]; z passes through unchanged.
        normal: (K, 2) unit normals from i to j (``contact_normal_and_depth``).
        depth: (K,) penetration depths [m]; non-positive depths cause no shift.
        restitution: fraction of the approach speed that becomes separation speed.
    """
    mass_i = np.asarray(mass_i, dtype=np.float64)
    mass_j = np.asarray(mass_j, dtype=np.float64)
    vi = np.asarray(velocity_i, dtype=np.float64)
    vj = np.asarray(velocity_j, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    inv_i, inv_j = 1.0 / mass_i, 1.0 / mass_j
    closing = np.einsum("kd,kd->k", vj[:, :2] - vi[:, :2], n)
    magnitude = np.maximum(-(1.0 + restitution) * closing, 0.0) / (inv_i + inv_j)
    impulse_j = np.zeros_like(vi)
    impulse_j[:, :2] = magnitude[:, None] * n
    depth = np.asarray(depth, dtype=np.float64)
    share = np.where(depth > 0.0, depth + SEPARATION_MARGIN, 0.0) / (inv_i + inv_j)
    push = share[:, None] * n
    return PairResponse(
        velocity_i=vi - impulse_j * inv_i[:, None],
        velocity_j=vj + impulse_j * inv_j[:, None],
        impulse_i=-impulse_j,
        shift_i=-push * inv_i[:, None],
        shift_j=push * inv_j[:, None],
    )


class StaticResponse(NamedTuple):
    """Result of ``resolve_static``; all world frame."""

    velocity: np.ndarray
    """(K, 3) velocity after the hit [m/s]."""
    impulse: np.ndarray
    """(K, 3) normal impulse the body received [N s]."""
    normal: np.ndarray
    """(K, 2) unit contact normal, from the obstacle towards the body."""


def resolve_static(
    mass: np.ndarray, velocity: np.ndarray, centre: np.ndarray, point: np.ndarray
) -> StaticResponse:
    """Bodies hitting the static world stop dead.

    A body moving into the obstacle (against the normal) loses all its velocity, which with the
    caller moving it back to its pre-step pose is the stable choice for a kinematic vehicle: it
    cannot slide along the wall, and a rebound would drive it back in next step. A body already
    moving away keeps its velocity so it can back out. The impulse reported is the normal one,
    ``mass * approach speed`` along the normal, as in CARLA's ``normal_impulse``.

    Args:
        mass: (K,) masses [kg].
        velocity: (K, 3) velocities [m/s].
        centre: (K, 2) box centres.
        point: (K, 2) contact points (``StaticContacts.point``).
    """
    v = np.asarray(velocity, dtype=np.float64)
    away = np.asarray(centre, dtype=np.float64) - np.asarray(point, dtype=np.float64)
    # A box buried so deep that its blocked samples centre on it has no usable geometry; the
    # reverse of its motion is the best guess of where it came from.
    degenerate = np.hypot(away[:, 0], away[:, 1]) < 1e-9
    away = np.where(degenerate[:, None], -v[:, :2], away)
    length = np.hypot(away[:, 0], away[:, 1])
    normal = np.divide(away, length[:, None], out=np.zeros_like(away), where=length[:, None] > 0)
    approach = -np.einsum("kd,kd->k", v[:, :2], normal)
    into = approach > 0.0
    impulse = np.zeros_like(v)
    impulse[:, :2] = (np.asarray(mass, dtype=np.float64) * np.where(into, approach, 0.0))[
        :, None
    ] * normal
    return StaticResponse(np.where(into[:, None], 0.0, v), impulse, normal)
