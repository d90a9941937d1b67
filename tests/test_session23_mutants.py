"""Tests written from the surviving mutants of the functions stop 23 added or changed (scripts/mutation-test.sh
key ``session23``, reports/mutation/session23.md)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid

from osteo_desktop.core.results import history as history_module
from osteo_desktop.core.results import text
from osteo_desktop.core.results.dicom_adapter import NoStudyError, StudyDetails, source_for
from osteo_desktop.core.results.result import FileResult

THRESHOLD = 0.36


def _knee(label: str, probability: float) -> SimpleNamespace:
    return SimpleNamespace(label=label, probability=probability)


# --- core.results.text -------------------------------------------------------------------------------------------

def test_under_a_borderline_headline_every_borderline_knee_has_the_short_words_and_a_firm_knee_its_own():
    lines = text.knee_summaries([_knee("osteoporosis", 0.38), _knee("normal", 0.20)], "osteoporosis", THRESHOLD, 0.38)
    assert lines == ["Borderline (above), probability 0.380 (threshold 0.360)",
                     "No sign of osteoporosis, probability 0.200 (threshold 0.360)"]  # a firm knee: never 'short'


def test_under_a_firm_headline_the_first_borderline_knee_says_the_long_words_and_only_it():
    knees = [_knee("osteoporosis", 0.60), _knee("normal", 0.34), _knee("osteoporosis", 0.39)]
    assert text.knee_summaries(knees, "osteoporosis", THRESHOLD, 0.60) == [
        "Osteoporosis suspected, probability 0.600 (threshold 0.360)",
        "Borderline (just below the threshold): read as undecided, probability 0.340 (threshold 0.360)",
        "Borderline (above), probability 0.390 (threshold 0.360)"]
    # No file probability: nothing said yet, so the first borderline knee says the long words.
    assert text.knee_summaries([_knee("normal", 0.34)], "osteoporosis", THRESHOLD, None) == [
        "Borderline (just below the threshold): read as undecided, probability 0.340 (threshold 0.360)"]


def test_a_borderline_distance_still_rounding_to_the_margin_at_five_decimals_is_cut_there_not_given_six():
    # 0.409997 - 0.36 is 0.049997 (give or take the last bit): "0.050", "0.0500", "0.05000" all read as the margin,
    # so it is cut to five decimals, "0.04999", not shown with a sixth one.
    assert text.threshold_distance(0.409997, 0.36) == "0.04999 above"
    assert text.threshold_distance(0.310003, 0.36) == "0.04999 below"


@pytest.mark.parametrize("agreement, words, line", [
    (None, "", None),
    ("agree", "Agree", "Your reading: Agree"),
    ("disagree", "Disagree", "Your reading: Disagree"),
    ("unsure", "unsure", "Your reading: unsure"),  # a value stored by some other version: shown as it is
    ("", "", None),
])
def test_the_readers_verdict_in_words_and_in_its_line(agreement, words, line):
    assert text.agreement_words(agreement) == words
    assert text.reading_line(agreement) == line


def _result(**overrides) -> FileResult:
    values = dict(path="/data/knee.png", label="osteoporosis", probability=0.62, confidence=0.62, threshold=THRESHOLD,
                  model_version="2.1", model_sha256="")
    values.update(overrides)
    return FileResult(**values)


def test_the_report_gives_the_readers_verdict_after_the_knees_and_nothing_when_unmarked():
    created = datetime(2026, 12, 3, 12, 0)
    marked = text.report_lines(_result(reader_agreement="disagree"), "osteoporosis", file_name="knee.png",
                               created=created)
    fields = [field for field, _ in marked]
    assert ("Reader's verdict", "Disagree") in marked
    assert fields.index("Reader's verdict") == fields.index("Model version") + 1  # right after the numbers
    unmarked = text.report_lines(_result(), "osteoporosis", file_name="knee.png", created=created)
    assert "Reader's verdict" not in [field for field, _ in unmarked]
    assert len(marked) == len(unmarked) + 1


# --- gui.worklist (no widgets) -----------------------------------------------------------------------------------

def test_a_fetched_file_whose_header_cannot_be_read_is_logged_at_debug_by_its_name(tmp_path, caplog):
    from osteo_desktop.gui.worklist import shown_name

    broken = tmp_path / "pacs" / "1.2.3" / "1.2.3.4.dcm"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not DICOM")
    with caplog.at_level(logging.DEBUG, logger="osteo_desktop.gui.worklist"):
        assert shown_name(broken) == "1.2.3.4.dcm"
    messages = [record.getMessage() for record in caplog.records if record.name == "osteo_desktop.gui.worklist"]
    with pytest.raises(Exception) as reason:  # pydicom's own reason, read here without the code under test
        pydicom.dcmread(str(broken), stop_before_pixels=True)
    assert messages == [f"no header for the shown name of 1.2.3.4.dcm: {reason.value}"]


# --- core.results.history._move_aside ----------------------------------------------------------------------------

def test_setting_aside_takes_the_first_free_numbered_name_and_leaves_the_taken_ones(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"damaged")
    name = tmp_path / "h.sqlite3.damaged-20261203-120000"
    name.write_bytes(b"first")
    (tmp_path / f"{name.name}-2").write_bytes(b"second")
    assert history_module._move_aside(path, name) == tmp_path / f"{name.name}-3"
    assert (tmp_path / f"{name.name}-3").read_bytes() == b"damaged" and not path.exists()
    assert name.read_bytes() == b"first" and (tmp_path / f"{name.name}-2").read_bytes() == b"second"


def test_setting_aside_gives_up_after_999_taken_names_saying_which_file(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"damaged")
    name = tmp_path / "aside"
    name.write_bytes(b"")
    for number in range(2, 1000):  # aside, aside-2 ... aside-999: the 999 names it may use
        (tmp_path / f"aside-{number}").write_bytes(b"")
    with pytest.raises(FileExistsError, match=r"^no free name to set h\.sqlite3 aside$"):
        history_module._move_aside(path, name)
    assert path.read_bytes() == b"damaged" and not (tmp_path / "aside-1000").exists()


def test_without_hard_links_a_taken_name_is_skipped_and_the_file_renamed(tmp_path, monkeypatch):
    def no_links(source, target):
        raise PermissionError(1, "Operation not permitted")  # what a FAT or SMB file system answers

    monkeypatch.setattr(history_module.os, "link", no_links)
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"damaged")
    name = tmp_path / "aside"
    name.write_bytes(b"first")
    assert history_module._move_aside(path, name) == tmp_path / "aside-2"
    assert (tmp_path / "aside-2").read_bytes() == b"damaged" and not path.exists()
    assert name.read_bytes() == b"first"


# --- core.results.dicom_adapter.source_for -----------------------------------------------------------------------

def _header_file(tmp_path: Path, name: str, **absent_or_values) -> Path:
    ds = pydicom.Dataset()
    ds.PatientName, ds.PatientID = "Doe^Jane", "P-17"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.SOPClassUID, ds.Modality = ComputedRadiographyImageStorage, "CR"
    for keyword, value in absent_or_values.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3", "1.2.3.4"
    ds.save_as(tmp_path / name, enforce_file_format=True)
    return tmp_path / name


def test_a_dicom_file_with_no_study_uid_element_at_all_is_refused_like_an_empty_one(tmp_path):
    path = _header_file(tmp_path, "no-study.dcm", StudyInstanceUID=None)
    with pytest.raises(NoStudyError, match=r"^no-study\.dcm is a DICOM file without StudyInstanceUID: its results "
                                           r"cannot be placed in its study$"):
        source_for(path, "dicom", 10, 10, None)
    both = _header_file(tmp_path, "neither.dcm", StudyInstanceUID=None, SOPClassUID=None)
    with pytest.raises(NoStudyError, match="without StudyInstanceUID or SOPClassUID:"):
        source_for(both, "DICOM", 10, 10, None)


@pytest.mark.parametrize("details", [StudyDetails("P-1", ""), StudyDetails("", "Doe^Jane"), None])
def test_a_raster_needs_both_the_patients_id_and_name(tmp_path, details):
    with pytest.raises(NoStudyError, match=r"^knee\.png is a PNG image with no DICOM study to join; give the patient ID "
                                           r"and name \(and study date/accession\) to export it as DICOM$"):
        source_for(tmp_path / "knee.png", "png", 10, 10, details)


# --- core.results.dicom_objects.build_secondary_capture ----------------------------------------------------------

def _export_input(findings, annotated=True):
    import numpy as np

    from osteo_desktop.core.results.dicom_objects import DicomExportInput

    ds = pydicom.Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Doe^Jane", "P-17", "19500102", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.SOPClassUID, ds.Modality, ds.StudyDate, ds.StudyTime = ComputedRadiographyImageStorage, "CR", "20250301", "1015"
    rgb = np.zeros((40, 60, 3), dtype=np.uint8) if annotated else None
    return DicomExportInput(ds, findings, None, "osteo-mobilenetv2", "2.1", "0" * 64, rgb, b"%PDF-1.4\n%%EOF\n")


def test_the_annotated_image_keeps_the_one_knees_side_and_leaves_laterality_empty_only_when_unknown():
    from osteo_desktop.core.results.dicom_objects import KneeFinding, build_secondary_capture

    right = KneeFinding("R", (1, 1, 20, 30), "osteoporosis", 0.81, 0.42)
    left = KneeFinding("L", (30, 1, 59, 30), "normal", 0.12, 0.42)
    assert build_secondary_capture(_export_input([right])).Laterality == "R"  # one knee: its side
    both = build_secondary_capture(_export_input([right, left]))
    assert "Laterality" in both and both.Laterality == ""  # two sides: present (Type 2C) and empty


def test_no_annotated_image_is_refused_in_words():
    from osteo_desktop.core.results.dicom_objects import build_secondary_capture

    with pytest.raises(ValueError, match="^no annotated image to capture$"):
        build_secondary_capture(_export_input([], annotated=False))


# --- cli.arguments.TerminalFormatter -----------------------------------------------------------------------------

def test_a_logged_stack_keeps_its_lines_each_escaped():
    from osteo_desktop.cli.arguments import TerminalFormatter

    formatter = TerminalFormatter("osteo: %(levelname)s: %(message)s")
    stack = 'Stack (most recent call last):\n  File "k\x1b[2Jnee.py", line 3, in <module>\n    say("\x07")'
    record = logging.makeLogRecord({"msg": "scan stopped", "levelname": "WARNING", "levelno": logging.WARNING,
                                    "stack_info": stack})
    assert formatter.format(record).split("\n") == [
        "osteo: WARNING: scan stopped", "Stack (most recent call last):",
        '  File "k\\x1b[2Jnee.py", line 3, in <module>', '    say("\\x07")']


# --- core.pipeline.backends.DaemonThreadPool ---------------------------------------------------------------------

WAIT = 30  # seconds: only a guard against a hang, never what a test measures


def test_a_pool_needs_a_worker():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    with pytest.raises(ValueError, match="^workers must be at least 1$"):
        DaemonThreadPool(0)
    pool = DaemonThreadPool(1)
    assert pool.submit(lambda: (7, threading.current_thread().name)).result(timeout=WAIT) == (7, "osteo-scan_0")
    pool.shutdown()


def test_the_pool_runs_at_most_its_workers_in_daemon_threads_named_after_it():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(2, "probe")
    gate, running = threading.Event(), [threading.Event(), threading.Event()]
    seen: list[tuple[str, bool]] = []

    def task(index: int) -> int:
        seen.append((threading.current_thread().name, threading.current_thread().daemon))
        if index < 2:
            running[index].set()
        assert gate.wait(WAIT)
        return index * 10

    futures = [pool.submit(task, index) for index in range(3)]
    assert running[0].wait(WAIT) and running[1].wait(WAIT)  # both workers busy at once
    assert sorted(name for name, _ in seen) == ["probe_0", "probe_1"] and all(daemon for _, daemon in seen)
    assert sorted(t.name for t in threading.enumerate() if t.name.startswith("probe_")) == ["probe_0", "probe_1"]
    gate.set()
    assert [future.result(timeout=WAIT) for future in futures] == [0, 10, 20]
    pool.shutdown(wait=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("probe_")]  # joined: every thread ended


def test_a_task_that_raises_hands_its_error_to_the_future_and_the_worker_goes_on():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(1, "raising")

    def fail():
        raise KeyError("film")

    failed = pool.submit(fail)
    assert isinstance(failed.exception(timeout=WAIT), KeyError)
    assert pool.submit(lambda a, b=0: a + b, 2, b=3).result(timeout=WAIT) == 5  # args and kwargs reach the task
    pool.shutdown()


def test_after_shutdown_nothing_is_scheduled():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(1, "closed")
    pool.shutdown()
    with pytest.raises(RuntimeError, match="^cannot schedule new futures after shutdown$"):
        pool.submit(lambda: 1)


def test_shutdown_cancelling_futures_drops_the_queued_tasks_and_does_not_wait_when_told_not_to():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(1, "cancel")
    gate, started, ran = threading.Event(), threading.Event(), []

    def first() -> str:
        started.set()
        assert gate.wait(WAIT)
        return "first"

    running = pool.submit(first)
    assert started.wait(WAIT)
    queued = [pool.submit(ran.append, index) for index in range(3)]
    pool.shutdown(wait=False, cancel_futures=True)  # returns with the first task still running
    assert running.running() and not running.done()
    assert all(future.cancelled() for future in queued)
    gate.set()
    assert running.result(timeout=WAIT) == "first"
    pool.shutdown(wait=True)
    assert ran == [] and not [t for t in threading.enumerate() if t.name.startswith("cancel_")]


def test_shutdown_without_cancelling_runs_every_queued_task_first():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(2, "drain")
    gate, done = threading.Event(), []
    futures = [pool.submit(lambda index=index: (gate.wait(WAIT), done.append(index))) for index in range(5)]
    gate.set()
    pool.shutdown(wait=True)
    assert sorted(done) == [0, 1, 2, 3, 4] and all(future.done() and not future.cancelled() for future in futures)


def _busy_pool(name: str):
    """A one-worker pool whose worker is held in a task until ``gate`` is set; ``ran`` collects later tasks' marks."""
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(1, name)
    gate, started, ran = threading.Event(), threading.Event(), []
    pool.submit(lambda: (started.set(), gate.wait(WAIT)))
    assert started.wait(WAIT)
    return pool, gate, ran


