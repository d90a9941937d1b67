"""How a result reads near and below one half (new-user trial, three HIGH findings): every expectation is worked out
by hand here from the numbers given, none is computed by the code under test.

1. A positive call whose probability is under 50 % (the threshold is below 0.5) is never paired with a "confidence"
   a person reads: the probability is stated against the threshold instead.
2. Within 0.05 of the threshold the headline itself says borderline, and on which side.
3. The borderline sentence is one of the result's ``warnings`` from when the verdict is taken (JSON, CSV, history,
   SR), once, also for a result recorded before that.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from types import SimpleNamespace

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import ComputedRadiographyImageStorage, generate_uid

from osteo_desktop.cli.output import Table
from osteo_desktop.core.model.scope import ScopeDecision
from osteo_desktop.core.pipeline.film import FilmVerdict, settle
from osteo_desktop.core.results import text
from osteo_desktop.core.results.annotated_image import annotate
from osteo_desktop.core.results.dicom_objects import DicomExportInput, KneeFinding, build_sr
from osteo_desktop.core.results.exports import write_rows_csv
from osteo_desktop.core.results.history import History
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.result import FileResult

DIGEST = "cd" * 32
# The sentence for 0.380 against 0.339 (0.041 above), written out in full.
BORDERLINE_380 = ("Borderline: the probability 0.380 lies within 0.05 of the decision threshold 0.339; the framing of "
                  "the knee alone can move it that far, so read this result as undecided")


def _verdict(probability: float, threshold: float = 0.339, warnings: list[str] | None = None) -> SimpleNamespace:
    """A model's verdict by hand; the label from the threshold (positive from the threshold up)."""
    label = "osteoporosis" if probability >= threshold else "normal"
    confidence = probability if label == "osteoporosis" else 1.0 - probability
    return SimpleNamespace(label=label, probability=probability, confidence=confidence, threshold=threshold,
                           model_version="2.1.0", model_sha256=DIGEST, warnings=list(warnings or []), timings_ms={})


# --- 1. the probability against the threshold, never a confidence under one half -----------------------------------

@pytest.mark.parametrize("probability, threshold, line", [
    # 0.44 vs 0.36: 0.08 above, beyond the margin.
    (0.44, 0.36, "Probability of osteoporosis 44 % — above the screening threshold of 36 %"),
    # 0.05 vs 0.36: far below.
    (0.05, 0.36, "Probability of osteoporosis 5 % — below the screening threshold of 36 %"),
    # 0.33 vs 0.36: 0.03 below, borderline: "just below".
    (0.33, 0.36, "Probability of osteoporosis 33 % — just below the screening threshold of 36 %"),
    # 0.362 vs 0.360 both round to "36 %": one decimal tells them apart.
    (0.362, 0.360, "Probability of osteoporosis 36.2 % — just above the screening threshold of 36.0 %"),
    # 0.3601 vs 0.36: one decimal still reads 36.0 and 36.0; two decimals tell them apart.
    (0.3601, 0.36, "Probability of osteoporosis 36.01 % — just above the screening threshold of 36.00 %"),
    # Equal: positive from the threshold up, said as "at".
    (0.36, 0.36, "Probability of osteoporosis 36 % — at the screening threshold of 36 %"),
    # 0.360001 vs 0.36 differ only in the fourth decimal of the percentage: three decimals at most, then both shown.
    (0.360001, 0.36, "Probability of osteoporosis 36.000 % — just above the screening threshold of 36.000 %"),
])
def test_the_probability_is_stated_against_the_threshold(probability, threshold, line):
    assert text.probability_line(probability, threshold) == line


@pytest.mark.parametrize("probability, threshold, call, distance", [
    (0.44, 0.36, "osteoporosis", "0.080 above"),
    (0.10, 0.36, "normal", "0.260 below"),
    (0.38, 0.36, "borderline-above", "0.020 above"),
    (0.32, 0.36, "borderline-below", "0.040 below"),
    (0.36, 0.36, "borderline-at", "at the threshold"),
])
def test_table_cells_say_the_call_and_the_distance_from_the_threshold(probability, threshold, call, distance):
    label = "osteoporosis" if probability >= threshold else "normal"
    assert text.short_call(label, probability, threshold) == call
    assert text.threshold_distance(probability, threshold) == distance


def test_the_report_names_the_models_own_positive_label():
    """A model whose positive label is "osteopenia": the probability line says so (0.60 vs 0.339: above)."""
    result = SimpleNamespace(label="osteopenia", probability=0.6, confidence=0.6, threshold=0.339,
                             model_version="9", warnings=[])
    lines = text.report_lines(result, "osteopenia", file_name="f.png", created=datetime(2026, 12, 3))
    assert lines[:2] == [("Result", "Osteopenia suspected"),
                         ("Against the threshold", "Probability of osteopenia 60 % — above the screening threshold "
                                                   "of 34 %")]


