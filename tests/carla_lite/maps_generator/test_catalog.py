"""Tests for the map catalog: built-ins, extra folders, env var and name resolution."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carla_lite.maps.catalog import DEFAULT_MAP, ENV_VAR, MapCatalog, normalize_map_name
from tests.conftest import SHARED_TOWNS

CARLA_TOWNS = SHARED_TOWNS


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.xodr"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_maps_are_listed() -> None:
    catalog = MapCatalog(env={})
    assert {"LiteTown01", "LiteHighway01"} <= set(catalog.names())
    assert DEFAULT_MAP in catalog.names()
    assert catalog.names() == sorted(catalog.names())
    assert "<OpenDRIVE>" in catalog.read(DEFAULT_MAP)


@pytest.mark.parametrize(
    "form",
    [
        "LiteTown01",
        "/Game/Carla/Maps/LiteTown01",
        "Carla/Maps/LiteTown01",
        "LiteTown01.xodr",
        "litetown01",
    ],
)
def test_name_forms_resolve(form: str) -> None:
    catalog = MapCatalog(env={})
    assert catalog.path(form).name == "LiteTown01.xodr"
    assert form in catalog
    assert catalog.game_path(form) == "/Game/Carla/Maps/LiteTown01"


def test_normalize_map_name() -> None:
    assert normalize_map_name("/Game/Carla/Maps/Town10HD_Opt") == "Town10HD_Opt"
    assert normalize_map_name("Town01") == "Town01"


def test_unknown_name_lists_available_maps() -> None:
    catalog = MapCatalog(env={})
    with pytest.raises(KeyError) as excinfo:
        catalog.path("/Game/Carla/Maps/Nowhere")
    message = str(excinfo.value)
    assert "Nowhere" in message
    assert "LiteTown01" in message and "LiteHighway01" in message
    assert "Nowhere" not in catalog
    with pytest.raises(KeyError):
        catalog.game_path("Nowhere")


def test_env_and_explicit_dirs_merge_and_explicit_wins(tmp_path: Path) -> None:
    env_a, env_b, explicit = tmp_path / "env_a", tmp_path / "env_b", tmp_path / "explicit"
    _write(env_a, "EnvOnly", "env-a")
    _write(env_b, "Clash", "from-env")
    _write(env_b, "LiteTown01", "env-override")
    clash = _write(explicit, "Clash", "from-explicit")
    _write(explicit, "ExplicitOnly", "explicit")
    (explicit / "notes.txt").write_text("ignored", encoding="utf-8")
    env = {ENV_VAR: os.pathsep.join([str(env_a), "", str(env_b), str(tmp_path / "missing")])}

    catalog = MapCatalog([explicit], env=env)
    assert {"EnvOnly", "Clash", "ExplicitOnly", "LiteTown01", "LiteHighway01"} <= set(
        catalog.names()
    )
    assert "notes" not in catalog.names()
    assert catalog.path("Clash") == clash
    assert catalog.read("Clash") == "from-explicit"
    assert catalog.read("LiteTown01") == "env-override"  # user files override built-ins
    assert catalog.search_dirs[-1] == explicit


def test_reads_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "FromEnviron", "x")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert "FromEnviron" in MapCatalog().names()


def test_carla_towns_folder() -> None:
    if not CARLA_TOWNS.is_dir():
        pytest.skip("CARLA town maps not available")
    catalog = MapCatalog([CARLA_TOWNS], env={})
    assert "Town01" in catalog.names()
    assert catalog.path("/Game/Carla/Maps/Town01") == CARLA_TOWNS / "Town01.xodr"
    assert catalog.game_path("Carla/Maps/Town01") == "/Game/Carla/Maps/Town01"
    assert "LiteTown01" in catalog.names()
