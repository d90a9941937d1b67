#!/usr/bin/env bash
# Install osteo-desktop into ./.venv (first run only) and start the desktop app. Extra arguments go to the app,
# e.g. a file to open: ./scripts/run-app.sh knee.dcm
set -euo pipefail
cd "$(dirname "$0")/.."
# Without a display Qt aborts (status 134) with a misleading message about xcb-cursor; say what to do instead.
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "run-app.sh: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop window cannot open." >&2
  echo "  Over SSH use 'ssh -X', or use the command line: source .venv/bin/activate && osteo predict knee.png" >&2
  echo "  (QT_QPA_PLATFORM=offscreen runs the app without a window, for testing)." >&2
  exit 2
fi
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import osteo_desktop, PySide6, ai_edge_litert" 2>/dev/null; then
  .venv/bin/python -m pip install --upgrade pip >/dev/null
  .venv/bin/python -m pip install -e .
fi
exec .venv/bin/osteo-desktop "$@"
