"""An MP4 of a drive: a large BirdView with the route, speed, action and reward on it.

The network's observation is small (64 px); the video uses its own BirdView sensor
(``add_video_sensor``, 320 px by default) on the hero, so what a person watches is readable
and the agent's input is unchanged. Any experiment works; a route experiment's route and
driving score are drawn too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rllib_integration.sensors.bird_view.route_overlay import draw_route

VIDEO_SENSOR = "video_birdview"
VIDEO_BIRDVIEW: dict[str, Any] = {"type": "sensor.birdview", "size": 320, "radius": 25}
#: How much of the route ahead is drawn [m].
ROUTE_AHEAD = 120.0
FPS = 10


def add_video_sensor(env_config: dict[str, Any], size: int = 320) -> None:
    """Give the hero of ``env_config`` the video's BirdView sensor (in place)."""
    experiment = env_config["experiment"]
    hero = dict(experiment.get("hero") or {})
    sensors = dict(hero.get("sensors") or {})
    sensors[VIDEO_SENSOR] = {**VIDEO_BIRDVIEW, "size": size}
    hero["sensors"] = sensors
    experiment["hero"] = hero


class DriveVideo:
    """Writes one frame per env step.

    Args:
        path: the MP4 to write.
        fps: frames per second (the env's steps per simulated second look real-time).
    """

    def __init__(self, path: str | Path, fps: float = FPS) -> None:
        self.path = Path(path)
        self.fps = fps
        self._writer: Any = None
        self._return = 0.0

    def add(self, env: Any, action: Any, reward: float) -> None:
        """The frame of the step just taken in ``env`` (a CarlaEnv with the video sensor)."""
        experiment = env.experiment
        entry = env.sensor_data.get(VIDEO_SENSOR)
        if entry is None:
            raise RuntimeError(
                f"no {VIDEO_SENSOR!r} sensor data: build the env config with add_video_sensor"
            )
        image = np.ascontiguousarray(entry[1][:, :, :3], dtype=np.uint8)
        hero = env.core.hero
        transform = hero.get_transform()
        task = getattr(experiment, "task", None)
        monitor = getattr(task, "monitor", None)
        if monitor is not None:
            ahead = monitor.progress.points_ahead(ROUTE_AHEAD)
            draw_route(image, transform, VIDEO_BIRDVIEW["radius"], ahead)
        self._return += float(reward)
        velocity = hero.get_velocity()
        lines = [
            f"speed {3.6 * math.hypot(velocity.x, velocity.y):5.1f} km/h",
            f"action {_action_text(action)}",
            f"reward {reward:+.3f}  return {self._return:+.1f}",
        ]
        if monitor is not None:
            record = monitor.record
            lines.append(f"route {record.route_completion:5.1f} %  DS {record.driving_score:5.1f}")
            if record.infractions:
                lines.append(f"last: {record.infractions[-1].kind.value}")
        self._write(_caption(image, lines))

    def _write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            height, width = frame.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
            if not self._writer.isOpened():
                raise RuntimeError(f"cannot write a video to {self.path} (OpenCV mp4v writer)")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file (safe to call twice)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def _action_text(action: Any) -> str:
    values = np.asarray(action).reshape(-1)
    if values.dtype.kind in "iu":
        return " ".join(str(int(v)) for v in values)
    return " ".join(f"{float(v):+.2f}" for v in values)


def _caption(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """``image`` with ``lines`` of white text on a dark band at the top."""
    scale = image.shape[0] / 640.0
    height = int(22 * scale * 2) or 12
    band = int(height * 0.55 * len(lines) + 8)
    image[:band] = (image[:band] * 0.35).astype(np.uint8)
    for row, text in enumerate(lines):
        y = int(6 + height * 0.55 * (row + 1))
        cv2.putText(
            image,
            text,
            (6, y),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.9 * scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return image
