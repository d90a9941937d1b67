#!/usr/bin/env bash
# Install osteo-desktop into ./.venv (first run only) and start the desktop app. Extra arguments go to the app,
# e.g. a file to open: ./scripts/run-app.sh knee.dcm
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import osteo_desktop, PySide6, ai_edge_litert" 2>/dev/null; then
  .venv/bin/python -m pip install --upgrade pip >/dev/null
  .venv/bin/python -m pip install -e .
fi
exec .venv/bin/osteo-desktop "$@"
