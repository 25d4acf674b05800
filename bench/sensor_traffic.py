"""Hand-made sensor frames for the in-process sensor benchmarks (cameras, ray casts).

``Traffic`` drives vehicles straight on from the map's spawn points (the first is the hero
carrying the sensor at ``mount``) and returns one :class:`SensorFrame` per tick, so a sensor can
be timed without a server or a client.
"""

from __future__ import annotations

import numpy as np

from carla_lite.maps import RoadMap
from carla_lite.sensors.frame import Bodies, SensorFrame

HERO = 1
SENSOR = 1000
SPEED = 8.0  # [m/s]
#: ``WeatherParameters.ClearNoon`` in wire order.
NOON = (5.0, 0.0, 0.0, 10.0, -1.0, 45.0, 2.0, 0.75, 0.1, 0.0, 1.0, 0.03, 0.0331, 0.0)


class Traffic:
    """``vehicles`` cars driving straight on at ``SPEED``; back to their spawn points every
    ``loop`` ticks (0: never), so a long run stays on the map."""

    def __init__(
        self,
        road_map: RoadMap,
        mount: tuple[float, float, float],
        *,
        vehicles: int = 20,
        loop: int = 0,
    ) -> None:
        self.road_map = road_map
        points = road_map.spawn_points[:vehicles]
        self.start = np.array([[p.x, p.y, p.z - 0.5, 0.0, p.yaw, 0.0] for p in points])
        self.pose = self.start.copy()
        yaw = np.radians(self.pose[:, 4])
        self.velocity = np.stack([SPEED * np.cos(yaw), SPEED * np.sin(yaw), 0 * yaw], axis=1)
        self.ids = np.arange(HERO, HERO + len(points), dtype=np.uint32)
        self.colors = np.random.default_rng(0).integers(0, 255, (len(points), 3)).astype(np.uint8)
        self.mount = np.array(mount, dtype=np.float64)
        self.loop = loop
        self.frame_number = 0

    def tick(self, dt: float) -> SensorFrame:
        self.frame_number += 1
        if self.loop and self.frame_number % self.loop == 0:
            self.pose = self.start.copy()
        self.pose[:, 0:3] += self.velocity * dt
        count = len(self.ids)
        bodies = Bodies(
            ids=self.ids.copy(),
            pose=self.pose.copy(),
            velocity=self.velocity.copy(),
            box_center=np.tile([0.0, 0.0, 0.75], (count, 1)),
            box_extent=np.tile([2.4, 1.0, 0.75], (count, 1)),
            semantic_tag=np.full(count, 14, np.uint8),
            color=self.colors,
        )
        hero = self.pose[0]
        yaw = np.radians(hero[4])
        forward, right, up = self.mount
        sensor_pose = hero.copy()
        sensor_pose[0] += forward * np.cos(yaw) - right * np.sin(yaw)
        sensor_pose[1] += forward * np.sin(yaw) + right * np.cos(yaw)
        sensor_pose[2] += up
        kinematics = np.zeros((count + 1, 15))
        kinematics[:count, 0:6] = self.pose
        kinematics[:count, 6:9] = self.velocity
        kinematics[count, 0:6] = sensor_pose
        kinematics[count, 6:9] = self.velocity[0]
        ids = np.append(self.ids, SENSOR).astype(np.uint32)
        return SensorFrame(
            frame=self.frame_number,
            timestamp=self.frame_number * dt,
            delta_seconds=dt,
            road_map=self.road_map,
            weather=NOON,
            ids=ids,
            kinematics=kinematics,
            rows={int(i): row for row, i in enumerate(ids)},
            bodies=bodies,
        )
