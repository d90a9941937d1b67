"""The app on a file that is not a knee radiograph: "No result: <reason>", no number, no heat map (issue 11)."""

from __future__ import annotations

import shutil
from datetime import datetime


from osteo_desktop.gui.batch_dialog import BatchDialog
from osteo_desktop.gui.report_pdf import report_lines, write_report_pdf
from window_steps import open_and_wait


def test_a_test_pattern_shows_no_result_and_no_heat_map(qtbot, window, history, colour_bars, knee_png):
    # A knee first, so that a heat map is on screen and must be gone afterwards.
    open_and_wait(qtbot, window, knee_png)
    assert window.view.has_overlay()
    entries_before = history.count()

    outcome = open_and_wait(qtbot, window, colour_bars)
    panel = window.result_panel
    assert panel.state == "no result"
    assert panel.headline.text().startswith("No result: not a radiograph")
    assert panel.headline.text() == f"No result: {outcome.analysis.out_of_scope}"
    assert panel.prediction is None
    assert panel.probability_text.isHidden() and panel.details.isHidden()
    assert not window.view.has_overlay() and not window.preview.has_overlay()
    assert not window.view.overlay_visible() and not window.preview.overlay_visible()
    assert window.view.mark_captions() == [] and window.preview.mark_captions() == []  # no knee boxes either
    assert panel.scale.isHidden() and panel.knee_lines.isHidden() and panel.knees == []
    assert history.count() == entries_before  # nothing recorded for a file with no result
    assert not panel.disclaimer.isHidden()


def test_the_pdf_report_of_a_declined_file_says_no_result(qtbot, window, colour_bars, tmp_path):
    outcome = open_and_wait(qtbot, window, colour_bars)
    lines = dict(report_lines(outcome.analysis, "osteoporosis", include_patient=False, created=datetime(2026, 12, 2)))
    assert lines["Result"].startswith("No result: not a radiograph")
    assert "Probability of osteoporosis" not in lines and "Against the threshold" not in lines and "Confidence" not in lines
    written = write_report_pdf(tmp_path / "bars.pdf", outcome.analysis)
    assert written.read_bytes().startswith(b"%PDF")


def test_batch_dialog_shows_declined_rows_apart_and_can_hide_them(qtbot, classifier, settings, history, tmp_path,
                                                                 colour_bars, knee_images):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in knee_images["normal"][:2]:
        shutil.copy(path, folder / path.name)
    shutil.copy(colour_bars, folder / "bars.png")
    dialog = BatchDialog(classifier, history=history, settings=settings)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000):
        assert dialog.start_scan(folder)
    assert dialog.proxy.rowCount() == 3
    declined = [r for r in range(dialog.model.rowCount()) if dialog.model.item(r, 0).text() == "bars.png"]
    assert len(declined) == 1
    cells = [dialog.model.item(declined[0], c).text() for c in range(dialog.model.columnCount())]
    assert cells[1].startswith("No result: not a radiograph") and cells[2] == cells[3] == "—"
    assert cells[4] == cells[5] == cells[6] == "" and cells[8] == ""  # no knee probabilities, no error
    counts = dialog.summary_counts()
    assert counts["out of scope (no result)"] == 1 and counts["could not be read"] == 0
    assert "out of scope (no result): 1" in dialog.summary.text()

    dialog.show_declined.setChecked(False)
    shown = [dialog.row_at(r) for r in range(dialog.proxy.rowCount())]
    assert len(shown) == 2 and not any(row.declined for row in shown)
    dialog.show_declined.setChecked(True)
    assert dialog.proxy.rowCount() == 3
    assert history.count() == 2  # the two knees; the test pattern has no result to record
    dialog.stop_scan()
