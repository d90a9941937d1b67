"""Everything slow runs here, off the GUI thread: loading the model, analysing an image, scanning a folder.

Results come back to the GUI thread as Qt signals (queued connections). Each analysis carries a job id; only the
latest job's results are delivered, so opening another image never shows a stale result beside it.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from osteo_desktop.core.errors import ImageReadError, OsteoError
from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.gui.signals import emit

if TYPE_CHECKING:
    from osteo_desktop.core.pipeline.analysis import Analysis
    from osteo_desktop.core.results.history import History

log = logging.getLogger(__name__)


def plain_error(exc: BaseException, path: str | Path | None = None) -> str:
    """A message fit for a clinician. The core's own errors already are; anything else is logged in full."""
    if isinstance(exc, OsteoError):
        return str(exc)
    name = f"{Path(path).name}: " if path else ""
    if isinstance(exc, MemoryError):
        return f"{name}there is not enough memory to process this image."
    if isinstance(exc, OSError):
        return f"{name}the file could not be read ({exc.strerror or exc})."
    log.error("unexpected error", exc_info=exc)
    return f"{name}the image could not be analysed because of an unexpected problem (details are in the log)."


@dataclass
class AnalysisOutcome:
    job_id: int
    path: str
    analysis: "Analysis"
    file_sha256: str | None
    elapsed_ms: float


class _AnalysisSignals(QObject):
    image_read = Signal(int, object)  # job id, Radiograph
    finished = Signal(int, object)  # job id, AnalysisOutcome
    failed = Signal(int, str)  # job id, message


class _AnalysisTask(QRunnable):
    def __init__(self, job_id: int, path: str, classifier: Classifier, signals: _AnalysisSignals, is_current: Callable[[int], bool]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the runner keeps the Python object alive until its signals are delivered
        self.job_id, self.path, self.classifier, self.signals, self.is_current = job_id, path, classifier, signals, is_current

    def run(self) -> None:
        # A job superseded while waiting in the queue is skipped; one superseded mid-way stops at the next step.
        if not self.is_current(self.job_id):
            emit(self.signals.failed, self.job_id, "")
            return
        start = time.perf_counter()
        try:
            # Imported here, not at the top: the readers pull in pydicom, which would delay the first window.
            from osteo_desktop.core.pipeline.analysis import analyse_radiograph
            from osteo_desktop.core.reading.reader import read_radiograph

            radiograph = read_radiograph(self.path, target_size=self.classifier.input_size)
            read_ms = (time.perf_counter() - start) * 1000.0
            emit(self.signals.image_read, self.job_id, radiograph)
            if not self.is_current(self.job_id):
                emit(self.signals.failed, self.job_id, "")
                return
            analysis = analyse_radiograph(radiograph, self.classifier, read_ms=read_ms)
            try:
                digest: str | None = sha256_of(Path(self.path))
            except OSError:
                digest = None
            elapsed = (time.perf_counter() - start) * 1000.0
            emit(self.signals.finished, self.job_id, AnalysisOutcome(self.job_id, self.path, analysis, digest, elapsed))
        except BaseException as exc:  # noqa: BLE001 - a worker must always report back, never die silently
            emit(self.signals.failed, self.job_id, plain_error(exc, self.path))


class AnalysisRunner(QObject):
    """Runs one analysis at a time in a worker thread; a new request supersedes the previous one."""

    image_ready = Signal(int, object)  # job id, Radiograph (shown while the model runs)
    result_ready = Signal(object)  # AnalysisOutcome of the current job
    failed = Signal(int, str)  # job id, plain-words message
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._current = 0
        self._busy = False
        self._pending: dict[int, tuple[_AnalysisTask, _AnalysisSignals]] = {}

    @property
    def current_job(self) -> int:
        return self._current

    def is_busy(self) -> bool:
        return self._busy

    def is_current(self, job_id: int) -> bool:
        return job_id == self._current

    def submit(self, path: str | Path, classifier: Classifier) -> int:
        self._current += 1
        job_id = self._current
        signals = _AnalysisSignals()
        signals.image_read.connect(self._on_image_read)
        signals.finished.connect(self._on_finished)
        signals.failed.connect(self._on_failed)
        task = _AnalysisTask(job_id, str(path), classifier, signals, self.is_current)
        self._pending[job_id] = (task, signals)
        self._set_busy(True)
        self._pool.start(task)
        return job_id

    def supersede(self) -> None:
        """Forget the running job: whatever it still produces is dropped."""
        self._current += 1
        self._set_busy(False)

    def wait_for_done(self, msecs: int = 30000) -> bool:
        return self._pool.waitForDone(msecs)

    def _on_image_read(self, job_id: int, radiograph: object) -> None:
        if job_id == self._current:
            emit(self.image_ready, job_id, radiograph)

    def _on_finished(self, job_id: int, outcome: AnalysisOutcome) -> None:
        self._pending.pop(job_id, None)
        if job_id != self._current:
            log.debug("dropping the result of superseded job %d", job_id)
            return
        self._set_busy(False)
        emit(self.result_ready, outcome)

    def _on_failed(self, job_id: int, message: str) -> None:
        self._pending.pop(job_id, None)
        if job_id != self._current:
            return
        self._set_busy(False)
        emit(self.failed, job_id, message)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            emit(self.busy_changed, busy)


class _LoadSignals(QObject):
    loaded = Signal(object)
    failed = Signal(str)


class _LoadTask(QRunnable):
    def __init__(self, loader: Callable[[], Classifier], signals: _LoadSignals) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.loader, self.signals = loader, signals

    def run(self) -> None:
        try:
            classifier = self.loader()
            importlib.import_module("osteo_desktop.core.pipeline.analysis")  # warms up the image readers meanwhile

            emit(self.signals.loaded, classifier)
        except BaseException as exc:  # noqa: BLE001
            emit(self.signals.failed, f"The screening model could not be loaded. {plain_error(exc)}")


class ModelLoader(QObject):
    """Loads the classifier once, in the background, while the window is already usable."""

    loaded = Signal(object)  # Classifier
    failed = Signal(str)

    def __init__(self, loader: Callable[[], Classifier] = Classifier.load, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._signals = _LoadSignals()
        self._signals.loaded.connect(self.loaded)
        self._signals.failed.connect(self.failed)
        self._task = _LoadTask(loader, self._signals)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def start(self) -> None:
        self._pool.start(self._task)


class ScanWorker(QThread):
    """Runs :func:`osteo_desktop.core.pipeline.scanning.scan_folder` and streams its rows and progress to the dialog."""

    row_ready = Signal(object)  # ScanRow
    progress = Signal(object)  # ScanProgress
    failed = Signal(str)

    def __init__(self, root: Path, classifier: Classifier, recursive: bool, *, history: "History | None" = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.root, self.classifier, self.recursive, self.history = Path(root), classifier, recursive, history
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def was_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        from osteo_desktop.core.pipeline.scanning import scan_folder

        try:
            rows = scan_folder(
                self.root, self.classifier, recursive=self.recursive, cancel=self._cancel, on_progress=partial(emit, self.progress), history=self.history
            )
            for row in rows:
                emit(self.row_ready, row)
                if self._cancel.is_set():
                    break
        except ImageReadError as exc:
            emit(self.failed, str(exc))
        except BaseException as exc:  # noqa: BLE001
            emit(self.failed, f"The scan of {self.root} stopped: {plain_error(exc)}")
