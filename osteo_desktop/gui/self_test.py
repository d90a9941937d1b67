"""``osteo-desktop --self-test [FILE]``: the real window, the real worker path, one result printed as JSON.

The installer's smoke test runs this inside the frozen bundle, so it must need nothing but the bundle itself. It uses
a throw-away history and settings so that a test run never shows up in the user's own history or recent files.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from osteo_desktop.core.results.history import History
from osteo_desktop.core.paths import sample_image_path
from osteo_desktop.gui.main_window import MainWindow
from osteo_desktop.gui.jobs import AnalysisOutcome

log = logging.getLogger(__name__)


def _process_age_ms() -> float | None:
    """How long this process has existed (Linux only): covers interpreter start-up and imports before ``LAUNCHED``."""
    try:
        with open("/proc/self/stat") as handle:
            started_ticks = float(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime_s = float(handle.read().split()[0])
        return (uptime_s - started_ticks / os.sysconf("SC_CLK_TCK")) * 1000.0
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def run_self_test(app: QApplication, path: Path | None, *, launched: float, output: str | None = None, timeout_s: float = 120.0) -> int:
    path = Path(path) if path else sample_image_path()
    process_age = _process_age_ms()
    process_offset = None if process_age is None else process_age - (time.perf_counter() - launched) * 1000.0
    report: dict[str, Any] = {"path": str(path)}
    marks: dict[str, float] = {}
    state: dict[str, Any] = {}

    def elapsed_ms() -> float:
        return round((time.perf_counter() - launched) * 1000.0, 1)

    with tempfile.TemporaryDirectory(prefix="osteo-self-test-") as scratch:
        settings = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
        history = History(Path(scratch) / "history.sqlite3")
        window = MainWindow(settings=settings, history=history)

        def finish(key: str, value: Any) -> None:
            state.setdefault(key, value)
            app.quit()

        def window_ready() -> None:
            marks["window_ready"] = elapsed_ms()
            window.open_file(path)  # exactly what File > Open does

        window.model_ready.connect(lambda: marks.setdefault("model_loaded", elapsed_ms()))
        window.analysis_shown.connect(lambda outcome: (marks.setdefault("first_result", elapsed_ms()), finish("outcome", outcome)))
        window.analysis_failed.connect(lambda message: finish("error", message))
        window.model_failed.connect(lambda message: finish("error", message))
        QTimer.singleShot(int(timeout_s * 1000), lambda: finish("error", f"no result within {timeout_s:.0f} s"))
        window.show()
        QTimer.singleShot(0, window_ready)
        if not path.is_file():
            state["error"] = f"{path}: no such file"
        else:
            app.exec()
        recorded = history.count()
        window.close()
        history.close()

    outcome: AnalysisOutcome | None = state.get("outcome")
    declined = False
    if outcome is not None:
        analysis = outcome.analysis
        row = analysis.result  # the same fields as `osteo predict --json`; a declined file has no label or numbers
        declined = row.declined
        report.update(
            path=outcome.path, label=row.label, probability=row.probability, confidence=row.confidence,
            threshold=row.threshold, model_version=row.model_version, model_sha256=row.model_sha256,
            warnings=list(row.warnings),
            timings_ms={k: round(v, 1) for k, v in analysis.timings_ms.items()},
            explanation=analysis.explanation is not None, history_recorded=recorded == 1, out_of_scope=row.out_of_scope,
            knees=[knee.to_dict() for knee in row.knees],
        )
    report["startup_ms"] = {**marks, "process_start_to_launch": None if process_offset is None else round(process_offset, 1)}
    # The app worked end to end when it answered: with a result (recorded in the history) or, for a file out of
    # the model's scope, with "no result" (nothing to record). Either answer passes the self-test.
    report["ok"] = outcome is not None and (recorded == 1 or (declined and recorded == 0))
    report["error"] = state.get("error") or (None if report["ok"] else "the result was not recorded in the history")
    text = json.dumps(report, indent=2)
    if sys.stdout is not None:  # a windowed (no console) frozen build has no stdout
        print(text, flush=True)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    return 0 if report["ok"] else 1
