#!/usr/bin/env bash
# Installs rllib-integration + carla_lite with its pinned requirements in a Python 3.11
# virtual environment on a fresh Ubuntu 22.04/24.04 (EC2's Ubuntu or Deep Learning AMI), and
# optionally a real CARLA 0.9.16 package. Run by `aws_helper.py create-image` on the builder
# instance and by the Ray autoscaler's setup commands; idempotent: a re-run only does what is
# missing (a changed setup.sh / requirements.txt / pyproject.toml re-runs the pip step).
#
# Usage: install.sh [--project-dir DIR] [--carla-url URL] [--carla-dir DIR] [--gpu|--cpu]
#                   [--skip-system]
#   --project-dir DIR  the project to install (default: the checkout this script is in)
#   --carla-url URL    CARLA 0.9.16 package (.tar.gz) to download and unpack (env CARLA_URL)
#   --carla-dir DIR    where to unpack it (env CARLA_DIR; default ~/CARLA_0.9.16); sets
#                      CARLA_ROOT in the profile
#   --gpu / --cpu      torch with CUDA (PyPI) or the CPU build (default: --gpu if nvidia-smi
#                      exists, else --cpu)
#   --skip-system      no apt-get (packages already there, or no root)
# Environment: PYTHON (default python3.11), ENV_FILE (default ~/.rllib_integration_env.sh),
#   CHECK_MODULES (imported at the end; default "rllib_integration carla_lite carla ray"),
#   OS_RELEASE (default /etc/os-release).
#
# Python 3.11: Ubuntu 22.04 and 24.04 have no python3.11 in main, so it comes from the
# deadsnakes PPA (apt-managed, security updates through apt), added only when apt offers no
# python3.11 release (22.04's universe has only 3.11.0~rc1; Debian 12 has 3.11 in main).
set -euo pipefail

STEP="start"
step() {
    STEP="$1"
    echo "install.sh: == $1"
}
trap 'echo "install.sh: FAILED at step \"$STEP\" (line $LINENO, exit status $?)" >&2' ERR
fail() {
    echo "install.sh: FAILED at step \"$STEP\": $*" >&2
    exit 1
}

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARLA_URL="${CARLA_URL:-}"
CARLA_DIR="${CARLA_DIR:-$HOME/CARLA_0.9.16}"
PYTHON="${PYTHON:-python3.11}"
ENV_FILE="${ENV_FILE:-$HOME/.rllib_integration_env.sh}"
CHECK_MODULES="${CHECK_MODULES:-rllib_integration carla_lite carla ray}"
OS_RELEASE="${OS_RELEASE:-/etc/os-release}"
SKIP_SYSTEM=0
GPU=""
while [ $# -gt 0 ]; do
    case "$1" in
        --project-dir) PROJECT_DIR="$(cd "$2" && pwd)"; shift 2 ;;
        --carla-url) CARLA_URL="$2"; shift 2 ;;
        --carla-dir) CARLA_DIR="$2"; shift 2 ;;
        --gpu) GPU=1; shift ;;
        --cpu) GPU=0; shift ;;
        --skip-system) SKIP_SYSTEM=1; shift ;;
        -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) fail "unknown argument '$1' (see --help)" ;;
    esac
done
if [ -z "$GPU" ]; then
    if command -v nvidia-smi >/dev/null 2>&1; then GPU=1; else GPU=0; fi
fi
if [ ! -f "$PROJECT_DIR/setup.sh" ] || [ ! -f "$PROJECT_DIR/requirements.txt" ]; then
    fail "$PROJECT_DIR is not an rllib-integration checkout (no setup.sh / requirements.txt)"
fi

# -- 1. system packages --------------------------------------------------------------------
if [ "$SKIP_SYSTEM" = 0 ]; then
    step "system packages"
    packages=(libegl1 libegl-mesa0 libgl1-mesa-dri rsync curl ca-certificates tar
        python3.11 python3.11-venv python3.11-dev)
    if [ -n "$CARLA_URL" ]; then
        packages+=(libvulkan1 xdg-user-dirs)  # CarlaUE4.sh -RenderOffScreen
    fi
    missing=()
    for pkg in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "install.sh: installing ${missing[*]}"
        as_root=()
        if [ "$(id -u)" != 0 ]; then
            sudo -n true 2>/dev/null || fail "needs root or password-less sudo to install ${missing[*]} (or --skip-system)"
            as_root=(sudo)
        fi
        # On a fresh instance cloud-init's apt runs may hold the lock for minutes: wait for it.
        APT=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q)
        "${APT[@]}" update
        candidate="$(apt-cache policy python3.11 | sed -n 's/^ *Candidate: //p')"
        case "$candidate" in
            "" | "(none)" | *~rc* | *~a[0-9]* | *~b[0-9]*) need_ppa=1 ;;  # 22.04: 3.11.0~rc1
            *) need_ppa=0 ;;
        esac
        if [ "$need_ppa" = 1 ]; then
            step "system packages: deadsnakes PPA for python3.11"
            os_id="$(sed -n 's/^ID=//p' "$OS_RELEASE" 2>/dev/null | tr -d '"')"
            [ "$os_id" = ubuntu ] ||
                fail "apt offers no python3.11 release (${candidate:-none}) and the deadsnakes PPA is for Ubuntu only ($os_id): install Python 3.11 and set PYTHON"
            "${APT[@]}" install software-properties-common
            "${as_root[@]}" add-apt-repository -y ppa:deadsnakes/ppa
            "${APT[@]}" update
            step "system packages"
        fi
        "${APT[@]}" install "${missing[@]}"
    else
        echo "install.sh: system packages already installed"
    fi
