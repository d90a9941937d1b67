"""The reader's verdict (Shift+A / Shift+D, or the scan window's Agree/Disagree) shown with the result it is about:
in the main window under the result, at once when it is recorded or changed and again when the film is opened later,
and in the PDF report (trial 23: coming back to a marked film gave no sign it had been read). Every expected string
is written out here."""

from __future__ import annotations

import shutil
from datetime import datetime

from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.results import text
from osteo_desktop.core.results.result import FileResult
from osteo_desktop.gui.result_panel import ResultPanel
from test_gui_report_pdf import GS, printed_text
from window_steps import open_and_wait


def test_the_words_of_a_verdict():
    assert text.agreement_words("agree") == "Agree" and text.agreement_words("disagree") == "Disagree"
    assert text.agreement_words(None) == ""
    assert text.reading_line("agree") == "Your reading: Agree"
    assert text.reading_line("disagree") == "Your reading: Disagree"
    assert text.reading_line(None) is None


def _result(agreement):
    # 0.62 against 0.339: 0.281 above, a firm call (no borderline warning), no knees.
    return FileResult(path="/d/knee.png", label="osteoporosis", probability=0.62, confidence=0.62, threshold=0.339,
                      model_version="2.1.0", reader_agreement=agreement)


def test_the_report_lines_carry_the_verdict_after_the_result_and_only_when_there_is_one():
    when = datetime(2026, 3, 4, 9, 7)
    unmarked = [("Result", "Osteoporosis suspected"),
                ("Against the threshold", "Probability of osteoporosis 62 % — above the screening threshold of 34 %"),
                ("Probability of osteoporosis", "0.620"),
                ("Decision threshold", "0.339"),
                ("Model version", "2.1.0"),
                ("File", "knee.png"),
                ("Date", "2026-03-04 09:07")]
    assert text.report_lines(_result(None), "osteoporosis", file_name="knee.png", created=when) == unmarked
    marked = text.report_lines(_result("disagree"), "osteoporosis", file_name="knee.png", created=when)
    assert marked == unmarked[:5] + [("Reader's verdict", "Disagree")] + unmarked[5:]


def test_the_panel_shows_the_verdict_only_beside_a_result(qtbot):
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.show_result(Prediction("normal", 0.1, 0.9, 0.36, "2.1.0", 0.0), "osteoporosis", [])
    assert panel.reading.isHidden()  # nothing recorded
    panel.show_reading("agree")
    assert not panel.reading.isHidden() and panel.reading.text() == "Your reading: Agree"
    panel.show_reading("disagree")
    assert panel.reading.text() == "Your reading: Disagree"
    panel.show_reading(None)
    assert panel.reading.isHidden()
    panel.show_reading("agree")
    panel.show_busy("next.png")  # the next file: nothing of this one's verdict stays
    assert panel.reading.isHidden() and panel.reading.text() == ""
    panel.show_reading("agree")  # no result on screen: nothing to show it beside
    assert panel.reading.isHidden()


def test_a_verdict_shows_at_once_and_again_when_the_film_is_reopened(qtbot, window, knee_images, tmp_path):
    first, other = (shutil.copy(path, tmp_path / path.name) for path in knee_images["normal"][:2])
    open_and_wait(qtbot, window, first)
    reading = window.result_panel.reading
    assert reading.isHidden()
    window.agree_action.trigger()  # Shift+A
    assert not reading.isHidden() and reading.text() == "Your reading: Agree"
    window.disagree_action.trigger()  # Shift+D changes it
    assert reading.text() == "Your reading: Disagree"
    open_and_wait(qtbot, window, other)
    assert reading.isHidden()  # the other film was never marked
    open_and_wait(qtbot, window, first)
    assert not reading.isHidden() and reading.text() == "Your reading: Disagree"  # kept in the history
    # The PDF report of the film on screen prints it (read back with Ghostscript, as test_gui_report_pdf does).
    if GS is not None:
        with qtbot.waitSignal(window.logic.report_saved, timeout=60000):
            window.logic.export_report(tmp_path / "marked.pdf")
        assert "Reader's verdict Disagree" in printed_text(tmp_path / "marked.pdf")
        open_and_wait(qtbot, window, other)
        with qtbot.waitSignal(window.logic.report_saved, timeout=60000):
            window.logic.export_report(tmp_path / "unmarked.pdf")
        assert "verdict" not in printed_text(tmp_path / "unmarked.pdf")


def test_a_mark_set_in_the_scan_window_shows_in_the_main_window(qtbot, window, knee_folder):
    window.show_batch_dialog()
    dialog = window._batch_dialog
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000):
        assert dialog.start_scan(knee_folder, recursive=True)
    row = next(row for row in dialog.shown_rows() if row.ok)
    open_and_wait(qtbot, window, row.path)
    assert window.result_panel.reading.isHidden()
    dialog.select_path(row.path)
    dialog.agree_button.click()
    assert window.result_panel.reading.text() == "Your reading: Agree"
    dialog.clear_mark_button.click()
    assert window.result_panel.reading.isHidden()
    other = next(r for r in dialog.shown_rows() if r.ok and r.path != row.path)
    dialog.select_path(other.path)
    dialog.disagree_button.click()  # another film's mark leaves this one's line alone
    assert window.result_panel.reading.isHidden()
