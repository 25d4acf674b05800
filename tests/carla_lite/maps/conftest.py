from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_TOWNS

DATA = Path(__file__).with_name("data")
TOWNS = SHARED_TOWNS


@pytest.fixture(scope="session")
def small_town_text() -> str:
    return (DATA / "small_town.xodr").read_text(encoding="utf-8")


def town_text(name: str) -> str:
    """A real CARLA town's OpenDRIVE text; skips the test when the maps are absent."""
    path = TOWNS / f"{name}.xodr"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path.read_text(encoding="utf-8")
