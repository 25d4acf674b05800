"""The torch-only file of an exported network: format marker, version, config and weights.

Both examples export their trained network as one self-describing ``.pt`` file that the
inference scripts load with torch alone. The layout is shared here; each example names its
own :class:`ExportFormat` (marker, version, the word its messages use, its exception), so
the files of each example keep their format and a file of the other one is rejected.

This module imports nothing from Ray: the inference scripts must stay Ray-free.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

__all__ = ["ExportFormat", "ExportedFileError", "load_exported_network", "save_exported_network"]

ConfigT = TypeVar("ConfigT")
NetworkT = TypeVar("NetworkT", bound=nn.Module)


class ExportedFileError(ValueError):
    """An exported network file is corrupt, foreign or does not match its expectations."""


@dataclass(frozen=True)
class ExportFormat:
    """How one example marks its exported files and names them in messages.

    Attributes:
        name: the marker stored under ``"format"`` (a foreign ``.pt`` file lacks it).
        version: the layout version stored under ``"version"`` (bump when it changes).
        what: the file's kind in messages, e.g. ``"Q network"`` or ``"policy"``.
        error: the exception raised for a bad file.
    """

    name: str
    version: int
    what: str
    error: type[ExportedFileError]


def save_exported_network(
    network: nn.Module,
    config: Mapping[str, Any],
    path: str | os.PathLike[str],
    file_format: ExportFormat,
) -> None:
    """Writes one self-describing file: the marker, the config dict and the (CPU) state dict.

    The file holds only plain containers and tensors, so it loads with
    ``torch.load(path, weights_only=True)`` (no pickled code runs on load).

    Args:
        network: The network to export.
        config: Its config as plain python (``XConfig.to_dict()``).
        path: Destination file (parent directories are created).
        file_format: The example's format.
    """
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    payload = {
        "format": file_format.name,
        "version": file_format.version,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
    }
    # Write-then-rename so a crash mid-save never leaves a truncated file behind.
    tmp = f"{path}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_exported_network(
    path: str | os.PathLike[str],
    file_format: ExportFormat,
    config_from_dict: Callable[[Any], ConfigT],
    build: Callable[[ConfigT], NetworkT],
    device: str | torch.device = "cpu",
    check: Callable[[ConfigT], str | None] | None = None,
) -> NetworkT:
    """Rebuilds a network written by :func:`save_exported_network` (eval mode).

    Args:
        path: The exported file.
        file_format: The format the file must have.
        config_from_dict: Parses the stored config (raises ``ValueError``/``TypeError``/
            ``KeyError`` when it is invalid).
        build: Builds the untrained network of a config.
        device: Where to place the network.
        check: Says what is wrong with a valid config for the caller (e.g. ``"has 5
            actions, expected 29"``), or returns None; checked before the network is built.

    Returns:
        The network, in eval mode, on ``device``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ExportedFileError: (``file_format.error``) the file is unreadable, not of this
            format, its weights do not match its config, or ``check`` found a problem.
    """
    path = os.fspath(path)
    what, error = file_format.what, file_format.error
    if not os.path.isfile(path):
        raise FileNotFoundError(f"exported {what} not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise error(
            f"cannot read exported {what} {path!r} (corrupt or not a torch file): {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != file_format.name:
        raise error(
            f"{path!r} is not an exported {what} (missing format marker {file_format.name!r})"
        )
    if payload.get("version") != file_format.version:
        raise error(
            f"{path!r} has export version {payload.get('version')!r}, "
            f"this code reads version {file_format.version}"
        )
    try:
        config = config_from_dict(payload["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise error(f"{path!r} holds an invalid network config: {exc}") from exc
    problem = check(config) if check is not None else None
    if problem is not None:
        raise error(f"{path!r} {problem}")
    network = build(config)
    try:
        network.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, RuntimeError) as exc:
        raise error(f"weights in {path!r} do not match its network config: {exc}") from exc
    return network.to(device).eval()
