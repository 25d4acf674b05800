"""helper.py: the original's checkpoint-directory rules on Ray 2.x's checkpoint layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rllib_integration.helper import find_latest_checkpoint, get_checkpoint, post_process_image


def test_find_latest_checkpoint_across_trials(tmp_path: Path) -> None:
    for trial, numbers in (("DQN_a", [1, 12]), ("DQN_b", [3])):
        for n in numbers:
            (tmp_path / trial / f"checkpoint_{n:06d}").mkdir(parents=True)
    (tmp_path / "DQN_b" / "checkpoint_tmp").mkdir()
    assert find_latest_checkpoint(tmp_path) == str(tmp_path / "DQN_a" / "checkpoint_000012")


def test_find_latest_checkpoint_none(tmp_path: Path) -> None:
    (tmp_path / "DQN_a").mkdir()
    with pytest.raises(FileNotFoundError, match="Could not find any checkpoint"):
        find_latest_checkpoint(tmp_path)


def test_get_checkpoint_rules(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot be True at the same time"):
        get_checkpoint("run", tmp_path, restore=True, overwrite=True)
    assert get_checkpoint("run", tmp_path) is None  # fresh directory
    (tmp_path / "run" / "DQN_x" / "checkpoint_000002").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="is not empty"):
        get_checkpoint("run", tmp_path)
    restored = get_checkpoint("run", tmp_path, restore=True)
    assert restored is not None and restored.endswith("checkpoint_000002")
    assert get_checkpoint("run", tmp_path, overwrite=True) is None
    assert not (tmp_path / "run").exists()


def test_post_process_image() -> None:
    image = np.full((4, 5, 3), 200, dtype=np.uint8)
    gray = post_process_image([image], normalized=True, grayscale=True)
    assert gray.shape == (4, 5, 1) and gray.dtype == np.float32
    assert np.allclose(gray, (200 - 128) / 128)
    same = post_process_image(image, normalized=False, grayscale=False)
    assert same.dtype == np.uint8 and np.array_equal(same, image)
