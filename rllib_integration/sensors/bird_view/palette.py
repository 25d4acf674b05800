"""Colours of the BirdView: the Tango palette and what each map/actor element is drawn in.

The values and their semantic use are those of the original rllib-integration BirdView
(itself derived from CARLA's ``no_rendering_mode.py``). All colours are RGB tuples.
"""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

# Tango palette (RGB).
BUTTER_0: Color = (252, 233, 79)
BUTTER_1: Color = (237, 212, 0)
BUTTER_2: Color = (196, 160, 0)
ORANGE_0: Color = (252, 175, 62)
ORANGE_1: Color = (245, 121, 0)
ORANGE_2: Color = (209, 92, 0)
CHOCOLATE_0: Color = (233, 185, 110)
CHOCOLATE_1: Color = (193, 125, 17)
CHOCOLATE_2: Color = (143, 89, 2)
CHAMELEON_0: Color = (138, 226, 52)
CHAMELEON_1: Color = (115, 210, 22)
CHAMELEON_2: Color = (78, 154, 6)
SKY_BLUE_0: Color = (114, 159, 207)
SKY_BLUE_1: Color = (52, 101, 164)
SKY_BLUE_2: Color = (32, 74, 135)
PLUM_0: Color = (173, 127, 168)
PLUM_1: Color = (117, 80, 123)
PLUM_2: Color = (92, 53, 102)
SCARLET_RED_0: Color = (239, 41, 41)
SCARLET_RED_1: Color = (204, 0, 0)
SCARLET_RED_2: Color = (164, 0, 0)
ALUMINIUM_0: Color = (238, 238, 236)
ALUMINIUM_1: Color = (211, 215, 207)
ALUMINIUM_2: Color = (186, 189, 182)
ALUMINIUM_3: Color = (136, 138, 133)
ALUMINIUM_4: Color = (85, 87, 83)
ALUMINIUM_4_5: Color = (66, 62, 64)
ALUMINIUM_5: Color = (46, 52, 54)
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
PURPLE: Color = (186, 85, 211)

# Semantic use.
BACKGROUND = ALUMINIUM_4
ROAD = ALUMINIUM_5
SHOULDER = ALUMINIUM_4_5
PARKING = ALUMINIUM_4_5
SIDEWALK = ALUMINIUM_3
ARROW = ALUMINIUM_2
HERO = CHAMELEON_0
VEHICLE = SKY_BLUE_0
TWO_WHEELER = CHOCOLATE_1
WALKER = PLUM_0
TRAFFIC_LIGHT_OUTLINE = WHITE
SPEED_LIMIT_DISC = SCARLET_RED_1
SPEED_LIMIT_INNER = ALUMINIUM_0
SPEED_LIMIT_TEXT = ALUMINIUM_5

#: Lane-marking colour by ``int(carla.LaneMarkingColor)`` (Standard/White=0, Blue=1,
#: Green=2, Red=3, Yellow=4); any other value (Other=5) is drawn BLACK.
LANE_MARKING_COLORS: dict[int, Color] = {
    0: ALUMINIUM_2,
    1: SKY_BLUE_0,
    2: CHAMELEON_0,
    3: SCARLET_RED_0,
    4: ORANGE_0,
}
LANE_MARKING_OTHER = BLACK

#: Traffic-light colour by ``int(carla.TrafficLightState)`` (Red=0, Yellow=1, Green=2,
#: Off=3); any other value (Unknown) is drawn BLACK.
TRAFFIC_LIGHT_COLORS: dict[int, Color] = {
    0: SCARLET_RED_0,
    1: BUTTER_0,
    2: CHAMELEON_0,
    3: ALUMINIUM_4,
}
TRAFFIC_LIGHT_OTHER = BLACK


class MapLabel:
    """Values of the static map layer's label raster (one uint8 per pixel).

    The map is rendered once as labels rather than colours: the RGB image is a lookup
    (``LABEL_COLORS[labels]``) and the optional semantic masks are comparisons on the
    same raster, so both always agree pixel for pixel.
    """

    BACKGROUND = 0
    SHOULDER = 1
    PARKING = 2
    SIDEWALK = 3
    ROAD = 4
    ARROW = 5
    #: Lane markings: ``MARKING + int(carla.LaneMarkingColor)`` for colours 0-4, and
    #: ``MARKING_OTHER`` for the rest.
    MARKING = 10
    MARKING_OTHER = 15


def _label_colors() -> np.ndarray:
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[MapLabel.BACKGROUND] = BACKGROUND
    lut[MapLabel.SHOULDER] = SHOULDER
    lut[MapLabel.PARKING] = PARKING
    lut[MapLabel.SIDEWALK] = SIDEWALK
    lut[MapLabel.ROAD] = ROAD
    lut[MapLabel.ARROW] = ARROW
    for color_id, color in LANE_MARKING_COLORS.items():
        lut[MapLabel.MARKING + color_id] = color
    lut[MapLabel.MARKING_OTHER] = LANE_MARKING_OTHER
    lut.setflags(write=False)
    return lut


#: uint8 (256, 3): the RGB colour of each map label.
LABEL_COLORS: np.ndarray = _label_colors()
