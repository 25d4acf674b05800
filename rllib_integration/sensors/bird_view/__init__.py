"""BirdView: a top-down, hero-centred semantic image rendered with numpy + OpenCV.

``map_layer`` renders (once per map and resolution, cached) the static roads, sidewalks and
markings; ``renderer`` warps that layer around the hero each frame and draws the actors;
``rllib_integration.sensors.bird_view_manager.BirdviewManager`` is the pseudo-sensor.
"""

from rllib_integration.sensors.bird_view.map_layer import (
    MapLayer,
    cache_stats,
    clear_memory_cache,
    default_cache_dir,
    load_map_layer,
    render_map_layer,
)
from rllib_integration.sensors.bird_view.renderer import (
    MASK_CHANNELS,
    ActorKind,
    ActorShape,
    BirdViewRenderer,
    Pose,
    SpeedLimitShape,
    TrafficLightShape,
)

__all__ = [
    "MASK_CHANNELS",
    "ActorKind",
    "ActorShape",
    "BirdViewRenderer",
    "MapLayer",
    "Pose",
    "SpeedLimitShape",
    "TrafficLightShape",
    "cache_stats",
    "clear_memory_cache",
    "default_cache_dir",
    "load_map_layer",
    "render_map_layer",
]
