"""The main window: open a radiograph, see the model's result, its input and its explanation.

It lays out (see :mod:`~osteo_desktop.gui.main_window_ui`) and connects; :class:`~osteo_desktop.gui.logic.AppLogic`
does the work and owns the state.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow

from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.results.history import History
from osteo_desktop.gui.dropping import local_file_from_mime
from osteo_desktop.gui.jobs import AnalysisOutcome
from osteo_desktop.gui.logic import AppLogic
from osteo_desktop.gui.main_window_ui import (DECLINED_EMPTY_TITLE, DECLINED_TIP, DECLINED_TITLE, PREVIEW_TIP,
                                              PREVIEW_TITLE, build_actions, build_widgets)
from osteo_desktop.gui.recent_files import RecentFiles
from osteo_desktop.gui.settings import AppSettings
from osteo_desktop.gui import plain, worklist
from osteo_desktop.gui.side_windows import SideWindows

log = logging.getLogger(__name__)

APP_TITLE = "Osteo Desktop"
# DICOM from a PACS export or a CD often has no extension at all (IM0001, I0000123): the second filter says so, and
# the dialog remembers the one last used.
IMAGE_FILTER = "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files, e.g. DICOM without an extension (*)"


class MainWindow(QMainWindow):
    """One image at a time; a result is only ever shown beside the image it belongs to (see AppLogic)."""

    analysis_shown = Signal(object)  # AnalysisOutcome, once it is on screen
    analysis_failed = Signal(str)
    model_ready = Signal()
    model_failed = Signal(str)

    def __init__(
        self,
        *,
        settings: AppSettings | QSettings | None = None,
        history: History | None = None,
        load_classifier: Callable[[], Classifier] | None = None,
    ) -> None:
        super().__init__()
        self.settings = AppSettings.coerce(settings)
        self.logic = AppLogic(self.settings, history, load_classifier, self)
        self.side = SideWindows(self)
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        build_widgets(self)
        build_actions(self)
        self.recent = RecentFiles(self.settings, self.recent_menu, self.open_file)
        self._connect()
        self._show_preview_kind(declined=False, explained=False)  # nothing to explain yet
        self.update_actions()
        # Never larger than the screen: at 150 % scaling a 1920x1080 screen is 1280x720, and a 1440x900 window would
        # put the result panel off-screen.
        available = self.screen().availableGeometry()
        self.resize(min(1440, available.width()), min(900, available.height()))
        self.statusBar().showMessage("Loading the screening model…")
        self.logic.load_model()

    def _connect(self) -> None:
        logic, status = self.logic, self.statusBar()
        self.view.file_dropped.connect(self.open_dropped)
        self.preview.file_dropped.connect(self.open_dropped)
        self.view.pixel_hovered.connect(self.pixel_label.setText)
        self.view.window_changed.connect(self.window_label.setText)
        self.show_explanation.toggled.connect(self._apply_overlay_settings)
        self.opacity.valueChanged.connect(self._apply_overlay_settings)
        logic.busy_changed.connect(self.busy.setVisible)
        logic.opening.connect(self._on_opening)
        logic.image_ready.connect(self._on_image_ready)
        logic.analysis_ready.connect(self._on_result)
        logic.analysis_failed.connect(self._on_failed)
        logic.model_ready.connect(self._on_model_ready)
        logic.model_failed.connect(self._on_model_failed)
        logic.history_changed.connect(self.side.refresh_history)
        logic.notice.connect(status.showMessage)
        logic.report_saved.connect(lambda path: status.showMessage(f"Report saved to {path}", 10000))
        logic.report_failed.connect(lambda message: plain.message(self, "Export report", message))
        logic.dicom_exported.connect(lambda paths: status.showMessage(f"{len(paths)} DICOM objects saved to {paths[0].parent}", 10000))
        logic.dicom_export_failed.connect(lambda message: plain.message(self, "Export DICOM results", message))

    # What the tests and the self-test read; the state itself lives in the logic.
    classifier = property(lambda self: self.logic.classifier)
    current = property(lambda self: self.logic.current)
    current_radiograph = property(lambda self: self.logic.current_radiograph)

    def update_actions(self) -> None:
        has_image = self.view.has_image()
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action, self.invert_action, self.reset_action):
            action.setEnabled(has_image)
        for action in (self.export_action, self.dicom_export_action):
            action.setEnabled(self.logic.current is not None)
        for action in (self.agree_action, self.disagree_action):
            action.setEnabled(self.logic.current is not None and self.logic.current.analysis.prediction is not None)
        self.batch_action.setEnabled(self.logic.classifier is not None)
        self.history_action.setEnabled(self.logic.history is not None)
        self.model_action.setEnabled(self.logic.classifier is not None)
        for action in (self.next_action, self.previous_action):
            action.setEnabled(self.side.has_worklist())

    # --- opening and showing -------------------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, chosen = QFileDialog.getOpenFileName(self, "Open a radiograph", self.settings.last_folder, IMAGE_FILTER, self.settings.open_filter)
        if path:
            self.settings.update(open_filter=chosen)
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        """Show ``path`` and analyse it in the background; whatever was shown before is cleared first."""
        self.logic.open(path)

    def _on_opening(self, path: str) -> None:
        self._clear_shown_image()
        self.invert_action.setChecked(False)
        shown = worklist.shown_name(path)  # a film fetched from a PACS: whose it is, not its UID
        self.result_panel.show_busy(shown)
        # The last file's "analysed in 132 ms" stayed in the status bar for 8 s while the next one was analysed.
        self.statusBar().showMessage(f"Opening {shown}…")
        self.setWindowTitle(plain.window_title(f"{shown} — {APP_TITLE}"))
        self.side.show_position()
        self.update_actions()

    def _on_image_ready(self, radiograph: Radiograph) -> None:
        window_function = str(radiograph.metadata.get("voi_lut_function", "LINEAR"))
        self.view.set_image(radiograph.pixels, modality_values=radiograph.modality_values, window=radiograph.window,
                            invert_for_display=radiograph.invert_for_display, window_function=window_function)
        self.metadata.set_radiograph(radiograph)
        self.recent.add(str(radiograph.path))
        self.update_actions()

    def _on_result(self, outcome: AnalysisOutcome) -> None:
        analysis, shown = outcome.analysis, self.logic.display(outcome)  # knee boxes, heat maps, what the model saw
        if analysis.prediction is None:  # out of the model's scope: no result, so no heat map either
            self.result_panel.show_no_result(analysis.out_of_scope, analysis.warnings)
        else:
            self.result_panel.show_result(analysis.prediction, self.logic.positive_label(), shown.knees)
            self.result_panel.show_reading(outcome.reader_agreement)  # as the history keeps it (jobs._record)
        self.preview.set_image(shown.preview) if shown.preview is not None else self.preview.clear()
        self.preview.set_overlay(shown.preview_heat)
        self.preview.set_marks(shown.preview_marks)
        self.view.set_overlay(shown.heat)
        self.view.set_marks(shown.marks)
        explained = self.view.has_overlay() or self.preview.has_overlay()
        self._show_preview_kind(declined=analysis.prediction is None, explained=explained, has_preview=shown.preview is not None)
        self._apply_overlay_settings()
        self.statusBar().showMessage(f"{worklist.shown_name(outcome.path)}: analysed in {outcome.elapsed_ms:.0f} ms", 8000)
        self.update_actions()
        self.analysis_shown.emit(outcome)

    def _clear_shown_image(self) -> None:
        """Forget the image and result on screen, so nothing stale stays beside what comes next."""
        self.view.clear()
        self.preview.clear()
        self._show_preview_kind(declined=False, explained=False)
        self.metadata.set_radiograph(None)

    def _show_preview_kind(self, *, declined: bool, explained: bool, has_preview: bool = True) -> None:
        """Caption the preview for what it holds, and offer the explanation controls only when there is a map.

        A declined file's preview is the whole film as the scope gate saw it, not a knee's model input: captioned
        "Model input and explanation" with "Show explanation map" ticked, it read as a result whose map had failed.
        The tick itself is kept (the reader's choice for the next result); the controls are greyed until then.
        """
        if declined:
            self.preview_box.setTitle(DECLINED_TITLE if has_preview else DECLINED_EMPTY_TITLE)
            self.preview.setToolTip(DECLINED_TIP)
        else:
            self.preview_box.setTitle(PREVIEW_TITLE)
            self.preview.setToolTip(PREVIEW_TIP)
        for control in (self.show_explanation, self.opacity, self.opacity_label, self.explain_action):
            control.setEnabled(explained)

    def _on_failed(self, message: str) -> None:
        self._clear_shown_image()
        self.result_panel.show_error(message)
        self.statusBar().showMessage(message, 15000)
        self.update_actions()
        self.analysis_failed.emit(message)

    def _on_model_ready(self, classifier: Classifier) -> None:
        self.statusBar().showMessage(f"Model {classifier.version} ready", 5000)
        self.update_actions()
        self.model_ready.emit()

    def _on_model_failed(self, message: str) -> None:
        self.result_panel.show_error(message)
        self.statusBar().showMessage(message)
        self.model_failed.emit(message)

    def _apply_overlay_settings(self) -> None:
        for view in (self.view, self.preview):
            view.set_overlay_visible(self.show_explanation.isChecked())
            view.set_overlay_opacity(self.opacity.value() / 100.0)

    def reset_window(self) -> None:
        self.view.reset_window()
        self.invert_action.setChecked(False)

    def recent_files(self) -> list[str]:
        return self.recent.paths()

    # --- other windows -------------------------------------------------------------------------------------------
    def choose_report_path(self) -> None:
        from osteo_desktop.gui.export_dialog import ExportDialog
        from osteo_desktop.gui.report_pdf import patient_lines

        suggested = self.logic.suggested_report_path()
        if suggested is None:
            return
        dialog = ExportDialog(suggested, patient_lines(self.logic.current.analysis.radiograph), self,
                              identified=self.logic.suggested_report_path(with_patient=True))
        if dialog.exec() == ExportDialog.DialogCode.Accepted:
            self.logic.export_report(dialog.target(), include_patient=dialog.include_patient.isChecked())

    # The scan (a worklist) and the history live in SideWindows; these names are what the actions and tests call.
    show_batch_dialog = lambda self: self.side.show_batch()  # noqa: E731
    show_history = lambda self: self.side.show_history()  # noqa: E731
    next_file = lambda self: self.side.step(1)  # noqa: E731
    previous_file = lambda self: self.side.step(-1)  # noqa: E731
    _batch_dialog = property(lambda self: self.side.batch)
    _history_dialog = property(lambda self: self.side.history)

    # --- drag and drop, closing ----------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if local_file_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        path = local_file_from_mime(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.open_dropped(path)

    def open_dropped(self, path: str) -> None:
        """A dropped file is opened; a dropped folder is offered for a batch scan."""
        if Path(path).is_dir() and self.logic.classifier is not None:
            self.show_batch_dialog()
            self.side.batch.folder_edit.setText(path)
        else:
            self.open_file(path)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.side.stop()
        self.logic.shutdown(5000)
        super().closeEvent(event)
