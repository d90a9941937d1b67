"""The history window's columns fit its default 1200 px: the Folder column whole on one line beside a borderline
entry (whose long headline, in the Result cell, had pushed Folder off the dialog and wrapped it into two clipped
lines); Return on a selected entry opens it, as a double-click does."""

from __future__ import annotations

from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.result import FileResult
from osteo_desktop.gui.history_view import COLUMNS, HistoryDialog

FOLDER = "/data/clinic/radiographs/knee-films/2026-12-03"


def test_the_folder_column_is_whole_on_one_line_beside_a_borderline_entry(qtbot, history):
    for name, digest, probability in (("osteopenia_09999db31d5b.jpg", "01", 0.38), ("osteoporosis_1c5c2d97f65c.jpg", "02", 0.80)):
        entry = FileResult(path=f"{FOLDER}/{name}", file_sha256=digest * 32, label="osteoporosis",
                           probability=probability, confidence=probability, threshold=0.36, model_version="2.1.0",
                           model_sha256="cd" * 32,
                           knees=[KneeResult("right", (0, 0, 10, 10), "osteoporosis", probability, probability)])
        history.record(entry.path, entry, entry.file_sha256)
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    dialog.resize(1200, 560)
    dialog.refresh()
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    folder = COLUMNS.index("Folder")
    assert [table.item(row, folder).text() for row in range(table.rowCount())] == [FOLDER, FOLDER]
    assert not table.wordWrap()
    qtbot.waitUntil(lambda: table.columnWidth(folder) > table.fontMetrics().horizontalAdvance(FOLDER), timeout=3000)
    assert table.horizontalScrollBar().maximum() == 0  # every column in view


def test_return_on_a_selected_entry_asks_to_open_it(qtbot, history, tmp_path):
    from PySide6.QtCore import Qt

    film = tmp_path / "knee.png"
    film.write_bytes(b"not read here: the dialog only checks that the file is there")
    entry = FileResult(path=str(film), file_sha256="03" * 32, label="normal", probability=0.2, confidence=0.8,
                       threshold=0.36, model_version="2.1.0", model_sha256="cd" * 32)
    history.record(entry.path, entry, entry.file_sha256)
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    dialog.refresh()
    # The hint names both ways to open an entry (it said only "Double-click").
    assert dialog.summary.text() == "1 recorded result, newest first. Double-click a row, or press Enter, to open it again."
    dialog.table.setCurrentCell(0, 1)
    with qtbot.waitSignal(dialog.open_requested, timeout=2000) as blocker:
        qtbot.keyClick(dialog.table, Qt.Key.Key_Return)
    assert blocker.args == [str(film)]
