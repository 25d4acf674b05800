"""The lane graph the Traffic Manager drives on: links, neighbours, areas, conflicts."""

from __future__ import annotations

import numpy as np
import pytest

from carla_lite.maps import load_road_map
from carla_lite.maps.catalog import MapCatalog
from carla_lite.maps.lane_graph import CONFLICT_DISTANCE, LaneGraph, lane_graph
from tests.carla_lite.maps.conftest import town_text


def _builtin(name: str) -> LaneGraph:
    path = MapCatalog([]).path(name)
    return lane_graph(load_road_map(path.stem, path.read_text(encoding="utf-8")))


def _links(graph: LaneGraph) -> tuple[np.ndarray, np.ndarray]:
    source = np.repeat(np.arange(len(graph)), graph.n_succ)
    return source, graph.succ


@pytest.fixture(scope="module", params=["LiteTown01", "LiteHighway01"])
def builtin_graph(request: pytest.FixtureRequest) -> LaneGraph:
    return _builtin(request.param)


def _check_links(graph: LaneGraph) -> None:
    source, target = _links(graph)
    gap = np.hypot(graph.x[target] - graph.x[source], graph.y[target] - graph.y[source])
    turn = np.abs((graph.yaw[target] - graph.yaw[source] + 180.0) % 360.0 - 180.0)
    # Evenly spaced in driving order, also across sections, roads and junctions.
    assert gap.max() < 1.6 * graph.spacing, gap.max()
    assert turn.max() < 45.0, turn.max()
    # The successor lies ahead along the heading, never behind.
    along = (graph.x[target] - graph.x[source]) * graph.hx[source]
    along += (graph.y[target] - graph.y[source]) * graph.hy[source]
    assert along.min() > 0.0


def test_links_are_short_forward_and_smooth(builtin_graph: LaneGraph) -> None:
    _check_links(builtin_graph)


@pytest.mark.parametrize("town", ["Town01", "Town04", "Town10HD"])
def test_links_on_carla_towns(town: str) -> None:
    graph = lane_graph(load_road_map(town, town_text(town)))
    _check_links(graph)
    assert (graph.n_succ == 0).sum() == 0, "every lane leads somewhere"
    assert (graph.n_succ > 1).sum() > 10, "junctions branch"


def test_town_junctions_branch_and_nothing_dead_ends() -> None:
    graph = _builtin("LiteTown01")
    assert (graph.n_succ == 0).sum() == 0
    branching = np.flatnonzero(graph.n_succ > 1)
    assert len(branching) >= 16
    # Every branch leads into a junction.
    for w in branching[:20].tolist():
        assert all(graph.junction[s] >= 0 for s in graph.successors(w).tolist())


def test_highway_neighbours_drive_the_same_way_one_lane_apart() -> None:
    graph = _builtin("LiteHighway01")
    has_left = np.flatnonzero(graph.left >= 0)
    assert len(has_left) > 1000, "a three-lane motorway has left neighbours"
    other = graph.left[has_left]
    assert (graph.right[other] == has_left).all(), "left and right are mutual"
    apart = np.hypot(graph.x[other] - graph.x[has_left], graph.y[other] - graph.y[has_left])
    assert np.allclose(apart, graph.width[has_left], atol=0.3)
    same_way = np.cos(np.radians(graph.yaw[other] - graph.yaw[has_left])) > 0.99
    assert same_way.all()
    # The left neighbour is on the left: CARLA's y points right, so left is -90 deg of yaw.
    left_x = np.cos(np.radians(graph.yaw[has_left] - 90.0))
    left_y = np.sin(np.radians(graph.yaw[has_left] - 90.0))
    side = (graph.x[other] - graph.x[has_left]) * left_x
    side += (graph.y[other] - graph.y[has_left]) * left_y
    assert (side > 0).all()


def test_locate_finds_the_lane_under_a_point_and_nothing_off_road() -> None:
    graph = _builtin("LiteTown01")
    outside = graph.junction < 0
    sample = np.flatnonzero(outside)[::7]
    found = graph.locate(graph.x[sample], graph.y[sample])
    assert (found >= 0).all()
    same_lane = (graph.road[found] == graph.road[sample]) & (
        graph.lane[found] == graph.lane[sample]
    )
    assert same_lane.mean() > 0.97
    # 10 m to the side of a lane centre of the outer lanes there is no driving lane.
    far_x = graph.x[sample] - 10.0 * graph.hy[sample]
    far_y = graph.y[sample] + 10.0 * graph.hx[sample]
    assert (graph.locate(far_x, far_y) == -1).mean() > 0.5


def test_conflicts_mark_crossing_lanes_but_not_parallel_ones() -> None:
    graph = _builtin("LiteTown01")
    table = graph.conflict_table()
    assert (table[:, 0] == np.arange(len(graph))).all(), "each waypoint conflicts with itself"
    rows, cols = np.nonzero(table[:, 1:] != np.arange(len(graph))[:, None])
    others = table[:, 1:][rows, cols]
    apart = np.hypot(graph.x[others] - graph.x[rows], graph.y[others] - graph.y[rows])
    assert apart.max() < CONFLICT_DISTANCE
    assert (graph.junction[rows] >= 0).mean() > 0.8, "conflicts are where lanes cross"
    # Straight two-way roads: the opposite lane 3.5 m away is not a conflict.
    straight = np.flatnonzero((graph.junction < 0) & (graph.curvature < 1e-3))
    assert (table[straight, 1:] == straight[:, None]).all()


def test_the_graph_is_built_once_per_map() -> None:
    path = MapCatalog([]).path("LiteTown01")
    road_map = load_road_map(path.stem, path.read_text(encoding="utf-8"))
    assert lane_graph(road_map) is lane_graph(road_map)
