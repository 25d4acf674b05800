"""The Traffic Manager's RPC API (what ``TrafficManagerRemote`` sends), served by carla_lite.

The 0.9.16 client builds a remote Traffic Manager when the simulator says one runs on the
asked port; every ``tm.*`` call then arrives here as plain rpclib msgpack-rpc (no CARLA
metadata argument). Actors come as ``carla::rpc::Actor`` records (``[id, parent, ...]``) or
bare ids; locations as ``[x, y, z]``; an imported route as the bytes of its road options.
The client ignores every result except ``synchronous_tick``'s boolean; ``get_next_action``
and ``get_all_actions`` still answer with the plan (``[option, [x, y, z]]``), for other
clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from carla_lite.protocol.arguments import boolean, number_in
from carla_lite.protocol.wire_types import WireError
from carla_lite.traffic import TrafficManager
from carla_lite.traffic.manager import route_from_locations, route_from_options
from carla_lite.world.actors import ActorKind
from carla_lite.world.world import World

log = logging.getLogger(__name__)

#: The 0.9.16 client sends these three under other names than CARLA's own TM server binds
#: (so they fail against a real remote TM); carla_lite serves both spellings, and the
#: older keep-right names too.
ALIASES = {
    "keep_slow_lane_rule_percentage": "set_percentage_keep_slow_lane_rule",
    "set_percentage_keep_right_rule": "set_percentage_keep_slow_lane_rule",
    "keep_right_rule_percentage": "set_percentage_keep_slow_lane_rule",
    "random_left_lanechange_percentage": "set_percentage_random_left_lanechange",
    "random_right_lanechange_percentage": "set_percentage_random_right_lanechange",
}

#: Per-vehicle numeric setters: RPC name -> setting (``TrafficParameters``) and range.
_VEHICLE_FLOATS: dict[str, tuple[str, float, float]] = {
    "set_percentage_speed_difference": ("speed_difference", -1e3, 100.0),
    "set_lane_offset": ("lane_offset", -10.0, 10.0),
    "set_desired_speed": ("desired_speed", 0.0, 1e3),
    "set_distance_to_leading_vehicle": ("distance_to_leader", 0.0, 1e3),
    "set_percentage_running_light": ("running_light", 0.0, 100.0),
    "set_percentage_running_sign": ("running_sign", 0.0, 100.0),
    "set_percentage_ignore_walkers": ("ignore_walkers", 0.0, 100.0),
    "set_percentage_ignore_vehicles": ("ignore_vehicles", 0.0, 100.0),
    "set_percentage_keep_slow_lane_rule": ("keep_slow_lane", 0.0, 100.0),
    "set_percentage_random_left_lanechange": ("random_left", 0.0, 100.0),
    "set_percentage_random_right_lanechange": ("random_right", 0.0, 100.0),
}
_VEHICLE_BOOLS = {
    "set_auto_lane_change": "auto_lane_change",
    "update_vehicle_lights": "update_lights",
}


def _actor_id(raw: Any) -> int:
    """An actor id from a ``carla::rpc::Actor`` record or a bare id."""
    if isinstance(raw, list) and raw:
        raw = raw[0]
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise WireError(f"expected an actor (id or carla.Actor record), got {type(raw).__name__}")
    return raw


def _locations(raw: Any) -> list[tuple[float, float, float]]:
    if not isinstance(raw, list):
        raise WireError(f"a path must be a list of locations, got {type(raw).__name__}")
    out = []
    for index, point in enumerate(raw):
        if not (isinstance(point, list) and len(point) == 3):
            raise WireError(f"path point {index} must be [x, y, z], got {point!r:.60}")
        x, y, z = (number_in(v, f"path point {index}") for v in point)
        out.append((x, y, z))
    return out


def _road_options(raw: Any) -> list[int]:
    if isinstance(raw, bytes | bytearray) or (
        isinstance(raw, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
    ):
        options = list(raw)
    else:
        raise WireError(f"a route must be a list of road options, got {type(raw).__name__}")
    bad = [v for v in options if not 0 <= v <= 7]
    if bad:
        raise WireError(f"road options must be 0..7 (Void..RoadEnd), got {bad[:5]}")
    return options


class TrafficManagerHandlers:
    """The RPC table of one Traffic Manager port; calls run under the server's lock."""

    def __init__(self, world: Callable[[], World], port: int) -> None:
        self._world = world
        self.port = port

    @property
    def manager(self) -> TrafficManager:
        return self._world().traffic_manager(self.port)

    def table(self) -> dict[str, Callable[..., Any]]:
        table: dict[str, Callable[..., Any]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("rpc_")
        }
        for name, (setting, low, high) in _VEHICLE_FLOATS.items():
            table[name] = self._vehicle_float(name, setting, low, high)
        for name, setting in _VEHICLE_BOOLS.items():
            table[name] = self._vehicle_bool(name, setting)
        for alias, name in ALIASES.items():
            table[alias] = table[name]
        return table

    # -- vehicles --------------------------------------------------------------------------
    def _vehicles(self, raw: Any) -> list[int]:
        if not isinstance(raw, list):
            raise WireError(f"expected a list of actors, got {type(raw).__name__}")
        world = self._world()
        ids = []
        for item in raw:
            actor_id = _actor_id(item)
            actor = world.actors.get(actor_id)
            if actor is None:
                log.info("Traffic Manager %d: actor %d is gone, skipped", self.port, actor_id)
                continue
            if actor.kind is not ActorKind.VEHICLE:
                raise WireError(f"actor {actor_id} ({actor.type_id}) is not a vehicle")
            ids.append(actor_id)
        return ids

    def rpc_register_vehicle(self, actors: Any) -> None:
        manager = self.manager
        ids = self._vehicles(actors)
        # One Traffic Manager drives a vehicle: registering here releases it elsewhere.
        for other in self._world().traffic_managers.values():
            if other is not manager:
                other.unregister(ids)
        manager.register(ids)

    def rpc_unregister_vehicle(self, actors: Any) -> None:
        if not isinstance(actors, list):
            raise WireError(f"expected a list of actors, got {type(actors).__name__}")
        self.manager.unregister([_actor_id(a) for a in actors])

    def _vehicle_float(
        self, name: str, setting: str, low: float, high: float
    ) -> Callable[[Any, Any], None]:
        def handler(actor: Any, value: Any) -> None:
            number = number_in(value, f"{name} value", low, high)
            self.manager.params.set_vehicle(_actor_id(actor), setting, number)

        return handler

    def _vehicle_bool(self, name: str, setting: str) -> Callable[[Any, Any], None]:
        def handler(actor: Any, value: Any) -> None:
            self.manager.params.set_vehicle(_actor_id(actor), setting, boolean(value, name))

        return handler

    def rpc_set_collision_detection(self, reference: Any, other: Any, detect: Any) -> None:
        self.manager.params.set_collision_detection(
            _actor_id(reference), _actor_id(other), boolean(detect, "detect_collision")
        )

    def rpc_set_force_lane_change(self, actor: Any, left: Any) -> None:
        self.manager.force_lane_change(_actor_id(actor), boolean(left, "direction"))

    # -- global settings -------------------------------------------------------------------
    def rpc_set_global_percentage_speed_difference(self, value: Any) -> None:
        self.manager.params.set_global(
            "speed_difference", number_in(value, "percentage", -1e3, 100.0)
        )

    def rpc_set_global_lane_offset(self, value: Any) -> None:
        self.manager.params.set_global("lane_offset", number_in(value, "offset", -10.0, 10.0))

    def rpc_set_global_distance_to_leading_vehicle(self, value: Any) -> None:
        self.manager.params.set_global("distance_to_leader", number_in(value, "distance", 0.0, 1e3))

    def rpc_set_hybrid_physics_mode(self, enabled: Any) -> None:
        self.manager.params.set_global("hybrid_physics", boolean(enabled, "mode_switch"))

    def rpc_set_hybrid_physics_radius(self, radius: Any) -> None:
        self.manager.params.set_global("hybrid_radius", number_in(radius, "radius", 0.0))

    def rpc_set_osm_mode(self, enabled: Any) -> None:
        self.manager.params.set_global("osm_mode", boolean(enabled, "mode_switch"))

    def rpc_set_respawn_dormant_vehicles(self, enabled: Any) -> None:
        self.manager.params.set_global("respawn_dormant", boolean(enabled, "mode_switch"))

    def rpc_set_boundaries_respawn_dormant_vehicles(self, lower: Any, upper: Any) -> None:
        bounds = (number_in(lower, "lower bound", 0.0), number_in(upper, "upper bound", 0.0))
        self.manager.params.set_global("respawn_bounds", bounds)

    def rpc_set_max_boundaries(self, lower: Any, upper: Any) -> None:
        bounds = (number_in(lower, "lower bound", 0.0), number_in(upper, "upper bound", 0.0))
        self.manager.params.set_global("max_bounds", bounds)

    def rpc_set_synchronous_mode(self, enabled: Any) -> None:
        self.manager.params.set_global("synchronous", boolean(enabled, "mode"))

    def rpc_set_synchronous_mode_timeout_in_milisecond(self, value: Any) -> None:
        self.manager.params.set_global(
            "synchronous_timeout_ms", number_in(value, "timeout [ms]", 0.0)
        )

    def rpc_set_random_device_seed(self, seed: Any) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise WireError(f"seed must be an unsigned integer, got {seed!r:.40}")
        self.manager.set_seed(seed)

    # -- paths and routes ------------------------------------------------------------------
    def rpc_set_path(self, actor: Any, path: Any, empty_buffer: Any = True) -> None:
        route = route_from_locations(_locations(path))
        self.manager.set_route(_actor_id(actor), route, boolean(empty_buffer, "empty_buffer"))

    def rpc_update_custom_path(self, actor_id: Any, path: Any) -> None:
        self.manager.set_route(_actor_id(actor_id), route_from_locations(_locations(path)), True)

    def rpc_remove_custom_path(self, actor_id: Any, remove_path: Any = True) -> None:
        self.manager.clear_route(_actor_id(actor_id), boolean(remove_path, "remove_path"))

    def rpc_set_imported_route(self, actor: Any, route: Any, empty_buffer: Any = True) -> None:
        plan = route_from_options(_road_options(route))
        self.manager.set_route(_actor_id(actor), plan, boolean(empty_buffer, "empty_buffer"))

    def rpc_update_imported_route(self, actor_id: Any, route: Any) -> None:
        self.manager.set_route(_actor_id(actor_id), route_from_options(_road_options(route)), True)

    def rpc_remove_imported_route(self, actor_id: Any, remove_path: Any = True) -> None:
        self.manager.clear_route(_actor_id(actor_id), boolean(remove_path, "remove_path"))

    def rpc_get_next_action(self, actor_id: Any) -> Any:
        action = self.manager.next_action(_actor_id(actor_id))
        return None if action is None else [action[0], list(action[1])]

    def rpc_get_all_actions(self, actor_id: Any) -> Any:
        return [[option, list(loc)] for option, loc in self.manager.actions(_actor_id(actor_id))]

    # -- lifecycle -------------------------------------------------------------------------
    def rpc_shut_down(self) -> None:
        self.manager.reset()

    def rpc_synchronous_tick(self) -> bool:
        # The server steps this Traffic Manager inside every world tick already.
        return True

    def rpc_health_check_remote_TM(self) -> None:
        return None


#: Handlers that read no world state. The health check above all: the client probes it every
#: 2 s with a 2 s timeout and, on a timeout, drops the next world-state message, so a
#: synchronous client then waits for its frame until its own timeout. Waiting for a tick
#: that holds the world lock (a slow one, on a loaded machine) must never make it late.
LOCK_FREE = ("health_check_remote_TM", "synchronous_tick")
