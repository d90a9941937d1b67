"""The scan table's columns share the dialog's width: File kept within bounds, Result and Error given room."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QStyle

from osteo_desktop.core.results.result import FileResult
from osteo_desktop.gui.batch_dialog import COLUMNS, BatchDialog

FILE, RESULT, WARNINGS, ERROR = (COLUMNS.index(name) for name in ("File", "Result", "Warnings", "Error"))
LONG_NAME = "/data/scans/" + "a_very_long_radiograph_file_name_from_a_pacs_export_" * 2 + "0001.jpg"


def rows() -> list[FileResult]:
    ok = FileResult(path="/data/scans/knee.jpg", label="normal", probability=0.2, confidence=0.8, threshold=0.36)
    declined = FileResult(path="/data/scans/chest.jpg")
    declined.decline("not a knee radiograph: looks like a chest radiograph")
    failed = FileResult(path=LONG_NAME, error=f"{LONG_NAME}: truncated or damaged image file (the file ends early)")
    return [ok, declined, failed]


@pytest.fixture
def dialog(qtbot, classifier, settings):
    widget = BatchDialog(classifier, settings=settings)
    qtbot.addWidget(widget)
    for row in rows():
        widget._add_row(row)
    return widget


def show_at(qtbot, dialog, width):
    dialog.resize(width, 700)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    # the fit follows the viewport's size; wait for the layout to hand the table its width
    qtbot.waitUntil(lambda: abs(sum(table.columnWidth(c) for c in range(len(COLUMNS))) - table.viewport().width()) <= 1,
                    timeout=3000)
    return table


def test_at_1500_pixels_nothing_scrolls_sideways_and_result_and_error_have_room(qtbot, dialog):
    table = show_at(qtbot, dialog, 1500)
    assert table.horizontalScrollBar().maximum() == 0  # every column in view
    assert table.columnWidth(FILE) <= 320  # a very long name does not take the width (its path is in the tooltip)
    essential = table.fontMetrics().horizontalAdvance("No result: not a knee radiograph")
    assert table.columnWidth(RESULT) >= essential
    assert table.columnWidth(ERROR) >= 200 and table.columnWidth(WARNINGS) >= 110


def test_given_the_room_every_text_is_whole(qtbot, dialog):
    table = show_at(qtbot, dialog, 2800)  # room for the long error text beside every heading ("Against threshold" too)
    for column in (RESULT, ERROR):
        assert table.columnWidth(column) >= table.sizeHintForColumn(column)
    assert table.columnWidth(FILE) <= 320 and table.horizontalScrollBar().maximum() == 0


def test_short_file_names_leave_the_file_column_narrow(qtbot, classifier, settings):
    dialog = BatchDialog(classifier, settings=settings)
    qtbot.addWidget(dialog)
    dialog._add_row(rows()[0])
    table = show_at(qtbot, dialog, 1500)
    assert table.columnWidth(FILE) < 200


def test_a_width_set_by_hand_is_kept(qtbot, dialog):
    table = show_at(qtbot, dialog, 1500)
    table.horizontalHeader().resizeSection(FILE, 450)
    dialog.resize(1200, 700)
    qtbot.waitUntil(lambda: table.viewport().width() < 1200, timeout=3000)
    assert table.columnWidth(FILE) == 450


def test_at_1500_pixels_every_call_is_whole_and_error_keeps_200(qtbot, classifier, settings):
    """A scan with every kind of row, a borderline one too (its long warning wants the Warnings column's width as
    the long error wants the Error's): measured with the table's font, each call fits its column (a borderline call
    in the short words, the long headline in the tooltip; a declined file's "No result: not a knee radiograph"
    whole before the "…" its reason is cut to), and the Error column still has 200 px."""
    dialog = BatchDialog(classifier, settings=settings)
    qtbot.addWidget(dialog)
    # 0.38 is 0.02 above the threshold 0.36 and 0.33 is 0.03 below: within the 0.05 borderline margin
    near = [FileResult(path=f"/data/scans/near{n}.jpg", label=label, probability=p, confidence=p, threshold=0.36)
            for n, (label, p) in enumerate((("osteoporosis", 0.38), ("normal", 0.33)))]
    firm = FileResult(path="/data/scans/firm.jpg", label="osteoporosis", probability=0.8, confidence=0.8, threshold=0.36)
    for row in rows() + near + [firm]:
        dialog._add_row(row)
    table = show_at(qtbot, dialog, 1500)
    model = table.model()
    cells = [model.index(row, RESULT) for row in range(model.rowCount())]
    shown = [cell.data() for cell in cells]
    assert shown == ["No sign of osteoporosis", "No result: not a knee radiograph: looks like a chest radiograph", "—",
                     "Borderline (above)", "Borderline (below)", "Osteoporosis suspected"]
    assert "just above the threshold): read as undecided" in cells[3].data(Qt.ItemDataRole.ToolTipRole)
    # What Qt's item delegate leaves a cell's text: the column less the grid line and a text margin each side (the
    # focus frame's margin and a pixel), elided to that width as the table draws it.
    metrics = QFontMetrics(table.font())
    text_width = (table.columnWidth(RESULT) - 1
                  - 2 * (table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1))
    for words in shown[:1] + shown[3:]:
        assert metrics.elidedText(words, Qt.TextElideMode.ElideRight, text_width) == words
    # A declined file's reason is cut, but after "No result: not a knee radiograph"
    declined = metrics.elidedText(shown[1], Qt.TextElideMode.ElideRight, text_width)
    assert declined.startswith("No result: not a knee radiograph") and declined.endswith("…"), declined
    assert table.columnWidth(ERROR) >= 200 and table.columnWidth(WARNINGS) >= 110
    assert table.horizontalScrollBar().maximum() == 0


@pytest.mark.parametrize("screen", [(1400, 860), (1280, 690)])
def test_on_a_laptop_screen_the_dialog_opens_wide_enough_for_every_column(qtbot, classifier, settings, monkeypatch,
                                                                          screen):
    """A 1440x900 laptop screen (1400x860 available) and 1920x1080 at 150 % scaling (1280x720, a panel off): the scan
    window opens with every column in view, the reader's Reading column too, and each call whole in Result, a very
    long file name cut instead (its path is in the tooltip). At the old fixed 1100 px, and at 1240 px while the File
    column kept 260 px, the calls were cut ("Osteoporosis s…") and Reading lay behind a sideways scroll."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QScreen

    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, *screen))
    dialog = BatchDialog(classifier, settings=settings)
    qtbot.addWidget(dialog)
    assert dialog.width() <= screen[0]  # never wider than the screen
    firm = FileResult(path="/data/scans/firm.jpg", label="osteoporosis", probability=0.8, confidence=0.8, threshold=0.36)
    for row in rows() + [firm]:
        dialog._add_row(row)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    qtbot.waitUntil(lambda: abs(sum(table.columnWidth(c) for c in range(len(COLUMNS))) - table.viewport().width()) <= 1,
                    timeout=3000)
    assert table.horizontalScrollBar().maximum() == 0
    metrics = QFontMetrics(table.font())
    text_width = (table.columnWidth(RESULT) - 1
                  - 2 * (table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1))
    for words in ("Osteoporosis suspected", "No sign of osteoporosis"):
        assert metrics.elidedText(words, Qt.TextElideMode.ElideRight, text_width) == words
