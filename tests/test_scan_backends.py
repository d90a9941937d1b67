"""The scan's executor seam: a backend found by name or given as an object, with the scan's guarantees kept.

The stand-in for a cluster backend (Ray, issue 13) below runs tasks on workers of its own, hands out futures of its
own and finishes the newest submission first, so rows only come out in input order if the scan orders them itself.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest

from osteo_desktop.core.pipeline import backends
from osteo_desktop.core.pipeline.backends import ScanBackend, ThreadBackend, get_backend, register_backend
from osteo_desktop.core.pipeline.batch import BatchScan, files_to_scan
from osteo_desktop.core.pipeline.scanning import scan_files


class _NewestFirstExecutor(Executor):
    def __init__(self, workers: int) -> None:
        self._stack: list[tuple[Future, object, tuple]] = []
        self._ready = threading.Condition()
        self._closed = False
        self.submitted = 0
        self.shutdowns: list[bool] = []
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("submit after shutdown")
            self._stack.append((future, fn, args))
            self.submitted += 1
            self._ready.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._stack and not self._closed:
                    self._ready.wait()
                if not self._stack:
                    return
                future, fn, args = self._stack.pop()  # the newest: completion order is not submission order
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001
                    future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            if cancel_futures:
                for future, _, _ in self._stack:
                    future.cancel()
                self._stack.clear()
            self._ready.notify_all()
        self.shutdowns.append(cancel_futures)
        if wait:
            for thread in self._threads:
                thread.join()


class _RemoteStyleBackend(ScanBackend):
    name = "test-newest-first"

    def __init__(self) -> None:
        self.executors: list[_NewestFirstExecutor] = []

    def executor(self, workers: int) -> Executor:
        self.executors.append(_NewestFirstExecutor(workers))
        return self.executors[-1]


@pytest.fixture(scope="module")
def knee_files(knee_manifest) -> list[Path]:
    from shared_paths import KNEE_DIR

    return [KNEE_DIR / row["file"] for row in knee_manifest[:7]]


def _comparable(row):
    return row.path, row.label, row.error, row.model_version, row.warnings


def test_a_custom_backend_gives_the_same_rows_as_the_default_in_input_order(tmp_path, classifier, knee_files):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    paths = [*knee_files[:3], text, tmp_path / "missing.jpg", *knee_files[3:]]
    expected = list(scan_files(paths, classifier, batch_size=3))
    backend = _RemoteStyleBackend()
    rows = list(scan_files(paths, classifier, batch_size=3, workers=2, backend=backend))
    assert [_comparable(row) for row in rows] == [_comparable(row) for row in expected]
    assert [row.path for row in rows] == [str(p) for p in paths]
    for row, reference in zip(rows, expected):
        if reference.ok:
            assert row.probability == pytest.approx(reference.probability, abs=1e-6)
    (executor,) = backend.executors
    assert executor.submitted == len(paths) and executor.shutdowns == [True]


def test_a_custom_backend_keeps_the_bound_on_work_in_flight(classifier, knee_files):
    def endless():
        while True:
            yield from knee_files

    backend, batch_size, workers = _RemoteStyleBackend(), 2, 2
    with BatchScan(endless(), classifier, batch_size=batch_size, workers=workers, backend=backend) as scan:
        rows = iter(scan)
        taken = [next(rows) for _ in range(3 * batch_size)]
    assert all(row.ok for row in taken)
    (executor,) = backend.executors
    # The rows handed out, the rest of the batch being handed out, and the scan's window ahead (2 batches and one
    # per worker): not the endless input.
    assert executor.submitted <= len(taken) + batch_size + 2 * batch_size + workers
    assert executor.shutdowns == [True]  # closed with the scan, queued work cancelled


def test_backends_by_name(classifier, knee_files, monkeypatch):
    assert isinstance(get_backend(None), ThreadBackend) and isinstance(get_backend("threads"), ThreadBackend)
    with pytest.raises(ValueError, match="threads"):
        get_backend("no-such-backend")
    monkeypatch.setattr(backends, "_REGISTERED", dict(backends._REGISTERED))
    monkeypatch.setattr(backends, "_OPTIONAL", {"cluster": "osteo_desktop_no_such_module:Backend"})
    with pytest.raises(ValueError, match="not installed"):
        get_backend("cluster")
    made: list[_RemoteStyleBackend] = []
    register_backend(_RemoteStyleBackend.name, lambda: made.append(_RemoteStyleBackend()) or made[-1])
    assert _RemoteStyleBackend.name in backends.backend_names()
    rows = list(scan_files(knee_files[:2], classifier, backend=_RemoteStyleBackend.name))
    assert [row.ok for row in rows] == [True, True] and len(made) == 1 and made[0].executors[0].submitted == 2


def test_batch_scan_tallies_and_leaves_out_its_own_export(tmp_path, classifier, knee_files):
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in knee_files[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "out.csv").write_text("an earlier export\n")
    paths = files_to_scan(folder, exclude=folder / "out.csv")
    assert sorted(p.name for p in paths) == sorted([knee_files[0].name, knee_files[1].name, "broken.png"])
    with BatchScan(paths, classifier) as scan:
        rows = list(scan)
    assert (scan.tally.total, scan.tally.done, scan.tally.failed) == (3, 3, 1)
    assert not scan.tally.all_succeeded and sum(not row.ok for row in rows) == 1


class _WholeScanBackend(ScanBackend):
    """A stand-in for a cluster backend that runs read, preprocess and inference itself (scan_rows)."""

    name = "test-whole-scan"

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def executor(self, workers: int) -> Executor:
        raise AssertionError("a backend with scan_rows is never asked for an executor")

    def scan_rows(self, paths, classifier, *, batch_size, include_patient, hash_files, cancel):
        from osteo_desktop.core.pipeline.scanning import analyse_paths

        self.calls.append({"batch_size": batch_size, "hash_files": hash_files})
        for start in range(0, len(paths), batch_size):
            yield from analyse_paths(paths[start : start + batch_size], classifier, hash_files=hash_files)


def test_a_backend_running_whole_scans_gives_the_local_rows_and_fills_the_history(tmp_path, classifier, knee_files):
    from osteo_desktop.core.results.history import History

    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    paths = [*knee_files[:3], text, tmp_path / "missing.jpg", *knee_files[3:5]]
    expected = list(scan_files(paths, classifier, batch_size=3))
    backend = _WholeScanBackend()
    with History(tmp_path / "history.sqlite3") as history:
        rows = list(scan_files(paths, classifier, batch_size=3, backend=backend, history=history))
        assert [_comparable(row) for row in rows] == [_comparable(row) for row in expected]
        assert backend.calls == [{"batch_size": 3, "hash_files": True}]
        assert all(row.file_sha256 for row in rows if row.ok)
        # Recorded: a second (local) scan reuses every successful row.
        again = list(scan_files(paths, classifier, batch_size=3, history=history))
    assert [row.from_history for row in again] == [row.ok for row in expected]


def test_osteo_scan_refuses_an_unknown_backend_and_an_address_without_ray(tmp_path, capsys):
    from osteo_desktop.cli import main

    assert main(["scan", str(tmp_path), "--backend", "no-such", "--no-history"]) == 2
    assert "unknown scan backend" in capsys.readouterr().err
    assert main(["scan", str(tmp_path), "--backend", "threads", "--address", "auto", "--no-history"]) == 2
    assert "--address is for --backend ray" in capsys.readouterr().err


def test_a_task_still_running_does_not_keep_the_process_from_exiting(tmp_path):
    """After Ctrl-C a scan stops within a second and gives the rest up (shutdown without waiting), but a decode still
    running in the default pool (a 50-megapixel JPEG 2000 takes seconds; a read on a dead network share never ends)
    kept `osteo scan` from exiting: the interpreter joined the pool's threads at exit. Here the task never ends; the
    process must exit anyway (the timeout is only the guard for a failure, which would otherwise hang)."""
    import subprocess
    import sys

    script = (
        "import threading\n"
        "from osteo_desktop.core.pipeline.backends import ThreadBackend\n"
        "executor, started = ThreadBackend().executor(1), threading.Event()\n"
        "def hang():\n"
        "    started.set()\n"
        "    threading.Event().wait()  # never set: a read that never returns\n"
        "executor.submit(hang)\n"
        "queued = executor.submit(print, 'never run')\n"
        "started.wait()\n"
        "executor.shutdown(wait=False, cancel_futures=True)\n"
        "print('queued task cancelled:', queued.cancelled())\n"
    )
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["queued task cancelled: True"]


def test_the_default_pool_runs_every_task_and_hands_back_results_and_exceptions():
    """The pool the scan uses by default: results and exceptions come back on their futures, at most ``workers``
    tasks run at once, and a shutdown that waits lets queued tasks finish."""
    executor = ThreadBackend().executor(2)
    running, most, gate = [0], [0], threading.Lock()
    release = threading.Event()

    def task(n):
        with gate:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(timeout=60)
        with gate:
            running[0] -= 1
        if n == 3:
            raise KeyError(n)
        return n * n

    futures = [executor.submit(task, n) for n in range(6)]
    release.set()
    assert [f.result(timeout=60) for f in futures if f is not futures[3]] == [0, 1, 4, 16, 25]
    with pytest.raises(KeyError):
        futures[3].result(timeout=60)
    assert 1 <= most[0] <= 2
    queued = [executor.submit(pow, 2, n) for n in range(4)]
    executor.shutdown(wait=True)
    assert [f.result(timeout=0) for f in queued] == [1, 2, 4, 8]
    with pytest.raises(RuntimeError):
        executor.submit(pow, 2, 2)
