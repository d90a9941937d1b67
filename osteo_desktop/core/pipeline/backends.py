"""Where a scan reads and preprocesses its files: a pluggable executor, a local thread pool by default.

A folder scan splits each file's work in two: reading, hashing and preprocessing (independent per file: the part
a backend runs, anywhere it likes) and batched inference (one model, in the scanning thread). A backend only has
to hand out an :class:`concurrent.futures.Executor` for the duration of one scan; the scan keeps the guarantees
itself (one row per file in input order, a bounded number of files in flight whatever the folder's size, a cancel
that takes effect within about a second), because it submits at most a few batches ahead, waits on the oldest
submission first, and on the way out cancels what has not started and shuts the executor down without waiting.

Backends are found by name (for a command-line option or an app setting) with :func:`get_backend`. One that needs an optional
package (a Ray cluster, issue 13) lives in its own module, imported only when its name is asked for: add
``"ray": "osteo_desktop.cluster.ray_backend:RayBackend"`` to :data:`_OPTIONAL`, or call :func:`register_backend`.
Work a remote backend runs must be picklable; the local one runs the scan's own closures.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.results.result import FileResult

DEFAULT_BACKEND = "threads"


class ScanBackend(ABC):
    """Runs the per-file part of a scan. Subclasses set :attr:`name` and implement :meth:`executor`."""

    name: ClassVar[str] = ""

    @abstractmethod
    def executor(self, workers: int) -> Executor:
        """A fresh executor for one scan, with about ``workers`` tasks running at once.

        The scan calls ``submit(fn, path)`` and, when it ends (finished, cancelled or abandoned), ``shutdown(wait=False,
        cancel_futures=True)``. Futures must be :class:`concurrent.futures.Future` objects (``result(timeout)``,
        ``cancel()``); an exception inside ``fn`` never happens: the scan's task turns every failure into its row.
        """

    def default_workers(self) -> int:
        # One decoder per core (at most four) keeps inference fed; more would only contend with it for the CPU.
        return max(1, min(4, os.cpu_count() or 2))

    def scan_rows(self, paths: Sequence[Path], classifier: "Classifier", *, batch_size: int, include_patient: bool,
                  hash_files: bool, cancel: "threading.Event") -> Iterator["FileResult"] | None:
        """Run the whole per-file work (read, preprocess and inference) elsewhere, or None (the default) to have
        the scan run inference here on what :meth:`executor` prepares.

        A backend that returns rows (a cluster: each worker loads the model once, issue 13) must yield exactly one
        :class:`FileResult` per path, in input order, errors as rows, ``file_sha256`` set when ``hash_files``;
        the scan records them in the history and reports progress as for the local pool.
        """
        return None


class DaemonThreadPool(Executor):
    """A pool of ``workers`` threads that never holds the process open.

    :class:`~concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter exits, so the decodes a
    cancelled scan gives up (it shuts its executor down without waiting) still held ``osteo scan`` after Ctrl-C or
    SIGTERM until they ended: seconds for a 50-megapixel JPEG 2000, for ever for a read on a dead network share, and
    a second Ctrl-C did not help. These threads are daemons: what still runs when the program ends ends with it (a
    scan's task only reads and prepares a file; the rows and the history are the scanning thread's).
    """

    def __init__(self, workers: int, name: str = "osteo-scan") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._workers = workers
        self._name = name
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None]
        self._tasks = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[Any] = Future()
            self._tasks.put((future, fn, args, kwargs))
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return future

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:  # shut down: every task queued before this was taken
                return
            future, fn, args, kwargs = task
            del task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                    future.set_exception(exc)
            # Not held until the next task: a scan's result holds a film's model inputs.
            del future, fn, args, kwargs

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        task = self._tasks.get_nowait()
                    except queue.Empty:
                        break
                    if task is not None:
                        task[0].cancel()
            for _ in self._threads:
                self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class ThreadBackend(ScanBackend):
    """A thread pool in this process. Pillow, pydicom and NumPy release the GIL while they decode."""

    name = "threads"

    def executor(self, workers: int) -> Executor:
        return DaemonThreadPool(workers, "osteo-scan")


_REGISTERED: dict[str, Callable[[], ScanBackend]] = {ThreadBackend.name: ThreadBackend}
# Backends behind an optional extra: "name": "module:attribute", imported on first use only.
_OPTIONAL: dict[str, str] = {"ray": "osteo_desktop.cluster.ray_backend:RayBackend"}


def register_backend(name: str, factory: Callable[[], ScanBackend]) -> None:
    """Make a backend available by name (a plugin module calls this when it is imported)."""
    _REGISTERED[name] = factory


def backend_names() -> list[str]:
    return sorted({*_REGISTERED, *_OPTIONAL})


def get_backend(backend: str | ScanBackend | None = None, **options: Any) -> ScanBackend:
    """A backend by name (None: the default thread pool), or the given instance unchanged. ``options`` go to the
    backend's constructor (e.g. ``address`` for a cluster).

    An unknown name, or an optional backend whose package is not installed, raises ValueError naming the choices.
    """
    if isinstance(backend, ScanBackend):
        return backend
    name = backend or DEFAULT_BACKEND
    if name not in _REGISTERED and name in _OPTIONAL:
        module_name, _, attribute = _OPTIONAL[name].partition(":")
        try:
            _REGISTERED[name] = getattr(importlib.import_module(module_name), attribute)
        except ImportError as exc:
            raise ValueError(f"scan backend {name!r} needs a package that is not installed ({exc})") from exc
    if name not in _REGISTERED:
        raise ValueError(f"unknown scan backend {name!r}; available: {', '.join(backend_names())}")
    return _REGISTERED[name](**options)
