"""The one way the desktop app runs work off the GUI thread (in the style of superqt's ``thread_worker``).

A *work function* takes a :class:`Job` and runs in a pool thread. It may return a value, raise, report progress
with ``job.report(value)``, or be a generator whose yielded values are progress. A :class:`Worker` carries it out
and tells the GUI thread, always in this order and always on the GUI thread::

    started  ->  progress* (each reported value)  ->  returned(value) | errored(exception)  ->  finished

``finished`` comes exactly once, whatever happened. Cancelling has two strengths, both cooperative (a Python thread
cannot be killed; the work looks at ``job.stop_requested()`` or hands ``job.stop_event`` to code that accepts one):

- :meth:`Worker.cancel`: the job's results no longer matter (the user opened another image). Nothing the job
  produces after this call reaches the GUI, even a value already queued: the check is made on the GUI thread, at
  delivery. Only ``finished`` still comes, so whoever waits for the thread learns that it is free.
- :meth:`Worker.request_stop`: the job should stop early but what it has done is kept (a folder scan's rows so far).

:class:`LatestOnlyRunner` runs one job at a time; starting a new one cancels the one before (the analysis of the
image on screen). No sleeps, no polling: Qt's queued connections carry everything across threads.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from functools import partial
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal

log = logging.getLogger(__name__)

WorkFunction = Callable[["Job"], Any]

# Workers that are running, kept alive here until their ``finished`` has been delivered: a Worker nobody else holds
# (one writing a report) must not be collected while its thread still reports to it. Workers have no Qt parent on
# purpose: a parent deleted first would delete them with events still queued for them (a crash, not an error).
_running: set["Worker"] = set()


class Job:
    """What a running work function sees of its worker: whether to stop, and where to send progress."""

    def __init__(self, report: Callable[[Any], None]) -> None:
        self.stop_event = threading.Event()
        self._report = report

    def stop_requested(self) -> bool:
        """True once the job was cancelled or asked to stop; long work checks this between steps."""
        return self.stop_event.is_set()

    def report(self, value: Any) -> None:
        """Send ``value`` to the GUI thread as ``progress`` (dropped there if the job was cancelled meanwhile)."""
        self._report(value)


def _emit(signal: Any, *args: Any) -> None:
    """Emit from the pool thread unless the relay is gone: when the app quits while a job still runs (a self-test
    of a missing file ends before the model has loaded), teardown deletes the relay's C++ side, and emitting then
    raised "Signal source has been deleted" as a traceback on the way out. Nobody is left to tell; say so in the log."""
    try:
        signal.emit(*args)
    except RuntimeError:
        log.debug("a job finished after its receiver was deleted (the app was quitting); its result is dropped")


class _Relay(QObject):
    """Emitted from the pool thread; lives on the GUI thread, so Qt queues every emission across."""

    started = Signal()
    progress = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()


class _Runnable(QRunnable):
    """Holds its worker weakly: a strong reference would make a cycle that Python cannot collect through shiboken
    (every finished worker would stay in memory). The worker is kept alive while it runs by ``_running``."""

    def __init__(self, worker: "Worker") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Worker owns it; Qt must not delete the C++ side under Python's feet
        self._worker = weakref.ref(worker)

    def run(self) -> None:
        worker = self._worker()
        if worker is not None:
            worker._run()


class Worker(QObject):
    """Runs one work function in a thread pool and reports back on the GUI thread (see the module text)."""

    started = Signal()
    progress = Signal(object)  # each value the work reported or yielded
    returned = Signal(object)  # the work's return value
    errored = Signal(object)  # the exception the work raised (log it or turn it into words; it is not re-raised)
    finished = Signal()  # always, last, exactly once

    def __init__(self, work: WorkFunction) -> None:
        super().__init__()
        self._work = work
        self._relay = _Relay()
        relay = self._relay  # not through self: a cycle through shiboken objects is never collected
        self.job = Job(lambda value: _emit(relay.progress, value))
        self._cancelled = False
        self._done = threading.Event()
        self._runnable = _Runnable(self)
        queued = Qt.ConnectionType.QueuedConnection
        self._relay.started.connect(self._deliver_started, queued)
        self._relay.progress.connect(self._deliver_progress, queued)
        self._relay.returned.connect(self._deliver_returned, queued)
        self._relay.errored.connect(self._deliver_errored, queued)
        self._relay.finished.connect(self._deliver_finished, queued)

    # --- control (GUI thread) ------------------------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> "Worker":
        _running.add(self)
        (pool or QThreadPool.globalInstance()).start(self._runnable)
        return self

    def cancel(self) -> None:
        """Ask the work to stop and drop whatever it still produces; ``finished`` alone still comes."""
        self._cancelled = True
        self.job.stop_event.set()

    def request_stop(self) -> None:
        """Ask the work to stop early; what it reports or returns until it does is still delivered."""
        self.job.stop_event.set()

    def is_cancelled(self) -> bool:
        return self._cancelled

    def stop_was_requested(self) -> bool:
        return self.job.stop_event.is_set()

    def is_done(self) -> bool:
        """True once the work function has returned or raised (its signals may still be on their way)."""
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the work function has ended (for shutting down; never needed to get a result)."""
        return self._done.wait(timeout_s)

    # --- the pool thread -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        relay = self._relay
        _emit(relay.started)
        try:
            if self._cancelled:  # cancelled while it waited in the pool's queue: nobody wants it any more
                return
            result = self._work(self.job)
            if inspect.isgenerator(result):
                result = self._drain(result)
            _emit(relay.returned, result)
        except BaseException as exc:  # noqa: BLE001 - a worker always reports back; it never dies silently
            _emit(relay.errored, exc)
        finally:
            self._done.set()
            _emit(relay.finished)

    def _drain(self, generator: Any) -> Any:
        """Each yielded value is progress; between yields the job may stop. The generator's return is the result."""
        try:
            while True:
                if self.job.stop_requested():
                    generator.close()
                    return None
                self.job.report(next(generator))
        except StopIteration as stop:
            return stop.value

    # --- the GUI thread ------------------------------------------------------------------------------------------
    def _deliver_started(self) -> None:
        if not self._cancelled:
            self.started.emit()

    def _deliver_progress(self, value: Any) -> None:
        if not self._cancelled:
            self.progress.emit(value)

    def _deliver_returned(self, value: Any) -> None:
        if not self._cancelled:
            self.returned.emit(value)

    def _deliver_errored(self, exc: BaseException) -> None:
        if not self._cancelled:
            self.errored.emit(exc)
        else:
            log.info("a cancelled job ended with an error", exc_info=exc)

    def _deliver_finished(self) -> None:
        _running.discard(self)
        self.finished.emit()


