"""CARLA 0.9.16's semantic tags of what the scene draws."""

from __future__ import annotations

TAG_UNLABELED = 0
TAG_ROAD = 1
TAG_SIDEWALK = 2
TAG_BUILDING = 3
TAG_POLE = 6
TAG_VEGETATION = 9
TAG_TERRAIN = 10
TAG_SKY = 11
TAG_PEDESTRIAN = 12
TAG_CAR = 14
TAG_ROADLINE = 24
#: Tags drawn with the vehicle shape (rider, car, truck, bus, train, motorcycle, bicycle).
VEHICLE_TAGS = frozenset({13, 14, 15, 16, 17, 18, 19})
