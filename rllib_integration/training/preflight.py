"""Errors an env config already reveals, found before Ray starts.

Inside Ray the same mistakes surface only when the first env resets, as a long traceback of
the failed trial; here each is one :class:`~rllib_integration.errors.ConfigError` line:

* ``server: carla``: ``$CARLA_ROOT`` set, and ``CarlaUE4.sh`` in it and executable;
* ``server: embedded``: the carla_lite package present, and the experiment's town one of the
  maps it serves (built-in, ``$CARLA_LITE_MAPS_DIR`` and ``carla.maps_dirs``);
* ``server: external``: something listening at ``host:port``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rllib_integration.errors import ConfigError
from rllib_integration.server import (
    CARLA_ROOT_ENV,
    MAPS_DIR_ENV,
    bare_map_name,
    default_server_kind,
    embedded_maps,
)

_CARLA_SCRIPT = "CarlaUE4.sh"
#: [s] to wait for an external server to accept a TCP connection.
_CONNECT_TIMEOUT = 2.0


def preflight(env_config: Mapping[str, Any], *, on_this_machine: bool = True) -> None:
    """Check what a CarlaEnv config needs before anything is launched.

    Args:
        env_config: the CarlaEnv config (``carla`` and ``experiment`` sections).
        on_this_machine: whether the env runners (and the servers they launch) run here.
            False on a cluster (``--auto``): ``$CARLA_ROOT`` and an external server matter
            on the worker nodes, so only the machine-independent checks run.

    Raises:
        ConfigError: one line saying what is missing and how to fix it.
    """
    carla = dict(env_config.get("carla") or {})
    experiment = dict(env_config.get("experiment") or {})
    kind = carla.get("server") or default_server_kind()
    if kind == "embedded":
        _check_embedded(experiment.get("town"), carla.get("maps_dirs") or [])
    elif kind == "carla" and on_this_machine:
        _check_carla_root()
    elif kind == "external" and on_this_machine:
        _check_external(str(carla.get("host") or "localhost"), carla.get("port"))


def _check_carla_root() -> None:
    root = os.environ.get(CARLA_ROOT_ENV)
    if not root:
        raise ConfigError(
            f"env_config.carla.server is 'carla' but ${CARLA_ROOT_ENV} is not set: point it at "
            f"a CARLA 0.9.16 installation (the folder with {_CARLA_SCRIPT}), or set "
            "server: embedded to train on carla_lite"
        )
    script = Path(root) / _CARLA_SCRIPT
    if not script.is_file():
        raise ConfigError(
            f"env_config.carla.server is 'carla' but {script} does not exist: set "
            f"${CARLA_ROOT_ENV} to the folder containing {_CARLA_SCRIPT} (now {root!r})"
        )
    if not os.access(script, os.X_OK):
        raise ConfigError(f"{script} is not executable: chmod +x it")


def _check_embedded(town: Any, maps_dirs: list[Any]) -> None:
    spec = importlib.util.find_spec("carla_lite")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "env_config.carla.server is 'embedded' but the carla_lite package is not "
            f"installed (pip install -e . in this project), or set ${CARLA_ROOT_ENV} and "
            "server: carla"
        )
    if not isinstance(town, str):
        return  # the experiment's own validation reports a bad town type
    maps = embedded_maps(Path(spec.origin).parent, maps_dirs)
    if maps and bare_map_name(town).casefold() not in {m.casefold() for m in maps}:
        raise ConfigError(
            f"env_config.experiment.town: {town!r} is not a carla_lite map; available: "
            f"{', '.join(sorted(maps))} (add folders of .xodr files with carla.maps_dirs or "
            f"${MAPS_DIR_ENV})"
        )


def _check_external(host: str, port: Any) -> None:
    if port is None:
        raise ConfigError(
            "env_config.carla.server is 'external' but carla.port is not set (the RPC port of "
            "the running server)"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as error:
        raise ConfigError(
            f"env_config.carla.server is 'external' but nothing answers at {host}:{port} "
            f"({error.strerror or error}): start the server first"
        ) from error
