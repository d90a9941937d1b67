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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import threading

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


class ThreadBackend(ScanBackend):
    """A thread pool in this process. Pillow, pydicom and NumPy release the GIL while they decode."""

    name = "threads"

    def executor(self, workers: int) -> Executor:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="osteo-scan")


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
