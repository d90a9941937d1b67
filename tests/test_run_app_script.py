"""./scripts/run-app.sh without any display explains what to do instead of letting Qt abort with status 134."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run-app.sh"


def test_without_a_display_the_script_explains_and_exits_2():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "no display" in result.stderr
    assert "osteo predict" in result.stderr
    assert "xcb" not in result.stderr