def test_a_future_cancelled_before_its_turn_is_not_run():
    pool, gate, ran = _busy_pool("skip")
    skipped = pool.submit(ran.append, "skipped")
    after = pool.submit(ran.append, "after")
    assert skipped.cancel()
    gate.set()
    after.result(timeout=WAIT)
    pool.shutdown()
    assert ran == ["after"]


def test_the_thread_backend_gives_a_daemon_pool_of_the_asked_size():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool, ThreadBackend

    pool = ThreadBackend().executor(3)
    assert isinstance(pool, DaemonThreadPool)
    gate, names, both = threading.Event(), [], threading.Barrier(3, timeout=WAIT)

    def task() -> None:
        names.append(threading.current_thread().name)
        both.wait()  # returns only when three tasks run at once: three workers
        assert gate.wait(WAIT)

    futures = [pool.submit(task) for _ in range(3)]
    gate.set()
    for future in futures:
        future.result(timeout=WAIT)
    pool.shutdown()
    assert sorted(names) == ["osteo-scan_0", "osteo-scan_1", "osteo-scan_2"]


def test_type_2_study_attributes_missing_from_the_source_are_present_and_empty_in_the_annotated_image():
    from osteo_desktop.core.results.dicom_objects import build_secondary_capture

    inp = _export_input([])
    del inp.source.PatientBirthDate, inp.source.PatientSex  # and it never had StudyID, AccessionNumber or a referrer
    image = build_secondary_capture(inp)
    for keyword in ("PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        assert keyword in image and str(image[keyword].value or "") == "", keyword
    assert image.PatientID == "P-17" and image.StudyInstanceUID == inp.source.StudyInstanceUID  # present: copied


def test_shutdown_by_default_waits_for_the_running_task_and_cancels_nothing():
    from osteo_desktop.core.pipeline.backends import DaemonThreadPool

    pool = DaemonThreadPool(1, "default")
    gate, started, ran = threading.Event(), threading.Event(), []
    pool.submit(lambda: (started.set(), gate.wait(WAIT), ran.append("first")))
    assert started.wait(WAIT)
    queued = pool.submit(ran.append, "queued")
    releaser = threading.Thread(target=gate.set)  # the first task ends only once shutdown has begun (or soon after)
    releaser.start()
    pool.shutdown()  # wait=True, cancel_futures=False
    releaser.join()
    assert ran == ["first", "queued"] and queued.done() and not queued.cancelled()
    assert not [t for t in threading.enumerate() if t.name.startswith("default_")]


def test_shutdown_cancelling_and_waiting_ends_the_workers_once_the_queue_is_dropped():
    pool, gate, ran = _busy_pool("dropped")
    queued = pool.submit(ran.append, "queued")
    queued.add_done_callback(lambda _: gate.set())  # the running task ends when the queued one is cancelled
    pool.shutdown(cancel_futures=True)
    assert queued.cancelled() and ran == []
    assert not [t for t in threading.enumerate() if t.name.startswith("dropped_")]  # told to stop, and joined


def test_a_raster_without_its_content_hash_gets_new_uids_each_time(tmp_path):
    details = StudyDetails("P-1", "Doe^Jane", "20250301")
    first = source_for(tmp_path / "knee.png", "png", 10, 12, details)
    second = source_for(tmp_path / "knee.png", "png", 10, 12, details)
    assert first.SOPInstanceUID != second.SOPInstanceUID and first.StudyInstanceUID != second.StudyInstanceUID
    hashed = [source_for(tmp_path / "knee.png", "png", 10, 12, details, "ab" * 32) for _ in range(2)]
    assert hashed[0].SOPInstanceUID == hashed[1].SOPInstanceUID  # with it: the same image, the same UIDs


def test_highdicoms_complaint_about_a_header_name_is_logged_at_info_not_warned(caplog):
    import warnings

    from osteo_desktop.core.results.dicom_objects import build_secondary_capture

    inp = _export_input([])
    inp.source.ReferringPhysicianName = "ward"  # one component: highdicom warns that it is unlikely to be a name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none reaches the terminal
        with caplog.at_level(logging.INFO, logger="osteo_desktop.core.results.dicom_objects"):
            build_secondary_capture(inp)
    messages = [r.getMessage() for r in caplog.records if r.name == "osteo_desktop.core.results.dicom_objects"]
    assert len(messages) == 1
    assert messages[0].startswith('annotated image: The string "ward" is unlikely to represent the intended person name')
