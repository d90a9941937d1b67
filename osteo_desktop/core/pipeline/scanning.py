"""Batch prediction over many files: the engine of ``osteo predict``, ``osteo scan`` and the batch dialog.

A backend (:mod:`~osteo_desktop.core.pipeline.backends`; by default a small thread pool: Pillow, pydicom and NumPy
release the GIL while they decode) reads and preprocesses files while the calling thread runs batched inference,
so decoding and inference overlap. At most a few batches of files are in flight at any time, whatever the number
of files, so memory stays flat on a folder of thousands.
Every path gets exactly one row, in input order: a result, no result because the scope gate declined the file (not
a frontal knee radiograph: ``out_of_scope``), or an error that names the file and the cause. A file that vanishes,
turns unreadable or is not an image mid-scan gets its row and the scan goes on. Each file takes the same steps as the
single-file analysis (:mod:`~osteo_desktop.core.pipeline.film`): :func:`prepare_film` in the reader's thread (the
gate's look, the film input, the knees found and their regions), :func:`run_films` over the batch in one interpreter
call, then :func:`judge_film` and :func:`settle` (no result, or every knee and the most suspicious knee's result).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any


from osteo_desktop.core.errors import ImageReadError
from osteo_desktop.core.pipeline.eta import TimeLeft
from osteo_desktop.core.pipeline.file_faults import failure, os_cause, path_fault
from osteo_desktop.core.pipeline.film import FilmWork, film_warnings, judge_film, most_inputs_per_film, prepare_film, run_films, settle
from osteo_desktop.core.pipeline.backends import ScanBackend, ThreadBackend, get_backend
from osteo_desktop.core.pipeline.listing import list_files
from osteo_desktop.core.pipeline.memory import DecodeBudget, batch_limit, decode_cost, return_freed_memory
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.reading.reader import read_file_bytes, read_patient, read_radiograph
from osteo_desktop.core.results.history import HistoryError, stored_path
from osteo_desktop.core.results.result import ROW_KEYS, FileResult

__all__ = ["ROW_KEYS", "ScanProgress", "ScanRow", "analyse_paths", "default_workers", "list_files", "scan_files",
           "scan_folder"]

if TYPE_CHECKING:
    from osteo_desktop.core.results.history import History
    from osteo_desktop.core.model.runtime import Classifier

log = logging.getLogger(__name__)

# How long the consumer waits on a decode before looking at the cancel flag again.
_CANCEL_POLL_S = 0.1


# The row type of a scan is the one result type; the old name stays for the batch dialog.
ScanRow = FileResult


@dataclass
class ScanProgress:
    done: int
    total: int | None
    failed: int
    elapsed_s: float
    eta_s: float | None
    reused: int = 0
    declined: int = 0  # answered with no result: out of the model's scope (not failures)
    unrecorded: int = 0  # results given but not recorded in the history (it could not be written)
    history_error: str | None = None  # why, in one line

    @property
    def rate_per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


_failure, _os_cause = failure, os_cause  # shared with `osteo dicom-export` (file_faults)


class _Prepared:
    """What a worker hands back: the row so far and, when the file was read and the model must run, the film's
    inputs (the whole film for the gate, each knee's region) and what the gate took from the film."""

    __slots__ = ("row", "work", "copy")

    def __init__(self, row: FileResult, work: FilmWork | None = None, copy: bool = False) -> None:
        self.row = row
        self.work = work
        self.copy = copy  # a result reused from another file's entry: recorded under this file's path too


class _Preparer:
    """Read, hash and preprocess one file in a worker thread. Never raises: every failure becomes the row's error."""

    def __init__(self, classifier: "Classifier", history: "History | None", include_patient: bool, cancel: threading.Event,
                 budget: DecodeBudget | None = None, hash_files: bool = False) -> None:
        self.budget = budget
        self.hash_files = hash_files or history is not None  # the history needs each file's hash; a cluster asks
        self.input_size = classifier.input_size
        self.model_version = classifier.version
        self.model_sha256 = classifier.model_sha256
        self.history = history
        self.include_patient = include_patient
        self.cancel = cancel
        self.classifier = classifier
        self.scope_gate_id = classifier.scope_gate_id

    def __call__(self, path: Path) -> _Prepared:
        # Every row names the model it was meant for, even a failed one, so each output shows the model version.
        row = FileResult(path=str(path), model_version=self.model_version, model_sha256=self.model_sha256)
        if self.cancel.is_set():
            row.error = _failure(path, "not read: the scan was cancelled")
            return _Prepared(row)
        try:
            return self._prepare(path, row)
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop a scan; the reader's bugs are logged
            if self.cancel.is_set():  # e.g. the history was closed under a cancelled scan: nobody wants this row
                row.error = _failure(path, "not read: the scan was cancelled")
                return _Prepared(row)
            log.exception("unexpected error while reading %s", path.name)
            row.error = _failure(path, f"unexpected error while reading ({type(exc).__name__}: {exc})")
            return _Prepared(row)

    def _prepare(self, path: Path, row: FileResult) -> _Prepared:
        start = time.perf_counter()
        fault = path_fault(path)
        if fault is not None:
            row.error = fault
            return _Prepared(row)
        # Read once, after the size check (a huge or sparse file is refused here, before any byte is hashed), and
        # both hashed and decoded from these bytes: a file replaced in between cannot be recorded under the hash
        # of another content.
        try:
            data = read_file_bytes(path)
        except ImageReadError as exc:
            row.error = str(exc)
            return _Prepared(row)
        if self.hash_files:
            row.file_sha256 = hashlib.sha256(data).hexdigest()
        if self.history is not None:
            try:
                entry = self.history.find(row.file_sha256, self.model_sha256, path)
            except HistoryError as exc:
                if self.cancel.is_set():  # the history was closed under a cancelled scan: nobody wants this row
                    row.error = _failure(path, "not read: the scan was cancelled")
                    return _Prepared(row)
                # An unreadable history only costs the reuse of an earlier result; the file is still analysed.
                log.warning("history lookup failed for %s: %s", path.name, exc)
                entry = None
            # Reused only when the current scope gate let it through: a result recorded before the gate existed
            # (or by another gate) may be of a file the gate now declines. And only a result per knee: one recorded
            # before knees were found (no knees stored) is of the whole film, so the file is analysed again.
            if entry is not None and entry.scope_gate == self.scope_gate_id and entry.knees:
                row.reuse(entry)
                if self.include_patient:  # the history keeps no patient identifier: they come from the file
                    try:
                        row.patient = read_patient(path, data)
                    except ImageReadError as exc:
                        row.warnings.append(f"patient fields not exported: the file could not be parsed ({exc.cause})")
                row.timings_ms = {"read": (time.perf_counter() - start) * 1000.0, "preprocess": 0.0, "inference": 0.0}
                # A copy of a recorded file (its entry is another path's) gets its own entry: the history lists
                # each file in its own folder, not every copy in the first one's.
                return _Prepared(row, copy=entry.path != stored_path(path))
        # The budget is probed from the bytes already read (only their header is parsed), not from the file again.
        held = self.budget.acquire(decode_cost(path, data), self.cancel) if self.budget is not None else 0
        if held is None:
            row.error = _failure(path, "not read: the scan was cancelled")
            return _Prepared(row)
        try:
            radiograph = self._read(path, data, row)
            # The file's bytes are not needed past the read: not held while the film is prepared (95 MiB for a
            # 50-megapixel 16-bit DICOM, whose pixel data the compact read left in them).
            del data
            if radiograph is None:
                return _Prepared(row)
            return self._preprocess(radiograph, row, (time.perf_counter() - start) * 1000.0)
        finally:
            if self.budget is not None:
                self.budget.release(held)

    def _read(self, path: Path, data: bytes, row: FileResult) -> Radiograph | None:
        """The radiograph, or None with ``row.error`` saying why it could not be read."""
        try:
            # Compact: grey levels (a quarter of a float image) and no modality values, which only the viewer uses;
            # the model inputs are the same bit for bit (core.reading.levels).
            return read_radiograph(path, target_size=self.input_size, data=data, compact=True)
        except ImageReadError as exc:
            row.error = str(exc)
        except OSError as exc:
            row.error = _failure(path, _os_cause(exc))
        except MemoryError:
            row.error = _failure(path, "too large to decode in the memory available")
        return None

    def _preprocess(self, radiograph: Radiograph, row: FileResult, read_ms: float) -> _Prepared:
        work = prepare_film(radiograph, self.classifier)
        row.warnings = list(radiograph.warnings) + film_warnings(radiograph, work)
        if self.include_patient:
            row.patient = {str(k): str(v) for k, v in radiograph.patient.items()}
        row.timings_ms = {"read": read_ms, **work.timings_ms}
        if work.film_input is None:  # declined by the header or as blank: the model need not run
            settle(row, self.classifier, judge_film(self.classifier, work, None))
            return _Prepared(row)
        return _Prepared(row, work)  # only the small model inputs are kept, never the full-size pixels


def default_workers() -> int:
    """How many files the default (thread) backend reads at once."""
    return ThreadBackend().default_workers()


def scan_files(
    paths: Iterable[Path],
    classifier: "Classifier",
    *,
    batch_size: int = 16,
    cancel: threading.Event | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
    history: "History | None" = None,
    include_patient: bool = False,
    workers: int | None = None,
    backend: str | ScanBackend | None = None,
) -> Iterator[FileResult]:
    """Yield one :class:`FileResult` per path, in input order.

    ``cancel`` stops the scan within about a second: no further rows are yielded. With ``history``, a file whose
    content (SHA-256) already has a result for this model version reuses it (``row.from_history``), and every new
    result is committed to the history before its row is yielded, so a killed scan loses nothing and a re-run
    neither repeats the work nor duplicates entries. ``on_progress`` is called in the caller's thread after each
    row. ``include_patient`` keeps the reader's patient identifiers in ``row.patient`` (never exported unless asked).
    ``backend`` says where files are read and preprocessed (a name or a :class:`ScanBackend`; default: threads).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cancel = cancel or threading.Event()
    total = len(paths) if hasattr(paths, "__len__") else None  # type: ignore[arg-type]
    backend = get_backend(backend)
    workers = workers or backend.default_workers()
    return_freed_memory()
    # Memory is bounded in bytes, not files (core.pipeline.memory): model inputs per batch, decoded pixels in flight.
    # A film is up to five inputs (the film, two knees, their mirror images): 16 films were 80 inputs, 47 MiB, and
    # their stacked copy as much again, which put a scan of full-size films past 300 MiB (issue 13).
    batch_size = batch_limit(batch_size, classifier.input_size**2 * 3 * 4 * most_inputs_per_film(classifier.knee_head))
    if type(backend).scan_rows is not ScanBackend.scan_rows:
        yield from _relay_rows(backend, list(paths), classifier, batch_size=batch_size, cancel=cancel,
                               on_progress=on_progress, history=history, include_patient=include_patient)
        return
    preparer = _Preparer(classifier, history, include_patient, cancel, DecodeBudget())
    # Enough decodes in flight to fill the next batch while the current one runs, and no more.
    max_in_flight = 2 * batch_size + workers
    source = iter(paths)
    in_flight: collections.deque[Future[_Prepared]] = collections.deque()
    executor = backend.executor(workers)
    started = time.perf_counter()
    done = failed = reused = declined = 0
    unrecorded: list[int] = [0]
    history_error: list[str | None] = [None]
    time_left = TimeLeft()

    def refill() -> None:
        while len(in_flight) < max_in_flight and not cancel.is_set():
            path = next(source, None)
            if path is None:
                return
            in_flight.append(executor.submit(preparer, Path(path)))

    def report() -> None:
        if on_progress is None:
            return
        elapsed = time.perf_counter() - started
        on_progress(ScanProgress(done=done, total=total, failed=failed, elapsed_s=elapsed,
                                 eta_s=time_left.update(done, total), reused=reused, declined=declined,
                                 unrecorded=unrecorded[0], history_error=history_error[0]))

    try:
        refill()
        waiting: list[_Prepared] = []  # rows in order, some still waiting for their batch's inference
        while in_flight or waiting:
            if cancel.is_set():
                return
            if in_flight:
                prepared = _next_result(in_flight[0], cancel)
                if prepared is None:
                    return
                in_flight.popleft()
                refill()
                waiting.append(prepared)
            pending_inputs = sum(1 for item in waiting if item.work is not None)
            if pending_inputs and not (pending_inputs >= batch_size or not in_flight or len(waiting) >= 4 * batch_size):
                continue
            if pending_inputs:
                _infer(classifier, waiting)
            if history is not None:  # new results, and copies reusing another file's (nothing else: no write)
                failure = _record(history, waiting)
                if failure is not None:
                    unrecorded[0] += failure[0]
                    history_error[0] = failure[1]
            for item in waiting:
                row = item.row
                done += 1
                failed += row.error is not None
                reused += row.from_history
                declined += row.declined
                yield row
                report()
                if cancel.is_set():
                    return
            waiting = []
    finally:
        for future in in_flight:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)


def _relay_rows(backend: ScanBackend, paths: list[Path], classifier: "Classifier", *, batch_size: int,
                cancel: threading.Event, on_progress: Callable[[ScanProgress], None] | None,
                history: "History | None", include_patient: bool) -> Iterator[FileResult]:
    """The rows of a backend that runs the whole per-file work itself: recorded, counted and stopped like ours."""
    started = time.perf_counter()
    done = failed = declined = 0
    unrecorded, history_error = 0, None
    time_left = TimeLeft()
    rows = backend.scan_rows(paths, classifier, batch_size=batch_size, include_patient=include_patient,
                             hash_files=history is not None, cancel=cancel)
    assert rows is not None
    try:
        for row in rows:
            if cancel.is_set():
                return
            if history is not None:
                failure = _record(history, [_Prepared(row)])
                if failure is not None:
                    unrecorded, history_error = unrecorded + failure[0], failure[1]
            done += 1
            failed += row.error is not None
            declined += row.declined
            yield row
            if on_progress is not None:
                on_progress(ScanProgress(done=done, total=len(paths), failed=failed,
                                         elapsed_s=time.perf_counter() - started,
                                         eta_s=time_left.update(done, len(paths)), declined=declined,
                                         unrecorded=unrecorded, history_error=history_error))
            if cancel.is_set():
                return
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def analyse_paths(paths: Iterable[Path], classifier: "Classifier", *, include_patient: bool = False,
                  hash_files: bool = False) -> list[FileResult]:
    """One row per path, in order, read, preprocessed and predicted in this thread: what a cluster worker runs on
    its share of a scan (one batch of inference over the files that could be read)."""
    # Hashed from the bytes the preparer decodes (read once), as in a local scan.
    preparer = _Preparer(classifier, None, include_patient, threading.Event(), hash_files=hash_files)
    prepared = [preparer(Path(path)) for path in paths]
    if any(item.work is not None for item in prepared):
        _infer(classifier, prepared)
    return [item.row for item in prepared]


def _next_result(future: Future[_Prepared], cancel: threading.Event) -> _Prepared | None:
    while True:
        try:
            return future.result(timeout=_CANCEL_POLL_S)
        except FutureTimeout:
            if cancel.is_set():
                return None


def _infer(classifier: "Classifier", items: list[_Prepared]) -> None:
    batch = [item for item in items if item.work is not None]
    try:
        outputs = run_films(classifier, [item.work for item in batch])  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - a runtime failure is reported on each row of the batch, not raised
        log.exception("inference failed on a batch of %d images", len(batch))
        for item in batch:
            item.row.error = _failure(Path(item.row.path), f"inference failed ({type(exc).__name__}: {exc})")
            item.work = None
        return
    for item, output in zip(batch, outputs):
        row, warnings = item.row, list(item.row.warnings)
        try:
            settle(row, classifier, judge_film(classifier, item.work, output))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - one film's fault is its row's error: the scan (and its CSV) goes on
            log.exception("unexpected error judging %s", Path(row.path).name)
            # A fresh row: settle may have given this one part of a result before it failed.
            item.row = FileResult(path=row.path, model_version=row.model_version, model_sha256=row.model_sha256,
                                  file_sha256=row.file_sha256, warnings=warnings, timings_ms=row.timings_ms,
                                  patient=row.patient, error=_failure(
                                      Path(row.path), f"unexpected error after inference ({type(exc).__name__}: {exc})"))
        item.row.timings_ms["inference"] = item.work.timings_ms.get("inference", 0.0)  # type: ignore[union-attr]
        item.work = None  # the inputs are 600 kB each; drop them as soon as they are used


def _record(history: "History", items: list[_Prepared]) -> tuple[int, str] | None:
    """Commit the batch's new results; on failure (a full disk, say) how many were not recorded and why.

    The results themselves are still given (on screen, in the CSV): failing to remember them must not lose them.
    The caller reports the failure (the command line exits non-zero); the rows recorded before stay in the history.
    """
    new = [item.row for item in items if item.row.ok and (item.copy or not item.row.from_history) and item.row.file_sha256]
    if not new:
        return None
    try:
        history.record_many([(row.path, row, row.file_sha256) for row in new])
    except HistoryError as exc:  # expected (full disk, locked, read-only): the caller says it once, at the end
        log.debug("could not record %d results in the history: %s", len(new), exc)
        return len(new), str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug here must not lose the results either
        log.exception("could not record %d results in the history", len(new))
        return len(new), f"{type(exc).__name__}: {exc}"
    return None


def scan_folder(root: Path, classifier: "Classifier", *, recursive: bool = False, include_hidden: bool = False,
                **kwargs: Any) -> Iterator[FileResult]:
    """:func:`scan_files` over :func:`list_files` of ``root`` (listed first, so progress knows the total)."""
    paths = list(list_files(Path(root), recursive=recursive, include_hidden=include_hidden))
    return scan_files(paths, classifier, **kwargs)
