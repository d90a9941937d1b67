"""The scan and single-file pipeline against a model whose answers are set by the test (issue 15).

The model here is a stand-in: it returns, for the n-th image it is given, the n-th probability the test planned,
and its scope gate declines what the test marked. So every expected row (its label, probability, confidence, order,
error, reuse from the history) is known before the code under test runs, without running the real network or
calling the pipeline to find out. The real model's numbers are checked in test_reference_contract.py.
"""

from __future__ import annotations

from pathlib import Path

import threading
from concurrent.futures import Executor, Future

import numpy as np
import pytest
from PIL import Image

from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.model.scope import ScopeDecision
from osteo_desktop.core.pipeline import analysis
from osteo_desktop.core.pipeline.backends import ScanBackend
from osteo_desktop.core.pipeline.batch import BatchScan, files_to_scan, tee
from osteo_desktop.core.pipeline.scanning import scan_files
from osteo_desktop.core.results.history import History
from osteo_desktop.core.results.result import FileResult

from imaging_factories import dicom_bytes, make_dicom
from planned_model import DECLINE, IN_SCOPE, MODEL_SHA256, THRESHOLD, Model

def _film(path: Path, seed: int) -> Path:
    """A small grey film with structure (not blank), distinct content per seed."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 200, 256)[None, :] + np.linspace(0, 40, 256)[:, None]
    pixels = np.clip(gradient + rng.normal(0, 10, (256, 256)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def films(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "films"
    folder.mkdir()
    made = {name: _film(folder / f"{name}.png", seed) for seed, name in enumerate(["a", "c", "d", "f"])}
    made["b"] = folder / "b.png"
    made["b"].write_bytes(b"\x89PNG\r\n\x1a\n not really")
    made["e"] = folder / "e"
    made["e"].mkdir()
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(folder / "g_blank.png")
    made["g"] = folder / "g_blank.png"
    return made


def test_rows_in_input_order_with_the_planned_answers(films):
    model = Model([(0.2, IN_SCOPE), (0.6, IN_SCOPE), (0.9, DECLINE), (0.339, IN_SCOPE)])
    order = [films[k] for k in "abcdefg"]
    progress = []
    rows = list(scan_files(order, model, batch_size=2, on_progress=progress.append, workers=2))
    assert [Path(r.path).name for r in rows] == ["a.png", "b.png", "c.png", "d.png", "e", "f.png", "g_blank.png"]
    a, b, c, d, e, f, g = rows
    assert (a.label, a.probability, a.confidence) == ("normal", 0.2, pytest.approx(0.8))
    assert (c.label, c.probability, c.confidence) == ("osteoporosis", 0.6, 0.6)
    assert (f.label, f.probability, f.confidence) == ("osteoporosis", 0.339, 0.339)
    for ok in (a, c, f):
        assert ok.ok and ok.error is None and ok.out_of_scope is None and ok.threshold == THRESHOLD
        assert ok.model_version == "2.1.0" and ok.scope_gate == "gate-a"
        assert set(ok.timings_ms) == {"read", "preprocess", "detect", "inference"}
        assert all(v >= 0 for v in ok.timings_ms.values())
        assert ok.model_sha256 == MODEL_SHA256
        # The stand-in detector's one right knee, the middle half of the 256 x 256 film; the file's answer is its.
        assert [(k.side, k.box, k.probability) for k in ok.knees] == [("right", (64, 64, 192, 192), ok.probability)]
    assert b.error.startswith("b.png") and b.label is None and b.model_version == "2.1.0"
    assert e.error == "e: is a folder, not an image file"
    assert d.declined and d.out_of_scope == "not a knee radiograph: looks like a hand"
    assert (d.label, d.probability, d.confidence, d.threshold, d.scope_gate) == (None,) * 5
    assert d.model_version == "2.1.0" and d.error is None
    assert g.declined and g.out_of_scope == "not a radiograph: the image is blank"  # decided without the model
    assert "inference" not in g.timings_ms
    assert sum(model.batches) == 4 and not model.planned  # the blank film and the failures never reached the model
    assert max(model.batches) <= 2
    last = progress[-1]
    assert (last.done, last.total, last.failed, last.declined, last.reused) == (7, 7, 2, 2, 0)
    assert [p.done for p in progress] == list(range(1, 8))
    # Finished: nothing left; the first row has nothing to go on (no estimate before 5 files and a measured window).
    assert last.eta_s == 0.0 and progress[0].eta_s is None
    assert all(p.eta_s is None or p.eta_s >= 0 for p in progress)
    assert all(p.rate_per_s >= 0 for p in progress)


def test_one_large_batch_when_the_size_allows(films):
    model = Model([(0.1, IN_SCOPE)] * 4)
    rows = list(scan_files([films[k] for k in "acdf"], model, batch_size=16, workers=1))
    assert model.batches == [4] and all(r.label == "normal" for r in rows)
    with pytest.raises(ValueError, match="at least 1"):
        list(scan_files([films["a"]], model, batch_size=0))


def test_a_failed_inference_is_an_error_on_each_row_of_its_batch(films, caplog):
    with caplog.at_level("ERROR", logger="osteo_desktop.core.pipeline.scanning"):
        rows = list(scan_files([films["a"], films["c"]], Model([], fail=True), batch_size=2))
    assert "inference failed on a batch of 2 images" in caplog.messages
    assert [r.error for r in rows] == ["a.png: inference failed (RuntimeError: the interpreter fell over)",
                                       "c.png: inference failed (RuntimeError: the interpreter fell over)"]
    assert all(r.label is None for r in rows)


def test_the_history_is_reused_only_for_the_same_model_version_and_gate(films, tmp_path):
    paths = [films["a"], films["c"], films["d"]]
    with History(tmp_path / "h.sqlite3") as history:
        first = list(scan_files(paths, Model([(0.2, IN_SCOPE), (0.7, IN_SCOPE), (0.5, DECLINE)]), history=history))
        assert history.count() == 2  # the declined file is not recorded
        assert not any(r.from_history for r in first)
        same = Model([])
        again = list(scan_files(paths + [films["a"]], same, history=history, batch_size=2))
        # a and c come back from the history; d (declined) is judged again and needs the model
        assert [r.from_history for r in again] == [True, True, False, True]
        assert same.batches == [1]
        assert (again[0].label, again[0].probability, again[0].confidence) == ("normal", 0.2, pytest.approx(0.8))
        assert (again[1].label, again[1].probability) == ("osteoporosis", 0.7)
        assert again[0].timings_ms == {"read": again[0].timings_ms["read"], "preprocess": 0.0, "inference": 0.0}
        assert again[3].path == str(films["a"])
        tally_model = Model([])
        scan = BatchScan(paths[:2], tally_model, history=history)
        assert [r.from_history for r in scan] == [True, True]
        assert (scan.tally.done, scan.tally.reused, scan.tally.failed) == (2, 2, 0)

        # Another model (another digest): nothing is reused, whatever its version string says.
        newer = Model([(0.9, IN_SCOPE), (0.1, IN_SCOPE)], version="3.0.0", model_sha256="7a" * 32)
        recomputed = list(scan_files(paths[:2], newer, history=history))
        assert not any(r.from_history for r in recomputed)
        assert [(r.probability, r.model_version) for r in recomputed] == [(0.9, "3.0.0"), (0.1, "3.0.0")]
        other_gate = Model([(0.3, IN_SCOPE), (0.4, IN_SCOPE)], gate_id="gate-b")
        regated = list(scan_files(paths[:2], other_gate, history=history))
        assert not any(r.from_history for r in regated) and other_gate.batches == [2]
        assert history.count() == 4  # (a, c) x (two models); the regated results replaced the first model's
        assert history.find(regated[0].file_sha256, MODEL_SHA256).probability == 0.3
        assert history.find(regated[0].file_sha256, "7a" * 32).probability == 0.9
        edited = Model([(0.5, IN_SCOPE)], model_sha256="7b" * 32)  # same version, other card or files
        assert not list(scan_files(paths[:1], edited, history=history))[0].from_history and edited.batches == [1]


def test_batch_scan_tally_and_cancel(films, tmp_path):
    model = Model([(0.2, IN_SCOPE), (0.5, DECLINE)])
    seen = []
    scan = BatchScan([films[k] for k in "abd"], model, batch_size=4, on_progress=seen.append)
    with scan:
        rows = list(tee(scan, lambda row: seen.append(row.path)))
        assert not scan.cancelled
    assert scan.cancelled  # leaving the block stops the decoders
    tally = scan.tally
    assert (tally.total, tally.done, tally.failed, tally.declined, tally.reused) == (3, 3, 1, 1, 0)
    assert not tally.all_succeeded and tally.elapsed_s >= 0
    assert len(rows) == 3 and [s for s in seen if isinstance(s, str)] == [r.path for r in rows]
    stopped = BatchScan([films["a"]], Model([(0.2, IN_SCOPE)]))
    stopped.cancel()
    assert stopped.cancelled and list(stopped) == []
    history = History(tmp_path / "h.sqlite3")
    closing = BatchScan([films["a"]], Model([]), history=history, close_history=True)
    closing.close()
    closing.close()  # twice is harmless
    with pytest.raises(Exception):
        history.count()
    kept = History(tmp_path / "k.sqlite3")
    BatchScan([films["a"]], Model([]), history=kept).close()
    assert kept.count() == 0
    kept.close()


def test_files_to_scan_leaves_out_the_export(films):
    folder = films["a"].parent
    export = folder / "results.csv"
    export.write_text("path\n")
    listed = files_to_scan(folder)
    assert export in listed
    assert export not in files_to_scan(folder, exclude=export)
    assert len(files_to_scan(folder, exclude=export)) == len(listed) - 1
    assert files_to_scan(folder, exclude=folder / "other.csv") == listed


def test_analyse_file_gives_the_planned_answer_or_declines(films):
    model = Model([(0.6, IN_SCOPE)])
    result = analysis.analyse_file(films["a"], model, explain=True)
    assert not result.declined and result.out_of_scope is None
    # The knee's heat map over the original: inside the knee's region (the box made square, no margin), 0 outside.
    assert result.explanation.shape == (256, 256) and result.explanation_on_original() is result.explanation
    assert result.explanation[128, 128] > 0 and result.explanation[10, 10] == 0 and result.explanation[250, 128] == 0
    row = result.result
    assert (row.label, row.probability, row.confidence, row.model_version, row.scope_gate, row.model_sha256) == (
        "osteoporosis", 0.6, 0.6, "2.1.0", "gate-a", MODEL_SHA256)
    assert [(k.side, k.box, k.label, k.probability) for k in row.knees] == [
        ("right", (64, 64, 192, 192), "osteoporosis", 0.6)]
    assert set(row.timings_ms) == {"read", "preprocess", "detect", "inference", "explain"}
    assert model.batches == [1] and model.knee_detector.calls == 1

    normal = analysis.analyse_file(films["c"], Model([(0.1, IN_SCOPE)]), explain=True)
    assert normal.result.confidence == pytest.approx(0.9) and normal.prediction.label == "normal"

    declined = analysis.analyse_file(films["c"], Model([(0.6, DECLINE)]), explain=True)
    assert declined.declined and declined.prediction is None and declined.explanation is None
    assert declined.explanation_on_original() is None
    assert declined.out_of_scope == "not a knee radiograph: looks like a hand"
    row = declined.result
    assert (row.label, row.probability, row.out_of_scope, row.model_version, row.error) == (
        None, None, "not a knee radiograph: looks like a hand", "2.1.0", None)
    assert "explain" not in declined.timings_ms

    blank_model = Model([])
    blank = analysis.analyse_file(films["g"], blank_model, explain=True)
    assert blank.declined and blank_model.batches == [] and blank.result.out_of_scope == "not a radiograph: the image is blank"
    assert blank_model.knee_detector.calls == 0  # declined before the knees were looked for

    quiet = analysis.analyse_file(films["a"], Model([(0.2, IN_SCOPE)]), explain=False)
    assert quiet.explanation is None and "explain" not in quiet.timings_ms


def test_a_knee_and_its_mirror_image_are_averaged_when_the_card_says_so(films):
    model = Model([(0.7, IN_SCOPE), (0.2, IN_SCOPE)], hflip_tta=True)
    rows = list(scan_files([films["a"], films["c"]], model, batch_size=2, workers=1))
    assert [(r.label, r.probability) for r in rows] == [("osteoporosis", 0.7), ("normal", 0.2)]
    assert model.batches == [2] and not model.planned
    single = analysis.analyse_file(films["a"], Model([(0.6, IN_SCOPE)], hflip_tta=True), explain=True)
    assert single.result.probability == 0.6 and single.explanation[128, 128] > 0


def test_settle_applies_or_declines():
    from osteo_desktop.core.model.knee_model import KneePrediction
    from osteo_desktop.core.pipeline.film import FilmVerdict, settle

    model = Model([])
    mild = KneePrediction((0, 0, 10, 10), "normal", 0.1, 0.9, 0.0, None, np.zeros((1, 1, 2)))
    worse = KneePrediction((20, 0, 30, 10), "osteoporosis", 0.8, 0.8, 0.0, None, np.zeros((1, 1, 2)))
    row = FileResult(path="x.png", model_version="2.1.0")
    settle(row, model, FilmVerdict(ScopeDecision(True, None, "knee", 0.9), [mild, worse], ["left", "right"]))
    # The file's answer is its most suspicious knee's, at the knee head's threshold; every knee is listed.
    assert (row.label, row.probability, row.confidence, row.threshold) == ("osteoporosis", 0.8, 0.8, THRESHOLD)
    assert row.scope_gate == "gate-a" and row.model_sha256 == MODEL_SHA256 and row.out_of_scope is None
    assert [(k.side, k.box, k.probability) for k in row.knees] == [("left", (0, 0, 10, 10), 0.1),
                                                                    ("right", (20, 0, 30, 10), 0.8)]
    declined = FileResult(path="y.png", model_version="2.1.0")
    settle(declined, model, FilmVerdict(ScopeDecision(False, None, "blank", None)))
    assert declined.out_of_scope == "not a knee radiograph" and declined.label is None  # no reason given: the default
    no_knee = FileResult(path="z.png", model_version="2.1.0")
    settle(no_knee, model, FilmVerdict(ScopeDecision(True, None, "knee", 0.9)))  # in scope, but no knee found
    assert no_knee.declined and no_knee.knees == [] and no_knee.scope_gate is None


class Clock:
    """perf_counter for the module under test: every call is half a second later, so each measured step is a known
    number of milliseconds, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        self.now += 0.5
        return self.now


