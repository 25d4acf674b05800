"""The client crowd's per-tick batch of ApplyWalkerState commands, as the RPC handler sees it."""

from __future__ import annotations

import math
from typing import Any, cast

import pytest

from carla_lite.blueprints import default_library
from carla_lite.geom import Transform
from carla_lite.maps.catalog import MapCatalog
from carla_lite.protocol.handlers import RpcHandlers
from carla_lite.protocol.session import Session
from carla_lite.world.world import World


@pytest.fixture
def handlers() -> RpcHandlers:
    world = World(MapCatalog(), default_library(), "LiteTown01")
    # apply_batch without a tick cue touches neither streams nor Traffic Managers.
    return RpcHandlers(Session(world, cast(Any, None), cast(Any, None)))


def _state(actor_id: Any, x: Any, y: Any, z: Any, yaw: Any, speed: Any) -> list[Any]:
    return [[7, [actor_id, [[x, y, z], [0.0, yaw, 0.0]], speed]]]


def test_walker_states_place_walkers_and_bad_ones_are_refused(handlers: RpcHandlers) -> None:
    world = handlers.world
    sp = world.road_map.spawn_points[0]
    walkers = [
        world.spawn("walker.pedestrian.0001", {}, Transform(sp.x + 3 * i, sp.y, sp.z + 1)).id
        for i in range(2)
    ]
    car = world.spawn("vehicle.tesla.model3", {}, world.road_map.spawn_points[9]).id
    replies = handlers.rpc_apply_batch(
        [
            _state(walkers[0], 5.0, 6.0, 0.0, 90.0, 1.4),
            _state(walkers[1], 7, 8, 0, 0, 1),  # integers are numbers too
            _state(walkers[0], 1.0, 2.0, 0.0, 0.0, math.nan),
            _state(car, 1.0, 2.0, 0.0, 0.0, 1.0),
            _state(999, 1.0, 2.0, 0.0, 0.0, 1.0),
            [[7, [walkers[0], "not a transform", 1.0]]],
        ]
    )
    assert replies[0] == [[1, walkers[0]]] and replies[1] == [[1, walkers[1]]]
    assert all(reply[0][0] == 0 for reply in replies[2:]), replies
    assert "non-finite" in replies[2][0][1][0]
    assert "not a walker" in replies[3][0][1][0]
    first = world.transform_of(world.actors[walkers[0]])
    half = world.actors[walkers[0]].bounding_box.extent.z
    assert (first.x, first.y, first.z, first.yaw) == pytest.approx((5.0, 6.0, half, 90.0))
    assert world.crowd.speed[world.actors[walkers[0]].slot] == pytest.approx(1.4)
    second = world.transform_of(world.actors[walkers[1]])
    assert (second.x, second.y) == (7.0, 8.0)
