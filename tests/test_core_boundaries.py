"""The core and the command line import neither Qt, TensorFlow nor pynetdicom, even while predicting and scanning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import contextlib, io, json, pkgutil, importlib, sys
import osteo_desktop.core as core
modules = [m.name for m in pkgutil.walk_packages(core.__path__, "osteo_desktop.core.")]
for name in modules:
    importlib.import_module(name)
from osteo_desktop import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    predict = cli.main(["predict", "--json", *sys.argv[1:3]])
    scan = cli.main(["scan", "--no-history", sys.argv[3]])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"PySide6", "shiboken6", "tensorflow", "keras", "tf_keras", "pynetdicom"})
print(json.dumps({"modules": modules, "predict": predict, "scan": scan, "heavy": heavy,
                  "rows": len(json.loads(out.getvalue().split("\n]\n")[0] + "\n]"))}))
"""


def test_core_and_cli_never_import_qt_or_tensorflow(tmp_path, knee_png, knee_jpeg):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / knee_png.name).write_bytes(knee_png.read_bytes())
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OSTEO_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-c", PROBE, str(knee_png), str(knee_jpeg), str(folder)], env=env,
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "osteo_desktop.core.pipeline.scanning" in report["modules"] and "osteo_desktop.core.results.history" in report["modules"]
    assert report["predict"] == 0 and report["scan"] == 0 and report["rows"] == 2
    assert report["heavy"] == [], f"imported {report['heavy']}"


def test_python_dash_m_runs_the_command_line(tmp_path, knee_png):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OSTEO_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "osteo_desktop", "predict", "--json", str(knee_png)], env=env,
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["path"] == str(knee_png)
