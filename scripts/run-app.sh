#!/usr/bin/env bash
# Install osteo-desktop into ./.venv (first run only) and start the desktop app. Extra arguments go to the app,
# e.g. a file to open: ./scripts/run-app.sh knee.dcm
# The commands it installs live in .venv/bin: .venv/bin/osteo (command line) and .venv/bin/osteo-desktop (app).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "run-app.sh: $PYTHON not found; install Python 3.10 or newer (Debian/Ubuntu: apt install python3 python3-venv)." >&2
    exit 2
  fi
  if ! "$PYTHON" -m venv .venv; then
    rm -rf .venv
    echo "run-app.sh: '$PYTHON -m venv' failed; on Debian/Ubuntu install it with: apt install python3-venv" >&2
    exit 2
  fi
fi
if ! .venv/bin/python -c "import osteo_desktop, PySide6, ai_edge_litert" 2>/dev/null; then
  .venv/bin/python -m pip install --upgrade pip >/dev/null
  .venv/bin/python -m pip install -e .
fi
# Without a display Qt aborts (status 134) with a misleading message about xcb-cursor; say what to do instead.
# The install above has run, so the command line works even here.
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "run-app.sh: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop window cannot open." >&2
  echo "  Over SSH use 'ssh -X', or use the command line, installed as .venv/bin/osteo:" >&2
  echo "    .venv/bin/osteo predict knee.png     (or: source .venv/bin/activate, then: osteo predict knee.png)" >&2
  echo "  (QT_QPA_PLATFORM=offscreen runs the app without a window, for testing)." >&2
  exit 2
fi
exec .venv/bin/osteo-desktop "$@"
