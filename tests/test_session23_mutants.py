"""Tests written from the surviving mutants of the functions stop 23 added or changed (scripts/mutation-test.sh
key ``session23``, reports/mutation/session23.md)."""

from __future__ import annotations

import logging
import os
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
    assert len(messages) == 1 and messages[0].startswith("no header for the shown name of 1.2.3.4.dcm: ")
    assert len(messages[0]) > len("no header for the shown name of 1.2.3.4.dcm: ")  # pydicom's reason follows


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
