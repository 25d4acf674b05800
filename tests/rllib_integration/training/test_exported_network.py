"""The shared exported-network file: round trip, format and version markers, the check hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from rllib_integration.training.exported_network import (
    ExportedFileError,
    ExportFormat,
    load_exported_network,
    save_exported_network,
)
from tests.conftest import REPO_ROOT


class _Error(ExportedFileError):
    pass


FORMAT = ExportFormat("tests.Linear", 3, "linear net", _Error)


def _from_dict(data: Any) -> int:
    if set(data) != {"width"}:
        raise ValueError(f"bad keys {sorted(data)}")
    return int(data["width"])


def _build(width: int) -> nn.Linear:
    return nn.Linear(width, 2)


def _load(path: Path, **kwargs: Any) -> nn.Linear:
    return load_exported_network(path, FORMAT, _from_dict, _build, **kwargs)


def test_round_trip_is_plain_data_in_eval_mode(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = _build(4)
    path = tmp_path / "sub" / "net.pt"
    save_exported_network(net, {"width": 4}, path, FORMAT)
    payload = torch.load(path, weights_only=True)
    assert (payload["format"], payload["version"], payload["config"]) == (
        "tests.Linear",
        3,
        {"width": 4},
    )
    assert not (tmp_path / "sub" / "net.pt.tmp").exists()
    loaded = _load(path)
    assert not loaded.training
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_bad_files_raise_the_formats_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="exported linear net not found"):
        _load(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(_Error, match="cannot read exported linear net"):
        _load(garbage)
    path = tmp_path / "net.pt"
    other = ExportFormat("tests.Other", 3, "other net", _Error)
    save_exported_network(_build(4), {"width": 4}, path, other)
    with pytest.raises(_Error, match=r"is not an exported linear net .*'tests\.Linear'"):
        _load(path)
    save_exported_network(
        _build(4), {"width": 4}, path, ExportFormat("tests.Linear", 2, "", _Error)
    )
    with pytest.raises(_Error, match="export version 2, this code reads version 3"):
        _load(path)
    save_exported_network(_build(4), {"width": 4, "depth": 1}, path, FORMAT)
    with pytest.raises(_Error, match="invalid network config: bad keys"):
        _load(path)
    save_exported_network(_build(5), {"width": 4}, path, FORMAT)
    with pytest.raises(_Error, match="do not match its network config"):
        _load(path)


def test_check_runs_before_the_network_is_built(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    save_exported_network(_build(4), {"width": 4}, path, FORMAT)
    built: list[int] = []

    def build(width: int) -> nn.Linear:
        built.append(width)
        return _build(width)

    def check(width: int) -> str | None:
        return f"has width {width}, expected 8" if width != 8 else None

    with pytest.raises(_Error, match=r"net.pt' has width 4, expected 8$"):
        load_exported_network(path, FORMAT, _from_dict, build, check=check)
    assert built == []
    assert load_exported_network(path, FORMAT, _from_dict, build, check=lambda w: None)
    assert built == [4]


def test_module_does_not_import_ray() -> None:
    code = "import sys, rllib_integration.training.exported_network; print('ray' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
