"""docs/client_api_compatibility.md is what scripts/client_api_table.py derives now."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_client_api_table_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "client_api_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "supported:" in done.stdout
