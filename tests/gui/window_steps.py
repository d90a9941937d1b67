"""Steps the GUI tests share: open a file in the window and wait until its result (or refusal) is on screen."""

from __future__ import annotations


def open_and_wait(qtbot, window, path):
    """``window.open_file(path)``, then the AnalysisOutcome once ``analysis_shown`` fires (60 s at most)."""
    with qtbot.waitSignal(window.analysis_shown, timeout=60000) as blocker:
        window.open_file(path)
    return blocker.args[0]
