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