def test_single_file_timings_are_milliseconds_of_each_step(films, monkeypatch):
    from osteo_desktop.core.pipeline import film

    clock = Clock()
    monkeypatch.setattr(analysis, "time", clock)
    monkeypatch.setattr(film, "time", clock)
    result = analysis.analyse_file(films["a"], Model([(0.6, IN_SCOPE)]))  # explained by default
    # read: one tick; preprocess: two (before and after the detector); detect: one; inference: one, shared by the
    # film's two inputs (the film and its knee); explain: one.
    assert result.timings_ms == {"read": 500.0, "preprocess": 1000.0, "detect": 500.0, "inference": 500.0,
                                 "explain": 500.0}
    assert result.prediction.timings_ms == result.timings_ms and result.result.timings_ms == result.timings_ms
    assert result.explanation is not None
    direct = analysis.analyse_radiograph(result.radiograph, Model([(0.1, IN_SCOPE)]), explain=False)
    assert direct.timings_ms == {"read": 0.0, "preprocess": 1000.0, "detect": 500.0, "inference": 500.0}


def test_the_analysis_carries_the_input_the_warnings_and_the_model(tmp_path):
    small = _film(tmp_path / "small.png", 5)
    from PIL import Image as _Image

    _Image.open(small).resize((90, 70)).save(small)  # small enough for a warning
    model = Model([(0.2, IN_SCOPE)])
    result = analysis.analyse_file(small, model, explain=False)
    assert result.warnings and result.warnings == list(result.radiograph.warnings)
    assert result.prediction.warnings == result.warnings and result.result.warnings == result.warnings
    assert result.model_input.shape == (96, 96, 3) and result.model_input.min() >= -1 and result.model_input.max() <= 1
    assert result.geometry.input_size == 96 and result.geometry.original_shape == (70, 90)
    assert result.model_version == "2.1.0" and result.scope.in_scope


