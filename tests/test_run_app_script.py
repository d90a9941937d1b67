"""./scripts/run-app.sh on a fresh machine: installs into .venv first, so that without a display it can point to
the installed command line (.venv/bin/osteo) instead of letting Qt abort with status 134."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run-app.sh"


def _checkout(tmp_path: Path, python_body: str) -> Path:
    """A copy of the script in a scratch checkout whose '.venv/bin/python' is a stand-in (no real install)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "run-app.sh")
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\n" + python_body)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def _headless_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(extra)
    return env


def test_without_a_display_it_installs_then_points_to_the_command_line(tmp_path):
    # The stand-in python "creates" a venv whose python reports everything installed; its calls are logged.
    log = tmp_path / "calls.log"
    venv_python = f'#!/bin/sh\necho "venv $*" >> {log}\nexit 0\n'
    fake = _checkout(tmp_path, f'echo "system $*" >> {log}\nmkdir -p .venv/bin\n'
                               f"printf '%s' '{venv_python}' > .venv/bin/python\nchmod +x .venv/bin/python\n")
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "run-app.sh")], env=_headless_env(PYTHON=str(fake)),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "no display" in result.stderr and "xcb" not in result.stderr
    assert ".venv/bin/osteo predict" in result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "system -m venv .venv"  # the install ran before the display check
    assert any(call.startswith("venv -c import osteo_desktop") for call in calls)


def test_a_python_without_venv_gets_a_plain_message(tmp_path):
    fake = _checkout(tmp_path, "echo 'No module named ensurepip' >&2\nexit 1\n")
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "run-app.sh")], env=_headless_env(PYTHON=str(fake)),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "apt install python3-venv" in result.stderr
    assert not (tmp_path / ".venv").exists()
