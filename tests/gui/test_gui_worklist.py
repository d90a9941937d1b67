"""The scanned folder as a worklist (issue 14): kinds and filters, most suspicious first, next/previous from the
main window, the reader's agree/disagree in the history and the CSV, and the batch dialog's rough edges."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtGui import Qt as GuiQt  # mightBeRichText lives in QtGui's Qt namespace
from PySide6.QtWidgets import QPushButton

from osteo_desktop.core.results.result import FileResult, csv_columns
from osteo_desktop.gui import worklist
from osteo_desktop.gui.batch_dialog import COLUMNS, BatchDialog


def _result(name: str, probability: float, warnings=(), threshold: float = 0.339) -> FileResult:
    label = "osteoporosis" if probability >= threshold else "normal"
    return FileResult(path=f"/scan/{name}", label=label, probability=probability, threshold=threshold,
                      confidence=probability if label == "osteoporosis" else 1 - probability, model_version="m-1",
                      model_sha256="5e" * 32, warnings=list(warnings))


def _declined(name: str) -> FileResult:
    return FileResult(path=f"/scan/{name}", model_version="m-1", model_sha256="5e" * 32, out_of_scope="not a knee radiograph: looks like a chest")


def _failed(name: str) -> FileResult:
    return FileResult(path=f"/scan/{name}", model_version="m-1", model_sha256="5e" * 32, error=f"{name}: not an image")


# Hand-made rows: probabilities chosen so that the expected orders below can be read off by eye.
ROWS = [_result("a.png", 0.20), _result("b.png", 0.90, ["Image is small"]), _declined("chest.dcm"),
        _result("c.png", 0.34), _failed("broken.dcm"), _result("d.png", 0.05)]


@pytest.fixture
def dialog(qtbot, classifier, settings, history):
    widget = BatchDialog(classifier, history=history, settings=settings)
    qtbot.addWidget(widget)
    for row in ROWS:
        widget._add_row(replace(row, warnings=list(row.warnings)))  # a copy: the dialog's marks stay its own
    yield widget
    widget.stop_scan()


def shown_names(dialog) -> list[str]:
    return [row.path.rsplit("/", 1)[1] for row in dialog.shown_rows()]


# --- the rules, without widgets ----------------------------------------------------------------------------------

def test_each_row_has_one_kind_and_suspected_means_at_the_threshold_or_above():
    # c.png (0.34) lies 0.001 above the threshold 0.339: borderline, read as undecided, not "suspected"
    assert [worklist.category(row) for row in ROWS] == ["normal", "suspected", "no result", "borderline", "error", "normal"]
    assert worklist.category(_result("edge.png", 0.339)) == "borderline"  # at the threshold: undecided
    # the borderline band is 0.05 either side of 0.339 (0.289-0.389): just outside it, the side of the threshold decides
    assert worklist.category(_result("above.png", 0.40)) == "suspected"
    assert worklist.category(_result("below.png", 0.28)) == "normal"
    assert worklist.category(_result("inside.png", 0.30)) == "borderline"
    assert [row.path for row in ROWS if worklist.accepts(row, "all")] == [row.path for row in ROWS]


def test_next_and_previous_stop_at_the_ends_and_start_from_outside():
    paths = ["a", "b", "c"]
    assert worklist.step(paths, "a", 1) == "b"
    assert worklist.step(paths, "b", -1) == "a"
    assert worklist.step(paths, "c", 1) is None and worklist.step(paths, "a", -1) is None
    assert worklist.step(paths, None, 1) == "a" and worklist.step(paths, "elsewhere", -1) == "c"
    assert worklist.step([], "a", 1) is None


def test_the_place_in_the_list_counts_from_one_and_is_none_outside_it():
    paths = ["a", "b", "c"]
    assert worklist.position(paths, "a") == (1, 3)
    assert worklist.position(paths, "c") == (3, 3)
    assert worklist.position(paths, "elsewhere") is None and worklist.position(paths, None) is None
    assert worklist.position([], "a") is None
    assert worklist.position_words(12, 36) == "12 of 36 in the scan list"


def test_a_row_without_a_result_cannot_be_marked(history):
    row = _failed("x.dcm")
    assert "no result" in worklist.mark(row, "agree", history)
    assert row.reader_agreement is None and history.count() == 0
    with pytest.raises(ValueError):
        worklist.mark(_result("y.png", 0.5), "perhaps", None)


def test_a_tooltip_wraps_and_keeps_every_warning():
    tip = worklist.wrapped_tooltip(["First <warning>", "second"])
    assert GuiQt.mightBeRichText(tip)  # Qt wraps a rich-text tooltip; a plain one runs off the screen
    assert "First &lt;warning&gt;" in tip and "second" in tip
    assert worklist.wrapped_tooltip([]) == ""


# --- the dialog --------------------------------------------------------------------------------------------------

def test_filters_show_one_kind_each(dialog):
    expected = {"suspected": ["b.png"], "borderline": ["c.png"], "normal": ["a.png", "d.png"], "no result": ["chest.dcm"],
                "error": ["broken.dcm"], "all": ["a.png", "b.png", "chest.dcm", "c.png", "broken.dcm", "d.png"]}
    for key, names in expected.items():
        dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData(key))
        assert shown_names(dialog) == names, key


def test_most_suspicious_first_and_the_csv_follows_the_table(dialog, tmp_path):
    dialog.sort_most_suspicious_first()
    assert shown_names(dialog)[:4] == ["b.png", "c.png", "a.png", "d.png"]
    assert set(shown_names(dialog)[4:]) == {"chest.dcm", "broken.dcm"}  # no probability: last
    written = dialog.export_csv(tmp_path / "table.csv")
    with open(written, newline="") as handle:
        reader = csv.DictReader(handle)
        # the contract's columns: reader_agreement and model_sha256, then the knees' column groups (all added after
        # out_of_scope)
        assert tuple(reader.fieldnames) == tuple(csv_columns())
        assert reader.fieldnames[10:12] == ["reader_agreement", "model_sha256"]
        rows = list(reader)
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == shown_names(dialog)
    assert rows[0]["warnings"] == "Image is small"  # words, not the JSON list '["Image is small"]'
    assert rows[1]["warnings"] == ""
    dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData("suspected"))
    with open(dialog.export_csv(tmp_path / "suspected.csv"), newline="") as handle:
        assert [r["path"].rsplit("/", 1)[1] for r in csv.DictReader(handle)] == ["b.png"]
    dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData("borderline"))
    with open(dialog.export_csv(tmp_path / "borderline.csv"), newline="") as handle:
        assert [r["path"].rsplit("/", 1)[1] for r in csv.DictReader(handle)] == ["c.png"]


def test_a_first_click_on_probability_puts_the_highest_first_and_the_arrow_then_points_down(qtbot, dialog):
    dialog.show()
    qtbot.waitExposed(dialog)
    header = dialog.table.horizontalHeader()
    x = header.sectionViewportPosition(2) + header.sectionSize(2) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert header.sortIndicatorSection() == 2 and header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert shown_names(dialog)[0] == "b.png"
    assert _arrow_direction(dialog, 2) == "down"
    dialog.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    assert shown_names(dialog)[-1] == "b.png"
    assert _arrow_direction(dialog, 2) == "up"  # ascending: smallest at the top, the arrow points up


def _arrow_direction(dialog, column: int) -> str:
    """Read the sort arrow off the header's pixels: an up arrow is wider at its bottom rows than at its top.

    The arrow is the rightmost shape in its section (the label's text sits to its left, borders run full width).
    """
    header = dialog.table.horizontalHeader()
    image = header.grab().toImage()
    right = header.sectionViewportPosition(column) + header.sectionSize(column)
    # The section's last two pixel columns are its separator, whose lower end reads as a short mark at some widths.
    pixels = np.array([[QColor(image.pixel(x, y)).lightness() for x in range(right - 30, right - 2)]
                       for y in range(header.height())])
    ink = np.abs(pixels - np.median(pixels)) > 40
    ink[ink.sum(axis=1) > ink.shape[1] // 2] = False  # borders and section lines
    ink[:, ink.sum(axis=0) > ink.shape[0] // 2] = False
    used = np.flatnonzero(ink.sum(axis=0) >= 2)  # a stray corner pixel is no shape
    assert used.size, "no sort arrow found in the header"
    start = used[-1]
    while start - 1 in used:  # the rightmost run of inked columns: the arrow
        start -= 1
    widths = [int(row.sum()) for row in ink[:, start:used[-1] + 1] if row.any()]
    assert len(widths) >= 2 and widths[0] != widths[-1], widths
    return "up" if widths[-1] > widths[0] else "down"


def test_agree_and_disagree_are_shown_stored_and_exported(dialog, history, knee_png, tmp_path):
    # A real file, so that the mark is kept under its content hash like any recorded result.
    row = dialog.rows[0]
    row.path = str(knee_png)
    dialog.table.selectRow(0)
    dialog.disagree_button.click()
    assert dialog.model.item(0, COLUMNS.index("Reading")).text() == "Disagree"
    entries = history.entries()
    assert len(entries) == 1 and entries[0].reader_agreement == "disagree" and entries[0].path == str(knee_png)
    dialog.agree_button.click()
    assert history.entries()[0].reader_agreement == "agree"
    with open(dialog.export_csv(tmp_path / "marked.csv"), newline="") as handle:
        cells = {r["path"]: r["reader_agreement"] for r in csv.DictReader(handle)}
    assert cells[str(knee_png)] == "agree" and cells["/scan/b.png"] == ""
    dialog.clear_mark_button.click()
    assert dialog.model.item(0, COLUMNS.index("Reading")).text() == "" and history.entries()[0].reader_agreement is None
    failed_row = next(r for r in range(dialog.proxy.rowCount()) if dialog.row_at(r).error)
    dialog.table.selectRow(failed_row)
    dialog.agree_button.click()
    assert "no result" in dialog.progress_label.text() and dialog.row_at(failed_row).reader_agreement is None


def test_enter_after_a_finished_scan_starts_nothing(qtbot, classifier, settings, tmp_path, knee_images):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / knee_images["normal"][0].name).write_bytes(knee_images["normal"][0].read_bytes())
    widget = BatchDialog(classifier, settings=settings)
    qtbot.addWidget(widget)
    widget.folder_edit.setText(str(folder))
    widget.show()
    qtbot.waitExposed(widget)
    with qtbot.waitSignal(widget.scan_finished, timeout=60000):
        widget.start_button.click()
    assert all(not b.isDefault() and not b.autoDefault() for b in widget.findChildren(QPushButton))
    for target in (widget, widget.table, widget.start_button, widget.folder_edit):
        target.setFocus()
        qtbot.keyClick(target, Qt.Key.Key_Return)
        qtbot.keyClick(target, Qt.Key.Key_Enter)
        assert not widget.is_running(), target
    assert len(widget.rows) == 1 and widget.isVisible()
    widget.stop_scan()


def test_warnings_and_errors_are_never_only_clipped(dialog):
    cells = {dialog.model.item(r, 0).text(): r for r in range(dialog.model.rowCount())}
    warning_tip = dialog.model.item(cells["b.png"], COLUMNS.index("Warnings")).toolTip()
    assert GuiQt.mightBeRichText(warning_tip) and "Image is small" in warning_tip
    # escaped once, as rich text that Qt renders: no markup shown as text (it was escaped twice, "&lt;p ...")
    assert warning_tip == "<p style='white-space:pre-wrap'>Image is small</p>"
    assert dialog.model.item(cells["b.png"], COLUMNS.index("Result")).toolTip() == (
        "<p style='white-space:pre-wrap'>Osteoporosis suspected</p>")
    assert "&lt;" not in dialog.model.item(cells["broken.dcm"], COLUMNS.index("Error")).toolTip()
    assert dialog.model.item(cells["b.png"], COLUMNS.index("Warnings")).text() == "Image is small"
    assert "not an image" in dialog.model.item(cells["broken.dcm"], COLUMNS.index("Error")).toolTip()
    # One line a cell, cut with a visible "…" (never silently wrapped off the bottom of a fixed-height row).
    assert not dialog.table.wordWrap() and dialog.table.textElideMode() == Qt.TextElideMode.ElideRight


# --- next and previous in the main window ------------------------------------------------------------------------

def test_n_and_p_step_through_the_scan_in_the_tables_order(qtbot, window, knee_folder):
    assert not window.next_action.isEnabled()
    window.show_batch_dialog()
    dialog = window._batch_dialog
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000):
        assert dialog.start_scan(knee_folder)
    assert window.next_action.isEnabled()
    dialog.sort_most_suspicious_first()
    order = [row.path for row in dialog.shown_rows()]
    dialog.hide()  # the list stays the window's worklist while the reader reads
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.view.setFocus()
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        qtbot.keyClick(window.view, Qt.Key.Key_N)
    assert window.logic.current_path == order[0]
    assert dialog.selected_row().path == order[0]  # the table follows
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        qtbot.keyClick(window.view, Qt.Key.Key_PageDown)
    assert window.logic.current_path == order[1]
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        qtbot.keyClick(window.view, Qt.Key.Key_P)
    assert window.logic.current_path == order[0]
    assert window.previous_file() is None  # the start: nothing opened, the file stays
    assert window.logic.current_path == order[0] and "Start of the list" in window.statusBar().currentMessage()


def test_the_status_bar_says_where_the_file_stands_in_the_list(qtbot, window, knee_folder, knee_png):
    """The scan of knee_folder lists five files (four radiographs, one broken file), most suspicious first (the broken
    file, with no probability, last). Stepping twice from nothing opens the second of five; sorted the other way
    (broken file first, then the least suspicious) that file is the fourth; the filter "Could not be read" keeps only
    broken.dcm, so the file on screen has no place; nor has a file from elsewhere (trial 23: no "12 of 36")."""
    from PySide6.QtCore import Qt as QtCore_Qt

    from osteo_desktop.gui.batch_columns import PROBABILITY_COLUMN

    window.show_batch_dialog()
    dialog = window._batch_dialog
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000):
        assert dialog.start_scan(knee_folder, recursive=True)
    assert len(dialog.rows) == 5
    dialog.sort_most_suspicious_first()
    label = window.position_label
    assert label.isHidden()  # nothing open yet
    for _ in range(2):
        with qtbot.waitSignal(window.analysis_shown, timeout=60000):
            window.next_file()
    second = dialog.shown_rows()[1]
    assert window.logic.current_path == second.path and second.ok
    assert not label.isHidden() and label.text() == "2 of 5 in the scan list"
    dialog.table.sortByColumn(PROBABILITY_COLUMN, QtCore_Qt.SortOrder.AscendingOrder)
    assert dialog.shown_rows()[3].path == second.path  # the order the expectation rests on
    assert label.text() == "4 of 5 in the scan list"
    dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData(worklist.ERROR))
    assert [row.path.rsplit("/", 1)[1] for row in dialog.shown_rows()] == ["broken.dcm"]
    assert label.isHidden()
    dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData(worklist.ALL))
    assert not label.isHidden() and label.text() == "4 of 5 in the scan list"
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        window.open_file(knee_png)
    assert label.isHidden()


def test_the_history_table_arrows_follow_the_same_convention(qtbot, history):
    from osteo_desktop.gui.history_view import HistoryDialog

    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder  # newest first
    assert _arrow_direction(dialog, 0) == "down"
    dialog.table.sortItems(0, Qt.SortOrder.AscendingOrder)
    assert _arrow_direction(dialog, 0) == "up"


def test_shift_a_and_shift_d_mark_the_file_on_screen_in_the_worklist_and_the_history(qtbot, window, history, knee_folder, knee_png):
    window.show_batch_dialog()
    dialog = window._batch_dialog
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000):
        assert dialog.start_scan(knee_folder)
    dialog.hide()
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.view.setFocus()
    first_ok = next(row for row in dialog.shown_rows() if row.ok)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        window.open_file(first_ok.path)
    qtbot.keyClick(window.view, Qt.Key.Key_D)  # a stray key records nothing
    assert first_ok.reader_agreement is None and all(e.reader_agreement is None for e in history.entries())
    qtbot.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    assert first_ok.reader_agreement == "disagree"
    source_row = dialog.rows.index(first_ok)
    assert dialog.model.item(source_row, COLUMNS.index("Reading")).text() == "Disagree"
    assert {e.path: e.reader_agreement for e in history.entries()}[first_ok.path] == "disagree"
    # A file outside the scan: marked in the history only.
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        window.open_file(knee_png)
    qtbot.keyClick(window.view, Qt.Key.Key_A)
    assert {e.path: e.reader_agreement for e in history.entries()}[str(knee_png)] is None
    qtbot.keyClick(window.view, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    assert {e.path: e.reader_agreement for e in history.entries()}[str(knee_png)] == "agree"
    assert "Agree" in window.statusBar().currentMessage()