def test_a_positive_call_under_one_half_reads_without_confidence_everywhere():
    """p = 0.44 against 0.36 (the trial's case): a positive call with confidence 0.44. No face a person reads says
    "confidence"; the JSON and CSV keep the key and its meaning (the probability, for a positive)."""
    row = FileResult.from_prediction("/films/two.png", _verdict(0.44, 0.36))
    row.knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.44, 0.44),
                 KneeResult("left", (20, 0, 30, 10), "normal", 0.12, 0.88)]
    lines = text.report_lines(row, "osteoporosis", file_name="two.png", created=datetime(2026, 12, 3, 10, 0))
    assert lines[:2] == [("Result", "Osteoporosis suspected"),
                         ("Against the threshold", "Probability of osteoporosis 44 % — above the screening threshold "
                                                   "of 36 %")]
    assert ("Right knee", "Osteoporosis suspected, probability 0.440 (threshold 0.360)") in lines
    assert ("Left knee", "No sign of osteoporosis, probability 0.120 (threshold 0.360)") in lines
    table = io.StringIO()
    Table(table).write(row)
    printed = "\n".join(f"{field} {value}" for field, value in lines) + table.getvalue()
    assert "onfidence" not in printed and "CONF" not in printed
    assert row.to_dict()["confidence"] == 0.44 and row.csv_record()["confidence"] == "0.440000"
    assert row.warnings == []  # 0.08 from the threshold: not borderline


# --- 2. the borderline headline -------------------------------------------------------------------------------------

@pytest.mark.parametrize("label, probability, headline", [
    ("osteoporosis", 0.38, "Borderline (just above the threshold): read as undecided"),  # 0.041 above
    ("normal", 0.30, "Borderline (just below the threshold): read as undecided"),  # 0.039 below
    ("osteoporosis", 0.339, "Borderline (at the threshold): read as undecided"),
    ("osteoporosis", 0.40, "Osteoporosis suspected"),  # 0.061 above: a call
    ("normal", 0.289, "No sign of osteoporosis"),  # 0.05 below (to within float): on the margin, not within it
])
def test_the_headline_itself_says_borderline_and_which_side(label, probability, headline):
    assert text.headline(label, "osteoporosis", probability, 0.339) == headline
    result = SimpleNamespace(label=label, probability=probability, threshold=0.339)
    assert text.verdict_headline(result, "osteoporosis") == headline
    assert text.result_headline(result, "osteoporosis") == headline
    assert text.headline(label, "osteoporosis") in ("Osteoporosis suspected", "No sign of osteoporosis")  # no numbers


def test_a_two_knee_film_heads_with_its_most_suspicious_knee_and_each_knee_says_borderline():
    """Right 0.37 (0.031 above 0.339: borderline), left 0.31 (0.029 below: borderline too): the file's result is the
    right knee's, so its headline is borderline above and says "read as undecided"; each knee's line says its own
    side in the scan table's short words (the long ones once, in the headline: trial 23)."""
    row = FileResult.from_prediction("/films/both.png", _verdict(0.37))
    row.knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.37, 0.37),
                 KneeResult("left", (20, 0, 30, 10), "normal", 0.31, 0.69)]
    lines = dict(text.report_lines(row, "osteoporosis", file_name="both.png", created=datetime(2026, 12, 3)))
    assert lines["Result"] == "Borderline (just above the threshold): read as undecided"
    assert lines["Right knee"] == "Borderline (above), probability 0.370 (threshold 0.339)"
    assert lines["Left knee"] == "Borderline (below), probability 0.310 (threshold 0.339)"


# --- 3. the borderline sentence in the result's warnings -------------------------------------------------------------

def test_a_borderline_verdict_carries_the_sentence_in_its_warnings_json_and_csv(tmp_path):
    row = FileResult.from_prediction("/films/near.png", _verdict(0.38, warnings=["the image is only 120 x 90 pixels"]))
    assert row.warnings == ["the image is only 120 x 90 pixels", BORDERLINE_380]
    assert row.to_dict()["warnings"] == ["the image is only 120 x 90 pixels", BORDERLINE_380]
    assert json.loads(row.csv_record()["warnings"]) == ["the image is only 120 x 90 pixels", BORDERLINE_380]
    # Shown once, not once from the row and once more at display time.
    assert text.warning_sentences(row) == ["the image is only 120 x 90 pixels", BORDERLINE_380]
    # Taking the verdict again (as settle may on a reused row) does not repeat it.
    row.apply_prediction(_verdict(0.38))
    assert row.warnings.count(BORDERLINE_380) == 1
    # The app's CSV (warnings as words) carries it too.
    target = write_rows_csv([row], tmp_path / "app.csv", warnings_as_text=True)
    with open(target, newline="", encoding="utf-8") as handle:
        cell = next(csv.DictReader(handle))["warnings"]
    assert cell == "the image is only 120 x 90 pixels; " + BORDERLINE_380
    # 0.40 is 0.061 away: no such sentence.
    assert FileResult.from_prediction("/films/far.png", _verdict(0.40)).warnings == []