fi

# -- 2. the project and its pinned requirements in PROJECT_DIR/.venv -----------------------
step "python environment"
command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found (install python3.11 or set PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    fail "$PYTHON is not Python 3.11"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
    fail "$PYTHON lacks venv/ensurepip (apt-get install python3.11-venv)"
if [ "$GPU" = 1 ]; then
    TORCH_INDEX=""  # PyPI's Linux torch wheels are the CUDA build
else
    TORCH_INDEX="https://download.pytorch.org/whl/cpu"
fi
stamp_file="$PROJECT_DIR/.venv/.install-stamp"
stamp="$(cat "$PROJECT_DIR/setup.sh" "$PROJECT_DIR/requirements.txt" \
    "$PROJECT_DIR/pyproject.toml" 2>/dev/null | sha256sum | cut -d' ' -f1) torch=${TORCH_INDEX:-pypi}"
if [ -x "$PROJECT_DIR/.venv/bin/python" ] && [ -f "$stamp_file" ] &&
    [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "install.sh: $PROJECT_DIR/.venv is up to date"
else
    # With the CPU index added, pip prefers torch==X+cpu over PyPI's CUDA build of X.
    if [ -n "$TORCH_INDEX" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX"; fi
    PYTHON="$PYTHON" bash "$PROJECT_DIR/setup.sh"
    printf '%s\n' "$stamp" >"$stamp_file"
fi

# -- 3. optional real CARLA ----------------------------------------------------------------
CARLA_ROOT_LINE=""
if [ -n "$CARLA_URL" ]; then
    step "CARLA from $CARLA_URL"
    if [ -x "$CARLA_DIR/CarlaUE4.sh" ]; then
        echo "install.sh: CARLA already in $CARLA_DIR"
    else
        archive="$CARLA_DIR.tar.gz.part"
        mkdir -p "$(dirname "$CARLA_DIR")"
        curl -fL --retry 3 --retry-delay 5 -o "$archive" "$CARLA_URL" ||
            fail "cannot download $CARLA_URL"
        rm -rf "$CARLA_DIR.unpack"
        mkdir -p "$CARLA_DIR.unpack"
        tar -xzf "$archive" -C "$CARLA_DIR.unpack" || fail "$CARLA_URL is not a .tar.gz"
        [ -f "$CARLA_DIR.unpack/CarlaUE4.sh" ] ||
            fail "$CARLA_URL has no CarlaUE4.sh at its top level (not a CARLA package?)"
        chmod +x "$CARLA_DIR.unpack/CarlaUE4.sh"
        rm -rf "$CARLA_DIR"
        mv "$CARLA_DIR.unpack" "$CARLA_DIR"
        rm -f "$archive"
    fi
    CARLA_ROOT_LINE="export CARLA_ROOT=\"$CARLA_DIR\""
elif [ -x "$CARLA_DIR/CarlaUE4.sh" ]; then
    CARLA_ROOT_LINE="export CARLA_ROOT=\"$CARLA_DIR\""
fi

# -- 4. profile: the venv on PATH (and CARLA_ROOT) for login, interactive and ssh shells ------
step "profile"
tmp="$ENV_FILE.tmp"
{
    echo "# Written by rllib-integration's aws/install/install.sh; re-running it rewrites this."
    echo "export RLLIB_INTEGRATION_DIR=\"$PROJECT_DIR\""
    echo "case \":\$PATH:\" in *\":$PROJECT_DIR/.venv/bin:\"*) ;; *) export PATH=\"$PROJECT_DIR/.venv/bin:\$PATH\" ;; esac"
    if [ -n "$CARLA_ROOT_LINE" ]; then echo "$CARLA_ROOT_LINE"; fi
} >"$tmp"
mv "$tmp" "$ENV_FILE"
source_line="[ -f \"$ENV_FILE\" ] && . \"$ENV_FILE\"  # rllib-integration"
for rc in "$HOME/.bashrc" "$HOME/.profile"; do
    touch "$rc"
    if ! grep -qF "$source_line" "$rc"; then
        # First line: Ubuntu's .bashrc returns early for non-interactive shells (ssh cmd).
        { echo "$source_line"; cat "$rc"; } >"$rc.tmp"
        mv "$rc.tmp" "$rc"
    fi
done

# -- 5. check ------------------------------------------------------------------------------
step "check"
for module in $CHECK_MODULES; do
    "$PROJECT_DIR/.venv/bin/python" -c "import $module" ||
        fail "the environment cannot import $module"
done
echo "install.sh: done: $PROJECT_DIR/.venv ready${CARLA_ROOT_LINE:+, CARLA in $CARLA_DIR}; profile $ENV_FILE"
