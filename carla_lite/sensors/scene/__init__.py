"""The world as triangles, the one scene that cameras draw and ray casts hit.

* ``mesh``: ``SceneMesh``, the triangle soup both consume;
* ``static``: ``static_scene(road_map)``, the map's static triangles (cached per map), built
  from ``lanes`` (where along a road to put vertices), ``road_marks`` (lane markings),
  ``buildings`` (buildings and blocks of trees) and the primitives of ``builder``;
* ``bodies``: the vehicle and walker shapes and ``body_mesh(bodies)``;
* ``tags``: CARLA 0.9.16's semantic tags.

CARLA frame throughout: x forward, y right, z up, yaw degrees from +x towards +y.
Triangles are wound so that ``cross(v1 - v0, v2 - v0)`` points out of solids (boxes) and up
from surfaces (roads, sidewalks, terrain) and curbs face the road: renderers may cull back
faces.
"""
