"""`osteo-desktop --self-test`: the real window in a fresh process, and no TensorFlow anywhere in the GUI."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import osteo_desktop.gui
from osteo_desktop.core.pipeline.analysis import analyse_file

GUI_DIR = Path(osteo_desktop.gui.__file__).parent
FORBIDDEN = ("tensorflow", "keras", "osteo_desktop.training")


def run_self_test(*args: str, tmp_path: Path) -> tuple[int, dict]:
    output = tmp_path / "self-test.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OSTEO_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "osteo_desktop.gui.app", "--self-test", *args, "--self-test-output", str(output)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    printed = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert json.loads(output.read_text()) == printed
    return proc.returncode, printed


def test_self_test_prints_the_result_of_the_real_window(tmp_path, classifier, knee_png):
    code, report = run_self_test(str(knee_png), tmp_path=tmp_path)
    assert code == 0, report
    expected = analyse_file(knee_png, classifier).prediction
    assert report["ok"] is True and report["error"] is None
    assert report["path"] == str(knee_png)
    assert report["label"] == expected.label
    assert abs(report["probability"] - expected.probability) < 1e-6
    assert report["model_version"] == classifier.version
    assert report["model_sha256"] == classifier.model_sha256  # the exact model (issue 12)
    assert report["threshold"] == expected.threshold
    for key in ("confidence", "warnings", "timings_ms"):
        assert key in report
    startup = report["startup_ms"]
    assert 0 < startup["window_ready"] <= startup["first_result"]
    assert startup["model_loaded"] <= startup["first_result"]
    assert report["history_recorded"] is True
    assert not (tmp_path / "data").exists()  # a self-test never touches the user's own history


def test_self_test_fails_with_a_clear_message_on_a_bad_file(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    code, report = run_self_test(str(bad), tmp_path=tmp_path)
    assert code != 0
    assert report["ok"] is False
    assert "notes.png" in report["error"]


def test_gui_code_never_imports_tensorflow():
    for path in sorted(GUI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module] + ([f"osteo_desktop.{module}"] if node.level else [])
                names += [f"{module}.{alias.name}" for alias in node.names]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") or name.startswith("training") for f in FORBIDDEN), f"{path.name}: {name}"


def test_the_whole_gui_loads_without_tensorflow():
    code = (
        "import sys, osteo_desktop.gui.app, osteo_desktop.gui.main_window, osteo_desktop.gui.batch_dialog, "
        "osteo_desktop.gui.history_view, osteo_desktop.gui.report_pdf, osteo_desktop.gui.about_dialog, "
        "osteo_desktop.gui.self_test; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_self_test_passes_on_a_file_out_of_scope_and_on_the_bundled_sample(tmp_path):
    """Either answer passes: no result with a reason (nothing recorded), or a result (recorded). The bundled
    phantom must give a result: it is what a new user opens first."""
    import numpy as np
    from PIL import Image

    bars = tmp_path / "bars.png"
    colours = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0]])
    Image.fromarray(np.repeat(colours, 80, axis=0)[None].repeat(360, axis=0).astype(np.uint8)).save(bars)
    code, report = run_self_test(str(bars), tmp_path=tmp_path)
    assert code == 0 and report["ok"] is True and report["error"] is None, report
    assert report["label"] is None and report["probability"] is None
    assert report["out_of_scope"].startswith("not a radiograph")
    assert report["explanation"] is False and report["history_recorded"] is False

    code, report = run_self_test(tmp_path=tmp_path)  # no file: the bundled sample
    assert code == 0 and report["ok"] is True, report
    assert report["label"] and report["out_of_scope"] is None and report["history_recorded"] is True


def test_self_test_on_a_fresh_machine_never_writes_the_users_history(tmp_path):
    """Issue 12: seen once on a fresh machine. No OSTEO_DATA_DIR; HOME and XDG_DATA_HOME point at an empty folder,
    as a fresh account's would: after the self-test no history (and no data folder at all) exists there."""
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    output = tmp_path / "self-test.json"
    env = {k: v for k, v in os.environ.items() if k != "OSTEO_DATA_DIR"}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_DATA_HOME=str(xdg), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "osteo_desktop.gui.app", "--self-test", "--self-test-output", str(output)],
                          capture_output=True, text=True, timeout=180, env=env)
    report = json.loads(output.read_text())
    assert proc.returncode == 0 and report["ok"] is True and report["history_recorded"] is True, proc.stderr[-2000:]
    written = [p for root in (home, xdg) for p in root.rglob("*")]
    assert not [p for p in written if "history" in p.name or p.name == "osteo-desktop"], written
