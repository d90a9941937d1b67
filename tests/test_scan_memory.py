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
from osteo_desktop.core.pipeline.memory import DecodeBudget, batch_limit, decode_cost
from osteo_desktop.core.pipeline.scanning import scan_files


def test_the_batch_is_bounded_by_bytes_not_by_the_batch_size_asked_for():
    input_bytes = 224 * 224 * 3 * 4
    assert batch_limit(16, input_bytes) == 16
    assert batch_limit(10_000, input_bytes) == memory.INPUT_BUDGET_BYTES // input_bytes == 20
    assert batch_limit(10_000, 2**40) == 1  # never zero


def test_decode_cost_comes_from_the_declared_size(tmp_path):
    Image.fromarray(np.zeros((300, 500), np.uint8)).save(tmp_path / "a.png")
    # osteo scan's compact read of 8-bit grey: Pillow's image and the grey levels, 1 + 1 bytes a pixel.
    assert decode_cost(tmp_path / "a.png") == 300 * 500 * 2
    # A plain float32 read: 12 bytes a pixel, whatever the stored form.
    assert decode_cost(tmp_path / "a.png", compact=False) == 300 * 500 * 12
    (tmp_path / "b.txt").write_text("not an image")
    assert decode_cost(tmp_path / "b.txt") == 0 and decode_cost(tmp_path / "missing.png") == 0


def test_decode_cost_of_a_dicom_reads_rows_and_columns(tmp_path):
    from imaging_factories import dicom_bytes, make_dicom, write

    path = write(tmp_path / "x.dcm", dicom_bytes(make_dicom(np.zeros((120, 90), np.uint16))))
    # Uncompressed: the compact read windows the pixel data where it lies in the file's bytes, into 1-byte levels.
    assert decode_cost(path) == 120 * 90 * 2
    assert decode_cost(path, compact=False) == 120 * 90 * 12
    # A scan reads each file once: the cost comes from the bytes already read, whatever the file holds now.
    data = path.read_bytes()
    path.write_bytes(b"replaced")
    assert decode_cost(path, data) == 120 * 90 * 2 and decode_cost(path) == 0


def test_a_compact_decode_costs_what_its_stored_form_holds(tmp_path, monkeypatch):
    """Bytes a pixel by stored form (measured peaks, benchmarks/decode_peak.py), on 40 x 30 = 1200-pixel files."""
    from pydicom.uid import RLELossless

    from imaging_factories import dicom_bytes, make_dicom, write
    from osteo_desktop.core.reading import raster

    grey = np.full((30, 40), 90, np.uint8)
    files = {
        "grey.jpg": Image.fromarray(grey),  # 1 + 1
        "rgb.png": Image.fromarray(np.stack([grey] * 3, -1)),  # Pillow's 4 bytes + the 3 planes split out
        "rgb.jpg": Image.fromarray(np.stack([grey] * 3, -1)),  # decoded as YCbCr (4 bytes) + the levels
        "deep.png": Image.fromarray(grey.astype(np.uint16) * 257),  # 16 bits (2 bytes) + the levels
        "rgba.png": Image.fromarray(np.stack([grey] * 4, -1)),  # still read through float32: the plain figure
    }
    for name, image in files.items():
        image.save(tmp_path / name)
    costs = {name: decode_cost(tmp_path / name) for name in files}
    assert costs == {"grey.jpg": 2400, "rgb.png": 8400, "rgb.jpg": 6000, "deep.png": 3600, "rgba.png": 14400}
    assert {name: decode_cost(tmp_path / name, compact=False) for name in files} == dict.fromkeys(files, 14400)
    # Above the reader's large size a colour JPEG decodes its Y plane alone: 1 + 1 again.
    monkeypatch.setattr(raster, "LARGE_COLOUR_JPEG_PIXELS", 1199)
    assert decode_cost(tmp_path / "rgb.jpg") == 2400 and decode_cost(tmp_path / "grey.jpg") == 2400
    # Compressed DICOM: the decoder's frame and its copies (up to 8.1 bytes measured), rounded up to 9; colour
    # DICOM: 12 a sample.
    rle = write(tmp_path / "rle.dcm", dicom_bytes(make_dicom(np.zeros((30, 40), np.uint16), compress_to=RLELossless)))
    colour = write(tmp_path / "colour.dcm", dicom_bytes(make_dicom(np.zeros((30, 40, 3), np.uint8), photometric="RGB")))
    assert decode_cost(rle) == 1200 * 9 and decode_cost(colour) == 1200 * 3 * 12


def test_a_turned_image_costs_its_decoded_copy_twice(tmp_path):
    """An EXIF orientation makes the reader hold the decoded image and its upright copy at once: 2 x 4 bytes a pixel
    for colour (more than the 5 or 7 of a colour read), 2 x 1 for grey (the 2 it costs anyway)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees
    grey = np.full((30, 40), 90, np.uint8)
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "rgb.jpg", exif=exif.tobytes())
    Image.fromarray(grey).save(tmp_path / "grey.jpg", exif=exif.tobytes())
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "rgb.png", exif=exif.tobytes())
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "upright.jpg", exif=Image.Exif().tobytes())
    costs = {name: decode_cost(tmp_path / name) for name in ("rgb.jpg", "grey.jpg", "rgb.png", "upright.jpg")}
    assert costs == {"rgb.jpg": 9600, "grey.jpg": 2400, "rgb.png": 9600, "upright.jpg": 6000}


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
