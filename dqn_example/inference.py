"""Running greedy (or random) episodes of a trained policy on CarlaEnv; no Ray needed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rllib_integration.carla_env import CarlaEnv
from rllib_integration.drive_video import DriveVideo

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
        video_path: write every step to this MP4 (``rllib_integration.drive_video``: the env
            must have been built with ``add_video_sensor``).
        max_steps: cut an episode after this many steps (reported as "step limit").
        report: called with each episode's result as it ends (progress printing).
    """
    video = DriveVideo(video_path, fps=FPS) if video_path is not None else None
    results = []
    try:
        for index in range(episodes):
            obs, _ = env.reset(seed=seed + index)
            hero = env.core.hero
            assert hero is not None
            last = hero.get_location()
            total, distance, steps, ended_by = 0.0, 0.0, 0, "step limit"
            while max_steps is None or steps < max_steps:
                action = choose_action(obs)
                obs, reward, terminated, truncated, _ = env.step(action)
                if video is not None:
                    video.add(env, action, reward)
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
        if video is not None:
            video.close()
    return results


def random_policy(num_actions: int, seed: int) -> Callable[[np.ndarray], int]:
    """A uniform-random policy (the baseline of the learning benchmark)."""
    rng = random.Random(seed)
    return lambda _obs: rng.randrange(num_actions)
