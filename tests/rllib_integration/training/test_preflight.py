"""Preflight: env-config errors found before Ray starts, each one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rllib_integration.errors import ConfigError
from rllib_integration.training.preflight import preflight


def _config(server: str | None, town: str = "LiteTown01", **carla: object) -> dict[str, object]:
    return {"carla": {"server": server, **carla}, "experiment": {"town": town}}


def _message(env_config: dict[str, object], **kwargs: bool) -> str:
    with pytest.raises(ConfigError) as info:
        preflight(env_config, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_carla_without_carla_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    message = _message(_config("carla"))
    assert message.startswith("env_config.carla.server is 'carla' but $CARLA_ROOT is not set")
    assert "server: embedded" in message
    # On a cluster the runners' nodes need CARLA, not this one: not checked here.
    preflight(_config("carla"), on_this_machine=False)


def test_carla_root_needs_an_executable_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CARLA_ROOT", str(tmp_path))
    assert f"{tmp_path / 'CarlaUE4.sh'} does not exist" in _message(_config("carla"))
    script = tmp_path / "CarlaUE4.sh"
    script.write_text("#!/bin/sh\n")
    assert "is not executable" in _message(_config("carla"))
    script.chmod(0o755)
    preflight(_config("carla"))
    # No server configured: $CARLA_ROOT set means the real simulator.
    preflight(_config(None))


def test_embedded_town_must_be_a_carla_lite_map(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CARLA_ROOT", raising=False)
    monkeypatch.delenv("CARLA_LITE_MAPS_DIR", raising=False)
    preflight(_config("embedded", "LiteTown01"))
    preflight(_config(None, "/Game/Carla/Maps/litetown01"))  # CARLA's path form, any case
    message = _message(_config("embedded", "Town07"), on_this_machine=False)
    assert message.startswith("env_config.experiment.town: 'Town07' is not a carla_lite map")
    assert "LiteTown01" in message
    (tmp_path / "Town07.xodr").write_text("<OpenDRIVE/>")
    preflight(_config("embedded", "Town07", maps_dirs=[str(tmp_path)]))
    monkeypatch.setenv("CARLA_LITE_MAPS_DIR", str(tmp_path))
    preflight(_config("embedded", "Town07"))


def test_external_server_must_answer() -> None:
    assert "carla.port is not set" in _message(_config("external"))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        preflight(_config("external", host="127.0.0.1", port=port))
    message = _message(_config("external", host="127.0.0.1", port=port))
    assert f"nothing answers at 127.0.0.1:{port}" in message
