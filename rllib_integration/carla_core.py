"""CarlaCore: the simulator side of an env: server, client, world, hero, NPCs, sensors, tick.

Faithful to the original's config keys, defaults and call order, with its known bugs fixed
(reference spec §12): ports are reserved by binding, the server's process handle is kept and
only its own process group is stopped, the Traffic Manager runs in synchronous mode on its
own port, a hero that cannot spawn is an error, and ``close()`` cleans everything up.

A lost server (killed, crashed, or silent for ``timeout``) is a ``ServerLostError`` from the
step (or reset) that finds it; the core is then marked broken and ``start()`` (the env's next
reset) tears the old connection and Traffic Manager down and launches a fresh server.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

import carla

from rllib_integration.blueprints import blueprint_library
from rllib_integration.config import (
    check_choice,
    check_non_negative,
    check_positive,
    merge_config,
)
from rllib_integration.errors import (
    CarlaServerError,
    ConfigError,
    RllibIntegrationError,
    ServerConnectionError,
    ServerLostError,
    SpawnError,
)
from rllib_integration.sensors.factory import SensorFactory
from rllib_integration.sensors.sensor_interface import SensorInterface
from rllib_integration.server import (
    SERVER_KINDS,
    RunningServer,
    bare_map_name,
    default_server_kind,
    embedded_start_map,
    start_server,
)
from rllib_integration.spawn_places import clearly_free

log = logging.getLogger(__name__)

BASE_CORE_CONFIG: dict[str, Any] = {
    "host": "localhost",
    "timeout": 10.0,  # [s] client RPC timeout
    "timestep": 0.05,  # [s] fixed_delta_seconds (20 Hz)
    "retries_on_error": 10,
    "resolution_x": 600,
    "resolution_y": 600,
    "quality_level": "Low",
    "enable_map_assets": False,
    "enable_rendering": True,
    "show_display": False,
    # Added: which server to use and how to reach it.
    "server": None,  # "carla" (needs $CARLA_ROOT), "embedded" (carla_lite) or "external"
    "port": None,  # RPC port: required for "external" (default 2000), else reserved
    "maps_dirs": [],  # extra OpenDRIVE folders for the embedded server
    "startup_timeout": 60.0,  # [s] to wait for a launched server to listen
    "retry_delay": 3.0,  # [s] between connection attempts (original: 3)
    "sensor_timeout": 10.0,  # [s] for a sensor's data of the tick just run
}

QUALITY_LEVELS = ("Low", "Epic")
#: Spectator placement behind the hero [m], as the original.
SPECTATOR_BACK, SPECTATOR_UP = 5.0, 3.0


def _checked_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` merged over ``BASE_CORE_CONFIG``, every value checked (ConfigError)."""
    merged = merge_config(BASE_CORE_CONFIG, config, "carla")
    for key, default in BASE_CORE_CONFIG.items():
        if default is not None and merged[key] is None:  # ``key:`` left empty in a yaml
            raise ConfigError(f"carla.{key}: empty (null); expected a value like {default!r}")
    if merged["server"] is None:
        merged["server"] = default_server_kind()
    check_choice("carla.server", merged["server"], SERVER_KINDS)
    check_choice("carla.quality_level", merged["quality_level"], QUALITY_LEVELS)
    for key in ("timeout", "timestep", "startup_timeout", "sensor_timeout"):
        check_positive(f"carla.{key}", merged[key])
    for key in ("resolution_x", "resolution_y"):
        check_positive(f"carla.{key}", merged[key])
    check_non_negative("carla.retry_delay", merged["retry_delay"])
    if merged["retries_on_error"] < 1:
        raise ConfigError(
            f"carla.retries_on_error: must be >= 1, got {merged['retries_on_error']!r}"
        )
    port = merged["port"]
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65534
    ):
        raise ConfigError(f"carla.port: expected null or an int in [1, 65533], got {port!r}")
    return merged


