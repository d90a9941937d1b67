"""The list of results recorded so far; any of them can be reopened."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.core.results import text
from osteo_desktop.core.results.history import History, HistoryEntry, HistoryError
from osteo_desktop.core.results.names import file_named
from osteo_desktop.gui.style import open_on_enter, read_only_table
from osteo_desktop.gui.worklist import agreement_words
from osteo_desktop.gui.plain import PlainLabel, tooltip

# "Against threshold", not "Confidence": a positive call's confidence can be under 50 % (the threshold is below 0.5).
# "Your reading": the Agree/Disagree marked in the scan window's worklist (or with Shift+A / Shift+D in the main window).
COLUMNS = ["Recorded", "File", "Result", "Probability", "Against threshold", text.READING_FIELD, "Model", "Folder"]


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


class _NumberItem(QTableWidgetItem):
    """Sorts by number, not by text."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return float(self.data(Qt.ItemDataRole.UserRole)) < float(other.data(Qt.ItemDataRole.UserRole))


class _TimeItem(QTableWidgetItem):
    """Shows the local time to the minute, sorts by the full recorded timestamp; carries the row's file path."""

    def __init__(self, entry: HistoryEntry) -> None:
        super().__init__(_local_time(entry.recorded_at))
        self.sort_key = (entry.recorded_at, entry.id)
        self.setData(Qt.ItemDataRole.UserRole, entry.path)
        self.setToolTip(tooltip(entry.path))

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.sort_key < getattr(other, "sort_key", ("", 0))


class HistoryDialog(QDialog):
    open_requested = Signal(str)

    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.entries: list[HistoryEntry] = []
        self.setWindowTitle("History")
        available = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        self.resize(min(1200, available.width() - 40), min(560, available.height() - 60))  # also at 150 % scaling
        layout = QVBoxLayout(self)
        self.summary = PlainLabel()
        layout.addWidget(self.summary)
        self.table = read_only_table(COLUMNS)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        # One line a row: a Folder column short of room wrapped its path into two clipped lines ("/tmp/tria", "scan").
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(lambda index: self.open_row(index.row()))
        open_on_enter(self.table, lambda index: self.open_row(index.row()))
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(lambda: self.open_row(self.table.currentRow()))
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        buttons.addWidget(close)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        try:
            self.entries = self.history.entries()
        except HistoryError as exc:
            # A locked or damaged database must not take the window down; the message says what is wrong.
            self.entries = []
            self.table.setRowCount(0)
            self.summary.setText(f"The history cannot be read: {exc}")
            self.open_button.setEnabled(False)
            return
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            path = Path(entry.path)
            first = _TimeItem(entry)
            warnings = text.warning_sentences(entry)  # with the borderline one for an entry recorded before it was kept
            cells = [
                first,
                QTableWidgetItem(path.name),
                # The scan table's short words ("Borderline (above)"); the window's headline is in the tooltip. The
                # long headline made Result about 370 px wide and pushed the Folder column off the dialog.
                QTableWidgetItem(text.verdict_headline(entry, "osteoporosis", short=True) + ("  ⚠" if warnings else "")),
                _NumberItem(entry.probability, f"{entry.probability:.3f}"),
                _NumberItem(entry.probability - entry.threshold, text.threshold_distance(entry.probability, entry.threshold)),
                QTableWidgetItem(agreement_words(entry.reader_agreement)),
                QTableWidgetItem(entry.model_version),
                QTableWidgetItem(str(path.parent)),
            ]
            cells[2].setToolTip(tooltip("\n".join([text.verdict_headline(entry, "osteoporosis"), *warnings])))
            cells[-1].setToolTip(tooltip(str(path.parent)))
            for column, item in enumerate(cells):
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        count = len(self.entries)
        if count == 0:
            self.summary.setText("No results recorded yet: every radiograph you open or scan is listed here.")
        else:
            noun = "result" if count == 1 else "results"
            self.summary.setText(f"{count} recorded {noun}, newest first. Double-click a row, or press Enter, to open it again.")
        self.open_button.setEnabled(count > 0)

    def path_at(self, row: int) -> str | None:
        item = self.table.item(row, 0)
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def open_row(self, row: int) -> None:
        path = self.path_at(row)
        if not path:
            return
        if not Path(file_named(path)).is_file():
            self.summary.setText(f"{Path(path).name} is no longer at {Path(path).parent}; it may have been moved or deleted.")
            return
        self.open_requested.emit(path)
