#!/usr/bin/env bash
# Install everything the tests need into ./.venv (system libraries for Qt too, where apt is available and we are
# root), then run the whole test suite headless. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # Qt's offscreen and xcb platforms, and Xvfb for the screenshot checks.
  pkgs="libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0"
  missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv; then
    rm -rf .venv
    echo "run-tests.sh: '$PYTHON -m venv' failed; on Debian/Ubuntu install it with: apt install python3-venv" >&2
    exit 2
  fi
fi
.venv/bin/python -m pip install --upgrade pip >/dev/null
# cluster: Ray, for tests/test_ray_backend.py (a local 2-CPU Ray cluster, about a minute).
.venv/bin/python -m pip install -e ".[train,dev,cluster]"
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
