"""aws/install/install.sh: syntax, shellcheck, and its idempotent steps run in a temp HOME.

The apt/PPA step needs a fresh Ubuntu with root and the internet, so it is skipped here
(``--skip-system``); the project step runs against a copy of the script inside a small
project whose ``setup.sh`` records its calls (the real one installs torch and Ray), and
CARLA comes from a ``file://`` URL of a package the test makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "aws" / "install" / "install.sh"

STUB_SETUP = """#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
echo "setup python=$PYTHON extra_index=${PIP_EXTRA_INDEX_URL:-none}" >>calls.log
mkdir -p .venv/bin
ln -sf "$(command -v "$PYTHON")" .venv/bin/python
if [ -f fail ]; then exit 3; fi
"""


def test_syntax_and_shellcheck() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (.ci/run installs it)")
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "aws" / "install").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "aws" / "install" / "install.sh")
    (root / "setup.sh").write_text(STUB_SETUP)
    (root / "requirements.txt").write_text("PyYAML==6.0.3\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def run_install(
    project: Path, home: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    python_dir = str(Path(sys.executable).parent)
    return subprocess.run(
        ["bash", str(project / "aws" / "install" / "install.sh"), "--skip-system", *args],
        env={
            "HOME": str(home),
            "PATH": f"{python_dir}:/usr/bin:/bin",
            "PYTHON": sys.executable,
            "CHECK_MODULES": "json yaml",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def carla_package(path: Path) -> str:
    src = path.parent / "carla_src"
    src.mkdir()
    (src / "CarlaUE4.sh").write_text("#!/bin/sh\necho carla\n")
    (src / "PythonAPI").mkdir()
    with tarfile.open(path, "w:gz") as tar:
        for entry in src.iterdir():
            tar.add(entry, arcname=entry.name)
    return path.as_uri()


def test_install_is_idempotent_and_sets_the_profile(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("case $- in *i*) ;; *) return;; esac\nalias ll='ls -l'\n")
    url = carla_package(tmp_path / "CARLA_0.9.16.tar.gz")

    first = run_install(project, home, "--cpu", CARLA_URL=url)
    assert first.returncode == 0, first.stderr
    calls = (project / "calls.log").read_text().splitlines()
    assert calls == [
        f"setup python={sys.executable} extra_index=https://download.pytorch.org/whl/cpu"
    ]
    carla = home / "CARLA_0.9.16"
    assert os.access(carla / "CarlaUE4.sh", os.X_OK)
    env_file = (home / ".rllib_integration_env.sh").read_text()
    assert f'export CARLA_ROOT="{carla}"' in env_file
    assert f"{project}/.venv/bin" in env_file
    bashrc = (home / ".bashrc").read_text().splitlines()
    assert ".rllib_integration_env.sh" in bashrc[0]  # before Ubuntu's non-interactive return
    # The profile puts the venv first on PATH and sets CARLA_ROOT in a fresh shell.
    shown = subprocess.run(
        ["bash", "-c", f". {home}/.rllib_integration_env.sh; command -v python; echo $CARLA_ROOT"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == [f"{project}/.venv/bin/python", str(carla)]

    # Again, with the package gone: nothing is redone, nothing is added twice.
    os.unlink(tmp_path / "CARLA_0.9.16.tar.gz")
    second = run_install(project, home, "--cpu", CARLA_URL=url)
    assert second.returncode == 0, second.stderr
    assert len((project / "calls.log").read_text().splitlines()) == 1
    assert "is up to date" in second.stdout and "CARLA already in" in second.stdout
    for rc in (".bashrc", ".profile"):
        assert (home / rc).read_text().count("# rllib-integration\n") == 1

    # A changed pin re-runs the project step (GPU: PyPI's CUDA torch, no CPU index).
    (project / "requirements.txt").write_text("PyYAML==6.0.2\n")
    third = run_install(project, home, "--gpu")
    assert third.returncode == 0, third.stderr
    assert (project / "calls.log").read_text().splitlines()[-1].endswith("extra_index=none")
    # CARLA is still found without the URL.
    assert "CARLA_ROOT" in (home / ".rllib_integration_env.sh").read_text()


def test_failures_name_the_step(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (project / "fail").touch()
    done = run_install(project, home)
    assert done.returncode != 0
    assert 'FAILED at step "python environment"' in done.stderr
    (project / "fail").unlink()
    done = run_install(project, home, CARLA_URL=(tmp_path / "missing.tar.gz").as_uri())
    assert done.returncode == 1
    assert 'FAILED at step "CARLA from file://' in done.stderr and "cannot download" in done.stderr
    done = run_install(project, home, CHECK_MODULES="no_such_module_here")
    assert done.returncode == 1
    assert "cannot import no_such_module_here" in done.stderr
    done = run_install(project, home, "--bogus")
    assert done.returncode == 1 and "unknown argument '--bogus'" in done.stderr
    done = run_install(project, home, PYTHON="/bin/false")
    assert done.returncode == 1 and "is not Python 3.11" in done.stderr


STUBS = {
    "dpkg-query": '#!/bin/sh\nfor p in $MISSING; do [ "$p" = "$3" ] && exit 1; done\n'
    'printf "install ok installed"\n',
    "apt-get": '#!/bin/sh\necho "apt-get $*" >>"$LOG"\n',
    "apt-cache": '#!/bin/sh\necho "python3.11:"\necho "  Installed: (none)"\n'
    'echo "  Candidate: $CANDIDATE"\n',
    "add-apt-repository": '#!/bin/sh\necho "add-apt-repository $*" >>"$LOG"\n',
}


@pytest.mark.parametrize(
    ("candidate", "ppa"),
    [("3.11.2-6+deb12u6", False), ("(none)", True), ("3.11.0~rc1-1~22.04", True)],
)
def test_system_step_installs_only_what_is_missing(
    project: Path, tmp_path: Path, candidate: str, ppa: bool
) -> None:
    """apt-get, apt-cache, dpkg-query and add-apt-repository are stand-ins that log calls."""
    if os.geteuid() != 0:
        pytest.skip("the system step runs apt-get as root (CI runs as root)")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "apt.log"
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n')
    python_dir = str(Path(sys.executable).parent)

    def install(missing: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(project / "aws" / "install" / "install.sh")],
            env={
                "HOME": str(home),
                "PATH": f"{stubs}:{python_dir}:/usr/bin:/bin",
                "PYTHON": sys.executable,
                "CHECK_MODULES": "json",
                "MISSING": missing,
                "LOG": str(log),
                "CANDIDATE": candidate,
                "OS_RELEASE": str(os_release),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = install("python3.11-venv libegl1")
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0].endswith("apt-get -o DPkg::Lock::Timeout=900 -y -q update")
    assert calls[-1].endswith("install libegl1 python3.11-venv")
    ppa_calls = [c for c in calls if c.startswith("add-apt-repository")]
    assert ppa_calls == (["add-apt-repository -y ppa:deadsnakes/ppa"] if ppa else [])
    log.unlink()
    done = install("")
    assert done.returncode == 0, done.stderr
    assert "system packages already installed" in done.stdout
    assert not log.exists()
    if ppa:
        # Not Ubuntu: no PPA to add, a clear failure instead.
        os_release.write_text("ID=debian\n")
        done = install("python3.11")
        assert done.returncode == 1
        assert "apt offers no python3.11 release" in done.stderr and "(debian)" in done.stderr
