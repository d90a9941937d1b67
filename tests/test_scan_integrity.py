"""What a scan records is what it analysed, and a huge file is refused before it is hashed (issue 12)."""

from __future__ import annotations

import hashlib
import shutil

from osteo_desktop.core.pipeline import scanning
from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.pipeline.scanning import scan_files
from osteo_desktop.core.reading.limits import MAX_FILE_BYTES
from osteo_desktop.core.results.history import History


def test_a_file_replaced_between_hashing_and_reading_is_recorded_under_the_bytes_analysed(tmp_path, classifier, knee_images, monkeypatch):
    first, other = knee_images["normal"][0], knee_images["osteoporosis"][0]
    path = tmp_path / "knee.png"
    shutil.copy(first, path)
    expected = analyse_file(first, classifier, explain=False).prediction.probability
    replaced = analyse_file(other, classifier, explain=False).prediction.probability
    assert abs(expected - replaced) > 1e-3  # the two contents are told apart by their results
    real_reader = scanning.read_radiograph

    def replace_then_read(*args, **kwargs):  # another program swaps the file just before it is decoded
        shutil.copy(other, path)
        return real_reader(*args, **kwargs)

    monkeypatch.setattr(scanning, "read_radiograph", replace_then_read)
    with History(tmp_path / "history.sqlite3") as history:
        (row,) = scan_files([path], classifier, history=history)
        (entry,) = history.entries()
    assert row.ok
    # Whatever was analysed, the hash and the result belong to the same bytes: here the content that was read.
    assert row.file_sha256 == entry.file_sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    assert abs(row.probability - expected) < 1e-6 and abs(entry.probability - expected) < 1e-6


def test_analyse_file_hashes_the_bytes_it_analyses(tmp_path, classifier, knee_png):
    analysis = analyse_file(knee_png, classifier, explain=False)
    assert analysis.result.file_sha256 == hashlib.sha256(knee_png.read_bytes()).hexdigest()


def test_a_sparse_huge_file_is_too_large_at_once_and_never_hashed(tmp_path, classifier, monkeypatch):
    huge = tmp_path / "huge.dcm"
    with open(huge, "wb") as handle:
        handle.truncate(16 * 2**30)  # sparse: 16 GiB that take no disk space
    assert huge.stat().st_size > MAX_FILE_BYTES

    def no_hashing(*args, **kwargs):
        raise AssertionError("the file was hashed before its size was checked")

    monkeypatch.setattr(scanning, "sha256_of", no_hashing, raising=False)
    monkeypatch.setattr(scanning.hashlib, "sha256", no_hashing)
    with History(tmp_path / "history.sqlite3") as history:
        (row,) = scan_files([huge], classifier, history=history)
    assert row.error is not None and "too large" in row.error and row.file_sha256 is None
