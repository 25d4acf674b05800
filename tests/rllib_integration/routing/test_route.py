"""Route, RouteProgress and route files on hand-made polylines (no simulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rllib_integration.errors import ConfigError
from rllib_integration.routing import Route, RouteProgress, load_route_file


def _l_shaped_route() -> Route:
    """100 m east along y = 0, then 50 m south-east... a right turn onto +y, 1 m spacing."""
    east = [(x, 0.0, 0.0, 0.0) for x in range(101)]
    turn = [(100.0, y, 0.0, 90.0) for y in range(1, 51)]
    return Route(np.array(east + turn, dtype=np.float64), (101,), "L")


def test_length_points_and_path_locations() -> None:
    route = _l_shaped_route()
    assert route.length == pytest.approx(150.0)
    assert route.point_at(120.0)[:2] == pytest.approx((100.0, 20.0))
    assert route.point_at(1e9)[:2] == route.goal[:2]
    path = route.path_locations(spacing=25.0)
    assert path[0] == (0.0, 0.0, 0.0) and path[-1] == route.goal
    assert (100.0, 1.0, 0.0) in path  # the junction entry is always given


def test_progress_moves_forward_only_and_not_across_shortcuts() -> None:
    progress = RouteProgress(_l_shaped_route())
    for x in range(0, 60, 2):
        progress.update(float(x), 0.5)
    assert progress.distance == pytest.approx(58.0)
    # Jumping to the far end of the route (a shortcut) is out of the search window.
    assert progress.update(100.0, 45.0) == 0.0
    assert progress.distance == pytest.approx(58.0)
    assert progress.distance_to_route > 30.0
    # Driving back does not lose progress.
    progress.update(40.0, 0.0)
    assert progress.distance == pytest.approx(58.0)


def test_lookahead_is_in_the_vehicle_frame() -> None:
    progress = RouteProgress(_l_shaped_route())
    for x in range(0, 91, 2):
        progress.update(float(x), 0.0)
    ahead = progress.lookahead(90.0, 0.0, 0.0, (5.0, 20.0))
    assert ahead[0] == pytest.approx((5.0, 0.0))
    # 20 m ahead is around the right turn: 10 m ahead and 10 m to the right (+y).
    assert ahead[1] == pytest.approx((10.0, 10.0))


def test_route_file_errors_name_the_entry(tmp_path: Path) -> None:
    good = tmp_path / "routes.yaml"
    good.write_text(
        "routes:\n  - name: a\n    start: [1, 2, 0]\n    goal: [3, 4]\n    via: [[5, 6, 0]]\n"
    )
    (spec,) = load_route_file(good)
    assert (spec.name, spec.start, spec.goal, spec.via) == ("a", (1, 2, 0), (3, 4, 0), ((5, 6, 0),))
    cases = {
        "routes: []\n": "expected 'routes:'",
        "routes:\n  - start: [1, 2]\n": "routes[0]: missing 'goal'",
        "routes:\n  - start: [1, 2]\n    goal: [1, x]\n": "routes[0].goal: expected [x, y]",
        "routes:\n  - start: [1, 2]\n    goal: [1, 2]\n    speed: 3\n": "routes[0].speed: unknown",
        "routes: [\n": "cannot read",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
            load_route_file(bad)


def test_a_route_needs_two_points() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        Route(np.zeros((1, 4)))
