"""``dqn_train.py --auto`` with no Ray cluster to join: one line naming ``ray start --head``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import ray_env, tiny_cluster_yaml
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.ray


def test_auto_without_a_cluster_is_one_clear_line(tmp_path: Path) -> None:
    from ray._private.services import find_bootstrap_address, find_gcs_addresses

    # "auto" joins any Ray instance of this machine (someone else's `ray start`, or a
    # ray.init() still running): the case only exists without one.
    if find_gcs_addresses() or find_bootstrap_address(None):
        pytest.skip("another Ray instance runs on this machine")
    command = [sys.executable, str(REPO_ROOT / "dqn_train.py"), str(tiny_cluster_yaml(tmp_path))]
    command += ["--auto", "--tboff", "-d", str(tmp_path / "runs")]
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=ray_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "--auto found no running Ray cluster" in errors[0]
    assert "`ray start --head`" in errors[0] and "RAY_ADDRESS" in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout.rstrip().endswith("done.")
    assert not (tmp_path / "runs").exists()  # nothing started, nothing written
