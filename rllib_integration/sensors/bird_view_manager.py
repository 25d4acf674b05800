"""The BirdView pseudo-sensor: a hero-centred top-down image after every tick.

Config (``hero.sensors.<name>``)::

    birdview:
      type: sensor.birdview
      size: 300        # image side [px] (required, int)
      radius: 15       # half the side seen [m] (required): 10 px/m here
      masks: false     # optional: semantic masks instead of RGB (see below)
      cache_dir: null  # optional: absolute map-cache directory (default: see map_layer)

Data: uint8 (size, size, 3) RGB, the hero heading up at row ``size*3/4``, column
``size/2`` (the original's look and geometry); with ``masks: true``, uint8
(size, size, 9) masks, 0/255, channels ``bird_view.MASK_CHANNELS``.

Unlike the original (a polling thread calling ``world.get_actors()`` every frame), the
image is rendered synchronously in ``tick`` from the tick's ``carla.WorldSnapshot``: actor
poses come from the snapshot (client-side), the static actor facts (type, size, wheels,
role) from a catalogue refreshed with ``world.get_actors(new_ids)`` only when ids appear,
and the map layer from an in-process cache (no re-render or re-read on reset).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rllib_integration.errors import ConfigError, SensorError
from rllib_integration.sensors.base import PseudoSensor
from rllib_integration.sensors.bird_view.map_layer import load_map_layer
from rllib_integration.sensors.bird_view.renderer import (
    ActorKind,
    ActorShape,
    BirdViewRenderer,
    SpeedLimitShape,
    TrafficLightShape,
)

if TYPE_CHECKING:
    import carla
    import numpy as np

    from rllib_integration.sensors.sensor_interface import SensorInterface

#: Attribute keys this sensor understands (``type`` is the factory's).
VALID_ATTRIBUTES = ("type", "size", "radius", "masks", "cache_dir", "interpolation")
_INTERPOLATIONS = {"linear": 1, "nearest": 0}  # cv2.INTER_LINEAR, cv2.INTER_NEAREST


@dataclass(frozen=True)
class _Catalogued:
    """What never changes about an actor: how to draw it, and where if it is static."""

    kind: ActorKind | None  # vehicles and walkers; None for the rest
    extent_x: float = 0.0
    extent_y: float = 0.0
    light: Any = None  # the carla.TrafficLight (its state is read client-side)
    sign: SpeedLimitShape | None = None
    position: tuple[float, float] = (0.0, 0.0)


_IGNORED = _Catalogued(kind=None)
#: Entries of gone actors tolerated in the catalogue beyond twice the actors present.
CATALOGUE_SLACK = 64


class BirdviewManager(PseudoSensor):
    """BirdView pseudo-sensor (factory type ``sensor.birdview``).

    Args:
        name: key of its data in ``SensorInterface.get_data()``.
        attributes: ``size`` [px] and ``radius`` [m] (required), ``masks`` (bool),
            ``cache_dir`` (map-cache directory), ``interpolation`` (``"linear"`` or
            ``"nearest"``, the map warp's) and the factory's ``type``.
        interface: the hero's sensor interface (it calls ``tick`` after every world tick).
        parent: the hero actor; its world gives the map and actors.

    Raises:
        ConfigError: a required attribute is missing, one is unknown or of a wrong type.
    """

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        interface: SensorInterface,
        parent: carla.Actor,
    ) -> None:
        size, radius, masks, cache_dir, interpolation = validate_attributes(name, attributes)
        self.size = size
        self.radius = radius
        self.masks = masks
        self.world = parent.get_world()
        map_layer = load_map_layer(
            self.world.get_map(), size / (2.0 * radius) / math.sqrt(2.0), cache_dir
        )
        self.renderer: BirdViewRenderer | None = BirdViewRenderer(
            map_layer, size, radius, _INTERPOLATIONS[interpolation]
        )
        self._hero_id = parent.id
        # Shared by the managers of one episode: a reset builds a new manager, and the
        # facts of the actors it already met (type, size, light handle) do not change.
        self._catalogue = _episode_catalogue(self.world.id)
        #: How many times new actors were looked up (``world.get_actors(ids)`` calls).
        self.catalogue_refreshes = 0
        super().__init__(name, attributes, interface, parent)

    def tick(self, frame: int, snapshot: carla.WorldSnapshot) -> None:
        """Render the BirdView of ``snapshot`` and deliver it as ``frame``'s data."""
        if self.renderer is None:
            return
        hero = snapshot.find(self._hero_id)
        if hero is None:
            raise SensorError(f"BirdView {self.name!r}: hero {self._hero_id} not in frame {frame}")
        hero_transform = hero.get_transform()
        hero_x, hero_y = hero_transform.location.x, hero_transform.location.y
        # Static signs farther than this cannot reach the image: skip their state reads [m].
        reach = self.radius * (1.0 + math.sqrt(2.0)) + 10.0
        present = [(a.id, a) for a in snapshot]
        new = [actor_id for actor_id, _ in present if actor_id not in self._catalogue]
        if new:
            if len(self._catalogue) > 2 * len(present) + CATALOGUE_SLACK:
                self._forget_gone(present)
            self._catalogue_actors(new, dict(present))
        actors: list[ActorShape] = []
        lights: list[TrafficLightShape] = []
        signs: list[SpeedLimitShape] = []
        for actor_id, actor_snapshot in present:
            entry = self._catalogue[actor_id]
            if entry.kind is not None:
                tf = actor_snapshot.get_transform()
                loc = tf.location
                actors.append(
                    ActorShape(
                        entry.kind, loc.x, loc.y, tf.rotation.yaw, entry.extent_x, entry.extent_y
                    )
                )
                continue
            x, y = entry.position
            if abs(x - hero_x) > reach or abs(y - hero_y) > reach:
                continue
            if entry.light is not None:
                lights.append(TrafficLightShape(x, y, int(entry.light.get_state())))
            elif entry.sign is not None:
                signs.append(entry.sign)
        data: np.ndarray
        try:
            if self.masks:
                data = self.renderer.render_masks(hero_transform, actors, lights)
            else:
                data = self.renderer.render(hero_transform, actors, lights, signs)
        except Exception as exc:  # a rendering fault is the sensor's, not the server's
            raise SensorError(
                f"BirdView {self.name!r}: rendering frame {frame} failed: {exc}"
            ) from exc
        self.update_sensor(data, frame)

    def _forget_gone(self, present: list[tuple[int, Any]]) -> None:
        """Drop the entries of actors no longer in the world (every reset spawns a new hero
        and sensors within the same episode: kept, they grew the catalogue for good)."""
        alive = {actor_id for actor_id, _ in present}
        for actor_id in [i for i in self._catalogue if i not in alive]:
            del self._catalogue[actor_id]

    def _catalogue_actors(self, ids: list[int], snapshots: dict[int, Any]) -> None:
        """Look up the static facts of actors seen for the first time (one RPC)."""
        self.catalogue_refreshes += 1
        found = {actor.id: actor for actor in self.world.get_actors(ids)}
        for actor_id in ids:
            actor = found.get(actor_id)
            # An actor destroyed before the lookup is ignored until its id comes back.
            self._catalogue[actor_id] = (
                _IGNORED if actor is None else self._describe(actor, snapshots[actor_id])
            )

    def _describe(self, actor: Any, snapshot: Any) -> _Catalogued:
        type_id = actor.type_id
        if "vehicle" in type_id or "walker.pedestrian" in type_id:
            # Only here: ``bounding_box`` is one RPC per actor, and towns have many lights.
            extent = actor.bounding_box.extent
        if "vehicle" in type_id:
            attributes = actor.attributes
            if attributes.get("role_name") == "hero" or actor.id == self._hero_id:
                kind = ActorKind.HERO
            elif str(attributes.get("number_of_wheels")) == "2":
                kind = ActorKind.TWO_WHEELER
            else:
                kind = ActorKind.VEHICLE
            return _Catalogued(kind, extent.x, extent.y)
        if "walker.pedestrian" in type_id:
            return _Catalogued(ActorKind.WALKER, extent.x, extent.y)
        location = snapshot.get_transform().location
        if "traffic_light" in type_id:
            return _Catalogued(None, light=actor, position=(location.x, location.y))
        if "speed_limit" in type_id:
            parts = type_id.split(".")
            text = parts[2] if len(parts) > 2 else ""
            sign = SpeedLimitShape(location.x, location.y, text)
            return _Catalogued(None, sign=sign, position=(location.x, location.y))
        return _IGNORED

    def destroy(self) -> None:
        """Drop the renderer; safe to call twice (there is no actor to destroy)."""
        self.renderer = None


_catalogues: dict[int, dict[int, _Catalogued]] = {}


def _episode_catalogue(episode_id: int) -> dict[int, _Catalogued]:
    """The actor catalogue of an episode (only the latest episode's is kept)."""
    if episode_id not in _catalogues:
        _catalogues.clear()
        _catalogues[episode_id] = {}
    return _catalogues[episode_id]


def validate_attributes(
    name: str, attributes: dict[str, Any]
) -> tuple[int, float, bool, str | os.PathLike[str] | None, str]:
    """``(size, radius, masks, cache_dir, interpolation)`` of a ``sensor.birdview`` config.

    Experiments whose observation space depends on the sensor call it at construction, so
    a bad ``size`` is a ConfigError before anything starts.

    Raises:
        ConfigError: an unknown, missing or bad attribute, naming the sensor.
    """
    where = f"sensor {name!r} (sensor.birdview)"
    unknown = sorted(set(attributes) - set(VALID_ATTRIBUTES))
    if unknown:
        raise ConfigError(
            f"{where}: unknown attribute(s) {', '.join(unknown)}; valid: "
            f"{', '.join(VALID_ATTRIBUTES)}"
        )
    for key in ("size", "radius"):
        if key not in attributes:
            raise ConfigError(
                f"{where}: missing required attribute {key!r} (size [px], radius [m])"
            )
    size = attributes["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ConfigError(f"{where}: 'size' must be a positive int [px], got {size!r}")
    radius = attributes["radius"]
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not radius > 0:
        raise ConfigError(f"{where}: 'radius' must be a positive number [m], got {radius!r}")
    masks = attributes.get("masks", False)
    if not isinstance(masks, bool):
        raise ConfigError(f"{where}: 'masks' must be a bool, got {masks!r}")
    cache_dir = attributes.get("cache_dir")
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise ConfigError(f"{where}: 'cache_dir' must be a path, got {cache_dir!r}")
    interpolation = attributes.get("interpolation", "linear")
    if interpolation not in _INTERPOLATIONS:
        raise ConfigError(
            f"{where}: 'interpolation' must be one of {', '.join(_INTERPOLATIONS)}, "
            f"got {interpolation!r}"
        )
    return size, float(radius), masks, cache_dir, interpolation
