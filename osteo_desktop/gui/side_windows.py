"""The main window's companions: the folder scan (a worklist) and the history, made when first asked for.

Kept apart from :mod:`~osteo_desktop.gui.main_window` so that the window stays a layout and its connections; the
worklist's order and rules are the batch dialog's and :mod:`~osteo_desktop.gui.worklist`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from osteo_desktop.core.results.names import file_named

if TYPE_CHECKING:
    from osteo_desktop.gui.batch_dialog import BatchDialog
    from osteo_desktop.gui.history_view import HistoryDialog
    from osteo_desktop.gui.main_window import MainWindow
    from osteo_desktop.gui.pacs_dialog import PacsDialog


class SideWindows:
    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self.batch: "BatchDialog | None" = None
        self.history: "HistoryDialog | None" = None
        self.pacs: "PacsDialog | None" = None

    def show_batch(self) -> None:
        from osteo_desktop.gui.batch_dialog import BatchDialog  # imported when asked for: keeps start-up short

        logic = self.window.logic
        if logic.classifier is None:
            return
        if self.batch is None:
            self.batch = BatchDialog(logic.classifier, history=logic.history, settings=self.window.settings, parent=self.window)
            self.batch.open_requested.connect(self.open_from_elsewhere)
            self.batch.scan_finished.connect(self.refresh_history)  # the scan records its results too
            self.batch.scan_finished.connect(lambda _: self.window.update_actions())
            # The file's place changes with the list: a finished scan, another sort or filter.
            self.batch.scan_finished.connect(lambda _: self.show_position())
            self.batch.proxy.layoutChanged.connect(self.show_position)
            self.batch.filter_choice.currentIndexChanged.connect(lambda _: self.show_position())
            self.batch.show_declined.toggled.connect(lambda _: self.show_position())
            self.batch.marked.connect(self._row_marked)
        self.batch.show()
        self.batch.raise_()
        self.batch.activateWindow()

    def show_history(self) -> None:
        from osteo_desktop.gui.history_view import HistoryDialog

        if self.window.logic.history is None:
            return
        if self.history is None:
            self.history = HistoryDialog(self.window.logic.history, parent=self.window)
            self.history.open_requested.connect(self.open_from_elsewhere)
        self.history.refresh()
        self.history.show()
        self.history.raise_()

    def show_pacs(self) -> None:
        from osteo_desktop.gui.pacs_dialog import PacsDialog

        if self.pacs is None:
            self.pacs = PacsDialog(self.window.logic, parent=self.window)
            self.pacs.study_fetched.connect(self.scan_folder)
        self.pacs.show()
        self.pacs.raise_()

    def scan_folder(self, folder: str) -> None:
        """Scan ``folder`` in the scan dialog (a fetched study): it becomes the worklist."""
        self.show_batch()
        if self.batch is not None and not self.batch.is_running():
            self.batch.start_scan(folder, recursive=False)

    def refresh_history(self) -> None:
        if self.history is not None and self.history.isVisible():
            self.history.refresh()

    def open_from_elsewhere(self, path: str) -> None:
        """Open a file named by the scan table or the history: names arrive escaped (names.file_named)."""
        self.window.open_file(file_named(path))
        self.window.raise_()
        self.window.activateWindow()

    def has_worklist(self) -> bool:
        return self.batch is not None and bool(self.batch.rows)

    def show_position(self) -> None:
        """Say in the status bar where the file on screen stands in the scan list ("12 of 36 in the scan list"),
        or nothing when it is not in the list as shown."""
        from osteo_desktop.gui import worklist

        label, current = self.window.position_label, self.window.logic.current_path
        where = None
        if self.has_worklist() and current is not None:
            where = worklist.position([os.path.abspath(row.path) for row in self.batch.shown_rows()], current)
        label.setText(worklist.position_words(*where) if where else "")
        label.setVisible(where is not None)

    def step(self, delta: int) -> str | None:
        """Open the next (``delta`` 1) or previous (-1) file of the scanned folder, in the order the table shows;
        the main window keeps the focus, so N/P (Page Down/Up) go on stepping."""
        if not self.has_worklist():
            self.window.statusBar().showMessage("Scan a folder first (Ctrl+B): next and previous step through it.", 5000)
            return None
        target = self.batch.step(self.window.logic.current_path, delta)
        if target is None:
            self.window.statusBar().showMessage("End of the list." if delta > 0 else "Start of the list.", 5000)
            return None
        self.window.open_file(target)
        return target

    def mark(self, agreement: str | None) -> None:
        """The reader agrees or disagrees with the result on screen: in the worklist's row when the file is one of
        the scan's (the table shows it), and in the history either way."""
        from dataclasses import replace

        from osteo_desktop.gui import worklist

        logic, status = self.window.logic, self.window.statusBar()
        if logic.current is None:
            status.showMessage("Open a file with a result to mark it.", 5000)
            return
        path = logic.current.path
        if self.batch is not None and any(row.path == path for row in self.batch.rows):
            self.batch.select_path(path)
            problem = self.batch.mark_selected(agreement)
        else:  # the batch dialog tells the window of its marks (_row_marked); this one is the window's own
            result = replace(logic.current.analysis.result, file_sha256=logic.current.file_sha256)
            problem = worklist.mark(result, agreement, logic.history)
            if result.reader_agreement == agreement:  # marked (perhaps not saved: the status bar then says so)
                self._show_reading(agreement)
        words = worklist.agreement_words(agreement) or "Mark cleared"
        status.showMessage(problem or f"{words}: {Path(path).name}", 8000)
        self.refresh_history()

    def _row_marked(self, row: object) -> None:
        """A scan row was marked: when it is the result on screen (the same file, or a copy of its content read by
        the same model, which the history marks with it), the window shows the new verdict at once."""
        current = self.window.logic.current
        if current is None or current.analysis.prediction is None:
            return
        same_file = os.path.abspath(row.path) == current.path
        same_content = (row.file_sha256 is not None and row.file_sha256 == current.file_sha256
                        and row.model_sha256 == current.analysis.model_sha256)
        if same_file or same_content:
            self._show_reading(row.reader_agreement)

    def _show_reading(self, agreement: str | None) -> None:
        self.window.logic.current.reader_agreement = agreement  # the report prints it too
        self.window.result_panel.show_reading(agreement)

    def stop(self) -> None:
        if self.batch is not None:
            self.batch.stop_scan()
        if self.pacs is not None:
            self.pacs.wait()