def start_worker(work: WorkFunction, *, pool: QThreadPool | None = None, **connect: Callable) -> Worker:
    """Create a worker for ``work``, connect the slots given by signal name (``returned=...``), and start it.

    Connections are made before the start, so no signal can be missed.
    """
    worker = Worker(work)
    for name, slot in connect.items():
        if not isinstance(getattr(Worker, name, None), Signal):
            raise TypeError(f"Worker has no signal {name!r}")
        getattr(worker, name).connect(slot)
    return worker.start(pool)


class LatestOnlyRunner(QObject):
    """One job at a time in its own thread; a new job cancels the one before, so only the latest one is heard.

    ``busy_changed`` follows the latest job: on when it starts, off as soon as its result or error is delivered
    (before anyone else's slot sees it) or when it is cancelled.
    """

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one model interpreter; a queued job that was cancelled is skipped quickly
        self._current: Worker | None = None
        self._busy = False

    @property
    def current(self) -> Worker | None:
        return self._current

    def is_busy(self) -> bool:
        return self._busy

    def start(self, work: WorkFunction, **connect: Callable) -> Worker:
        self.cancel()
        worker = Worker(work)
        # Connected first, so the runner is idle before the caller's own slots run.
        settle = partial(self._settle, weakref.ref(worker))  # weakly: a strong one would keep every worker alive
        worker.returned.connect(settle)
        worker.errored.connect(settle)
        for name, slot in connect.items():
            getattr(worker, name).connect(slot)
        self._current = worker
        self._set_busy(True)
        return worker.start(self._pool)

    def cancel(self) -> None:
        """Forget the current job: nothing it still produces is delivered."""
        if self._current is not None:
            self._current.cancel()
            self._current = None
        self._set_busy(False)

    def wait_for_done(self, msecs: int = 30000) -> bool:
        return self._pool.waitForDone(msecs)

    def _settle(self, worker: "weakref.ref[Worker]", *_: Any) -> None:
        if worker() is self._current:
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
