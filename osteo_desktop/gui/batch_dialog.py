"""Screen every image in a folder: progress, cancel, a sortable results table, a summary and a CSV export.

Files the scope gate declined (not a frontal knee radiograph) are rows of their own kind: "No result: <reason>" in
grey, no numbers, counted apart in the summary, and hidden with the "Show out-of-scope rows" box.

The table is also a worklist (rules in :mod:`osteo_desktop.gui.worklist`): sorted most suspicious first on request,
filtered by kind, stepped through from the main window (N/P, Page Down/Up) in the order shown, and each result
marked agree or disagree (kept in the history, exported in the CSV).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QSettings, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.core.results import palette, text
from osteo_desktop.core.results.exports import write_rows_csv
from osteo_desktop.core.results.history import History, default_history_path
from osteo_desktop.core.results.names import escape_undecodable
from osteo_desktop.core.results.output_target import UnsafeOutputError, check_output_target
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.errors import ImageReadError
from osteo_desktop.core.pipeline.scanning import ScanProgress, ScanRow
from osteo_desktop.gui.batch_columns import (COLUMNS, PROBABILITY_COLUMN, READING_COLUMN, THRESHOLD_COLUMN,
                                             ColumnFitter)
from osteo_desktop.gui.jobs import plain_error
from osteo_desktop.gui import worklist
from osteo_desktop.gui.logic import start_folder_scan
from osteo_desktop.gui.settings import AppSettings
from osteo_desktop.gui.style import arrows_as_readers_expect, open_on_enter
from osteo_desktop.gui.worker import Worker
from osteo_desktop.gui import plain

DEFAULT_WIDTH = 1500  # what the scan table needs for every column, a call whole in Result (batch_columns)
KNEE_SIDES = ("right", "left", "unknown")  # the per-side probability columns (4, 5, 6), in COLUMNS order
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
ERROR_COLOUR = QColor(palette.ERROR_COLOUR)
NO_RESULT_COLOUR = QColor(palette.NO_RESULT_COLOUR)  # declined: neither a finding nor a failure
DECLINED_ROLE = Qt.ItemDataRole.UserRole + 3


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _knee_item(row: ScanRow, side: str, positive_label: str) -> QStandardItem:
    """The probability of the row's knee on ``side`` (the more suspicious of two), or empty when there is none."""
    knees = [knee for knee in row.knees if knee.side == side]
    if not knees:
        return _item("", -1.0)
    knee = max(knees, key=lambda k: k.probability)
    return _item(f"{knee.probability:.3f}", knee.probability, tooltip=text.knee_line(knee, positive_label, row.threshold))


def _item(text: str, sort_value: object = None, tooltip: str = "", rich_tooltip: str = "") -> QStandardItem:
    """A cell; ``tooltip`` is shown literally (escaped here), ``rich_tooltip`` is rich text already escaped
    (worklist.wrapped_tooltip): escaping it again would show its markup."""
    item = QStandardItem(text)
    item.setEditable(False)
    item.setData(text.lower() if sort_value is None else sort_value, SORT_ROLE)
    if rich_tooltip:
        item.setToolTip(rich_tooltip)
    elif tooltip:
        item.setToolTip(plain.tooltip(tooltip))
    return item


