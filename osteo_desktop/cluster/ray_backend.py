"""``osteo scan --backend ray``: a scan on a Ray cluster (``pip install 'osteo-desktop[cluster]'``).

Ray Data reads the file list, cuts it into batches and hands them to a pool of actors (``map_batches``); each actor
loads the LiteRT model once and runs the very code of a local scan on its batch (:func:`scanning.analyse_paths`:
read, preprocess, one inference call), returning one row per file, errors included. Rows come back to the driver in
input order (``preserve_order``) and go through the same history, CSV and progress as the local pool's.

Every node needs this package and the model at the same path as the driver (the model directory is checked
against its card's SHA-256 on each actor), and must see the files at the paths listed (a shared file system).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import ray

from osteo_desktop.core.pipeline.backends import ScanBackend, register_backend
from osteo_desktop.core.results.result import FileResult
from osteo_desktop.core.results.knee import KneeResult

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier

log = logging.getLogger(__name__)


class _ScanActor:
    """One model per actor, loaded once; each call analyses a batch of paths and returns their rows as JSON text."""

    def __init__(self, model_dir: str, include_patient: bool, hash_files: bool, threads: int = 1) -> None:
        from osteo_desktop.core.model.runtime import Classifier

        self.classifier = Classifier.load(Path(model_dir), num_threads=threads)
        self.include_patient = include_patient
        self.hash_files = hash_files

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from osteo_desktop.core.pipeline.scanning import analyse_paths

        rows = analyse_paths([Path(p) for p in batch["path"]], self.classifier, include_patient=self.include_patient,
                             hash_files=self.hash_files)
        return {"row": np.array([json.dumps(dataclasses.asdict(row)) for row in rows], dtype=object)}


def row_from_json(text: str) -> FileResult:
    data = json.loads(text)
    data["knees"] = [KneeResult.from_dict(knee) for knee in data.get("knees") or []]  # asdict made them plain dicts
    return FileResult(**data)


class RayBackend(ScanBackend):
    """Runs the whole per-file work on a Ray cluster. ``address``: "auto" (the cluster this machine belongs to),
    "HOST:PORT", or None (a Ray instance started for this scan on this machine)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers

    def executor(self, workers: int) -> Executor:
        raise NotImplementedError("the Ray backend runs whole scans (scan_rows), not per-file tasks")

    def default_workers(self) -> int:
        # Not used for the scan's own pool: scan_rows sizes the actor pool from the cluster once connected.
        return self.workers or 1

    def _connect(self) -> None:
        # Ray Data logs each dataset's plan and timing at INFO on stderr; the scan reports its own progress.
        logging.getLogger("ray.data").setLevel(max(logging.WARNING, logging.getLogger().level))
        if not ray.is_initialized():
            # ray.init puts its own SIGTERM handler in (sys.exit(15)) over the command line's, which stops the scan
            # and writes the rows done so far (cli.common.StopOnSignal): SIGTERM then exited with status 15 and
            # dropped the CSV. A handler of the program's own is put back; a default one is left to Ray.
            main_thread = threading.current_thread() is threading.main_thread()
            previous = signal.getsignal(signal.SIGTERM) if main_thread else None
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
            if callable(previous):
                signal.signal(signal.SIGTERM, previous)

    def scan_rows(self, paths: Sequence[Path], classifier: "Classifier", *, batch_size: int, include_patient: bool,
                  hash_files: bool, cancel: threading.Event) -> Iterator[FileResult]:
        if not paths:
            return iter(())
        self._connect()
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows in input order, as the local scan gives them
        context.enable_progress_bars = False  # the scan reports its own progress
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        blocks = max(1, min(len(paths) // max(1, batch_size), 10_000))
        dataset = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=blocks)
        rows = dataset.map_batches(
            _ScanActor,
            fn_constructor_kwargs={"model_dir": str(classifier.card.directory), "include_patient": include_patient,
                                   "hash_files": hash_files},
            batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
        )
        log.info("ray scan: %d files, %d actors, batches of %d", len(paths), workers, batch_size)
        return self._iterate(rows, cancel)

    @staticmethod
    def _iterate(rows: Any, cancel: threading.Event) -> Iterator[FileResult]:
        for record in rows.iter_rows():
            if cancel.is_set():
                return
            yield row_from_json(record["row"])


register_backend(RayBackend.name, RayBackend)
