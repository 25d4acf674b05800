"""Running greedy (or random) episodes of a trained policy on CarlaEnv; no Ray needed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rllib_integration.carla_env import CarlaEnv

FPS = 20  # the original's 0.05 s step


@dataclass
class EpisodeResult:
    """What one episode gave: return, distance driven [m], steps and how it ended."""

    episode: int
    seed: int
    episode_return: float
    distance_m: float
    steps: int
    ended_by: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_episodes(
    env: CarlaEnv,
    choose_action: Callable[[np.ndarray], int],
    *,
    episodes: int,
    seed: int,
    video_path: str | Path | None = None,
    max_steps: int | None = None,
    report: Callable[[EpisodeResult], None] = lambda result: None,
) -> list[EpisodeResult]:
    """Run ``episodes`` episodes, resetting on terminated or truncated.

    Episode ``i`` resets with seed ``seed + i``, so two policies compared with the same
    ``seed`` start from the same spawn points and traffic.

    Args:
        env: the environment (its observations are frame-stacked BirdView images).
        choose_action: observation -> action.
        episodes: how many episodes.
        seed: seed of the first episode.
        video_path: write the newest BirdView frame of every step to this MP4.
        max_steps: cut an episode after this many steps (reported as "step limit").
        report: called with each episode's result as it ends (progress printing).
    """
    writer = None
    results = []
    try:
        for index in range(episodes):
            obs, _ = env.reset(seed=seed + index)
            hero = env.core.hero
            assert hero is not None
            last = hero.get_location()
            total, distance, steps, ended_by = 0.0, 0.0, 0, "step limit"
            while max_steps is None or steps < max_steps:
                if video_path is not None:
                    writer = _write_frame(writer, video_path, obs)
                obs, reward, terminated, truncated, _ = env.step(choose_action(obs))
                location = env.core.hero.get_location()  # type: ignore[union-attr]
                distance += location.distance(last)
                last = location
                total += reward
                steps += 1
                if terminated or truncated:
                    ended_by = "terminated" if terminated else "truncated"
                    break
            result = EpisodeResult(index, seed + index, total, distance, steps, ended_by)
            results.append(result)
            report(result)
    finally:
        if writer is not None:
            writer.release()
    return results


def random_policy(num_actions: int, seed: int) -> Callable[[np.ndarray], int]:
    """A uniform-random policy (the baseline of the learning benchmark)."""
    rng = random.Random(seed)
    return lambda _obs: rng.randrange(num_actions)


def _write_frame(writer: Any, path: str | Path, obs: np.ndarray) -> Any:
    import cv2

    frame = np.ascontiguousarray(obs[:, :, -3:])  # the newest frame of the stack (RGB)
    if writer is None:
        height, width = frame.shape[:2]
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        writer = cv2.VideoWriter(str(path), fourcc, FPS, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"cannot write a video to {path} (OpenCV mp4v writer)")
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return writer