def test_defaults_of_a_batch_scan_and_a_folder_listing(films, tmp_path):
    folder = films["a"].parent
    _film(folder / "e" / "inner.png", 9)
    _film(folder / ".hidden.png", 10)
    listed = [p.name for p in files_to_scan(folder)]
    assert "inner.png" not in listed and ".hidden.png" not in listed  # flat, no dot files, unless asked
    assert "inner.png" in [p.name for p in files_to_scan(folder, recursive=True)]
    assert ".hidden.png" in [p.name for p in files_to_scan(folder, include_hidden=True)]

    from osteo_desktop.core.pipeline.scanning import scan_folder

    rows = list(scan_folder(folder, Model([(0.1, IN_SCOPE)] * 10)))
    assert [Path(r.path).name for r in rows] == listed
    deep = list(scan_folder(folder, Model([(0.1, IN_SCOPE)] * 10), recursive=True, include_hidden=True))
    assert {"inner.png", ".hidden.png"} <= {Path(r.path).name for r in deep}

    many = [_film(tmp_path / f"m{i:02d}.png", 20 + i) for i in range(17)]
    model = Model([(0.1, IN_SCOPE)] * 17)
    progress = []
    scan = BatchScan(iter(many), model, on_progress=progress.append)  # a generator: no total known
    assert scan.classifier is model and scan.tally.total is None
    rows = list(scan)
    assert len(rows) == 17 and max(model.batches) == 16  # the default batch
    assert [p.done for p in progress] == list(range(1, 18))

    dicom = tmp_path / "knee.dcm"
    pixels = (np.linspace(0, 4000, 128 * 128).reshape(128, 128)).astype(np.uint16)
    dicom.write_bytes(dicom_bytes(make_dicom(pixels)))
    plain = list(BatchScan([dicom], Model([(0.1, IN_SCOPE)])))[0]
    assert plain.patient == {}  # identifiers only on request
    asked = list(BatchScan([dicom], Model([(0.1, IN_SCOPE)]), include_patient=True))[0]
    assert asked.patient.get("PatientName") == "Doe^Jane" or "Doe^Jane" in asked.patient.values()


