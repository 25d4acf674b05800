"""Server-side sensors: what each CARLA sensor measures in one tick.

The world hands every active sensor a :class:`~carla_lite.sensors.frame.SensorFrame`
and gets typed measurements back (``measurements.py``); the protocol turns those into
CARLA 0.9.16's binary messages. Nothing here imports ``world/`` or ``protocol/``.
"""