class CarlaCore:
    """Owns one simulator connection (and the server process it launched, if any).

    Construction is cheap: nothing starts until ``start()`` (the env calls it on the first
    reset), so RLlib can build env runners fast.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = _checked_config(config or {})
        self.server: RunningServer | None = None
        self.client: carla.Client | None = None
        self.world: carla.World | None = None
        self.map: carla.Map | None = None
        self.hero: carla.Vehicle | None = None
        self.traffic_manager: carla.TrafficManager | None = None
        self.sensor_interface = SensorInterface(timeout=self.config["sensor_timeout"])
        self.npc_ids: list[int] = []
        self.walker_ids: list[int] = []
        self.walker_controller_ids: list[int] = []
        self.experiment_config: dict[str, Any] | None = None
        self._broken = False
        self._start_map: str | None = None  # the town an embedded server was launched on

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Connected, set up, not known to be broken, and our server process still running."""
        return (
            self.world is not None
            and self.experiment_config is not None
            and not self._broken
            and not self._server_exited()
        )

    def _server_exited(self) -> bool:
        """Whether the server process we launched has exited (never true for ``external``)."""
        server = self.server
        return server is not None and server.pid is not None and server.returncode is not None

    def start(self, experiment_config: dict[str, Any], rng: random.Random) -> None:
        """Start (or restart after a failure) the server, connect, and set the experiment up.

        All or nothing: whatever an earlier start left (a server that never connected, a
        half set-up world) is torn down first, and a start that fails tears down what it
        started (our server included) before raising, so ``ready`` is only True after a
        complete set-up and no second server is ever launched beside a first.
        """
        if self._broken or self.client is not None or self.server is not None:
            exited = self._server_exited()
            reason = self._broken_reason or ("its exit" if exited else "an incomplete set-up")
            log.warning("restarting the simulator after: %s", reason)
            self._teardown(stop_server=True)
        self._broken = False
        self._broken_reason = ""
        try:
            self.init_server(experiment_config["town"])
            self.connect_client()
            self.setup_experiment(experiment_config, rng)
        except BaseException:
            self._teardown(stop_server=True)
            raise

    def init_server(self, town: str | None = None) -> None:
        """Launch the configured server (nothing for an external one).

        An embedded server starts on ``town`` when it is one of carla_lite's maps, so that
        ``setup_experiment`` needs no ``load_world`` (see ``embedded_start_map``).
        """
        cfg = self.config
        start_map = None
        if cfg["server"] == "embedded" and town is not None:
            start_map = embedded_start_map(town, cfg["maps_dirs"])
        self._start_map = start_map
        self.server = start_server(
            cfg["server"],
            host=_loopback(cfg["host"]),
            port=cfg["port"],
            quality_level=cfg["quality_level"],
            show_display=cfg["show_display"],
            resolution_x=cfg["resolution_x"],
            resolution_y=cfg["resolution_y"],
            maps_dirs=tuple(cfg["maps_dirs"]),
            startup_timeout=cfg["startup_timeout"],
            extra_args=(f"--map={start_map}",) if start_map else (),
        )

    def connect_client(self) -> None:
        """Connect and switch the world to synchronous mode at ``timestep``, with retries."""
        assert self.server is not None
        cfg = self.config
        errors = []
        for attempt in range(1, cfg["retries_on_error"] + 1):
            try:
                client = carla.Client(self.server.host, self.server.rpc_port)
                client.set_timeout(cfg["timeout"])
                world = client.get_world()
                settings = world.get_settings()
                settings.no_rendering_mode = not cfg["enable_rendering"]
                settings.synchronous_mode = True
                settings.fixed_delta_seconds = cfg["timestep"]
                world.apply_settings(settings)
                world.tick()
                self.client, self.world = client, world
                return
            except RuntimeError as exc:
                errors.append(str(exc))
                log.warning(
                    "Waiting for server to be ready: %s, attempt %d of %d",
                    exc,
                    attempt,
                    cfg["retries_on_error"],
                )
                if not self.server.alive():
                    break
                time.sleep(cfg["retry_delay"])
        raise ServerConnectionError(
            f"Cannot connect to the {cfg['server']} server at {self.server.host}:"
            f"{self.server.rpc_port} after {len(errors)} attempt(s) (timeout "
            f"{cfg['timeout']} s); last error: {errors[-1] if errors else 'server exited'}. "
            "Try increasing 'timeout' or 'retries_on_error' in the carla configuration"
        )

    def setup_experiment(self, experiment_config: dict[str, Any], rng: random.Random) -> None:
        """Load the town, set the weather, start the Traffic Manager and spawn NPCs."""
        assert self.client is not None and self.server is not None
        self.experiment_config = None  # set last: ``ready`` only after a complete set-up
        town = experiment_config["town"]
        layers = carla.MapLayer.All if self.config["enable_map_assets"] else carla.MapLayer.NONE
        started_on_town = self._started_on(town)
        self._start_map = None  # only the first set-up after a launch can skip the load
        if started_on_town:
            # A fresh server already on this town: loading it again would only change the
            # episode, which resets other envs' Traffic Managers in this process.
            assert self.world is not None
            if not self.config["enable_map_assets"]:
                with self._server_calls():
                    self.world.unload_map_layer(carla.MapLayer.All)  # no episode change
        else:
            self.world = self._load_world(town, layers)
        self.map = self.world.get_map()
        weather_name = experiment_config["weather"]
        weather = getattr(carla.WeatherParameters, weather_name, None)
        if not isinstance(weather, carla.WeatherParameters):
            presets = sorted(
                n for n, v in vars(carla.WeatherParameters).items()
                if isinstance(v, carla.WeatherParameters)
            )  # fmt: skip
            raise ConfigError(
                f"experiment.weather: unknown preset {weather_name!r}; valid: {', '.join(presets)}"
            )
        self.world.set_weather(weather)
        activity = experiment_config["background_activity"]
        self.experiment_config = experiment_config  # spawn_npcs reads the NPC settings
        self.spawn_npcs(activity["n_vehicles"], activity["n_walkers"], rng)

    def _load_world(self, town: str, layers: carla.MapLayer) -> carla.World:
        """``client.load_world``: a town the server refuses is a ``ConfigError``; a server
        that does not answer in time (or dies) is a ``ServerLostError``."""
        assert self.client is not None
        try:
            return self.client.load_world(town, reset_settings=False, map_layers=layers)
        except RuntimeError as exc:
            server_failed = _is_timeout(exc) or (
                self.server is not None and not self.server.alive()
            )
            if server_failed:
                self._mark_broken(str(exc))
                raise ServerLostError(self._lost_message(exc, town)) from exc
            raise ConfigError(
                f"experiment.town: cannot load {town!r} on the {self.config['server']} server: "
                f"{exc}"
            ) from exc

    def _started_on(self, town: str) -> bool:
        """Whether the server was launched on ``town`` and still shows it (first set-up)."""
        started = self._start_map
        if started is None or self.world is None:
            return False
        return bool(
            bare_map_name(self.world.get_map().name).casefold() == started.casefold()
            and bare_map_name(town).casefold() == started.casefold()
        )

    def _ensure_traffic_manager(self) -> carla.TrafficManager:
        """The Traffic Manager, started on first need (only when there are NPCs).

        Where it runs depends on the server. carla_lite serves it: the client then builds a
        *remote* Traffic Manager that forwards every ``tm.*`` call to the server's TM port,
        and the NPCs are driven inside the server's tick, so a server death only surfaces
        as a ``RuntimeError`` from the next client call (the remote TM's health check may
        have queued it), which the step turns into ``ServerLostError``. With real CARLA
        (or carla_lite ``--client-side-tm``) it runs inside this process, and a simulator
        failure during its step can abort the process (a limit of the CARLA client); so
        without NPCs it is better not started. Its seed comes from the env seed (see
        ``spawn_npcs``).
        """
        assert self.client is not None and self.server is not None
        if self.traffic_manager is None:
            config = self.experiment_config or {}
            hybrid = config.get("background_activity", {}).get("tm_hybrid_mode", True)
            self.traffic_manager = self.client.get_trafficmanager(self.server.tm_port)
            self.traffic_manager.set_synchronous_mode(True)
            self.traffic_manager.set_hybrid_physics_mode(hybrid)
        return self.traffic_manager

    def get_traffic_manager(self) -> carla.TrafficManager:
        """The Traffic Manager of this server (started on first need), e.g. to drive the
        hero on autopilot.

        Raises:
            ServerLostError: The server died or stopped answering meanwhile.
        """
        with self._server_calls():
            return self._ensure_traffic_manager()

    # -- actors ---------------------------------------------------------------------------
    def spawn_npcs(self, n_vehicles: int, n_walkers: int, rng: random.Random) -> None:
        """(Re)spawn NPC vehicles on autopilot and walkers with AI controllers.

        Seeded by ``rng`` (and the Traffic Manager and pedestrian seeds drawn from it).

        Raises:
            ServerLostError: The server died or stopped answering meanwhile.
        """
        with self._server_calls():
            self._spawn_npcs(n_vehicles, n_walkers, rng)

    def _spawn_npcs(self, n_vehicles: int, n_walkers: int, rng: random.Random) -> None:
        assert self.world is not None and self.client is not None and self.map is not None
        assert self.server is not None
        self.destroy_npcs()
        tm_seed = rng.randrange(2**31)  # drawn always: the rng stream must not depend on NPCs
        walker_seed = rng.randrange(2**31)
        if n_vehicles > 0:
            self._spawn_vehicles(n_vehicles, tm_seed, rng)
        if n_walkers > 0:
            self._spawn_walkers(n_walkers, walker_seed, rng)

    def _spawn_vehicles(self, n_vehicles: int, tm_seed: int, rng: random.Random) -> None:
        assert self.world is not None and self.client is not None and self.map is not None
        assert self.server is not None
        config = self.experiment_config or {}
        configured = config.get("background_activity", {}).get("seed")
        traffic_manager = self._ensure_traffic_manager()
        traffic_manager.set_random_device_seed(configured if configured is not None else tm_seed)
        spawn_points = list(self.map.get_spawn_points())
        if n_vehicles > len(spawn_points):
            log.warning(
                "%d vehicles were requested, but there were only %d available spawn points",
                n_vehicles,
                len(spawn_points),
            )
        rng.shuffle(spawn_points)
        blueprints = sorted(blueprint_library(self.world).filter("vehicle.*"), key=lambda b: b.id)
        batch = []
        for transform in spawn_points[:n_vehicles]:
            blueprint = rng.choice(blueprints)
            if blueprint.has_attribute("color"):
                colors = blueprint.get_attribute("color").recommended_values
                blueprint.set_attribute("color", rng.choice(colors))
            blueprint.set_attribute("role_name", "autopilot")
            transform.location.z += 1
            batch.append(
                carla.command.SpawnActor(blueprint, transform).then(
                    carla.command.SetAutopilot(carla.command.FutureActor, True, self.server.tm_port)
                )
            )
        responses = self.client.apply_batch_sync(batch, True)
        self.npc_ids = [r.actor_id for r in responses if not r.error]
        if len(self.npc_ids) < n_vehicles:
            log.warning(
                "%d vehicles were requested but could only spawn %d", n_vehicles, len(self.npc_ids)
            )

    def _spawn_walkers(self, n_walkers: int, seed: int, rng: random.Random) -> None:
        """Walkers at random navmesh points, each driven by a ``controller.ai.walker``.

        As the original (and ``generate_traffic.py``): a batch of walkers, a batch of
        controllers attached to them, a tick, then ``start``, a random destination and the
        blueprint's walking speed (``speed`` recommended value 1), or its running speed
        (value 2) for ``walkers_running`` of them; ``walkers_crossing`` is the pedestrians'
        cross factor (the share that may cross roads outside crosswalks).
        """
        assert self.world is not None and self.client is not None
        activity = (self.experiment_config or {}).get("background_activity", {})
        running = float(activity.get("walkers_running", 0.0))
        crossing = float(activity.get("walkers_crossing", 0.0))
        for key, value in (("walkers_running", running), ("walkers_crossing", crossing)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"experiment.background_activity.{key}: must be in [0, 1], got {value}"
                )
        self.world.set_pedestrians_seed(seed)
        self.world.set_pedestrians_cross_factor(crossing)
        library = blueprint_library(self.world)
        blueprints = sorted(library.filter("walker.pedestrian.*"), key=lambda b: b.id)
        batch, speeds = [], []
        for _ in range(n_walkers):
            location = self.world.get_random_location_from_navigation()
            if location is None:
                break
            blueprint = rng.choice(blueprints)
            if blueprint.has_attribute("is_invincible"):
                blueprint.set_attribute("is_invincible", "false")
            speed = 0.0
            if blueprint.has_attribute("speed"):
                values = blueprint.get_attribute("speed").recommended_values
                pace = 2 if rng.random() < running else 1
                speed = float(values[min(pace, len(values) - 1)])
            speeds.append(speed)
            batch.append(carla.command.SpawnActor(blueprint, carla.Transform(location)))
        if not batch:
            log.warning(
                "%d walkers were requested, but the map has no pedestrian navigation", n_walkers
            )
            return
        responses = self.client.apply_batch_sync(batch, True)
        spawned = [(r.actor_id, v) for r, v in zip(responses, speeds, strict=True) if not r.error]
        self.walker_ids = [i for i, _ in spawned]
        if len(spawned) < n_walkers:
            log.warning(
                "Could only spawn %d out of the %d requested walkers.", len(spawned), n_walkers
            )
        controller = library.find("controller.ai.walker")
        responses = self.client.apply_batch_sync(
            [carla.command.SpawnActor(controller, carla.Transform(), i) for i in self.walker_ids],
            True,
        )
        pairs = [
            (r.actor_id, speed)
            for r, (_, speed) in zip(responses, spawned, strict=True)
            if not r.error
        ]
        self.walker_controller_ids = [i for i, _ in pairs]
        if len(pairs) < len(spawned):
            log.warning(
                "Only %d out of %d controllers could be created. Some walkers might be stopped",
                len(pairs), len(spawned),
            )  # fmt: skip
        # The controllers read their walker's position from the snapshot: tick first.
        self.world.tick()
        controllers = {a.id: a for a in self.world.get_actors(self.walker_controller_ids)}
        for controller_id, speed in pairs:
            ai = controllers.get(controller_id)
            if ai is None:
                continue
            ai.start()
            target = self.world.get_random_location_from_navigation()
            if target is not None:
                ai.go_to_location(target)
            ai.set_max_speed(speed)
        self.world.tick()

    def destroy_npcs(self) -> None:
        """Destroy NPC vehicles, walkers and their controllers (stopped first)."""
        if self.client is not None and self.world is not None and self.walker_controller_ids:
            for controller in self.world.get_actors(self.walker_controller_ids):
                controller.stop()
        ids = self.walker_controller_ids + self.walker_ids + self.npc_ids
        if ids and self.client is not None:
            self.client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], False)
        self.npc_ids = []
        self.walker_ids = []
        self.walker_controller_ids = []

    def reset_hero(
        self,
        hero_config: Mapping[str, Any],
        rng: random.Random,
        spawn_points: list[carla.Transform] | None = None,
        *,
        respawn: bool = False,
    ) -> carla.Vehicle:
        """Put the hero at a new place, with fresh sensors.

        With ``hero.teleport_on_reset`` (the default) the hero of the last episode is moved
        there and brought to rest, when the place is clearly free (``spawn_places``);
        otherwise, as in the original, it is destroyed and spawned anew. Moving it saves
        round trips, and memory: the 0.9.16 client never forgets a destroyed actor (its
        actor cache is only cleared by a new episode), about 1.2 KiB per respawn.

        Args:
            hero_config: the experiment's ``hero`` section.
            rng: draws the spawn point among the config's (or the map's) points.
            spawn_points: the places to try, in this order, instead of a random one of the
                config's (an experiment's choice, e.g. a route's start).
            respawn: spawn a new hero even if the last one could be moved (a seeded reset:
                its episode must not depend on the ones before).

        Raises:
            SpawnError: Every spawn point is occupied.
            ServerLostError: The server died or stopped answering meanwhile.
        """
        with self._server_calls():
            return self._reset_hero(hero_config, rng, spawn_points, respawn)

    def _reset_hero(
        self,
        hero_config: Mapping[str, Any],
        rng: random.Random,
        chosen: list[carla.Transform] | None,
        respawn: bool,
    ) -> carla.Vehicle:
        assert self.world is not None and self.map is not None
        self.sensor_interface.destroy()
        self.world.tick()
        if chosen:
            spawn_points = list(chosen)
        else:
            spawn_points = self._spawn_points(hero_config["spawn_points"], rng)
            rng.shuffle(spawn_points)
        try:
            blueprint = blueprint_library(self.world).find(hero_config["blueprint"])
        except IndexError:
            raise ConfigError(
                f"experiment.hero.blueprint: no blueprint {hero_config['blueprint']!r}"
            ) from None
        blueprint.set_attribute("role_name", "hero")
        movable = self._movable_hero(hero_config, respawn)
        if movable is None and self.hero is not None:
            self._destroy_actor(self.hero)
            self.hero = None
        self.hero = self._place_hero(blueprint, spawn_points, movable)
        if self.hero is None:
            raise SpawnError(
                f"could not spawn the hero ({hero_config['blueprint']}): all "
                f"{len(spawn_points)} spawn points of {self.map.name} are occupied"
            )
        self.world.tick()
        for name, attributes in hero_config["sensors"].items():
            SensorFactory.spawn(name, dict(attributes), self.sensor_interface, self.hero)
        return self.hero

    def _place_hero(
        self,
        blueprint: carla.ActorBlueprint,
        places: list[carla.Transform],
        movable: carla.Vehicle | None,
    ) -> carla.Vehicle | None:
        """Move ``movable`` to the first clearly free place, or else spawn a new hero at the
        first place the server accepts; None if every place is taken."""
        assert self.world is not None
        others = self.world.get_actors() if movable is not None else []
        for place in places:
            if (
                movable is not None
                and clearly_free(place, movable, others)
                and self._bring_to_rest_at(movable, place)
            ):
                return movable
            if self.hero is not None:  # only the server can tell whether it fits here
                self._destroy_actor(self.hero)
                self.hero = movable = None
            hero = self.world.try_spawn_actor(blueprint, place)
            if hero is not None:
                return hero
            log.debug("Could not spawn hero, changing spawn point")
        return None

    def _movable_hero(self, hero_config: Mapping[str, Any], respawn: bool) -> carla.Vehicle | None:
        """The last episode's hero if it may be moved rather than respawned, else None."""
        hero = self.hero
        if respawn or hero is None or not hero_config["teleport_on_reset"]:
            return None
        if not hero.is_alive or hero.type_id != hero_config["blueprint"]:
            return None
        return hero

    def _bring_to_rest_at(self, hero: carla.Vehicle, transform: carla.Transform) -> bool:
        """Teleport the hero, still and with a neutral control, as a fresh spawn would be.

        False (logged) if the server refused a command: the hero is then respawned.
        """
        assert self.client is not None
        still = carla.Vector3D()
        commands = [
            carla.command.ApplyTransform(hero.id, transform),
            carla.command.ApplyTargetVelocity(hero.id, still),
            carla.command.ApplyTargetAngularVelocity(hero.id, still),
            carla.command.ApplyVehicleControl(hero.id, carla.VehicleControl()),
        ]
        errors = [r.error for r in self.client.apply_batch_sync(commands, False) if r.error]
        if errors:
            log.warning("could not move the hero, respawning it: %s", errors[0])
        return not errors

    def _spawn_points(self, configured: list[str], rng: random.Random) -> list[carla.Transform]:
        assert self.map is not None
        if not configured:
            return list(self.map.get_spawn_points())
        points = []
        for index, text in enumerate(configured):
            where = f"experiment.hero.spawn_points[{index}]"
            try:
                values = [float(v) for v in str(text).split(",")]
            except ValueError:
                raise ConfigError(
                    f"{where}: {text!r} is not 'x,y,z' or 'x,y,z,roll,pitch,yaw'"
                ) from None
            if len(values) == 3:
                location = carla.Location(*values)
                waypoint = self.map.get_waypoint(location)
                previous = waypoint.previous(rng.uniform(0, 5)) or [waypoint]
                points.append(carla.Transform(location, previous[0].transform.rotation))
            elif len(values) == 6:
                x, y, z, roll, pitch, yaw = values
                points.append(
                    carla.Transform(
                        carla.Location(x, y, z), carla.Rotation(pitch=pitch, yaw=yaw, roll=roll)
                    )
                )
            else:
                raise ConfigError(f"{where}: {text!r} has {len(values)} values; expected 3 or 6")
        return points

    # -- stepping -------------------------------------------------------------------------
    def tick(self, control: carla.VehicleControl | None) -> dict[str, tuple[int, Any]]:
        """Apply ``control`` to the hero, advance one step, return the sensors' data."""
        assert self.world is not None and self.hero is not None
        with self._server_calls():
            if self._server_exited():
                # Known dead before the tick: say so now rather than after ``timeout``.
                raise CarlaServerError("the server process has exited")
            if control is not None:
                self.hero.apply_control(control)
            frame = self.world.tick()
            if self.config["enable_rendering"] and self.config["server"] != "embedded":
                # The embedded server draws nothing: moving its camera would only cost time.
                self.set_spectator_camera_view()
            self.sensor_interface.tick_pseudo_sensors(frame, self.world.get_snapshot())
            return self.sensor_interface.get_data(frame)

    def set_spectator_camera_view(self) -> None:
        """Put the spectator behind and above the hero, looking along it."""
        assert self.world is not None and self.hero is not None
        transform = self.hero.get_transform()
        yaw = math.radians(transform.rotation.yaw)
        location = carla.Location(
            transform.location.x - SPECTATOR_BACK * math.cos(yaw),
            transform.location.y - SPECTATOR_BACK * math.sin(yaw),
            transform.location.z + SPECTATOR_UP,
        )
        self.world.get_spectator().set_transform(carla.Transform(location, transform.rotation))

    def apply_hero_control(self, control: carla.VehicleControl) -> None:
        """The original's ``apply_hero_control``: control the hero without ticking."""
        assert self.hero is not None
        self.hero.apply_control(control)

    def get_sensor_data(self) -> dict[str, tuple[int, Any]]:
        """The original's ``get_sensor_data``: every sensor's latest data, without ticking."""
        return self.sensor_interface.get_data()

    # -- failure and cleanup --------------------------------------------------------------
    _broken_reason = ""

    @contextlib.contextmanager
    def _server_calls(self) -> Iterator[None]:
        """Turn a failure of the connection inside the block into ``ServerLostError``.

        The client reports a dead or silent server (and a remote Traffic Manager's failed
        health check) as a plain ``RuntimeError``; our own ``SpawnError`` and
        ``ConfigError`` are not server failures and pass through unchanged.
        """
        try:
            yield
        except ServerLostError as exc:
            self._mark_broken(str(exc))
            raise
        except (CarlaServerError, RuntimeError) as exc:
            if isinstance(exc, RllibIntegrationError) and not isinstance(exc, CarlaServerError):
                raise  # SpawnError, SensorError: not the server's failure
            self._mark_broken(str(exc))
            raise ServerLostError(self._lost_message(exc)) from exc

    def _mark_broken(self, reason: str) -> None:
        self._broken = True
        self._broken_reason = reason

    def _lost_message(self, exc: Exception, town: str | None = None) -> str:
        server = self.server
        where = f"{server.host}:{server.rpc_port}" if server else "?"
        alive = server.alive() if server else False
        if town is None:
            town = self.experiment_config["town"] if self.experiment_config else "?"
        state = "still running" if alive else "not running"
        return (
            f"lost the {self.config['server']} server at {where} (town {town}, process {state}): "
            f"{exc}; the next reset restarts it"
        )

    def close(self) -> None:
        """Destroy sensors, hero and NPCs, leave the world asynchronous, stop our server.

        Idempotent and safe on a half-dead connection.
        """
        self._teardown(stop_server=True)

    def _teardown(self, *, stop_server: bool) -> None:
        alive = (
            self.server is not None
            and self.client is not None
            and self.server.alive()
            and not self._broken
        )
        if alive:
            self._quietly(self.sensor_interface.destroy)
            if self.hero is not None:
                self._quietly(lambda: self._destroy_actor(self.hero))
            self._quietly(self.destroy_npcs)
            self._quietly(self._release_world)
        else:
            # Nothing to talk to: stop our Traffic Manager, forget the client-side objects.
            # shut_down first drops the TM from the client's per-port table (so a later
            # server on a reused port gets a fresh one), then tells the TM: a remote TM
            # (carla_lite's) whose server is gone raises RuntimeError (rpc::timeout) after
            # the client's fixed 2 s TM timeout, which _quietly swallows; with an in-process
            # TM (real CARLA) it only stops its threads. (The client frees a remote TM only
            # when that RPC succeeds, so each server death leaks the dead connection: two
            # client threads and about 4 MB.)
            if self.traffic_manager is not None:
                self._quietly(self.traffic_manager.shut_down)
            self.sensor_interface = SensorInterface(timeout=self.config["sensor_timeout"])
        self.hero = None
        self.npc_ids = []
        self.walker_ids = []
        self.walker_controller_ids = []
        self.traffic_manager = None
        self.client = self.world = self.map = None
        self.experiment_config = None
        if stop_server and self.server is not None:
            self.server.stop()
            self.server = None

    def _release_world(self) -> None:
        """Hand the world back asynchronous, so a shared server keeps running for others."""
        assert self.world is not None
        if self.traffic_manager is not None:
            # Shut our Traffic Manager down: left running, an in-process one (real CARLA)
            # would keep stepping a world that is about to go away; a server-side one
            # (carla_lite) forgets our vehicles and settings.
            self.traffic_manager.shut_down()
            self.traffic_manager = None
        settings = self.world.get_settings()
        settings.synchronous_mode = False
        settings.fixed_delta_seconds = None
        self.world.apply_settings(settings)

    def _destroy_actor(self, actor: carla.Actor) -> None:
        if actor.is_alive:
            actor.destroy()

    @staticmethod
    def _quietly(action: Any) -> None:
        try:
            action()
        except (RuntimeError, CarlaServerError) as exc:
            log.debug("cleanup step failed: %s", exc)


def _is_timeout(exc: BaseException) -> bool:
    """Whether a client ``RuntimeError`` says the server did not answer in time (the 0.9.16
    client: "time-out of 10000ms while waiting for the simulator, ...")."""
    return "time-out" in str(exc) or "timed out" in str(exc)


def _loopback(host: str) -> str:
    """Servers we launch listen on loopback; 'localhost' is spelled as the address."""
    return "127.0.0.1" if host == "localhost" else host