def test_scan_timings_are_whole_ticks_of_the_clock(films, monkeypatch):
    from osteo_desktop.core.pipeline import scanning

    from osteo_desktop.core.pipeline import film

    clock = Clock()
    monkeypatch.setattr(scanning, "time", clock)
    monkeypatch.setattr(film, "time", clock)
    rows = list(scan_files([films["a"], films["g"]], Model([(0.2, IN_SCOPE)]), workers=1))
    for row in rows:
        for step in ("read", "preprocess"):
            ticks = row.timings_ms[step] / 500.0
            assert ticks >= 1 and ticks == int(ticks) and ticks < 100, (step, row.timings_ms)
    assert rows[0].timings_ms["detect"] == 500.0 and "detect" not in rows[1].timings_ms  # the blank: no knees sought
    assert rows[0].timings_ms["inference"] == 500.0 and "inference" not in rows[1].timings_ms


def test_a_file_that_is_not_there_and_a_history_that_cannot_record(films, caplog):
    missing = films["a"].parent / "gone.png"
    row = list(scan_files([missing], Model([])))[0]
    assert row.error == "gone.png: cannot be read (No such file or directory)"

    class Failing:
        def find(self, sha, version, path=None):
            return None

        def record_many(self, rows):
            raise OSError("disk full")

    with caplog.at_level("ERROR", logger="osteo_desktop.core.pipeline.scanning"):
        rows = list(scan_files([films["a"], films["c"]], Model([(0.2, IN_SCOPE), (0.7, IN_SCOPE)]), history=Failing(),
                               batch_size=2))
    assert [r.label for r in rows] == ["normal", "osteoporosis"]  # the results survive the history
    assert "could not record 2 results in the history" in caplog.messages


