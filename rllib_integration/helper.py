"""Helpers of the original module: config merge, checkpoints, images, TensorBoard.

Heavy dependencies (OpenCV, TensorBoard) are imported where used, so importing this module
stays cheap for RLlib workers.
"""

from __future__ import annotations

import collections.abc
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np


def join_dicts(d: collections.abc.Mapping, u: collections.abc.Mapping) -> dict:
    """The original's merge: ``d`` updated with ``u``; mappings merge, anything else replaces.

    No validation (see ``rllib_integration.config.merge_config`` for the checked merge).
    """
    result = dict(d)
    for key, value in u.items():
        if isinstance(value, collections.abc.Mapping):
            result[key] = join_dicts(d.get(key, {}), value)
        else:
            result[key] = value
    return result


def post_process_image(image: Any, normalized: bool = True, grayscale: bool = True) -> np.ndarray:
    """The original's image post-processing.

    Args:
        image: an (H, W, 3) RGB uint8 image, or a list whose first item is one.
        normalized: return float32 ``(image - 128) / 128`` instead of uint8.
        grayscale: convert to one channel, shape (H, W, 1).
    """
    if isinstance(image, list):
        image = image[0]
    if grayscale:
        import cv2

        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, np.newaxis]
    if normalized:
        return (image.astype(np.float32) - 128) / 128
    return image.astype(np.uint8)


_CHECKPOINT_DIR = re.compile(r"^checkpoint_(\d+)$")


def find_latest_checkpoint(directory: str | os.PathLike[str]) -> str:
    """The newest Ray Tune checkpoint under ``directory``.

    Looks in every trial folder of ``directory`` for ``checkpoint_NNNNNN`` folders (Ray 2.x
    layout) and returns the one with the highest number.

    Raises:
        FileNotFoundError: there is no checkpoint.
    """
    best: tuple[int, Path] | None = None
    root = Path(directory)
    trials = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    for trial in trials:
        for entry in trial.iterdir():
            match = _CHECKPOINT_DIR.match(entry.name)
            if match and entry.is_dir() and (best is None or int(match[1]) > best[0]):
                best = (int(match[1]), entry)
    if best is None:
        raise FileNotFoundError(
            f"Could not find any checkpoint in {root}, make sure that you have selected the "
            "correct folder path"
        )
    return str(best[1])


def get_checkpoint(
    name: str, directory: str | os.PathLike[str], restore: bool = False, overwrite: bool = False
) -> str | None:
    """The original's training-directory rules.

    Returns the latest checkpoint to restore from (``restore``), or None for a fresh run.

    Raises:
        RuntimeError: both flags, or a non-empty directory without either flag.
    """
    training_directory = os.path.join(directory, name)
    if overwrite and restore:
        raise RuntimeError("Both 'overwrite' and 'restore' cannot be True at the same time")
    if overwrite:
        if os.path.isdir(training_directory):
            shutil.rmtree(training_directory)
            print(f"Removing all contents inside '{training_directory}'")
        return None
    if restore:
        return find_latest_checkpoint(training_directory)
    if os.path.isdir(training_directory) and len(os.listdir(training_directory)) != 0:
        raise RuntimeError(
            f"The directory where you are trying to train ({training_directory}) is not empty. "
            "To start a new training instance, make sure this folder is either empty, "
            "non-existing or use the '--overwrite' argument to remove all the contents inside"
        )
    return None


def launch_tensorboard(logdir: str, host: str = "localhost", port: str = "6006") -> str:
    """Start TensorBoard on ``logdir`` in background threads; return its URL."""
    from tensorboard import program

    tensorboard = program.TensorBoard()
    tensorboard.configure(argv=[None, "--logdir", logdir, "--host", host, "--port", str(port)])
    return str(tensorboard.launch())
