"""The batch folder scan dialog on real radiographs plus a damaged file."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.results.output_target import UnsafeOutputError
from osteo_desktop.core.results.result import FileResult, csv_columns
from osteo_desktop.gui.batch_dialog import COLUMNS, ROW_ROLE, BatchDialog, format_duration


@pytest.fixture
def dialog(qtbot, classifier, settings, history):
    widget = BatchDialog(classifier, history=history, settings=settings)
    qtbot.addWidget(widget)
    yield widget
    widget.stop_scan()


def run_scan(qtbot, dialog, folder, recursive=False):
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000) as blocker:
        assert dialog.start_scan(folder, recursive=recursive)
    return blocker.args[0]


def test_scan_with_a_bad_file_keeps_going(qtbot, dialog, classifier, knee_folder):
    cancelled = run_scan(qtbot, dialog, knee_folder)
    assert cancelled is False
    names = sorted(p.name for p in knee_folder.iterdir() if p.is_file())
    assert sorted(row.path.split("/")[-1] for row in dialog.rows) == names
    assert dialog.model.rowCount() == len(names)
    broken = [row for row in dialog.rows if row.path.endswith("broken.dcm")]
    assert len(broken) == 1 and broken[0].error and "broken.dcm" in broken[0].error
    broken_cells = [dialog.model.item(r, COLUMNS.index("Error")).text() for r in range(dialog.model.rowCount()) if dialog.model.item(r, 0).text() == "broken.dcm"]
    assert broken_cells == [broken[0].error]
    for row in dialog.rows:
        if row.error is None:
            assert abs(row.probability - analyse_file(row.path, classifier).prediction.probability) < 1e-4
    counts = dialog.summary_counts()
    assert counts["could not be read"] == 1
    assert sum(counts.values()) == len(names)
    assert "could not be read: 1" in dialog.summary.text()
    assert "<" not in dialog.summary.text()  # a plain-text label: markup would show as written
    assert "Done" in dialog.progress_label.text()


def test_the_table_has_a_probability_column_per_side(qtbot, dialog, knee_folder):
    run_scan(qtbot, dialog, knee_folder)
    columns = {side: COLUMNS.index(name) for side, name in
               (("right", "Right knee"), ("left", "Left knee"), ("unknown", "Knee (side ?)"))}
    for r in range(dialog.model.rowCount()):
        row = dialog.rows[dialog.model.item(r, 0).data(ROW_ROLE)]
        by_side = {knee.side: knee for knee in row.knees}
        for side, column in columns.items():
            cell = dialog.model.item(r, column).text()
            assert cell == (f"{by_side[side].probability:.3f}" if side in by_side else ""), (row.path, side)
    assert any(row.knees for row in dialog.rows)


def test_subfolders_are_included_on_request(qtbot, dialog, knee_folder):
    run_scan(qtbot, dialog, knee_folder, recursive=True)
    assert any("/more/" in row.path for row in dialog.rows)
    assert len(dialog.rows) == sum(1 for p in knee_folder.rglob("*") if p.is_file())


def test_sorting_by_probability_is_numeric(qtbot, dialog, knee_folder):
    run_scan(qtbot, dialog, knee_folder, recursive=True)
    dialog.table.sortByColumn(2, dialog.table.horizontalHeader().sortIndicatorOrder().DescendingOrder)
    shown = [dialog.row_at(r) for r in range(dialog.proxy.rowCount())]
    probabilities = [row.probability for row in shown if row.error is None]
    assert probabilities == sorted(probabilities, reverse=True)
    assert shown[-1].error is not None  # rows without a probability go last


def test_double_click_asks_to_open_the_row(qtbot, dialog, knee_folder):
    run_scan(qtbot, dialog, knee_folder)
    index = dialog.proxy.index(0, 0)
    with qtbot.waitSignal(dialog.open_requested, timeout=5000) as blocker:
        dialog.table.doubleClicked.emit(index)
    assert blocker.args[0] == dialog.row_at(0).path


def test_csv_export_has_every_row(qtbot, dialog, knee_folder, tmp_path):
    run_scan(qtbot, dialog, knee_folder)
    written = dialog.export_csv(tmp_path / "scan.csv")
    with open(written, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == tuple(csv_columns())  # knees spread over a column group per side
        rows = list(reader)
    assert sorted(r["path"] for r in rows) == sorted(row.path for row in dialog.rows)
    assert sum(1 for r in rows if r["error"]) == 1


def test_csv_export_never_overwrites_a_scanned_image_or_the_history(qtbot, dialog, knee_folder, history):
    run_scan(qtbot, dialog, knee_folder)
    image = next(Path(row.path) for row in dialog.rows if row.ok)
    before = image.read_bytes()
    with pytest.raises(UnsafeOutputError, match="one of the files being analysed"):
        dialog.export_csv(image)
    assert image.read_bytes() == before
    with pytest.raises(UnsafeOutputError, match="history database"):
        dialog.export_csv(history.path)


def test_a_folder_that_is_not_there_is_refused_plainly(dialog, tmp_path):
    assert not dialog.start_scan(tmp_path / "nowhere")
    assert "is not a folder" in dialog.progress_label.text()
    assert not dialog.is_running()


def test_cancel_stops_and_keeps_the_rows(qtbot, make_gated, settings, knee_images, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    sources = knee_images["normal"][:2]
    for i in range(40):
        shutil.copy(sources[i % 2], folder / f"knee_{i:02d}{sources[i % 2].suffix}")
    gated = make_gated({2})  # the first batch goes through, the second waits inside the model
    dialog = BatchDialog(gated, settings=settings)
    qtbot.addWidget(dialog)
    try:
        dialog.start_scan(folder)
        qtbot.waitUntil(lambda: gated.entered.is_set() and len(dialog.rows) > 0, timeout=60000)
        with qtbot.waitSignal(dialog.scan_finished, timeout=10000) as blocker:
            dialog.cancel_scan()
            gated.gate.set()
    finally:
        gated.gate.set()
        dialog.stop_scan()
    assert blocker.args[0] is True
    assert 0 < len(dialog.rows) < 40
    assert dialog.model.rowCount() == len(dialog.rows)
    assert "Cancelled" in dialog.progress_label.text()
    assert dialog.export_button.isEnabled()


def test_durations_read_naturally():
    assert format_duration(4.4) == "4 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3 * 3600 + 60) == "3 h 01 min"


def test_results_the_history_could_not_keep_are_reported_not_lost(qtbot, dialog, history, knee_folder, monkeypatch):
    """A full disk under the history (stood in for by record_many failing as SQLite does): the rows are still in
    the table and the user is told how many results the history lacks, and why."""
    from osteo_desktop.core.results.history import HistoryError
    from osteo_desktop.gui import plain

    def full_disk(entries):
        raise HistoryError("database or disk is full")

    monkeypatch.setattr(history, "record_many", full_disk)
    shown = []
    monkeypatch.setattr(plain, "message", lambda parent, title, words, *rest: shown.append(words))
    run_scan(qtbot, dialog, knee_folder)
    results = [row for row in dialog.rows if row.ok]
    assert results and history.count() == 0
    expected = f"{len(results)} results were given but not recorded in the history: database or disk is full"
    assert len(shown) == 1 and shown[0].startswith(expected)
    assert expected in dialog.progress_label.text()


def test_a_scan_the_history_keeps_says_nothing_about_recording(qtbot, dialog, history, knee_folder, monkeypatch):
    from osteo_desktop.gui import plain

    shown = []
    monkeypatch.setattr(plain, "message", lambda parent, title, words, *rest: shown.append(words))
    run_scan(qtbot, dialog, knee_folder)
    assert history.count() == sum(1 for row in dialog.rows if row.ok) > 0
    assert shown == [] and "not recorded" not in dialog.progress_label.text()


def test_a_result_near_the_threshold_says_borderline_in_its_row(dialog):
    column = COLUMNS.index("Warnings")
    cases = {"near.png": (0.38, "osteoporosis", True), "far.png": (0.70, "osteoporosis", False),
             "near-below.png": (0.33, "normal", True), "edge.png": (0.42, "osteoporosis", False)}
    for name, (probability, label, _) in cases.items():  # threshold 0.36, margin 0.05 (README)
        dialog._add_row(FileResult(path=f"/films/{name}", label=label, probability=probability,
                                   confidence=probability if label == "osteoporosis" else 1 - probability,
                                   threshold=0.36, model_version="test", warnings=["grey test warning"]))
    for r in range(dialog.model.rowCount()):
        name = dialog.model.item(r, 0).text()
        cell = dialog.model.item(r, column).text()
        assert cell.startswith("grey test warning"), cell
        assert ("Borderline" in cell) == cases[name][2], (name, cell)
    # The Result column is the window's headline in a cell's words, borderline near the threshold (the long words in
    # its tooltip); the column after Probability gives the distance from the threshold, not a confidence (0.38 would
    # have read "38 %" beside a positive call).
    result, against = COLUMNS.index("Result"), COLUMNS.index("Against threshold")
    assert "Confidence" not in COLUMNS
    shown = {dialog.model.item(r, 0).text(): (dialog.model.item(r, result).text(), dialog.model.item(r, against).text())
             for r in range(dialog.model.rowCount())}
    assert shown == {
        "near.png": ("Borderline (above)", "0.020 above"),
        "far.png": ("Osteoporosis suspected", "0.340 above"),
        "near-below.png": ("Borderline (below)", "0.030 below"),
        "edge.png": ("Osteoporosis suspected", "0.060 above"),
    }
    tips = {dialog.model.item(r, 0).text(): dialog.model.item(r, result).toolTip() for r in range(dialog.model.rowCount())}
    assert "Borderline (just above the threshold): read as undecided" in tips["near.png"]
    assert "Borderline (just below the threshold): read as undecided" in tips["near-below.png"]


def test_choosing_the_out_of_scope_filter_shows_those_rows_even_with_them_hidden(dialog):
    """Unticking "Show out-of-scope rows" and then choosing "No result (out of scope)" in Show asks for exactly those
    rows: the table showed none, with nothing to say why. Other filters still leave them out."""
    from osteo_desktop.gui import worklist

    knee = FileResult(path="/films/knee.png", label="normal", probability=0.2, confidence=0.8, threshold=0.36)
    chest = FileResult(path="/films/chest.png")
    chest.decline("not a knee radiograph: looks like a chest radiograph")
    for row in (knee, chest):
        dialog._add_row(row)
    dialog.show_declined.setChecked(False)
    assert [row.path for row in dialog.shown_rows()] == ["/films/knee.png"]
    dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData(worklist.NO_RESULT))
    assert [row.path for row in dialog.shown_rows()] == ["/films/chest.png"]
    dialog.filter_choice.setCurrentIndex(dialog.filter_choice.findData(worklist.ALL))
    assert [row.path for row in dialog.shown_rows()] == ["/films/knee.png"]


def test_return_on_a_selected_row_asks_to_open_it(qtbot, dialog):
    """A reader moving down the table with the arrow keys opens the row with Return (or Enter), as with a
    double-click; before, only the mouse could open a row."""
    from PySide6.QtCore import Qt

    for name in ("first.png", "second.png"):
        dialog._add_row(FileResult(path=f"/films/{name}", label="normal", probability=0.2, confidence=0.8,
                                   threshold=0.36))
    dialog.table.setCurrentIndex(dialog.proxy.index(1, 0))
    for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
        with qtbot.waitSignal(dialog.open_requested, timeout=2000) as blocker:
            qtbot.keyClick(dialog.table, key)
        assert blocker.args == ["/films/second.png"]
