"""Junction areas are paved: the gaps between connecting lanes are driving surface."""

from __future__ import annotations

import numpy as np
import pytest

from carla_lite.maps import SURFACE_DRIVING, SURFACE_OFFROAD, RoadMap, generator, load_road_map
from carla_lite.maps.catalog import MapCatalog
from carla_lite.maps.junctions import (
    convex_outline,
    enclosed,
    fill_from_neighbours,
    polygon_row_spans,
)

from .conftest import town_text


def _inside(outline: np.ndarray, xs: np.ndarray, ys: np.ndarray, margin: float) -> np.ndarray:
    """Points at least ``margin`` inside a convex outline (along x)."""
    x_lo, x_hi = polygon_row_spans(outline, ys)
    return (xs >= x_lo + margin) & (xs <= x_hi - margin)


def _grid(outline: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    (x0, y0), (x1, y1) = outline.min(axis=0), outline.max(axis=0)
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    return xs.ravel(), ys.ravel()


def _builtin(name: str) -> RoadMap:
    catalog = MapCatalog()
    return load_road_map(name, catalog.read(name))


# -- the helpers -----------------------------------------------------------------------------


def test_convex_outline_keeps_hull_vertices_in_order() -> None:
    rng = np.random.default_rng(0)
    inner = rng.uniform(-0.9, 0.9, size=(200, 2))
    corners = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    outline = convex_outline(np.concatenate((inner, corners)))
    assert sorted(map(tuple, outline)) == sorted(map(tuple, corners))
    # Counter-clockwise: positive shoelace area.
    x, y = outline[:, 0], outline[:, 1]
    assert 0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) == pytest.approx(4.0)


def test_polygon_row_spans() -> None:
    diamond = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    x_lo, x_hi = polygon_row_spans(diamond, np.array([0.0, 0.5, -0.5, 2.0]))
    assert x_lo[:3] == pytest.approx([-1.0, -0.5, -0.5])
    assert x_hi[:3] == pytest.approx([1.0, 0.5, 0.5])
    assert x_lo[3] > x_hi[3]  # the row misses the polygon


def test_enclosed_fills_rings_not_open_corners() -> None:
    ring = np.zeros((7, 7), dtype=bool)
    ring[1, 1:6] = ring[5, 1:6] = ring[1:6, 1] = ring[1:6, 5] = True
    inside = enclosed(ring)
    assert inside[2:5, 2:5].all() and not inside[0].any() and not inside[6].any()
    # An L of lanes (a corner open towards the outside) encloses nothing.
    corner = np.zeros((5, 5), dtype=bool)
    corner[0, :] = corner[:, 0] = True
    assert (enclosed(corner) == corner).all()


def test_fill_from_neighbours_takes_nearest_known_values() -> None:
    values = np.array([[1.0, 0.0, 0.0, 5.0]])
    known = np.array([[True, False, False, True]])
    wanted = np.array([[False, True, True, False]])
    assert not fill_from_neighbours([values], known, wanted).any()
    assert values.tolist() == [[1.0, 1.0, 5.0, 5.0]]
    assert known.all()


# -- maps ------------------------------------------------------------------------------------


def test_town04_turn_cut_point_is_road() -> None:
    road_map = load_road_map("Town04", town_text("Town04"))
    x, y = np.array([252.3]), np.array([-306.1])
    assert road_map.surface(x, y)[0] == SURFACE_DRIVING
    # Its height is the junction's: that of the driving surface around it.
    ring = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
    rx, ry = x + 2.5 * np.cos(ring), y + 2.5 * np.sin(ring)
    on_road = road_map.surface(rx, ry) == SURFACE_DRIVING
    heights = road_map.ground_height(rx[on_road], ry[on_road])
    assert road_map.ground_height(x, y)[0] == pytest.approx(np.median(heights), abs=0.2)


@pytest.mark.parametrize("town", ["Town01", "Town04", "Town10HD"])
def test_no_offroad_gaps_deep_inside_town_junctions(town: str) -> None:
    road_map = load_road_map(town, town_text(town))
    for jid, outline in road_map.junction_outlines.items():
        xs, ys = _grid(outline, 0.5)
        # The inner half of the outline, scaled about its centroid.
        centre = outline.mean(axis=0)
        core = _inside(centre + 0.5 * (outline - centre), xs, ys, 0.0)
        surface = road_map.surface(xs[core], ys[core])
        # A corner whose sidewalk the map leaves out stays a building (a few cells).
        assert (surface != SURFACE_OFFROAD).mean() > 0.99, (town, jid)


def _lite_town01_nodes() -> list[tuple[float, float, bool]]:
    """CARLA-frame (x, y, is_four_way) of LiteTown01's junction nodes (corners are bends)."""
    xs = np.cumsum((0.0, *generator.TOWN_X_GAPS))
    ys = np.cumsum((0.0, *generator.TOWN_Y_GAPS))
    nodes = []
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            edges = (i in (0, len(xs) - 1)) + (j in (0, len(ys) - 1))
            if edges < 2:
                nodes.append((float(x), -float(y), edges == 0))
    return nodes


def test_lite_town01_junctions_are_paved_and_corners_are_buildings() -> None:
    road_map = _builtin("LiteTown01")
    assert len(road_map.junction_outlines) == 16  # 4-way and T junctions; bends are roads
    half, radius = generator.TOWN_JUNCTION_HALF, generator.TOWN_TURN_RADIUS
    nodes = _lite_town01_nodes()
    assert len(nodes) == 16
    steps = np.arange(-half + 0.125, half, 0.25)
    dx, dy = (a.ravel() for a in np.meshgrid(steps, steps))
    ax, ay = np.abs(dx), np.abs(dy)
    # Between the curbs: the right turns' curbs are arcs about (+-radius, +-radius).
    curb = radius - generator.TOWN_LANE_WIDTH - generator.TOWN_SHOULDER_WIDTH
    past_curbs = np.hypot(radius - ax, radius - ay) > curb + 0.75
    for x, y, four_way in nodes:
        surface = road_map.surface(x + dx, y + dy)
        assert (surface[(ax < 3.4) & (ay < 3.4)] == SURFACE_DRIVING).all(), (x, y)
        if not four_way:
            continue
        assert (surface[past_curbs] == SURFACE_DRIVING).all(), (x, y)
        beside_building = np.minimum(ax, ay) < generator.TOWN_HALF_WIDTH - 0.2
        assert (surface[beside_building] != SURFACE_OFFROAD).all(), (x, y)
        # Behind the corners' sidewalks: buildings (nearly square corners, as in Town01).
        building = (ax > radius + 0.5) & (ay > generator.TOWN_HALF_WIDTH + 0.2)
        assert building.any()
        assert (surface[building] == SURFACE_OFFROAD).all(), (x, y)


def test_lite_highway01_verge_between_ramp_and_motorway_stays_off_road() -> None:
    road_map = _builtin("LiteHighway01")
    # Off-ramp junction at OpenDRIVE x 40..130: 10 m before its end the ramp is ~17 m
    # right of the motorway's outer shoulder; between them lies grass, not pavement.
    x, y = np.array([120.0]), np.array([22.0])  # CARLA y = -OpenDRIVE t
    assert any(_inside(o, x, y, 0.0)[0] for o in road_map.junction_outlines.values())
    assert road_map.surface(x, y)[0] == SURFACE_OFFROAD