class _RowFilter(QSortFilterProxyModel):
    """Sorts as the table asks; hides declined (out-of-scope) rows unless they are to be shown, and rows of other
    kinds than the chosen filter (:data:`worklist.FILTERS`)."""

    def __init__(self, rows: list[ScanRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = rows
        self.show_declined = True
        self.choice = worklist.ALL

    def _change(self, **values: object) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+: invalidateFilter() is deprecated there
            self.beginFilterChange()
            self._set(values)
            self.endFilterChange()
        else:  # the oldest PySide6 the project supports (6.6)
            self._set(values)
            self.invalidateFilter()

    def _set(self, values: dict[str, object]) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    def set_show_declined(self, shown: bool) -> None:
        self._change(show_declined=shown)

    def set_choice(self, choice: str) -> None:
        self._change(choice=choice)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: N802 - Qt's name
        item = self.sourceModel().index(source_row, 0, source_parent)
        # Choosing "No result (out of scope)" asks for exactly those rows: with "Show out-of-scope rows" unticked it
        # showed an empty table, with nothing to say why.
        if not self.show_declined and bool(item.data(DECLINED_ROLE)) and self.choice != worklist.NO_RESULT:
            return False
        return worklist.accepts(self.rows[int(item.data(ROW_ROLE))], self.choice)


class BatchDialog(QDialog):
    open_requested = Signal(str)
    scan_finished = Signal(bool)  # True when it was cancelled
    marked = Signal(object)  # the ScanRow whose reader's mark was set or cleared (the main window may show it)

    def __init__(self, classifier: Classifier, *, history: History | None = None,
                 settings: AppSettings | QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classifier = classifier
        self.history = history
        self.settings = AppSettings.coerce(settings)
        self.rows: list[ScanRow] = []
        self.worker: Worker | None = None
        self.root: Path | None = None
        self._started, self._running = 0.0, False
        self.setWindowTitle("Scan a folder")
        available = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        # As wide as the screen allows up to the 1500 px the columns are fitted for (batch_columns): at 1100 px the
        # Result cells read "Osteoporosis s…" and the Reading column (the reader's agree/disagree) lay behind a
        # sideways scroll on a 1440x900 screen. Also at 150 % scaling.
        self.resize(min(DEFAULT_WIDTH, available.width() - 40), min(680, available.height() - 60))
        self._build_ui()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit(self.settings.batch_folder)
        self.folder_edit.setPlaceholderText("Folder with radiographs")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose_folder)
        self.recursive = QCheckBox("Include subfolders")
        self.recursive.setChecked(self.settings.batch_recursive)
        self.start_button = QPushButton("Start scan")
        self.start_button.clicked.connect(lambda: self.start_scan())
        self.cancel_button = QPushButton("Cancel scan")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_scan)
        folder_row.addWidget(plain.PlainLabel("Folder"))
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        folder_row.addWidget(self.recursive)
        folder_row.addWidget(self.start_button)
        folder_row.addWidget(self.cancel_button)
        layout.addLayout(folder_row)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress_label = plain.PlainLabel("Choose a folder and start the scan.")
        self.progress_label.setMinimumWidth(320)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label)
        layout.addLayout(progress_row)

        filter_row = QHBoxLayout()
        self.filter_choice = QComboBox()
        for key, words in worklist.FILTERS:
            self.filter_choice.addItem(words, key)
        self.filter_choice.setToolTip("Show only files of one kind")
        self.suspicious_first = QPushButton("Most suspicious first")
        self.suspicious_first.setToolTip("Sort by probability, highest first")
        self.suspicious_first.clicked.connect(self.sort_most_suspicious_first)
        self.agree_button = QPushButton("Agree")
        self.disagree_button = QPushButton("Disagree")
        self.clear_mark_button = QPushButton("Clear mark")
        for button, agreement in ((self.agree_button, "agree"), (self.disagree_button, "disagree"), (self.clear_mark_button, None)):
            button.setToolTip("Your reading of the selected result, kept in the history and exported in the CSV")
            button.clicked.connect(lambda _=False, a=agreement: self.mark_selected(a))
        filter_row.addWidget(plain.PlainLabel("Show"))
        filter_row.addWidget(self.filter_choice)
        filter_row.addWidget(self.suspicious_first)
        filter_row.addStretch(1)
        filter_row.addWidget(plain.PlainLabel("Your reading:"))
        for button in (self.agree_button, self.disagree_button, self.clear_mark_button):
            filter_row.addWidget(button)
        layout.addLayout(filter_row)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        for column in (PROBABILITY_COLUMN, THRESHOLD_COLUMN):  # a first click on these puts the highest first
            self.model.setHeaderData(column, Qt.Orientation.Horizontal, Qt.SortOrder.DescendingOrder, Qt.ItemDataRole.InitialSortOrderRole)
        self.proxy = _RowFilter(self.rows, self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # input order until the user picks a column
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        # One line a row, and a cut cell ends in "…" with its whole text in a wrapping tooltip: wrapping inside a
        # fixed row height cut long errors off with no sign, and rows sized to their text are slow on big folders.
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        arrows_as_readers_expect(header)
        # Every column can be sized by hand. Until the user does, the columns are fitted to the table's width (on
        # showing, resizing and at the end of a scan; see batch_columns): a wide File column cut the result ("No
        # result: not a kn…") and the error to a few words while the file names had room to spare.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.columns = ColumnFitter(self.table, self.classifier.card.labels, self)
        self.scan_finished.connect(lambda _: self.columns.fit())
        self.table.doubleClicked.connect(self._open_index)
        open_on_enter(self.table, self._open_index)
        layout.addWidget(self.table, 1)

        bottom = QHBoxLayout()
        self.show_declined = QCheckBox("Show out-of-scope rows")
        self.show_declined.setToolTip("Files that are not frontal knee radiographs get no result; untick to hide them.")
        self.show_declined.setChecked(True)
        self.show_declined.toggled.connect(self.proxy.set_show_declined)
        bottom.addWidget(self.show_declined)
        self.summary = plain.PlainLabel()
        self.summary.setObjectName("summary")
        self.summary.setContentsMargins(16, 0, 0, 0)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.choose_csv_path)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.export_button)
        bottom.addWidget(close)
        layout.addLayout(bottom)
        self.filter_choice.currentIndexChanged.connect(lambda _: self.proxy.set_choice(self.filter_choice.currentData()))
        # No default button: Enter after a finished scan must not start it again (a scan can take an hour).
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)

    # --- running -------------------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to scan", self.folder_edit.text() or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    def is_running(self) -> bool:
        return self.worker is not None and self._running

    def start_scan(self, folder: str | Path | None = None, recursive: bool | None = None) -> bool:
        if self.is_running():
            return False
        if folder is not None:
            self.folder_edit.setText(str(folder))
        if recursive is not None:
            self.recursive.setChecked(recursive)
        root = Path(self.folder_edit.text().strip()).expanduser()
        if not self.folder_edit.text().strip() or not root.is_dir():
            self.progress_label.setText(f"{root} is not a folder." if self.folder_edit.text().strip() else "Choose a folder first.")
            return False
        self.settings.update(batch_folder=str(root), batch_recursive=self.recursive.isChecked())
        self.root = root
        self.model.removeRows(0, self.model.rowCount())
        self.rows.clear()  # the same list the filter reads
        self._not_recorded: tuple[int, str | None] = (0, None)  # results the history could not keep, and why
        self.progress.setRange(0, 0)
        self.progress_label.setText("Listing files…")
        self.summary.clear()
        self._started = time.perf_counter()
        self._set_running(True)
        self.worker = start_folder_scan(
            root, self.classifier, recursive=self.recursive.isChecked(), history=self.history,
            progress=self._on_progress, errored=self._on_failed, finished=self._on_finished,
        )
        return True

    def cancel_scan(self) -> None:
        if self.worker is not None:
            self.worker.request_stop()  # the rows done so far stay
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping…")

    def stop_scan(self, wait_ms: int = 3000) -> None:
        """Cancel and wait for the worker thread (used when the dialog or the application closes)."""
        if self.worker is not None:
            self.worker.request_stop()
            self.worker.wait(wait_ms / 1000.0)

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.folder_edit.setEnabled(not running)
        self.recursive.setEnabled(not running)
        self.export_button.setEnabled(not running and bool(self.rows))

    def _add_row(self, row: ScanRow) -> None:
        self.rows.append(row)
        path = Path(row.path)
        try:
            shown = str(path.relative_to(self.root)) if self.root else path.name
        except ValueError:
            shown = path.name
        ok = row.ok
        warnings = text.warning_sentences(row)
        # The cell has the short words ("Borderline (above)"), whole at 1500 px beside a 200 px Error column; the
        # tooltip has the window's headline ("Borderline (just above the threshold): read as undecided").
        positive_label = self.classifier.card.labels[1]  # the card's words, not a second copy here
        result = text.result_headline(row, positive_label, short=True) if ok or row.declined else "—"
        headline = text.result_headline(row, positive_label)
        cell = worklist.file_cell(row.path, shown)  # a film fetched from a PACS: whose it is, not its UID
        items = [
            _item(cell.text, tooltip=cell.tooltip),
            _item(result, rich_tooltip=worklist.wrapped_tooltip([headline]) if ok or row.declined else ""),
            _item(f"{row.probability:.3f}" if ok else "—", row.probability if ok else -1.0),
            _item(text.threshold_distance(row.probability, row.threshold) if ok else "—",
                  row.probability - row.threshold if ok else -2.0),
            *(_knee_item(row, side, positive_label) for side in KNEE_SIDES),
            # The same sentences as the window and the CLI table: the reader's warnings and, near the threshold, the
            # borderline one (a 0.38 "osteoporosis" against a 0.36 threshold must not read as a firm call).
            _item(text.warnings_line(warnings), rich_tooltip=worklist.wrapped_tooltip(warnings)),
            _item(row.error or "", rich_tooltip=worklist.wrapped_tooltip([row.error] if row.error else [])),
            _item(worklist.agreement_words(row.reader_agreement)),
        ]
        items[0].setData(len(self.rows) - 1, ROW_ROLE)
        items[0].setData(row.declined, DECLINED_ROLE)
        for column in (2, 3, 4, 5, 6):
            items[column].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if not ok:
            colour = NO_RESULT_COLOUR if row.declined else ERROR_COLOUR
            for item in items:
                item.setForeground(QBrush(colour))
        self.model.appendRow(items)
        self._update_summary()

    def _on_progress(self, progress: ScanRow | ScanProgress) -> None:
        if isinstance(progress, ScanRow):
            self._add_row(progress)
            return
        self._not_recorded = (progress.unrecorded, progress.history_error)
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
            left = f" · about {format_duration(progress.eta_s)} left" if progress.eta_s is not None and progress.done < progress.total else ""
            self.progress_label.setText(f"{progress.done} of {progress.total} files{left}")
        else:
            self.progress_label.setText(f"{progress.done} files")

    def _on_failed(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, ImageReadError) else f"The scan of {self.root} stopped: {plain_error(exc)}"
        plain.message(self, "Scan a folder", message)

    def _on_finished(self) -> None:
        cancelled = self.worker.stop_was_requested() if self.worker else False
        elapsed = format_duration(time.perf_counter() - self._started)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0 if cancelled else 1)
        if cancelled:
            self.progress_label.setText(f"Cancelled after {len(self.rows)} files ({elapsed}); their results are kept.")
        elif not self.rows:
            self.progress_label.setText("No files in this folder.")
        else:
            self.progress_label.setText(f"Done: {len(self.rows)} files in {elapsed}.")
        self._set_running(False)
        self._update_summary()
        unrecorded, why = self._not_recorded
        if unrecorded:  # the results are in the table and the CSV; the user must know the history lacks them
            self.progress_label.setText(self.progress_label.text() + " " + text.not_recorded(unrecorded, why) + ".")
            plain.message(self, "Scan a folder", text.not_recorded(unrecorded, why)
                          + ". They are in this table and can be exported as CSV; free space and scan again to keep them.")
        self.scan_finished.emit(cancelled)

    def summary_counts(self) -> dict[str, int]:
        """Rows per kind, in the filter's words and order (suspected, borderline, normal, out of scope, unreadable):
        a borderline result is counted as borderline, not as the side of the threshold it happens to fall on."""
        kinds = Counter(worklist.category(row) for row in self.rows)
        words = {worklist.NO_RESULT: "out of scope (no result)", worklist.ERROR: "could not be read"}
        return {words.get(key, key): kinds[key] for key, _ in worklist.FILTERS if key != worklist.ALL}

    def _update_summary(self) -> None:
        # Plain text: the summary is a PlainLabel, so markup would be shown as it is written.
        parts = [f"{label}: {count}" for label, count in self.summary_counts().items()]
        self.summary.setText(f"{len(self.rows)} files  ·  " + "  ·  ".join(parts))

    # --- results -------------------------------------------------------------------------------------------------
    def row_at(self, proxy_row: int) -> ScanRow:
        source = self.proxy.mapToSource(self.proxy.index(proxy_row, 0))
        return self.rows[int(self.model.item(source.row(), 0).data(ROW_ROLE))]

    def shown_rows(self) -> list[ScanRow]:
        """The rows as the table shows them: its sort, its filter."""
        return [self.row_at(r) for r in range(self.proxy.rowCount())]

    def sort_most_suspicious_first(self) -> None:
        self.table.sortByColumn(PROBABILITY_COLUMN, Qt.SortOrder.DescendingOrder)

    def step(self, current: str | None, delta: int) -> str | None:
        """The path ``delta`` rows from ``current`` in the table's order, selected in the table; None past the end."""
        paths = [row.path for row in self.shown_rows()]
        target = worklist.step(paths, current, delta)
        if target is not None:
            self.select_path(target)
        return target

    def select_path(self, path: str) -> None:
        for proxy_row in range(self.proxy.rowCount()):
            if self.row_at(proxy_row).path == path:
                self.table.selectRow(proxy_row)
                self.table.scrollTo(self.proxy.index(proxy_row, 0))
                return

    def selected_row(self) -> ScanRow | None:
        chosen = self.table.selectionModel().selectedRows()
        return self.row_at(chosen[0].row()) if chosen else None

    def mark_selected(self, agreement: str | None) -> str | None:
        """The reader agrees or disagrees with the selected result (None clears the mark); why not, or None."""
        row = self.selected_row()
        if row is None:
            self.progress_label.setText("Select a row to mark it.")
            return "Select a row to mark it."
        problem = worklist.mark(row, agreement, self.history)
        if problem is None or row.reader_agreement == agreement:
            source_row = self.rows.index(row)
            self.model.item(source_row, READING_COLUMN).setText(worklist.agreement_words(row.reader_agreement))
            self.marked.emit(row)
        self.progress_label.setText(problem or f"{Path(row.path).name}: {worklist.agreement_words(agreement) or 'mark cleared'}.")
        return problem

    def _open_index(self, index) -> None:
        self.open_requested.emit(escape_undecodable(self.row_at(index.row()).path))  # Qt cannot carry the raw name

    def choose_csv_path(self) -> None:
        default = (self.root / "osteo-scan.csv") if self.root else Path.home() / "osteo-scan.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export results as CSV", str(default), "CSV (*.csv)")
        if path:
            try:
                written = self.export_csv(path)
            except OSError as exc:
                plain.message(self, "Export CSV", f"The results could not be saved: {exc.strerror or exc}")
                return
            except UnsafeOutputError as exc:
                plain.message(self, "Export CSV", f"The results were not saved: {exc}")
                return
            shown = self.proxy.rowCount()
            hidden = f" ({len(self.rows) - shown} hidden by the filter not saved)" if shown < len(self.rows) else ""
            self.progress_label.setText(f"Saved {shown} rows to {written.name}{hidden}.")

    def export_csv(self, path: str | Path) -> Path:
        """Write the rows the table shows, in its order, as CSV, warnings as words; :class:`UnsafeOutputError` when
        ``path`` is an input, the history or not a file."""
        protected = [self.history.path if self.history is not None else default_history_path()]
        target = check_output_target(path, inputs=[row.path for row in self.rows], protected=protected)
        return write_rows_csv(self.shown_rows(), target, warnings_as_text=True)

    # --- closing -------------------------------------------------------------------------------------------------
    def reject(self) -> None:
        # Esc or the window's close button during a scan cancels the scan first; the rows done so far stay.
        if self.is_running():
            self.cancel_scan()
        else:
            super().reject()
