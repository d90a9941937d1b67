"""A calm dark theme: radiographs are read on dark surroundings, and the result colours must stand out."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QHeaderView, QProxyStyle, QStyle, QStyleFactory, QStyleOptionHeader, QTableWidget,
)

from osteo_desktop.core.paths import resources_dir

STYLE_SHEET = """
QFrame#resultPanel { background: #24262b; border: 1px solid #3a3d44; border-radius: 6px; }
QLabel#headline { font-size: 17pt; font-weight: 600; }
QLabel#warnings { color: #f0c060; background: #3a3222; border-radius: 4px; padding: 6px; }
QLabel#reading { font-weight: 600; }
QLabel#disclaimer { color: #a0a4ab; font-size: 8.5pt; font-style: italic; }
QProgressBar { border: 1px solid #3a3d44; border-radius: 5px; background: #1a1b1e; }
QProgressBar::chunk { background: #4a90d9; border-radius: 4px; }
QGroupBox { border: 1px solid #3a3d44; border-radius: 6px; margin-top: 1.2em; padding-top: 4px; }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #c8ccd2; }
QToolBar { spacing: 4px; border: none; padding: 3px; }
QToolButton { padding: 4px 8px; border-radius: 4px; }
QToolButton:hover { background: #34373d; }
QToolButton:checked { background: #2f4a66; }
QTableView { gridline-color: #34373d; }
QStatusBar QLabel { padding: 0 8px; color: #c8ccd2; }
QLineEdit { background: #111215; border: 1px solid #555a63; border-radius: 4px; padding: 3px 5px; }
QLineEdit:focus { border-color: #6aa9ec; }
QLineEdit:disabled { color: #6b6f76; background: #1a1b1e; border-color: #3a3d44; }
QCheckBox::indicator { width: 14px; height: 14px; border: 1px solid #8a8f98; border-radius: 3px; background: #17181b; }
QCheckBox::indicator:checked { background: #3d6fa5; border-color: #6aa9ec; image: url(CHECK_ICON); }
QCheckBox::indicator:disabled { border-color: #4a4d54; }
QCheckBox::indicator:checked:disabled { background: #34373d; border-color: #4a4d54; }
QCheckBox:disabled { color: #6b6f76; }
"""


class _SortArrowStyle(QProxyStyle):
    """Header arrows the way readers expect: up for ascending (smallest first), down for descending.

    Qt's header asks for the opposite indicator (ascending draws a downward arrow in Fusion, Windows' convention),
    which read as "sorted the wrong way" beside a table whose smallest value is at the top.
    """

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 - Qt's name
        if element == QStyle.PrimitiveElement.PE_IndicatorHeaderArrow and isinstance(option, QStyleOptionHeader):
            option = QStyleOptionHeader(option)
            up, down = QStyleOptionHeader.SortIndicator.SortUp, QStyleOptionHeader.SortIndicator.SortDown
            option.sortIndicator = {up: down, down: up}.get(option.sortIndicator, option.sortIndicator)
        super().drawPrimitive(element, option, painter, widget)


def arrows_as_readers_expect(header: QHeaderView) -> None:
    """Give a sortable table's header the reader's sort arrows (over a fresh copy of the application's style)."""
    style = _SortArrowStyle(QStyleFactory.create(QApplication.style().name()))
    style.setParent(header)  # lives as long as the header; the application's own style is left alone
    header.setStyle(style)


class _EnterOpens(QObject):
    """Return or Enter on a table's current row does what a double-click does (see :func:`open_on_enter`)."""

    def __init__(self, view: QAbstractItemView, slot: Callable[[QModelIndex], object]) -> None:
        super().__init__(view)
        self.slot = slot
        view.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and isinstance(watched, QAbstractItemView) and watched.currentIndex().isValid()):
            self.slot(watched.currentIndex())
            return True
        return super().eventFilter(watched, event)


def open_on_enter(view: QAbstractItemView, slot: Callable[[QModelIndex], object]) -> None:
    """Open ``view``'s current row with Return or Enter, as a double-click does: a reader moving through the scan
    table or the history with the arrow keys could select a row but not open it without the mouse. (Qt's
    ``activated`` signal would do this too, but also fires on a single click where the desktop is set so.)"""
    _EnterOpens(view, slot)


def read_only_table(columns: list[str] | tuple[str, ...]) -> QTableWidget:
    """A table of results to read and pick from: whole rows, one at a time, no editing, reader's sort arrows."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    arrows_as_readers_expect(table.horizontalHeader())
    return table


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1e1f23",
        QPalette.ColorRole.WindowText: "#e6e8eb",
        QPalette.ColorRole.Base: "#17181b",
        QPalette.ColorRole.AlternateBase: "#202227",
        QPalette.ColorRole.ToolTipBase: "#2b2d33",
        QPalette.ColorRole.ToolTipText: "#e6e8eb",
        QPalette.ColorRole.Text: "#e6e8eb",
        QPalette.ColorRole.Button: "#2a2c31",
        QPalette.ColorRole.ButtonText: "#e6e8eb",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#3d6fa5",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6aa9ec",
        QPalette.ColorRole.PlaceholderText: "#80848b",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f76"))
    # A disabled slider's filled groove is drawn in Highlight: grey it, so a disabled control does not look live.
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor("#4a4d54"))
    app.setPalette(palette)
    check = (resources_dir() / "icons" / "check.svg").as_posix()
    app.setStyleSheet(STYLE_SHEET.replace("CHECK_ICON", check))