def test_settle_gives_the_row_the_borderline_sentence_of_its_most_suspicious_knee():
    """Knees 0.10 and 0.38: the file's result is 0.38's (0.041 above 0.339), borderline."""
    classifier = SimpleNamespace(knee_head=SimpleNamespace(threshold=0.339), version="2.1.0", model_sha256=DIGEST,
                                 scope_gate_id="gate-1")
    knees = [SimpleNamespace(box=(0, 0, 10, 10), label="normal", probability=0.10, confidence=0.90, logit=-2.2),
             SimpleNamespace(box=(20, 0, 30, 10), label="osteoporosis", probability=0.38, confidence=0.38, logit=-0.49)]
    verdict = FilmVerdict(ScopeDecision(True, None, "knee", 0.99), knees, ["right", "left"])  # type: ignore[arg-type]
    row = FileResult(path="/films/x.png", warnings=["from the reader"])
    settle(row, classifier, verdict)
    assert (row.label, row.probability, row.threshold) == ("osteoporosis", 0.38, 0.339)
    assert row.warnings == ["from the reader", BORDERLINE_380]


def test_a_result_recorded_before_gains_the_sentence_once_when_reused(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    try:
        # Recorded as an earlier version did: a borderline result whose warnings lack the sentence (built directly,
        # not through apply_prediction).
        old = FileResult(path=str(tmp_path / "old.png"), file_sha256="01" * 32, label="osteoporosis", probability=0.38,
                         confidence=0.38, threshold=0.339, model_version="2.1.0", model_sha256=DIGEST,
                         warnings=["the image is only 120 x 90 pixels"],
                         knees=[KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.38, 0.38)])
        history.record(old.path, old, old.file_sha256)
        entry = history.find("01" * 32, DIGEST)
        assert entry is not None and entry.warnings == ["the image is only 120 x 90 pixels"]
        row = FileResult(path=str(tmp_path / "copy.png"))
        row.reuse(entry)
        assert row.warnings == ["the image is only 120 x 90 pixels", BORDERLINE_380]
        assert row.to_dict()["warnings"] == ["the image is only 120 x 90 pixels", BORDERLINE_380]
        assert entry.warnings == ["the image is only 120 x 90 pixels"]  # the entry itself is left as recorded
        # An earlier wording of the sentence (any "Borderline:" one) is not repeated beside today's.
        earlier = ["Borderline: the probability 0.380 is near the threshold"]
        assert text.with_borderline(earlier, entry) == earlier
        # A result recorded now keeps the sentence in the history, and reusing it does not add a second.
        new = FileResult.from_prediction(str(tmp_path / "new.png"), _verdict(0.38), "02" * 32)
        new.knees = list(old.knees)
        history.record(new.path, new, new.file_sha256)
        stored = history.find("02" * 32, DIGEST)
        assert stored.warnings == [BORDERLINE_380]
        assert history.entries()[0].warnings == [BORDERLINE_380]  # the newest entry, as the history view lists it
        again = FileResult(path=new.path)
        again.reuse(stored)
        assert again.warnings == [BORDERLINE_380]
    finally:
        history.close()


def _source() -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Doe^Jane", "P-17", "19500102", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.SOPClassUID, ds.Modality = ComputedRadiographyImageStorage, "CR"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20250301", "101500", "S1", "ACC-9"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.Rows, ds.Columns = 400, 600
    return ds


def test_the_sr_marks_a_borderline_knee_and_only_it(tmp_path):
    """Right 0.38 against 0.339 (borderline), left 0.12 (0.219 below, a call): only the right knee's group carries
    the borderline evaluation beside its result."""
    findings = [KneeFinding("R", (10, 20, 250, 380), "osteoporosis", 0.38, 0.339),
                KneeFinding("L", (330, 20, 590, 380), "normal", 0.12, 0.339)]
    gray = np.zeros((40, 60), dtype=np.float32)
    built = build_sr(DicomExportInput(_source(), findings, None, "osteo", "2.1", DIGEST, annotate(gray, [], "x")))
    built.save_as(tmp_path / "sr.dcm", enforce_file_format=True)
    sr = hd.sr.srread(tmp_path / "sr.dcm")  # read back as a PACS would
    evaluations = {}
    for group in sr.content.get_planar_roi_measurement_groups():
        side = group.finding_sites[0].laterality.meaning
        evaluations[side] = [(item.name.meaning, item.value.meaning) for item in group.get_qualitative_evaluations()]
    assert evaluations == {
        "Right": [("Screening result", "osteoporosis"),
                  ("Borderline", "Within 0.05 of the decision threshold: read as undecided")],
        "Left": [("Screening result", "normal")],
    }
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
