"""The main window: open a radiograph, see the model's result, its input and its explanation."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.core.results.history import History
from osteo_desktop.core.model.preprocessing import model_input_to_preview
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.gui.dropping import local_file_from_mime
from osteo_desktop.gui.image_view import ImageView
from osteo_desktop.gui.metadata_panel import MetadataPanel
from osteo_desktop.gui.recent_files import RecentFiles
from osteo_desktop.gui.result_panel import ResultPanel
from osteo_desktop.gui.signals import emit
from osteo_desktop.gui.workers import AnalysisOutcome, AnalysisRunner, ModelLoader, plain_error

log = logging.getLogger(__name__)

APP_TITLE = "Osteo Desktop"
# DICOM from a PACS export or a CD often has no extension at all (IM0001, I0000123): the second filter says so, and
# the dialog remembers the one last used.
IMAGE_FILTER = "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files, e.g. DICOM without an extension (*)"


class MainWindow(QMainWindow):
    """One image at a time. Results belong to the job that produced them; a newer job's image never shows an
    older result (see :class:`~osteo_desktop.gui.workers.AnalysisRunner`)."""

    analysis_shown = Signal(object)  # AnalysisOutcome, once it is on screen
    analysis_failed = Signal(str)
    model_ready = Signal()
    model_failed = Signal(str)

    def __init__(
        self,
        *,
        settings: QSettings | None = None,
        history: History | None = None,
        load_classifier: Callable[[], Classifier] = Classifier.load,
    ) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.history = history
        self.classifier: Classifier | None = None
        self.current: AnalysisOutcome | None = None
        self.current_radiograph: Radiograph | None = None
        self._pending_path: str | None = None
        self._model_error: str | None = None
        self._batch_dialog = None
        self._history_dialog = None
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.runner = AnalysisRunner(self)
        self.runner.image_ready.connect(self._on_image_ready)
        self.runner.result_ready.connect(self._on_result)
        self.runner.failed.connect(self._on_failed)
        self.runner.busy_changed.connect(self._on_busy)
        self._build_ui()
        self._build_actions()
        self._update_actions()
        # Never larger than the screen: at 150 % scaling a 1920x1080 screen is 1280x720, and a 1440x900 window would
        # put the result panel off-screen.
        available = self.screen().availableGeometry()
        self.resize(min(1440, available.width()), min(900, available.height()))
        self.loader = ModelLoader(load_classifier, self)
        self.loader.loaded.connect(self._on_model_loaded)
        self.loader.failed.connect(self._on_model_failed)
        self.busy.show()
        self.statusBar().showMessage("Loading the screening model…")
        self.loader.start()

    # --- layout --------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.view = ImageView(placeholder="Open a knee radiograph\n\nFile ▸ Open (Ctrl+O), or drop a file here")
        self.view.file_dropped.connect(self.open_dropped)
        self.view.pixel_hovered.connect(lambda text: self.pixel_label.setText(text))
        self.view.window_changed.connect(lambda text: self.window_label.setText(text))

        self.result_panel = ResultPanel()
        self.preview = ImageView(adjustable=False)
        self.preview.setMinimumSize(260, 260)
        self.preview.setToolTip("Exactly what the model was given: cropped, resized and contrast-equalised.")
        self.preview.file_dropped.connect(self.open_dropped)
        self.show_explanation = QCheckBox("Show explanation map")
        self.show_explanation.setChecked(True)
        self.show_explanation.setToolTip("Highlights the regions that weighed most in the result (Grad-CAM).  Shortcut: X")
        self.show_explanation.toggled.connect(self._apply_overlay_settings)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(40)
        self.opacity.setToolTip("Opacity of the explanation map")
        self.opacity.valueChanged.connect(self._apply_overlay_settings)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity, 1)
        preview_box = QGroupBox("Model input and explanation")
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addWidget(self.preview, 1)
        preview_layout.addWidget(self.show_explanation)
        preview_layout.addLayout(opacity_row)

        self.metadata = MetadataPanel()
        metadata_box = QGroupBox("Image details")
        QVBoxLayout(metadata_box).addWidget(self.metadata)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 8, 8, 8)
        side_layout.setSpacing(10)
        side_layout.addWidget(self.result_panel)
        side_layout.addWidget(preview_box, 3)
        side_layout.addWidget(metadata_box, 2)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(380)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([1000, 420])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.pixel_label = QLabel()
        self.window_label = QLabel()
        self.window_label.setToolTip("Right-drag on the image: up/down moves the centre, left/right the width. R resets.")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(140)
        self.busy.setMaximumHeight(14)
        self.busy.hide()
        for widget in (self.window_label, self.pixel_label, self.busy):
            self.statusBar().addPermanentWidget(widget)

    def _action(self, text: str, slot: Callable, shortcut: QKeySequence | str | list | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if isinstance(shortcut, list):
            action.setShortcuts([QKeySequence(s) for s in shortcut])
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        label = tip or text.replace("&", "").rstrip("…")
        action.setToolTip(f"{label}  ({keys})" if keys else label)
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open…", self.choose_file, QKeySequence.StandardKey.Open, "Open a radiograph (DICOM, PNG, JPEG)")
        self.batch_action = a("Scan &folder…", self.show_batch_dialog, "Ctrl+B", "Screen every image in a folder")
        self.export_action = a("&Export report…", self.choose_report_path, "Ctrl+E", "Save this result as a one-page PDF")
        self.history_action = a("&History", self.show_history, "Ctrl+H", "Results recorded so far")
        self.quit_action = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.fit_action = a("&Fit to window", self.view.fit_to_window, ["F", "Ctrl+0"])
        self.actual_action = a("&Actual size (1:1)", self.view.actual_size, ["1", "Ctrl+1"])
        self.zoom_in_action = a("Zoom &in", self.view.zoom_in, ["+", "=", "Ctrl++"])
        self.zoom_out_action = a("Zoom &out", self.view.zoom_out, ["-", "Ctrl+-"])
        self.invert_action = a("&Invert", lambda checked: self.view.set_inverted(checked), "I", "Show the image inverted")
        self.invert_action.setCheckable(True)
        self.reset_action = a("&Reset window/level", self._reset_window, "R", "Back to the file's own brightness and contrast")
        self.explain_action = a("Show e&xplanation", lambda: self.show_explanation.toggle(), "X")
        self.model_action = a("About the &model…", self.show_model_info, "F1")
        self.about_action = a("&About Osteo Desktop…", self.show_about)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.history_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = menu.addMenu("&View")
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        for action in (self.invert_action, self.reset_action, self.explain_action):
            view_menu.addAction(action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.model_action)
        help_menu.addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        for action in (self.open_action, self.batch_action, None, self.fit_action, self.actual_action, self.zoom_in_action,
                       self.zoom_out_action, None, self.invert_action, self.reset_action, None, self.export_action, self.history_action):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)
        self.recent = RecentFiles(self.settings, self.recent_menu, self.open_file)

    def _update_actions(self) -> None:
        has_image = self.view.has_image()
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action, self.invert_action, self.reset_action):
            action.setEnabled(has_image)
        self.export_action.setEnabled(self.current is not None)
        self.batch_action.setEnabled(self.classifier is not None)
        self.history_action.setEnabled(self.history is not None)
        self.model_action.setEnabled(self.classifier is not None)

    # --- opening -------------------------------------------------------------------------------------------------
    def choose_file(self) -> None:
        start = self.settings.value("last_folder", str(Path.home()))
        last_filter = str(self.settings.value("open_filter", ""))
        path, chosen = QFileDialog.getOpenFileName(self, "Open a radiograph", str(start), IMAGE_FILTER, last_filter)
        if path:
            self.settings.setValue("open_filter", chosen)
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        """Show ``path`` and analyse it in the background; whatever was shown before is cleared first."""
        path = os.path.abspath(os.path.expanduser(str(path)))  # the history must reopen it from anywhere
        self._clear_shown_image()
        self.invert_action.setChecked(False)
        self.result_panel.show_busy(Path(path).name)
        self.setWindowTitle(f"{Path(path).name} — {APP_TITLE}")
        self.settings.setValue("last_folder", str(Path(path).parent))
        self._update_actions()
        if self._model_error is not None:
            self.result_panel.show_error(self._model_error)
            return
        if self.classifier is None:
            self.runner.supersede()
            self._pending_path = path
            self.busy.show()
            return
        self.runner.submit(path, self.classifier)

    def _on_image_ready(self, job_id: int, radiograph: Radiograph) -> None:
        self.current_radiograph = radiograph
        self.view.set_image(
            radiograph.pixels,
            modality_values=radiograph.modality_values,
            window=radiograph.window,
            invert_for_display=radiograph.invert_for_display,
            window_function=str(radiograph.metadata.get("voi_lut_function", "LINEAR")),
        )
        self.metadata.set_radiograph(radiograph)
        self.recent.add(str(radiograph.path))
        self._update_actions()

    def _on_result(self, outcome: AnalysisOutcome) -> None:
        analysis = outcome.analysis
        self.current = outcome
        positive = self.classifier.card.labels[1] if self.classifier else "osteoporosis"
        self.result_panel.show_result(analysis.prediction, positive)
        self.preview.set_image(model_input_to_preview(analysis.model_input))
        self.preview.set_overlay(analysis.explanation)
        self.view.set_overlay(analysis.explanation_on_original())
        self._apply_overlay_settings()
        self._record(outcome)
        self.statusBar().showMessage(f"{Path(outcome.path).name}: analysed in {outcome.elapsed_ms:.0f} ms", 8000)
        self._update_actions()
        emit(self.analysis_shown, outcome)

    def _clear_shown_image(self) -> None:
        """Forget the image and result on screen, so nothing stale stays beside what comes next."""
        self.current = None
        self.current_radiograph = None
        self.view.clear()
        self.preview.clear()
        self.metadata.set_radiograph(None)

    def _on_failed(self, job_id: int, message: str) -> None:
        self._clear_shown_image()
        self.result_panel.show_error(message)
        self.statusBar().showMessage(message, 15000)
        self._update_actions()
        emit(self.analysis_failed, message)

    def _on_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy or self.classifier is None)

    def _record(self, outcome: AnalysisOutcome) -> None:
        if self.history is None:
            return
        try:
            self.history.record(outcome.path, outcome.analysis.prediction, file_sha256=outcome.file_sha256)
        except Exception as exc:  # noqa: BLE001 - the result on screen matters more than its copy in the history
            log.exception("could not record %s in the history", outcome.path)
            self.statusBar().showMessage(f"The result is shown but could not be saved to the history: {plain_error(exc)}", 15000)
        self._refresh_history_view()

    def _refresh_history_view(self) -> None:
        if self._history_dialog is not None and self._history_dialog.isVisible():
            self._history_dialog.refresh()

    # --- model ---------------------------------------------------------------------------------------------------
    def _on_model_loaded(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self.busy.hide()
        self.statusBar().showMessage(f"Model {classifier.version} ready", 5000)
        self._update_actions()
        emit(self.model_ready)
        if self._pending_path:
            path, self._pending_path = self._pending_path, None
            self.open_file(path)

    def _on_model_failed(self, message: str) -> None:
        self._model_error = message
        self._pending_path = None
        self.busy.hide()
        self.result_panel.show_error(message)
        self.statusBar().showMessage(message)
        emit(self.model_failed, message)

    # --- overlay and display -------------------------------------------------------------------------------------
    def _apply_overlay_settings(self) -> None:
        visible = self.show_explanation.isChecked()
        opacity = self.opacity.value() / 100.0
        for view in (self.view, self.preview):
            view.set_overlay_visible(visible)
            view.set_overlay_opacity(opacity)

    def _reset_window(self) -> None:
        self.view.reset_window()
        self.invert_action.setChecked(False)

    def recent_files(self) -> list[str]:
        return self.recent.paths()

    # --- other windows -------------------------------------------------------------------------------------------
    def choose_report_path(self) -> None:
        from osteo_desktop.gui.export_dialog import ExportDialog

        if self.current is None:
            return
        radiograph = self.current.analysis.radiograph
        folder = Path(str(self.settings.value("last_report_folder", str(radiograph.path.parent))))
        dialog = ExportDialog(folder / f"{radiograph.path.stem}-report.pdf", radiograph.patient, self)
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        try:
            written = self.export_report(dialog.target(), include_patient=dialog.include_patient.isChecked())
        except OSError as exc:
            QMessageBox.warning(self, "Export report", f"The report could not be saved: {exc.strerror or exc}")
            return
        self.settings.setValue("last_report_folder", str(written.parent))
        self.statusBar().showMessage(f"Report saved to {written}", 10000)

    def export_report(self, path: str | Path, *, include_patient: bool = False) -> Path:
        from osteo_desktop.gui.report_pdf import write_report_pdf

        if self.current is None:
            raise RuntimeError("no result to export")
        positive = self.classifier.card.labels[1] if self.classifier else "osteoporosis"
        return write_report_pdf(path, self.current.analysis, positive_label=positive, include_patient=include_patient)

    def show_batch_dialog(self) -> None:
        from osteo_desktop.gui.batch_dialog import BatchDialog

        if self.classifier is None:
            return
        if self._batch_dialog is None:
            self._batch_dialog = BatchDialog(self.classifier, history=self.history, settings=self.settings, parent=self)
            self._batch_dialog.open_requested.connect(self._open_from_elsewhere)
            self._batch_dialog.scan_finished.connect(self._refresh_history_view)  # the scan records its results too
        self._batch_dialog.show()
        self._batch_dialog.raise_()
        self._batch_dialog.activateWindow()

    def show_history(self) -> None:
        from osteo_desktop.gui.history_view import HistoryDialog

        if self.history is None:
            return
        if self._history_dialog is None:
            self._history_dialog = HistoryDialog(self.history, parent=self)
            self._history_dialog.open_requested.connect(self._open_from_elsewhere)
        self._history_dialog.refresh()
        self._history_dialog.show()
        self._history_dialog.raise_()

    def _open_from_elsewhere(self, path: str) -> None:
        self.open_file(path)
        self.raise_()
        self.activateWindow()

    def show_model_info(self) -> None:
        from osteo_desktop.gui.about_dialog import ModelDialog

        if self.classifier is not None:
            ModelDialog(self.classifier.card, self).exec()

    def show_about(self) -> None:
        from osteo_desktop.gui.about_dialog import show_about

        show_about(self)

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
        if Path(path).is_dir() and self.classifier is not None:
            self.show_batch_dialog()
            self._batch_dialog.folder_edit.setText(path)
        else:
            self.open_file(path)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._batch_dialog is not None:
            self._batch_dialog.stop_scan()
        self.runner.supersede()
        self.runner.wait_for_done(5000)
        super().closeEvent(event)
