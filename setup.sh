#!/usr/bin/env bash
# One-shot set-up: a virtual environment in .venv with every pinned dependency.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
# Cameras render on a headless EGL context (Mesa's llvmpipe): three Debian/Ubuntu packages,
# installed when missing and we are root, else named for the user to install.
EGL_PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri"
missing=""
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in $EGL_PACKAGES; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        case "$status" in
            *"install ok installed"*) ;;
            *) missing="$missing $pkg" ;;
        esac
    done
else
    case "$(ldconfig -p 2>/dev/null || true)" in
        *"libEGL.so.1 "*) ;;
        *) missing=" $EGL_PACKAGES" ;;
    esac
fi
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "setup.sh: the cameras need the system packages$missing" \
            "(as root: apt-get install -y$missing); everything else works without them" >&2
    fi
fi
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: 2.13.0 is a local CPU build; any other resolution pulls CUDA.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "setup.sh: environment ready in .venv"
