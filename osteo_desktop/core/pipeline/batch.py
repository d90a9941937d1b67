"""A scan of many files from start to finish, as ``osteo predict``, ``osteo scan`` and the batch dialog run it.

:func:`~osteo_desktop.core.pipeline.scanning.scan_files` yields rows; around it every caller needs the same things:
which files a folder scan covers (not the export it is writing), a cancel flag, a running tally for the summary and
the exit status, and a tidy end in the right order (the decoders stopped before the history they consult is
closed), whether the scan finished, was cancelled, or its consumer went away (Ctrl-C, a closed pipe, a full disk).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osteo_desktop.core.pipeline.backends import ScanBackend
from osteo_desktop.core.pipeline.listing import list_files
from osteo_desktop.core.pipeline.scanning import ScanProgress, scan_files
from osteo_desktop.core.results.result import FileResult

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.results.history import History

log = logging.getLogger(__name__)


@dataclass
class ScanTally:
    """How a scan went so far: rows given, failed, taken from the history, and the time since it started."""

    total: int | None = None
    done: int = 0
    failed: int = 0
    reused: int = 0
    declined: int = 0  # no result (out of scope): an answer, so not counted as failed
    unrecorded: int = 0  # results not recorded in the history (it could not be written: a full disk, say)
    history_error: str | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def all_succeeded(self) -> bool:
        return self.failed == 0 and self.unrecorded == 0


def files_to_scan(folder: Path, *, recursive: bool = False, exclude: Path | None = None,
                  include_hidden: bool = False) -> list[Path]:
    """Every entry of ``folder`` a scan reports (:func:`list_files`; dot files only with ``include_hidden``),
    without ``exclude`` (the scan's own export, left in the folder by an earlier run, is not an image to report)."""
    paths = list(list_files(Path(folder), recursive=recursive, include_hidden=include_hidden))
    if exclude is not None:
        # realpath, unlike Path.resolve, does not raise on the symlink loops a scan must report.
        out = os.path.realpath(exclude)
        paths = [p for p in paths if os.path.realpath(p) != out]
    return paths


class BatchScan:
    """One scan: iterate it for the rows (one per path, in input order) while :attr:`tally` counts them.

    :meth:`close` (or leaving a ``with`` block) stops the decoders at once; with ``close_history`` it then closes
    the history too (the command line opens one per run; the app keeps its own open across scans). :meth:`cancel`
    may be called from another thread: no further row is given after about a second.
    """

    def __init__(
        self,
        paths: Iterable[Path],
        classifier: "Classifier",
        *,
        history: "History | None" = None,
        close_history: bool = False,
        batch_size: int = 16,
        include_patient: bool = False,
        on_progress: Callable[[ScanProgress], None] | None = None,
        backend: str | ScanBackend | None = None,
        workers: int | None = None,
    ) -> None:
        self.classifier = classifier
        self.history = history
        self._close_history = close_history
        self._cancel = threading.Event()
        self._on_progress = on_progress
        self.tally = ScanTally(total=len(paths) if hasattr(paths, "__len__") else None)  # type: ignore[arg-type]
        self._rows = scan_files(paths, classifier, batch_size=batch_size, cancel=self._cancel,
                                on_progress=self._count, history=history, include_patient=include_patient,
                                workers=workers, backend=backend)
        self._closed = False

    def _count(self, progress: ScanProgress) -> None:
        self.tally.done, self.tally.failed, self.tally.reused = progress.done, progress.failed, progress.reused
        self.tally.declined = progress.declined
        self.tally.unrecorded, self.tally.history_error = progress.unrecorded, progress.history_error
        if self._on_progress is not None:
            self._on_progress(progress)

    def __iter__(self) -> Iterator[FileResult]:
        return self._rows

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Stop the decoders before the history they consult is closed (Ctrl-C, a broken pipe, a write error).
        self._cancel.set()
        self._rows.close()
        if self._close_history and self.history is not None:
            self.history.close()

    def __enter__(self) -> "BatchScan":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def tee(rows: Iterable[FileResult], *sinks: Callable[[FileResult], Any]) -> Iterator[FileResult]:
    """The rows, each handed to every sink (a CSV writer, a table on screen) before it is passed on."""
    for row in rows:
        for sink in sinks:
            sink(row)
        yield row
