"""Draws a route into a BirdView image (the route ahead as a line, as a navigator shows it)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from rllib_integration.sensors.bird_view.renderer import SHIFT, world_to_image

#: The route's colour: in no BirdView palette entry, so a network can tell it apart.
ROUTE_COLOR = (0, 230, 230)


def draw_route(
    image: np.ndarray,
    hero_transform: Any,
    radius: float,
    points_xy: np.ndarray,
    color: tuple[int, int, int] = ROUTE_COLOR,
    width_m: float = 1.0,
) -> np.ndarray:
    """``image`` with the polyline ``points_xy`` (world x, y [m], (N, 2)) drawn on it.

    Args:
        image: a uint8 (size, size, 3) BirdView of ``hero_transform`` (drawn in place).
        hero_transform: the hero's ``carla.Transform`` (or a ``Pose``) of the image.
        radius: the BirdView's ``radius`` [m].
        points_xy: the route points to draw, in order.
        color: RGB.
        width_m: the line width [m] (at least one pixel).
    """
    if len(points_xy) < 2:
        return image
    size = image.shape[0]
    to_image = world_to_image(hero_transform, size, radius)
    pixels = points_xy @ to_image[:, :2].T + to_image[:, 2]
    fixed = np.round(pixels * (1 << SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    thickness = max(round(width_m * size / (2.0 * radius)), 1)
    cv2.polylines(image, [fixed], False, color, thickness, cv2.LINE_8, SHIFT)
    return image
