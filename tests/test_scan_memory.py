"""A scan's memory is bounded in bytes (issue 13): model inputs per batch, and decoded pixels in flight."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imaging_factories import CountingFiles
from osteo_desktop.core.pipeline import memory, scanning
from osteo_desktop.core.pipeline.memory import BYTES_PER_PIXEL, DecodeBudget, batch_limit, decode_cost
from osteo_desktop.core.pipeline.scanning import scan_files


def test_the_batch_is_bounded_by_bytes_not_by_the_batch_size_asked_for():
    input_bytes = 224 * 224 * 3 * 4
    assert batch_limit(16, input_bytes) == 16
    assert batch_limit(10_000, input_bytes) == memory.INPUT_BUDGET_BYTES // input_bytes == 20
    assert batch_limit(10_000, 2**40) == 1  # never zero


def test_decode_cost_comes_from_the_declared_size(tmp_path):
    Image.fromarray(np.zeros((300, 500), np.uint8)).save(tmp_path / "a.png")
    assert decode_cost(tmp_path / "a.png") == 300 * 500 * BYTES_PER_PIXEL
    (tmp_path / "b.txt").write_text("not an image")
    assert decode_cost(tmp_path / "b.txt") == 0 and decode_cost(tmp_path / "missing.png") == 0


def test_decode_cost_of_a_dicom_reads_rows_and_columns(tmp_path):
    from imaging_factories import dicom_bytes, make_dicom, write

    path = write(tmp_path / "x.dcm", dicom_bytes(make_dicom(np.zeros((120, 90), np.uint16))))
    assert decode_cost(path) == 120 * 90 * BYTES_PER_PIXEL
    # A scan reads each file once: the cost comes from the bytes already read, whatever the file holds now.
    data = path.read_bytes()
    path.write_bytes(b"replaced")
    assert decode_cost(path, data) == 120 * 90 * BYTES_PER_PIXEL and decode_cost(path) == 0


def test_the_decode_budget_admits_what_fits_and_a_giant_alone():
    budget, cancel = DecodeBudget(100), threading.Event()
    assert budget.acquire(60, cancel) == 60
    assert budget.acquire(40, cancel) == 40  # exactly full
    admitted = []
    waiter = threading.Thread(target=lambda: admitted.append(budget.acquire(500, cancel)))  # a giant: waits for all
    waiter.start()
    budget.release(60)
    waiter.join(timeout=0.3)
    assert waiter.is_alive() and not admitted  # 40 still held
    budget.release(40)
    waiter.join(timeout=10)
    assert admitted == [100]  # alone, holding the whole budget
    cancel.set()
    assert budget.acquire(1, cancel) is None  # full and cancelled: gives up instead of waiting for ever
    budget.release(100)
    assert budget.acquire(1, cancel) == 1  # room: admitted even though cancelled (the caller checks the flag)


def test_a_huge_batch_size_does_not_pull_more_files_ahead(classifier, knee_files):
    source = CountingFiles(knee_files)
    workers, limit = 2, batch_limit(100_000, classifier.input_size**2 * 12)
    rows = scan_files(iter(source), classifier, batch_size=100_000, workers=workers)
    taken = [next(rows) for _ in range(limit)]
    rows.close()
    assert source.pulled <= len(taken) + 2 * limit + workers + limit


def test_decodes_in_flight_stay_within_the_budget(monkeypatch, classifier, knee_files):
    """Files whose declared size exceeds half the budget are decoded one at a time, never two at once."""
    running, most = 0, 0
    guard = threading.Lock()
    real_reader = scanning.read_radiograph

    def reader(path, *, target_size=None, data=None, compact=False):
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.02)  # widen the window in which a second decode could start; not a timing assertion
            return real_reader(path, target_size=target_size, data=data, compact=compact)
        finally:
            with guard:
                running -= 1

    monkeypatch.setattr(scanning, "read_radiograph", reader)
    monkeypatch.setattr(scanning, "decode_cost", lambda path, data=None: memory.DECODE_BUDGET_BYTES * 2 // 3)
    rows = list(scan_files(knee_files * 2, classifier, batch_size=4, workers=3))
    assert all(row.ok for row in rows) and len(rows) == 2 * len(knee_files)
    assert most == 1


@pytest.fixture(scope="module")
def knee_files(knee_manifest) -> list[Path]:
    from shared_paths import KNEE_DIR

    return [KNEE_DIR / row["file"] for row in knee_manifest[:6]]


def test_a_batch_never_holds_more_model_inputs_than_the_budget(monkeypatch, classifier, knee_manifest):
    """Counted in inputs, not films: a film is up to five (itself, two knees, their mirror images), so a batch of
    films sized as if each were one input held five times the budget, and its stacked copy as much again."""
    from shared_paths import KNEE_DIR

    both_knee = [KNEE_DIR / row["file"] for row in knee_manifest if row.get("qus_t_score")][:8]
    input_bytes = classifier.input_size**2 * 3 * 4
    stacked: list[int] = []
    real_run = classifier.run

    def run(inputs):
        stacked.append(len(inputs))
        return real_run(inputs)

    monkeypatch.setattr(classifier, "run", run)
    rows = list(scan_files(both_knee * 2, classifier, batch_size=100_000, workers=2))
    assert len(rows) == 16 and all(row.ok for row in rows)
    assert sum(len(row.knees) for row in rows) >= 24  # these are films of both knees: most inputs per film
    assert max(stacked) * input_bytes <= memory.INPUT_BUDGET_BYTES, stacked
    assert max(stacked) > 5, stacked  # still batched: more than one film per call