def test_every_way_a_file_fails_is_a_row_that_names_it(films, monkeypatch, caplog):
    import os

    from osteo_desktop.core.pipeline import scanning
    from osteo_desktop.core.results.history import HistoryError

    cancelled = threading.Event()
    cancelled.set()
    prepared = scanning._Preparer(Model([]), None, False, cancelled)(films["a"])
    assert prepared.row.error == "a.png: not read: the scan was cancelled" and prepared.work is None
    assert prepared.row.model_version == "2.1.0"

    fifo = films["a"].parent / "pipe"
    os.mkfifo(fifo)
    real_read = scanning.read_radiograph

    def failing(error):
        def read(path, target_size=None, data=None, compact=False):
            if Path(path).name == "a.png":
                raise error
            return real_read(path, target_size=target_size, data=data, compact=compact)
        return read

    expected = {
        RuntimeError("a bug"): "a.png: unexpected error while reading (RuntimeError: a bug)",
        OSError(5, "Input/output error"): "a.png: cannot be read (Input/output error)",
        MemoryError(): "a.png: too large to decode in the memory available",
    }
    for error, message in expected.items():
        monkeypatch.setattr(scanning, "read_radiograph", failing(error))
        with caplog.at_level("ERROR", logger="osteo_desktop.core.pipeline.scanning"):
            rows = list(scan_files([films["a"], fifo, films["c"]], Model([(0.2, IN_SCOPE)]), workers=1))
        assert rows[0].error == message and rows[0].label is None
        assert rows[1].error == "pipe: not a regular file (a pipe, socket or device); not read"
        assert rows[2].label == "normal"  # the scan goes on
    assert "unexpected error while reading a.png" in caplog.messages

    # An unexpected error under a cancelled scan (e.g. the history closed under it): nobody wants that row.
    stop = threading.Event()

    def cancelled_mid_read(path, target_size=None, data=None, compact=False):
        stop.set()
        raise RuntimeError("history closed")

    monkeypatch.setattr(scanning, "read_radiograph", cancelled_mid_read)
    row = scanning._Preparer(Model([]), None, False, stop)(films["c"]).row
    assert row.error == "c.png: not read: the scan was cancelled"
    monkeypatch.setattr(scanning, "read_radiograph", real_read)

    class Unreadable:
        def __init__(self, cancel=None):
            self.cancel = cancel

        def find(self, sha, version, path=None):
            if self.cancel is not None:
                self.cancel.set()
            raise HistoryError("cannot read the history database: locked")

        def record_many(self, rows):
            return []

    with caplog.at_level("WARNING", logger="osteo_desktop.core.pipeline.scanning"):
        rows = list(scan_files([films["a"]], Model([(0.7, IN_SCOPE)]), history=Unreadable()))
    assert rows[0].label == "osteoporosis" and not rows[0].from_history  # the history costs only the reuse
    assert "history lookup failed for a.png: cannot read the history database: locked" in caplog.messages
    stop = threading.Event()
    row = scanning._Preparer(Model([]), Unreadable(stop), False, stop)(films["a"]).row
    assert row.error == "a.png: not read: the scan was cancelled"

    from osteo_desktop.core.reading import reader

    def unopenable(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    # The file's bytes (read once: hashed and decoded from them) cannot be read: a row that says why.
    monkeypatch.setattr(reader, "open", unopenable, raising=False)
    rows = list(scan_files([films["a"]], Model([]), history=Unreadable()))
    assert rows[0].error == "a.png: permission denied: the file cannot be read" and rows[0].file_sha256 is None


def test_scan_files_defaults_and_batch_size_limits(films, tmp_path):
    many = [_film(tmp_path / f"m{i:02d}.png", 40 + i) for i in range(17)]
    model = Model([(0.1, IN_SCOPE)] * 17)
    progress = []
    rows = list(scan_files(iter(many), model, on_progress=progress.append))  # a generator: no total
    assert len(rows) == 17 and max(model.batches) == 16 and progress[-1].total is None
    ones = Model([(0.1, IN_SCOPE)] * 2)
    assert [r.label for r in scan_files([films["a"], films["c"]], ones, batch_size=1)] == ["normal", "normal"]
    assert ones.batches == [1, 1]
    with pytest.raises(ValueError, match="^batch_size must be at least 1$"):
        next(scan_files([films["a"]], Model([]), batch_size=0))
    dicom = tmp_path / "knee.dcm"
    pixels = (np.linspace(0, 4000, 128 * 128).reshape(128, 128)).astype(np.uint16)
    dicom.write_bytes(dicom_bytes(make_dicom(pixels)))
    assert next(scan_files([dicom], Model([(0.1, IN_SCOPE)]))).patient == {}


class Recorder(ScanBackend):
    """A backend that runs each file's work at once, in the scanning thread, and records what the scan asked of it."""

    name = "recorder"

    def __init__(self) -> None:
        self.workers: list[int] = []
        self.submitted = 0
        self.shutdowns: list[dict] = []
        self.submitted_at_first_row: int | None = None

    def default_workers(self) -> int:
        return 2

    def executor(self, workers: int):
        self.workers.append(workers)
        backend = self

        class Now(Executor):
            def submit(self, fn, *args, **kwargs):
                backend.submitted += 1
                future: Future = Future()
                future.set_result(fn(*args, **kwargs))
                return future

            def shutdown(self, wait=True, *, cancel_futures=False):
                backend.shutdowns.append({"wait": wait, "cancel_futures": cancel_futures})

        return Now()


def test_a_scan_keeps_few_files_in_flight_and_hands_the_backend_its_contract(films):
    backend = Recorder()
    paths = [films["a"]] * 20
    scan = scan_files(paths, Model([(0.1, IN_SCOPE)] * 20), batch_size=2, workers=1, backend=backend)
    next(scan)
    # At most 2 x batch + workers = 5 files in flight: 5 submitted at the start, one more for each of the two taken.
    assert backend.submitted == 7
    scan.close()
    assert backend.workers == [1]
    assert backend.shutdowns == [{"wait": False, "cancel_futures": True}]  # never waits for, or runs, queued reads
    default = Recorder()
    list(scan_files([films["a"]], Model([(0.1, IN_SCOPE)]), backend=default))
    assert default.workers == [2]  # the backend's own default
    via_batch = Recorder()
    model = Model([(0.1, IN_SCOPE)] * 2)
    list(BatchScan([films["a"], films["c"]], model, backend=via_batch, workers=3, batch_size=1))
    assert via_batch.workers == [3] and model.batches == [1, 1]


def test_a_batch_is_not_held_back_behind_many_failures(films):
    # One film, then seven broken files, then films: with batches of 2 the first film waits for a partner only
    # while fewer than 4 x 2 rows are held; then it goes alone, so the failures' rows are not held back longer.
    paths = [films["a"]] + [films["b"]] * 7 + [films["c"]] * 4
    model = Model([(0.1, IN_SCOPE)] * 5)
    rows = list(scan_files(paths, model, batch_size=2, workers=1, backend=Recorder()))
    assert len(rows) == 12 and model.batches[0] == 1


def test_cancel_returns_while_a_read_hangs(films, monkeypatch):
    from osteo_desktop.core.pipeline import scanning

    monkeypatch.setattr(scanning, "_CANCEL_POLL_S", 0.01)
    release, finished = threading.Event(), threading.Event()

    def hanging(path, target_size=None, data=None, compact=False):
        release.wait(10)
        finished.set()
        raise OSError(5, "gave up")

    monkeypatch.setattr(scanning, "read_radiograph", hanging)
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        rows = list(scan_files([films["a"]], Model([]), cancel=cancel, workers=1))
        assert rows == [] and not finished.is_set()  # the scan ended while the read was still hanging
    finally:
        release.set()
        timer.cancel()


def test_reuse_and_progress_timings_in_whole_ticks(films, tmp_path, monkeypatch):
    from osteo_desktop.core.pipeline import scanning

    with History(tmp_path / "h.sqlite3") as history:
        list(scan_files([films["a"]], Model([(0.2, IN_SCOPE)]), history=history))
        monkeypatch.setattr(scanning, "time", Clock())
        progress = []
        rows = list(scan_files([films["a"], films["c"], films["d"]], Model([(0.3, IN_SCOPE)] * 2), history=history,
                               workers=1, on_progress=progress.append))
    reused = rows[0]
    assert reused.from_history and reused.timings_ms["preprocess"] == 0.0 and reused.timings_ms["inference"] == 0.0
    ticks = reused.timings_ms["read"] / 500.0
    assert ticks >= 1 and ticks == int(ticks) and ticks < 100
    for update in progress:
        assert 0 < update.elapsed_s < 100 and (update.elapsed_s / 0.5) == int(update.elapsed_s / 0.5)
    for update in progress[:-1]:  # no time left shown before 5 files are done (core/pipeline/eta.py)
        assert update.eta_s is None
    assert [p.done for p in progress] == [1, 2, 3] and progress[-1].eta_s == 0.0


def test_odds_and_ends_of_the_single_and_folder_paths(films):
    from osteo_desktop.core.pipeline.scanning import scan_folder

    folder = films["a"].parent
    model = Model([(0.1, IN_SCOPE)] * 10)
    list(scan_folder(folder, model, batch_size=1))
    assert model.batches and set(model.batches) == {1}
    radiograph = analysis.analyse_file(films["a"], Model([(0.1, IN_SCOPE)]), explain=False).radiograph
    assert analysis.analyse_radiograph(radiograph, Model([(0.1, IN_SCOPE)])).explanation is not None  # default: explained


def test_analyse_file_analyses_and_hashes_the_bytes_it_read_once(films, monkeypatch):
    import hashlib

    from osteo_desktop.core.reading.reader import read_radiograph

    # The bytes read are those of another film than the one on disk at that path (a file replaced mid-read): the
    # analysis must be of the bytes hashed, not of a second read of the path.
    other = films["c"].read_bytes()
    monkeypatch.setattr(analysis, "read_file_bytes", lambda path: other)
    result = analysis.analyse_file(films["a"], Model([(0.2, IN_SCOPE)]), explain=False)
    assert result.file_sha256 == hashlib.sha256(other).hexdigest()
    assert np.array_equal(result.radiograph.pixels, read_radiograph(films["c"]).pixels)
    assert not np.array_equal(result.radiograph.pixels, read_radiograph(films["a"]).pixels)
    assert result.result.file_sha256 == hashlib.sha256(other).hexdigest()


def test_a_history_that_cannot_record_is_reported_with_its_reason(films, caplog):
    from osteo_desktop.core.results.history import HistoryError

    class Full:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def find(self, sha, version, path=None):
            return None

        def record_many(self, rows):
            raise self.error

    paths = [films["a"], films["c"]]
    with caplog.at_level("DEBUG", logger="osteo_desktop.core.pipeline.scanning"):
        scan = BatchScan(paths, Model([(0.2, IN_SCOPE), (0.7, IN_SCOPE)]), history=Full(HistoryError("disk full")),
                         batch_size=2)
        rows = list(scan)
    assert [r.label for r in rows] == ["normal", "osteoporosis"]
    # Expected (a full disk): said once at the end by the caller, so only a debug line here.
    assert "could not record 2 results in the history: disk full" in caplog.messages
    assert (scan.tally.unrecorded, scan.tally.history_error) == (2, "disk full") and not scan.tally.all_succeeded
    # One result per batch: the failures of each batch add up.
    scan = BatchScan(paths, Model([(0.2, IN_SCOPE), (0.7, IN_SCOPE)]), history=Full(HistoryError("disk full")),
                     batch_size=1)
    list(scan)
    assert scan.tally.unrecorded == 2
    caplog.clear()
    scan = BatchScan(paths, Model([(0.2, IN_SCOPE), (0.7, IN_SCOPE)]), history=Full(OSError("gone")), batch_size=2)
    list(scan)
    # Unexpected: the error's type is named.
    assert (scan.tally.unrecorded, scan.tally.history_error) == (2, "OSError: gone")


def test_every_row_names_the_exact_model_and_only_a_history_needs_the_hashes(films, tmp_path):
    import hashlib

    order = [films[k] for k in "abdg"]
    rows = list(scan_files(order, Model([(0.2, IN_SCOPE), (0.5, DECLINE)]), workers=1))
    a, b, d, g = rows
    assert b.error and d.declined and g.declined and a.ok
    assert all(r.model_sha256 == MODEL_SHA256 and r.model_version == "2.1.0" for r in rows)  # failed ones too
    assert all(r.file_sha256 is None for r in rows)  # nothing asked for the hashes: the files are not hashed
    with History(tmp_path / "h.sqlite3") as history:
        hashed = list(scan_files(order, Model([(0.2, IN_SCOPE), (0.5, DECLINE)]), workers=1, history=history))
    # Every file whose bytes were read is hashed (the broken one too: its bytes were read before it failed to decode).
    assert [r.file_sha256 for r in hashed] == [hashlib.sha256(films[k].read_bytes()).hexdigest() for k in "abdg"]


class Budget:
    """A decode budget that records what each file asked for and gave back; ``refuse`` answers as a cancelled wait."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.acquired: list[tuple[int, object]] = []
        self.released: list[int] = []

    def acquire(self, cost, cancel):
        self.acquired.append((cost, cancel))
        return None if self.refuse else cost + 1

    def release(self, held) -> None:
        self.released.append(held)


def test_each_decode_takes_its_cost_from_the_scans_budget_and_gives_it_back(films, monkeypatch):
    from osteo_desktop.core.pipeline import scanning
    from osteo_desktop.core.pipeline.memory import decode_cost

    budgets: list[Budget] = []
    monkeypatch.setattr(scanning, "DecodeBudget", lambda: budgets.append(Budget()) or budgets[-1])
    cancel = threading.Event()
    rows = list(scan_files([films["a"], films["c"]], Model([(0.2, IN_SCOPE)] * 2), cancel=cancel, workers=1))
    assert [r.label for r in rows] == ["normal", "normal"]
    (budget,) = budgets
    # The cost of each file as the memory module estimates it from the bytes, the scan's own cancel flag; given
    # back exactly what was taken.
    expected = [decode_cost(films[k], films[k].read_bytes()) for k in "ac"]
    assert [cost for cost, _ in budget.acquired] == expected and all(flag is cancel for _, flag in budget.acquired)
    assert budget.released == [cost + 1 for cost in expected]
    refusing = Budget(refuse=True)
    row = scanning._Preparer(Model([]), None, False, threading.Event(), refusing)(films["a"]).row
    assert row.error == "a.png: not read: the scan was cancelled" and refusing.released == []
    # The cost is probed from the bytes read (once), not from the file again: here they are a smaller image's.
    small = _film(films["a"].parent / "small.png", 5)
    Image.open(small).resize((90, 70)).save(small)
    monkeypatch.setattr(scanning, "read_file_bytes", lambda path: small.read_bytes())
    probed = Budget()
    scanning._Preparer(Model([]), None, False, threading.Event(), probed)(films["a"])
    assert probed.acquired[0][0] == decode_cost(small, small.read_bytes()) != decode_cost(films["a"])


def test_a_batch_holds_no_more_model_inputs_than_the_byte_bound_allows(films, monkeypatch):
    from osteo_desktop.core.pipeline import scanning

    asked = []

    def limit(batch_size, input_bytes):
        asked.append((batch_size, input_bytes))
        return 1

    monkeypatch.setattr(scanning, "batch_limit", limit)
    model = Model([(0.2, IN_SCOPE)] * 2)
    list(scan_files([films["a"], films["c"]], model, batch_size=8, workers=1))
    # A film's model inputs at most: 96 x 96 pixels x 3 channels x 4 bytes (float32) each, for the film and up to
    # two knees (the stand-in head does not average mirror images); the bound's answer is the batch used.
    assert asked == [(8, 96 * 96 * 3 * 4 * 3)] and model.batches == [1, 1]
    asked.clear()
    list(scan_files([films["a"]], Model([(0.2, IN_SCOPE)], hflip_tta=True), batch_size=8, workers=1))
    assert asked == [(8, 96 * 96 * 3 * 4 * 5)]  # and each knee's mirror image


def test_the_scan_decodes_the_bytes_it_read_once(films, tmp_path, monkeypatch):
    import hashlib

    from osteo_desktop.core.pipeline import scanning
    from osteo_desktop.core.reading.reader import read_radiograph

    small = _film(tmp_path / "small.png", 5)
    Image.open(small).resize((90, 70)).save(small)  # small enough for a warning, unlike the 256 x 256 films
    replaced = small.read_bytes()
    monkeypatch.setattr(scanning, "read_file_bytes", lambda path: replaced)
    with History(tmp_path / "h.sqlite3") as history:
        (row,) = scan_files([films["a"]], Model([(0.2, IN_SCOPE)]), history=history, workers=1)
    assert row.warnings and row.warnings == read_radiograph(small).warnings
    assert row.file_sha256 == hashlib.sha256(replaced).hexdigest()


def test_a_result_from_the_history_takes_the_patient_fields_from_the_file(films, tmp_path, monkeypatch):
    from osteo_desktop.core.errors import ImageReadError
    from osteo_desktop.core.pipeline import scanning

    dicom = tmp_path / "knee.dcm"
    pixels = (np.linspace(0, 4000, 128 * 128).reshape(128, 128)).astype(np.uint16)
    dicom.write_bytes(dicom_bytes(make_dicom(pixels)))
    with History(tmp_path / "h.sqlite3") as history:
        list(scan_files([dicom, films["a"]], Model([(0.2, IN_SCOPE)] * 2), history=history))
        reused, plain = scan_files([dicom, films["a"]], Model([]), history=history, include_patient=True)
        assert reused.from_history and "Doe^Jane" in reused.patient.values() and plain.patient == {}
        assert reused.warnings == []

        def unparsable(path, data):
            raise ImageReadError(path, "could not be parsed (truncated)")

        monkeypatch.setattr(scanning, "read_patient", unparsable)
        (broken,) = scan_files([dicom], Model([]), history=history, include_patient=True)
    assert broken.from_history and broken.label == "normal"
    assert broken.warnings == ["patient fields not exported: the file could not be parsed (could not be parsed (truncated))"]


class Relay(ScanBackend):
    """A backend that runs the whole per-file work itself (as a cluster does) and hands the scan finished rows."""

    name = "relay"

    def __init__(self, rows: list[FileResult], cancel_before: int | None = None, closable: bool = True) -> None:
        self.rows = rows
        self.cancel_before = cancel_before
        self.closable = closable
        self.asked: dict = {}
        self.closed = False
        self.produced = 0  # rows the backend was asked for: work done on a cluster

    def executor(self, workers: int):
        raise AssertionError("a relaying backend's rows need no executor")

    def scan_rows(self, paths, classifier, *, batch_size, include_patient, hash_files, cancel):
        self.asked = dict(paths=paths, classifier=classifier, batch_size=batch_size, include_patient=include_patient,
                          hash_files=hash_files, cancel=cancel)
        if not self.closable:
            return iter(self.rows)
        # Kept here, so only the scan's own close() (not the garbage collector) can close it early.
        self.generator = self._rows(cancel)
        return self.generator

    def _rows(self, cancel):
        try:
            for i, row in enumerate(self.rows):
                if i == self.cancel_before:
                    cancel.set()
                self.produced += 1
                yield row
        finally:
            self.closed = True


def relayed_rows() -> list[FileResult]:
    from osteo_desktop.core.results.knee import KneeResult

    ok = FileResult(path="/x/a.png", model_version="2.1.0", model_sha256=MODEL_SHA256, file_sha256="aa" * 32)
    ok.apply_knees([KneeResult("right", (1, 1, 5, 5), "normal", 0.25, 0.75)],
                   Prediction(label="normal", probability=0.25, confidence=0.75, threshold=THRESHOLD,
                              model_version="2.1.0", logit=-1.0, model_sha256=MODEL_SHA256))
    ok.scope_gate = "gate-a"
    failed = FileResult(path="/x/b.png", model_version="2.1.0", model_sha256=MODEL_SHA256, error="b.png: broken")
    declined = FileResult(path="/x/d.png", model_version="2.1.0", model_sha256=MODEL_SHA256, file_sha256="dd" * 32)
    declined.decline("not a knee radiograph: looks like a hand")
    return [ok, declined, failed]


def test_a_backend_that_returns_rows_is_relayed_recorded_and_counted(tmp_path, monkeypatch):
    from osteo_desktop.core.pipeline import scanning

    monkeypatch.setattr(scanning, "time", Clock())
    rows = relayed_rows()
    backend = Relay(rows)
    model = Model([])
    cancel = threading.Event()
    progress = []
    paths = (Path("/x/a.png"), Path("/x/b.png"), Path("/x/d.png"))  # a tuple: handed on as a list
    with History(tmp_path / "h.sqlite3") as history:
        got = list(scan_files(paths, model, backend=backend, history=history, include_patient=True, batch_size=4,
                              cancel=cancel, on_progress=progress.append))
        assert history.count() == 1 and history.find("aa" * 32, MODEL_SHA256).probability == 0.25
    assert got == rows and all(g is r for g, r in zip(got, rows))
    assert backend.asked == dict(paths=list(paths), classifier=model, batch_size=4, include_patient=True,
                                 hash_files=True, cancel=cancel)
    assert backend.closed and model.batches == []
    assert [(p.done, p.total, p.failed, p.declined, p.unrecorded, p.history_error) for p in progress] == [
        (1, 3, 0, 0, 0, None), (2, 3, 0, 1, 0, None), (3, 3, 1, 1, 0, None)]
    # The stand-in clock: one tick to start, one for each row's progress.
    assert [p.elapsed_s for p in progress] == [0.5, 1.0, 1.5]
    assert progress[0].eta_s is None and progress[-1].eta_s == 0.0

    quiet = Relay(relayed_rows(), closable=False)  # rows without close(): nothing to close
    assert len(list(scan_files(list(paths), model, backend=quiet))) == 3
    assert quiet.asked["hash_files"] is False and quiet.asked["include_patient"] is False
    assert quiet.asked["batch_size"] == 16


def test_a_relayed_scan_stops_on_cancel_and_reports_a_history_that_cannot_record(tmp_path):
    from osteo_desktop.core.results.history import HistoryError

    paths = [Path("/x/a.png"), Path("/x/b.png"), Path("/x/d.png")]
    # Cancelled by the consumer after the first row: no further row, and the backend's rows are closed.
    cancel = threading.Event()
    backend = Relay(relayed_rows())
    seen = []
    for row in scan_files(paths, Model([]), backend=backend, cancel=cancel, on_progress=lambda p: cancel.set()):
        seen.append(row)
    assert len(seen) == 1 and backend.closed
    assert backend.produced == 1  # the next row is not even asked for
    # Cancelled while the backend produced the second row: that row is not given.
    backend = Relay(relayed_rows(), cancel_before=1)
    assert len(list(scan_files(paths, Model([]), backend=backend))) == 1 and backend.closed
    # Cancelled before the first row came: nothing at all.
    backend = Relay(relayed_rows(), cancel_before=0)
    assert list(scan_files(paths, Model([]), backend=backend)) == []

    class Full:
        def record_many(self, rows):
            raise HistoryError("disk full")

    progress = []
    scan = BatchScan(paths, Model([]), backend=Relay(relayed_rows()), history=Full(), on_progress=progress.append)
    assert len(list(scan)) == 3
    assert [(p.unrecorded, p.history_error) for p in progress] == [(1, "disk full"), (1, "disk full"), (1, "disk full")]
    assert (scan.tally.unrecorded, scan.tally.history_error) == (1, "disk full")
    # A second unrecorded row adds to the count.
    twice = relayed_rows()
    twice[2] = relayed_rows()[0]
    progress = []
    list(scan_files(paths, Model([]), backend=Relay(twice), history=Full(), on_progress=progress.append))
    assert [p.unrecorded for p in progress] == [1, 1, 2]
    # A failure followed by a result: the failure stays counted.
    progress = []
    failed_first = [relayed_rows()[2], relayed_rows()[0]]
    list(scan_files(paths[:2], Model([]), backend=Relay(failed_first), on_progress=progress.append))
    assert [(p.done, p.failed, p.declined) for p in progress] == [(1, 1, 0), (2, 1, 0)]


def test_analyse_paths_reads_and_predicts_in_one_batch_in_this_thread(films, tmp_path):
    import hashlib

    from osteo_desktop.core.pipeline.scanning import analyse_paths

    model = Model([(0.2, IN_SCOPE), (0.5, DECLINE), (0.7, IN_SCOPE)])
    rows = analyse_paths([films["a"], films["b"], films["d"], films["g"], str(films["c"])], model, hash_files=True)
    assert [Path(r.path).name for r in rows] == ["a.png", "b.png", "d.png", "g_blank.png", "c.png"]
    a, b, d, g, c = rows
    assert (a.label, a.probability, c.label, c.probability) == ("normal", 0.2, "osteoporosis", 0.7)
    assert b.error.startswith("b.png") and d.declined and g.declined
    assert model.batches == [3]  # one batch, over the films the model reads (not the broken or the blank one)
    assert a.file_sha256 == hashlib.sha256(films["a"].read_bytes()).hexdigest()
    assert all(r.model_sha256 == MODEL_SHA256 for r in rows) and a.timings_ms["inference"] >= 0
    unhashed = analyse_paths([films["a"]], Model([(0.2, IN_SCOPE)]))  # every file readable: still one batch
    assert unhashed[0].label == "normal" and unhashed[0].file_sha256 is None
    nothing = Model([])
    assert [r.declined for r in analyse_paths([films["g"]], nothing)] == [True] and nothing.batches == []
    dicom = tmp_path / "knee.dcm"
    dicom.write_bytes(dicom_bytes(make_dicom((np.linspace(0, 4000, 128 * 128).reshape(128, 128)).astype(np.uint16))))
    (asked,) = analyse_paths([dicom], Model([(0.1, IN_SCOPE)]), include_patient=True)
    assert "Doe^Jane" in asked.patient.values()
    (plain,) = analyse_paths([dicom], Model([(0.1, IN_SCOPE)]))
    assert plain.patient == {}  # identifiers only on request
