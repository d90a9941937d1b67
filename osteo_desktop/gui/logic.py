"""What the desktop app does, without any widget: the Logic half of a Widget/Logic split (3D Slicer's pattern).

:class:`AppLogic` owns the classifier, the file being looked at and its analysis, the history and the settings. It
offers operations (open a file, export its report, scan a folder) that run through
:mod:`~osteo_desktop.gui.worker`, and tells the window what happened with signals. Windows lay out and connect.

A result always belongs to a path: :attr:`AppLogic.current_path` is the file on screen, and only the analysis of
that path, from the job started for it, is ever handed out (opening another file cancels the job before).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.model.preprocessing import model_input_to_preview
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.results import text
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.results.history import History
from osteo_desktop.gui.jobs import (AnalysisOutcome, analyse_job, export_dicom_job, export_report_job, load_model_job,
                                    plain_error, scan_folder_job)
from osteo_desktop.core.results.palette import call_colour
from osteo_desktop.gui import worklist
from osteo_desktop.gui.settings import AppSettings
from osteo_desktop.gui.worker import LatestOnlyRunner, Worker, start_worker

if TYPE_CHECKING:
    from osteo_desktop.core.pipeline.analysis import Analysis

log = logging.getLogger(__name__)

PREVIEW_GAP = 8  # pixels of black between two knees' model inputs in the preview
MAX_OVERLAY_SIDE = 1024  # the heat map over the original is smooth: drawn from at most this many pixels a side


@dataclass
class ResultDisplay:
    """What the window draws for one analysis, prepared off the widgets.

    ``preview``: the image the model saw (each knee's input side by side, from the viewer's left; the whole film's
    input when there is no knee); ``preview_heat``: each knee's heat map over its input; ``heat``: every knee's heat
    map in place over the original; ``marks``: each knee's box, caption ("R 0.61") and colour, and
    ``preview_marks`` the same for each knee's input in the preview; ``knees``: the per-knee results for the panel.
    """

    preview: np.ndarray | None = None
    preview_heat: np.ndarray | None = None
    heat: np.ndarray | None = None
    marks: list[tuple[tuple[int, int, int, int], str, str]] = field(default_factory=list)
    knees: list[KneeResult] = field(default_factory=list)
    preview_marks: list[tuple[tuple[int, int, int, int], str, str]] = field(default_factory=list)


def result_display(analysis: "Analysis", positive_label: str) -> ResultDisplay:
    """Everything the window shows of ``analysis`` (see :class:`ResultDisplay`); no heat map when there is no result."""
    if not analysis.knees:
        preview = None if analysis.model_input is None else model_input_to_preview(analysis.model_input)
        return ResultDisplay(preview=preview)
    size = analysis.knees[0].model_input.shape[0]
    width = len(analysis.knees) * (size + PREVIEW_GAP) - PREVIEW_GAP
    preview = np.zeros((size, width), np.uint8)
    preview_heat = np.zeros((size, width), np.float32)
    for i, knee in enumerate(analysis.knees):
        left = i * (size + PREVIEW_GAP)
        preview[:, left : left + size] = model_input_to_preview(knee.model_input)
        if knee.explanation is not None:
            preview_heat[:, left : left + size] = knee.explanation
    heat = analysis.explanation_on_original()
    if heat is not None:
        step = max(1, -(-max(heat.shape) // MAX_OVERLAY_SIDE))
        heat = heat[::step, ::step]
    knees = analysis.result.knees
    threshold = analysis.result.threshold
    # A borderline knee's box is neutral, as its line and the headline are (result_panel.call_colour).
    marks = [(knee.box, f"{text.knee_tag(knee)} {text.knee_percent(knee.probability, threshold)}",
              call_colour(knee.probability, threshold, knee.label == positive_label)) for knee in knees]
    tiles = [(i * (size + PREVIEW_GAP), 0, i * (size + PREVIEW_GAP) + size, size) for i in range(len(knees))]
    preview_marks = [(tile, caption, colour) for tile, (_, caption, colour) in zip(tiles, marks)]
    explained = any(knee.explanation is not None for knee in analysis.knees)
    return ResultDisplay(preview, preview_heat if explained else None, heat, marks, knees, preview_marks)


def start_folder_scan(root: Path, classifier: Classifier, *, recursive: bool, history: History | None, **connect: Callable) -> Worker:
    """Scan ``root`` in a worker: ``progress`` carries each ScanRow and ScanProgress; ``request_stop`` keeps the rows."""
    return start_worker(scan_folder_job(Path(root), classifier, recursive, history), **connect)


class AppLogic(QObject):
    model_ready = Signal(object)  # Classifier
    model_failed = Signal(str)  # the model cannot be used; sent when loading fails and again on each later open
    opening = Signal(str)  # absolute path: whatever was shown before is gone; its analysis has started
    image_ready = Signal(object)  # Radiograph of the current path, shown while the model runs
    analysis_ready = Signal(object)  # AnalysisOutcome of the current path (already in the history)
    analysis_failed = Signal(str)  # plain words; nothing of the current path can be shown
    busy_changed = Signal(bool)  # the model is loading or the current path is being analysed
    history_changed = Signal()
    notice = Signal(str, int)  # a status message and how long to show it (ms)
    report_saved = Signal(object)  # Path of the written PDF
    report_failed = Signal(str)
    dicom_exported = Signal(object)  # list of the Paths written
    dicom_export_failed = Signal(str)

    def __init__(
        self,
        settings: AppSettings,
        history: History | None = None,
        load_classifier: Callable[[], Classifier] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.history = history
        self._load_classifier = load_classifier or (lambda: Classifier.load(settings.model_dir))
        self.classifier: Classifier | None = None
        self.model_error: str | None = None
        self.current_path: str | None = None
        self.current_radiograph: Radiograph | None = None
        self.current: AnalysisOutcome | None = None
        self._pending_path: str | None = None
        self._busy = False
        self.runner = LatestOnlyRunner(self)  # the analysis of the file on screen
        self.runner.busy_changed.connect(self._update_busy)
        self._pool = QThreadPool(self)  # everything else: loading the model, writing reports

    # --- the model -----------------------------------------------------------------------------------------------
    def load_model(self) -> Worker:
        self._update_busy()
        return start_worker(load_model_job(self._load_classifier), pool=self._pool, returned=self._on_model_loaded, errored=self._on_model_failed)

    def positive_label(self) -> str:
        return self.classifier.card.labels[1] if self.classifier else "osteoporosis"

    def display(self, outcome: AnalysisOutcome) -> ResultDisplay:
        """What the window draws for ``outcome``: knee boxes, heat maps in place, the knees' model inputs."""
        return result_display(outcome.analysis, self.positive_label())

    def _on_model_loaded(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self._update_busy()
        self.model_ready.emit(classifier)
        if self._pending_path:
            path, self._pending_path = self._pending_path, None
            self.open(path)

    def _on_model_failed(self, exc: BaseException) -> None:
        self.model_error = f"The screening model could not be loaded. {plain_error(exc)}"
        self._pending_path = None
        self._update_busy()
        self.model_failed.emit(self.model_error)

    # --- the file on screen --------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> str:
        """Forget what was shown, and analyse ``path`` in the background (once the model is there)."""
        path = os.path.abspath(os.path.expanduser(str(path)))  # the history must reopen it from anywhere
        self.runner.cancel()
        self.current_path, self.current_radiograph, self.current = path, None, None
        self.settings.update(last_folder=str(Path(path).parent))
        self.opening.emit(path)
        if self.model_error is not None:
            self.model_failed.emit(self.model_error)
        elif self.classifier is None:
            self._pending_path = path
        else:
            self.runner.start(
                analyse_job(path, self.classifier, self.history),
                progress=self._on_image_read,
                returned=self._on_analysed,
                errored=lambda exc: self._on_analysis_failed(exc, path),
            )
        return path

    def is_busy(self) -> bool:
        return self._busy

    def _on_image_read(self, radiograph: Radiograph) -> None:
        self.current_radiograph = radiograph
        self.image_ready.emit(radiograph)

    def _on_analysed(self, outcome: AnalysisOutcome | None) -> None:
        if outcome is None:
            return
        self.current = outcome
        self.analysis_ready.emit(outcome)
        if self.history is not None:
            self.history_changed.emit()
        if outcome.history_error:
            self.notice.emit(outcome.history_error, 15000)

    def _on_analysis_failed(self, exc: BaseException, path: str) -> None:
        self.current_radiograph = self.current = None
        self.analysis_failed.emit(plain_error(exc, path))

    def _update_busy(self) -> None:
        busy = self.runner.is_busy() or (self.classifier is None and self.model_error is None)
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # --- reports and scans ---------------------------------------------------------------------------------------
    def suggested_report_path(self, *, with_patient: bool = False) -> Path | None:
        """Where the report of the result on screen is suggested: "<file>-report.pdf". ``with_patient`` (the report
        will print the patient's details): a film fetched from a PACS, which lies under its SOP Instance UID, is
        named as the reader knows it ("Doe^Jane P-1 ACC-31 2025-03-01 knee-report.pdf", worklist.shown_name)."""
        if self.current is None:
            return None
        radiograph = self.current.analysis.radiograph
        folder = Path(self.settings.last_report_folder or radiograph.path.parent)
        stem = Path(worklist.shown_name(radiograph.path)).stem if with_patient else radiograph.path.stem
        return folder / f"{stem}-report.pdf"

    def export_report(self, target: str | Path, *, include_patient: bool = False) -> Worker:
        """Write the current result's PDF in the background; ``report_saved`` or ``report_failed`` follows."""
        if self.current is None:
            raise RuntimeError("no result to export")
        job = export_report_job(Path(target), self.current.analysis, self.positive_label(), include_patient,
                                self.current.reader_agreement)
        return start_worker(job, pool=self._pool, returned=self._on_report_saved, errored=self._on_report_failed)

    def export_dicom(self, out_dir: Path, details: object | None = None) -> Worker:
        """Write the current result as DICOM objects in the background; ``dicom_exported`` or ``dicom_export_failed``."""
        if self.current is None or self.classifier is None:
            raise RuntimeError("no result to export")
        job = export_dicom_job(Path(out_dir), self.current.analysis, self.classifier, details)
        return start_worker(job, pool=self._pool, returned=self.dicom_exported.emit,
                            errored=lambda exc: self.dicom_export_failed.emit(
                                f"The DICOM results could not be written: {self._reason(exc)}"))

    @staticmethod
    def _reason(exc: BaseException) -> str:
        # The file an OSError names is part of the reason: "No such file or directory" alone sent a clinic's IT
        # looking for a missing radiograph when a file of the app's own was missing.
        if isinstance(exc, (OsteoError, MemoryError)):
            return plain_error(exc)
        if not isinstance(exc, OSError):  # plain_error's words are about analysing an image, not writing a file
            log.error("unexpected error", exc_info=exc)
            return "an unexpected problem (details are in the log)"
        cause = exc.__cause__
        if exc.errno is None and isinstance(cause, OSError) and cause.errno is not None:
            # pydicom re-raises a failed write as OSError("With tag (7FE0,0010) got exception: ... Traceback ..."),
            # which reached the dialog whole on a full disk: the error it wraps says it in words.
            exc = cause
        named = f" ({exc.filename})" if exc.filename else ""
        words = exc.strerror or next(iter(str(exc).splitlines()), "") or type(exc).__name__  # never a traceback
        return f"{words}{named}"

    def _on_report_saved(self, written: Path) -> None:
        self.settings.update(last_report_folder=str(written.parent))
        self.report_saved.emit(written)

    def _on_report_failed(self, exc: BaseException) -> None:
        self.report_failed.emit(f"The report could not be saved: {self._reason(exc)}")

    # --- closing -------------------------------------------------------------------------------------------------
    def shutdown(self, wait_ms: int = 5000) -> None:
        """Drop the running analysis and let reports being written finish (a user's report is never cut short)."""
        self.runner.cancel()
        self.runner.wait_for_done(wait_ms)
        self._pool.waitForDone(wait_ms)
