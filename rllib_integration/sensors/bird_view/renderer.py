"""Per-frame BirdView rendering: one affine warp of the static map plus the actors.

Geometry (the original's): the hero heads UP; the scale is ``size / (2 * radius)`` px/m, so
the image covers ``2 * radius`` metres square; the point ``radius / 2`` metres ahead of the
hero is the image centre ``(size / 2, size / 2)`` (pixel centres at integer coordinates), so
the hero sits at row ``size / 2 + size / 4``, column ``size / 2``.

Per frame the map layer is cropped, rotated and scaled by ONE ``cv2.warpAffine`` and the
actors are drawn directly in output pixels, their corners mapped by the same transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, NamedTuple

import cv2
import numpy as np

from rllib_integration.sensors.bird_view import palette
from rllib_integration.sensors.bird_view.map_layer import MapLayer
from rllib_integration.sensors.bird_view.palette import MapLabel

#: Fixed-point fraction bits for actor drawing (sub-pixel corners, no anti-aliasing).
SHIFT = 4
_FIX = float(1 << SHIFT)
#: The vehicle polygon's nose: the front corners sit this far behind the front [m].
NOSE_LENGTH = 0.8
#: Traffic-light disc radius [m].
TRAFFIC_LIGHT_RADIUS = 1.4
#: Speed-limit sign disc radius [m]; the inner disc is 0.75 of it.
SPEED_LIMIT_RADIUS = 2.0
#: Walkers are drawn at twice their bounding box, so they stay visible.
WALKER_SCALE = 2.0

#: Channels of the ``masks=True`` output, in order; each is 0 or 255. ``vehicles`` excludes
#: the hero, which has its own channel; traffic lights are one channel per state (Red,
#: Yellow, Green; Off/Unknown lights are not drawn in the masks).
MASK_CHANNELS: tuple[str, ...] = (
    "road",
    "lane_markings",
    "sidewalk",
    "hero",
    "vehicles",
    "walkers",
    "traffic_light_red",
    "traffic_light_yellow",
    "traffic_light_green",
)
_CHANNEL = {name: i for i, name in enumerate(MASK_CHANNELS)}
_LIGHT_CHANNEL = {0: "traffic_light_red", 1: "traffic_light_yellow", 2: "traffic_light_green"}


class ActorKind(IntEnum):
    """How an actor is drawn (and its colour)."""

    HERO = 0
    VEHICLE = 1
    TWO_WHEELER = 2
    WALKER = 3


class ActorShape(NamedTuple):
    """A vehicle or walker to draw: pose and bounding-box half-extents.

    Attributes:
        kind: what it is (selects the shape and colour).
        x: world x [m].
        y: world y [m].
        yaw: heading [deg].
        extent_x: half length [m].
        extent_y: half width [m].
    """

    kind: ActorKind
    x: float
    y: float
    yaw: float
    extent_x: float
    extent_y: float


class TrafficLightShape(NamedTuple):
    """A traffic light: position of the light actor [m] and ``int(carla.TrafficLightState)``."""

    x: float
    y: float
    state: int


class SpeedLimitShape(NamedTuple):
    """A speed-limit sign: position [m] and its text (``"30"`` for ``...speed_limit.30``)."""

    x: float
    y: float
    text: str


class Pose(NamedTuple):
    """A planar pose: x, y [m], yaw [deg] (and pitch [deg], for the view's forward offset)."""

    x: float
    y: float
    yaw: float
    pitch: float = 0.0


def pose_of(transform: Any) -> Pose:
    """The ``Pose`` of a ``carla.Transform`` (or anything with location and rotation)."""
    if isinstance(transform, Pose):
        return transform
    loc = transform.location
    rot = transform.rotation
    return Pose(loc.x, loc.y, rot.yaw, rot.pitch)


_COLORS = {
    ActorKind.HERO: palette.HERO,
    ActorKind.VEHICLE: palette.VEHICLE,
    ActorKind.TWO_WHEELER: palette.TWO_WHEELER,
    ActorKind.WALKER: palette.WALKER,
}


def world_to_image(hero_transform: Any, size: int, radius: float) -> np.ndarray:
    """The (2, 3) affine map from world (x, y) [m] to BirdView (col, row) pixels.

    The view is centred ``radius / 2`` ahead of the hero, heading up; columns grow to the
    hero's right, rows backwards (the original's geometry).
    """
    cx, cy, fx, fy = _view_centre(hero_transform, radius)
    k = size / (2.0 * radius)
    half = size / 2.0
    rot = np.array([[-fy, fx], [-fx, -fy]]) * k
    to_image = np.empty((2, 3))
    to_image[:, :2] = rot
    to_image[:, 2] = half - rot @ (cx, cy)
    return to_image


def _view_centre(hero_transform: Any, radius: float) -> tuple[float, float, float, float]:
    """``(cx, cy, fx, fy)``: the view centre [m] and the hero's heading unit vector."""
    hero = pose_of(hero_transform)
    yaw = math.radians(hero.yaw)
    fx, fy = math.cos(yaw), math.sin(yaw)
    ahead = 0.5 * radius * math.cos(math.radians(hero.pitch))
    return hero.x + ahead * fx, hero.y + ahead * fy, fx, fy


class BirdViewRenderer:
    """Renders hero-centred BirdView images from a static map layer.

    Args:
        map_layer: the static map (``load_map_layer``).
        size: image side [px].
        radius: half the side of the square seen [m]; scale is ``size / (2 * radius)`` px/m.
        interpolation: OpenCV interpolation of the map warp. ``cv2.INTER_LINEAR`` (default)
            smooths like the original's ``rotozoom``; ``cv2.INTER_NEAREST`` keeps exact
            palette colours. Masks always use nearest.
    """

    def __init__(
        self,
        map_layer: MapLayer,
        size: int,
        radius: float,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> None:
        if size <= 0 or radius <= 0:
            raise ValueError(f"size and radius must be positive, got {size} and {radius}")
        self.map_layer = map_layer
        self.size = int(size)
        self.radius = float(radius)
        self.pixels_per_meter = self.size / (2.0 * self.radius)
        self.interpolation = interpolation
        # Actors farther than this from the view centre cannot touch the image [m].
        self._cull = self.radius * math.sqrt(2.0) + 10.0
        self._mask_source: np.ndarray | None = None

    def view(self, hero_transform: Any) -> tuple[np.ndarray, np.ndarray]:
        """The affine maps of a frame: world -> output pixels, and output -> map pixels.

        Returns:
            ``(to_image, to_map)``, each (2, 3) float64: ``to_image @ [x, y, 1]`` is the
            output (col, row) of world point (x, y); ``to_map @ [col, row, 1]`` is the map
            layer pixel shown at output (col, row).
        """
        to_image = world_to_image(hero_transform, self.size, self.radius)
        cx, cy, fx, fy = _view_centre(hero_transform, self.radius)
        k = self.pixels_per_meter
        half = self.size / 2.0
        q = self.map_layer.pixels_per_meter
        ox, oy = self.map_layer.origin
        inverse = np.array([[-fy, -fx], [fx, -fy]]) / k  # rot^-1
        to_map = np.empty((2, 3))
        to_map[:, :2] = inverse * q
        to_map[:, 2] = q * (np.array([cx - ox, cy - oy]) - inverse @ (half, half))
        return to_image, to_map

    def render(
        self,
        hero_transform: Any,
        actors: Sequence[ActorShape],
        traffic_lights: Sequence[TrafficLightShape] = (),
        speed_limits: Sequence[SpeedLimitShape] = (),
    ) -> np.ndarray:
        """The RGB BirdView of one frame.

        Args:
            hero_transform: the hero's ``carla.Transform`` (or ``Pose``).
            actors: vehicles (the hero included, as ``ActorKind.HERO``) and walkers, drawn
                in this order (walkers after vehicles, like the original).
            traffic_lights: drawn first, under the vehicles.
            speed_limits: drawn after the traffic lights.

        Returns:
            uint8 (size, size, 3) RGB, hero heading up.
        """
        to_image, to_map = self.view(hero_transform)
        warped = cv2.warpAffine(
            self.map_layer.rgba,
            to_map,
            (self.size, self.size),
            flags=self.interpolation | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(*palette.BACKGROUND, 255),
        )
        image = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)
        k = self.pixels_per_meter
        light_radius = round(TRAFFIC_LIGHT_RADIUS * k * _FIX)
        for light in self._visible(traffic_lights, hero_transform):
            center = self._point(to_image, light.x, light.y)
            color = palette.TRAFFIC_LIGHT_COLORS.get(light.state, palette.TRAFFIC_LIGHT_OTHER)
            cv2.circle(image, center, light_radius, color, -1, cv2.LINE_8, SHIFT)
            cv2.circle(image, center, light_radius, palette.WHITE, 1, cv2.LINE_8, SHIFT)
        for sign in self._visible(speed_limits, hero_transform):
            self._speed_limit(image, to_image, sign)
        ordered = [a for a in actors if a.kind != ActorKind.WALKER]
        ordered += [a for a in actors if a.kind == ActorKind.WALKER]
        for actor, polygon in zip(ordered, self._polygons(to_image, ordered), strict=True):
            if polygon is not None:
                cv2.fillConvexPoly(image, polygon, _COLORS[actor.kind], cv2.LINE_8, SHIFT)
        return image

    def render_masks(
        self,
        hero_transform: Any,
        actors: Sequence[ActorShape],
        traffic_lights: Sequence[TrafficLightShape] = (),
    ) -> np.ndarray:
        """Semantic masks of one frame (Roach-style inputs).

        Returns:
            uint8 (size, size, len(MASK_CHANNELS)), 255 where the channel's element is,
            else 0; channel order ``MASK_CHANNELS``.
        """
        to_image, to_map = self.view(hero_transform)
        if self._mask_source is None:
            # Road and labels warped together in one call (a 2-channel image).
            self._mask_source = cv2.merge([self.map_layer.labels, self.map_layer.road])
        static = cv2.warpAffine(
            self._mask_source,
            to_map,
            (self.size, self.size),
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(MapLabel.BACKGROUND, 0),
        )
        labels, road = cv2.split(static)
        channels: list[np.ndarray] = [
            np.zeros((self.size, self.size), np.uint8) for _ in MASK_CHANNELS
        ]
        channels[_CHANNEL["road"]] = road
        # cv2.inRange gives 0/255 masks directly, without numpy temporaries.
        channels[_CHANNEL["lane_markings"]] = cv2.inRange(
            labels, MapLabel.MARKING, MapLabel.MARKING_OTHER
        )
        channels[_CHANNEL["sidewalk"]] = cv2.inRange(labels, MapLabel.SIDEWALK, MapLabel.SIDEWALK)
        light_radius = round(TRAFFIC_LIGHT_RADIUS * self.pixels_per_meter * _FIX)
        for light in self._visible(traffic_lights, hero_transform):
            name = _LIGHT_CHANNEL.get(light.state)
            if name is not None:
                center = self._point(to_image, light.x, light.y)
                target = channels[_CHANNEL[name]]
                cv2.circle(target, center, light_radius, 255, -1, cv2.LINE_8, SHIFT)
        channel_of = {
            ActorKind.HERO: "hero",
            ActorKind.VEHICLE: "vehicles",
            ActorKind.TWO_WHEELER: "vehicles",
            ActorKind.WALKER: "walkers",
        }
        for actor, polygon in zip(actors, self._polygons(to_image, actors), strict=True):
            if polygon is not None:
                target = channels[_CHANNEL[channel_of[actor.kind]]]
                cv2.fillConvexPoly(target, polygon, 255, cv2.LINE_8, SHIFT)
        return cv2.merge(channels)

    # ------------------------------------------------------------------ helpers

    def _visible(self, items: Sequence[Any], hero_transform: Any) -> list[Any]:
        if not items:
            return []
        hero = pose_of(hero_transform)
        limit = self._cull + self.radius
        return [i for i in items if abs(i.x - hero.x) < limit and abs(i.y - hero.y) < limit]

    @staticmethod
    def _point(to_image: np.ndarray, x: float, y: float) -> tuple[int, int]:
        col, row = to_image @ (x, y, 1.0)
        return round(col * _FIX), round(row * _FIX)

    def _polygons(
        self, to_image: np.ndarray, actors: Sequence[ActorShape]
    ) -> list[np.ndarray | None]:
        """Fixed-point output polygons of the actors (None for those out of view)."""
        if not actors:
            return []
        data = np.array([a[1:] for a in actors], dtype=np.float64)  # x, y, yaw, ex, ey
        kinds = np.array([a.kind for a in actors])
        x, y, yaw, ex, ey = data.T
        walker = kinds == ActorKind.WALKER
        ex = np.where(walker, ex * WALKER_SCALE, ex)
        ey = np.where(walker, ey * WALKER_SCALE, ey)
        nose = np.where(walker, ex, ex - NOSE_LENGTH)
        zeros = np.zeros_like(ex)
        # Vehicles: (-bx,-by) (bx-0.8,-by) (bx,0) (bx-0.8,by) (-bx,by), the pointed nose;
        # walkers: their doubled box, with an extra point (bx,0) on its front edge.
        local_x = np.stack((-ex, nose, ex, nose, -ex), axis=1)
        local_y = np.stack((-ey, -ey, zeros, ey, ey), axis=1)
        rad = np.radians(yaw)
        c, s = np.cos(rad)[:, None], np.sin(rad)[:, None]
        wx = x[:, None] + c * local_x - s * local_y
        wy = y[:, None] + s * local_x + c * local_y
        cols = to_image[0, 0] * wx + to_image[0, 1] * wy + to_image[0, 2]
        rows = to_image[1, 0] * wx + to_image[1, 1] * wy + to_image[1, 2]
        fixed = np.round(np.stack((cols, rows), axis=2) * _FIX).astype(np.int32)
        reach = self.size * 0.5 * math.sqrt(2.0) + self.pixels_per_meter * (ex + ey)
        center = self.size / 2.0
        visible = np.hypot(cols.mean(axis=1) - center, rows.mean(axis=1) - center) < reach
        return [fixed[i] if visible[i] else None for i in range(len(actors))]

    def _speed_limit(self, image: np.ndarray, to_image: np.ndarray, sign: SpeedLimitShape) -> None:
        center = self._point(to_image, sign.x, sign.y)
        radius = SPEED_LIMIT_RADIUS * self.pixels_per_meter
        for scale, color in ((1.0, palette.SPEED_LIMIT_DISC), (0.75, palette.SPEED_LIMIT_INNER)):
            fixed_radius = round(scale * radius * _FIX)
            cv2.circle(image, center, fixed_radius, color, -1, cv2.LINE_8, SHIFT)
        # Upright text, as the original's counter-rotated label ends up after the view turn.
        font = cv2.FONT_HERSHEY_SIMPLEX
        scale = cv2.getFontScaleFromHeight(font, max(1, round(0.6 * radius)), 1)
        (width, height), _ = cv2.getTextSize(sign.text, font, scale, 1)
        origin = (round(center[0] / _FIX - width / 2), round(center[1] / _FIX + height / 2))
        cv2.putText(image, sign.text, origin, font, scale, palette.SPEED_LIMIT_TEXT, 1, cv2.LINE_8)
