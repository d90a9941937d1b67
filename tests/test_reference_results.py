"""The result contract on hand-built results: every JSON key and CSV cell of a normal, a positive, a declined and a
failed file, with each expected value written out here by hand (issue 15).

Nothing is read back from the declaration under test: the key order is the README's, the numbers are the ones put
in, the cell formats are spelled out (six decimals, JSON text, an empty cell for a missing value). The invariants
of a result (confidence = 1 - probability for a normal label, = probability for a positive one; the label is
positive from the threshold up) are checked on verdicts built to sit on each side of the threshold.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from osteo_desktop.core.results import text
from osteo_desktop.core.results.exports import (CsvRowWriter, neutralise_cell, write_json_array, write_rows_csv,
                                                write_rows_json)
from osteo_desktop.core.results.history import History, HistoryError
from osteo_desktop.core.results.knee import KNEES_OUTPUT, KneeResult, knee_cells
from osteo_desktop.core.results.result import FileResult, patient_cells

# The README's contract, in its order; keys added later (at the end) are allowed after these.
CONTRACT = ("path", "label", "probability", "confidence", "threshold", "model_version", "warnings", "error",
            "timings_ms", "out_of_scope")
PATIENT = ("patient_name", "patient_id", "patient_birth_date")
THRESHOLD = 0.339
MODEL_SHA256 = "cd" * 32  # the exact model's digest (card + files); with the file's hash it keys the history


@dataclass
class Verdict:
    """A model's verdict as the runtime gives it, built by hand: the label decided here from the threshold."""

    probability: float
    threshold: float = THRESHOLD
    model_version: str = "2.1.0"
    model_sha256: str = MODEL_SHA256
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=lambda: {"read": 1.23456, "preprocess": 2.0, "inference": 3.5})

    @property
    def label(self) -> str:
        return "osteoporosis" if self.probability >= self.threshold else "normal"

    @property
    def confidence(self) -> float:
        return self.probability if self.probability >= self.threshold else 1.0 - self.probability


def _known_keys(mapping) -> list[str]:
    """The contract's keys as they appear, checked to be a prefix: later keys may only be added after them."""
    keys = list(mapping)
    assert keys[:len(CONTRACT)] == list(CONTRACT), keys
    return keys


def test_a_normal_result_field_by_field():
    result = FileResult.from_prediction("/films/knee.png", Verdict(0.2, warnings=["small image"]), file_sha256="ab" * 32)
    row = result.to_dict()
    _known_keys(row)
    assert row["path"] == "/films/knee.png"
    assert row["label"] == "normal"
    assert row["probability"] == 0.2
    assert row["confidence"] == pytest.approx(0.8, abs=1e-12)  # 1 - probability: how sure of "normal"
    assert row["probability"] + row["confidence"] == pytest.approx(1.0, abs=1e-12)
    assert row["threshold"] == THRESHOLD
    assert row["model_version"] == "2.1.0"
    assert row["warnings"] == ["small image"]
    assert row["error"] is None and row["out_of_scope"] is None
    assert row["timings_ms"] == {"read": 1.235, "preprocess": 2.0, "inference": 3.5}  # rounded to the microsecond
    assert "file_sha256" not in row and "from_history" not in row and "scope_gate" not in row and "patient" not in row
    assert result.ok and not result.declined and not result.from_history
    assert result.file_sha256 == "ab" * 32


def test_a_positive_result_field_by_field():
    row = FileResult.from_prediction("b.png", Verdict(0.34)).to_dict()
    assert row["label"] == "osteoporosis"
    assert row["probability"] == 0.34 and row["confidence"] == 0.34  # how sure of "osteoporosis": the probability
    assert row["threshold"] == THRESHOLD and row["error"] is None and row["out_of_scope"] is None


@pytest.mark.parametrize("probability", [0.0, 0.1, 0.338999, THRESHOLD, 0.34, 0.5, 0.9, 1.0])
def test_the_invariants_on_both_sides_of_the_threshold(probability):
    row = FileResult.from_prediction("x.png", Verdict(probability)).to_dict()
    assert row["label"] == ("osteoporosis" if probability >= THRESHOLD else "normal")
    if row["label"] == "normal":
        assert row["probability"] + row["confidence"] == pytest.approx(1.0, abs=1e-12)
        assert row["confidence"] > 0.5  # normal only below the threshold, which is below one half
    else:
        assert row["confidence"] == row["probability"]


def test_the_csv_row_of_a_normal_and_a_positive_result():
    normal = FileResult.from_prediction("n.png", Verdict(0.2, warnings=["a", "b \"quoted\""])).csv_record()
    assert list(normal)[:len(CONTRACT)] == list(CONTRACT)
    assert normal["path"] == "n.png"
    assert normal["label"] == "normal"
    assert normal["probability"] == "0.200000"
    assert normal["confidence"] == "0.800000"
    assert normal["threshold"] == "0.339000"
    assert normal["model_version"] == "2.1.0"
    assert normal["warnings"] == '["a", "b \\"quoted\\""]'
    assert json.loads(normal["warnings"]) == ["a", 'b "quoted"']
    assert normal["error"] == "" and normal["out_of_scope"] == ""
    assert json.loads(normal["timings_ms"]) == {"read": 1.235, "preprocess": 2.0, "inference": 3.5}
    positive = FileResult.from_prediction("p.png", Verdict(0.5)).csv_record()
    assert (positive["label"], positive["probability"], positive["confidence"]) == ("osteoporosis", "0.500000", "0.500000")
    assert positive["warnings"] == "[]"


def test_a_declined_file_has_no_result_and_no_error():
    result = FileResult.from_prediction("chest.dcm", Verdict(0.7, warnings=["colour image"]))
    result.decline("not a knee radiograph: looks like a chest film")
    assert not result.ok and result.declined
    row = result.to_dict()
    _known_keys(row)
    assert (row["label"], row["probability"], row["confidence"], row["threshold"]) == (None, None, None, None)
    assert row["error"] is None
    assert row["out_of_scope"] == "not a knee radiograph: looks like a chest film"
    assert row["model_version"] == "2.1.0"  # which model the row was meant for
    assert row["warnings"] == ["colour image"]
    cells = result.csv_record()
    assert (cells["label"], cells["probability"], cells["confidence"], cells["threshold"], cells["error"]) == ("",) * 5
    assert cells["out_of_scope"] == "not a knee radiograph: looks like a chest film"
    assert text.result_headline(result, "osteoporosis") == "No result: not a knee radiograph: looks like a chest film"


def test_ok_and_declined_for_each_kind_of_row():
    assert not FileResult(path="e.png", error="cannot read").ok
    assert not FileResult(path="e.png", error="cannot read").declined
    assert not FileResult(path="e.png", error="x", out_of_scope="y").declined  # an error wins: a failure
    assert not FileResult(path="u.png").ok  # no label yet: no result
    assert not FileResult(path="u.png").declined
    assert not FileResult(path="d.png", label="normal", out_of_scope="not a knee").ok
    assert FileResult(path="k.png", label="normal").ok
    failed = FileResult(path="e.png", error="cannot read: permission denied").to_dict()
    assert failed["label"] is None and failed["error"] == "cannot read: permission denied" and failed["out_of_scope"] is None


def test_reuse_takes_every_stored_field_but_the_path():
    recorded = FileResult(path="/old/place.png", file_sha256="cd" * 32, label="osteoporosis", probability=0.6,
                          confidence=0.6, threshold=THRESHOLD, model_version="2.1.0", warnings=["w"], scope_gate="g1")
    fresh = FileResult(path="/new/place.png", timings_ms={"read": 1.0})
    fresh.reuse(recorded)
    assert fresh.path == "/new/place.png"
    assert (fresh.file_sha256, fresh.label, fresh.probability, fresh.confidence, fresh.threshold,
            fresh.model_version, fresh.warnings, fresh.scope_gate) == ("cd" * 32, "osteoporosis", 0.6, 0.6, THRESHOLD,
                                                                       "2.1.0", ["w"], "g1")
    assert fresh.from_history and fresh.ok
    fresh.warnings.append("added later")
    assert recorded.warnings == ["w"]  # the reused row's list is its own


def test_patient_columns_only_on_request_and_last():
    result = FileResult.from_prediction("p.dcm", Verdict(0.1))
    result.patient = {"PatientName": "Doe^Jane", "id": "12345", "birth_date": ""}
    assert "patient" not in result.to_dict()
    assert not set(PATIENT) & set(result.csv_record())
    assert "Doe^Jane" not in repr(result)
    row = result.to_dict(include_patient=True)
    assert list(row)[-1] == "patient" and row["patient"] == result.patient
    cells = result.csv_record(include_patient=True)
    assert list(cells)[-3:] == list(PATIENT)
    assert (cells["patient_name"], cells["patient_id"], cells["patient_birth_date"]) == ("Doe^Jane", "12345", "")


def test_patient_cells_accept_each_spelling():
    assert patient_cells({}) == {"patient_name": "", "patient_id": "", "patient_birth_date": ""}
    assert patient_cells({"name": "A", "id": "1", "birth_date": "19700101"}) == {
        "patient_name": "A", "patient_id": "1", "patient_birth_date": "19700101"}
    assert patient_cells({"patient_name": "B", "patient_id": 7, "patient_birth_date": "x"}) == {
        "patient_name": "B", "patient_id": "7", "patient_birth_date": "x"}
    assert patient_cells({"PatientName": "C", "PatientID": "2", "PatientBirthDate": "y"}) == {
        "patient_name": "C", "patient_id": "2", "patient_birth_date": "y"}
    # The first non-empty spelling wins.
    assert patient_cells({"name": "", "patient_name": "D"})["patient_name"] == "D"


# --- the words ---------------------------------------------------------------------------------------------------

def test_the_words_of_a_normal_and_a_positive_result():
    normal = FileResult.from_prediction("n.png", Verdict(0.2))
    assert text.result_headline(normal, "osteoporosis") == "No sign of osteoporosis"
    assert text.probability_line(normal.probability, normal.threshold) == (
        "Probability of osteoporosis 20 % — below the screening threshold of 34 %")
    assert text.result_facts(normal, "osteoporosis") == [
        ("Probability of osteoporosis", "0.200"), ("Decision threshold", "0.339"), ("Model version", "2.1.0")]
    positive = FileResult.from_prediction("p.png", Verdict(0.376))
    # 0.376 is 0.037 above 0.339: a positive call, and borderline, so its headline says so (and its warnings too)
    assert text.result_headline(positive, "osteoporosis") == "Borderline (just above the threshold): read as undecided"
    assert text.probability_line(positive.probability, positive.threshold) == (
        "Probability of osteoporosis 38 % — just above the screening threshold of 34 %")
    assert text.no_result_headline(None) == "No result: not a knee radiograph"
    assert text.no_result_headline("") == "No result: not a knee radiograph"
    assert text.out_of_scope(object()) is None


def test_the_report_of_a_declined_file():
    from datetime import datetime

    result = FileResult.from_prediction("chest.png", Verdict(0.7, warnings=["w1"]))
    result.decline("looks like a chest film")
    lines = text.report_lines(result, "osteoporosis", file_name="chest.png", created=datetime(2026, 1, 2, 3, 4))
    assert lines == [("Result", "No result: looks like a chest film"), ("Model version", "2.1.0"),
                     ("Model SHA-256", MODEL_SHA256), ("File", "chest.png"), ("Date", "2026-01-02 03:04"), ("Warning", "w1")]


@pytest.mark.parametrize("args, expected", [
    ((0, 0, 0, 0.0), "0 files: 0 results, 0 failed, in 0.0 s"),  # no rate over less than 0.1 s
    ((2, 0, 0, 4.0), "2 files: 2 results, 0 failed, in 4.0 s (0.5 files/s)"),
    ((5, 1, 0, 1.0, 2), "5 files: 2 results, 2 out of scope (no result), 1 failed, in 1.0 s (5.0 files/s)"),
    ((3, 0, 1, 1.5, 1), "3 files: 2 results, 1 out of scope (no result), 0 failed (1 reused from the history), "
                        "in 1.5 s (2.0 files/s)"),
])
def test_scan_summaries_by_hand(args, expected):
    assert text.scan_summary(*args) == expected


# --- knees -------------------------------------------------------------------------------------------------------

def test_knee_results_and_their_cells():
    right = KneeResult("right", (0, 10, 50, 60), "osteoporosis", 0.4, 0.4)
    left = KneeResult("left", (60, 10, 110, 61), "normal", 0.1, 0.9)
    assert right.to_dict() == {"side": "right", "box": [0, 10, 50, 60], "label": "osteoporosis",
                               "probability": 0.4, "confidence": 0.4, "side_source": None,
                               "call": None}  # a knee alone has no threshold: its file gives it its call
    assert KneeResult.from_dict(left.to_dict()) == left
    cells = knee_cells([left])
    assert list(cells) == ["knee_right_label", "knee_right_probability", "knee_right_confidence", "knee_right_box",
                           "knee_left_label", "knee_left_probability", "knee_left_confidence", "knee_left_box",
                           "knee_unknown_label", "knee_unknown_probability", "knee_unknown_confidence",
                           "knee_unknown_box",
                           "knee_right_side_source", "knee_left_side_source",  # added after every group
                           # added later still: the CSV header puts them after the file's call column
                           "knee_right_call", "knee_left_call", "knee_unknown_call"]
    assert cells["knee_right_label"] == "" and cells["knee_right_box"] == "" and cells["knee_unknown_label"] == ""
    assert (cells["knee_left_label"], cells["knee_left_probability"], cells["knee_left_confidence"],
            cells["knee_left_box"]) == ("normal", "0.100000", "0.900000", "[60, 10, 110, 61]")
    both = knee_cells([right, left])
    assert both["knee_right_probability"] == "0.400000" and both["knee_left_confidence"] == "0.900000"
    # Two knees of one side share its group: it shows the more suspicious one (the file's result is about it).
    milder = KneeResult("right", (0, 0, 5, 5), "normal", 0.05, 0.95)
    assert knee_cells([milder, right])["knee_right_probability"] == "0.400000"
    assert knee_cells([right, milder])["knee_right_box"] == "[0, 10, 50, 60]"
    with pytest.raises(ValueError, match="side"):
        KneeResult("middle", (0, 0, 1, 1), "normal", 0.1, 0.9)


@pytest.mark.parametrize("side, box", [("middle", (0, 0, 1, 1)), ("left", (5, 0, 5, 1)), ("left", (0, 5, 1, 5)),
                                       ("left", (6, 0, 5, 1))])
def test_a_knee_must_have_a_side_and_a_box(side, box):
    with pytest.raises(ValueError, match="side is one of" if side == "middle" else "must have x1 > x0"):
        KneeResult(side, box, "normal", 0.1, 0.9)


def test_knees_in_the_history_column_read_back_or_are_dropped_when_damaged():
    right = KneeResult("right", (1, 2, 3, 4), "normal", 0.25, 0.75, "dicom_header")
    stored = KNEES_OUTPUT.to_sql([right])
    assert json.loads(stored) == [{"side": "right", "box": [1, 2, 3, 4], "label": "normal", "probability": 0.25,
                                   "confidence": 0.75, "side_source": "dicom_header", "call": None}]
    assert KNEES_OUTPUT.from_sql(stored) == [right]
    assert KNEES_OUTPUT.to_json([right]) == [right.to_dict()]
    for damaged in (None, "not json", '[{"side": "right"}]', '[{"side": "up", "box": [0, 0, 1, 1], "label": "x", '
                                                              '"probability": 1, "confidence": 1}]',
                    '[{"side": "left", "box": [0, 0, 1, 1], "label": "x", "probability": 1, "confidence": 1, '
                    '"side_source": "guess"}]'):
        assert KNEES_OUTPUT.from_sql(damaged) == []


# --- exports -----------------------------------------------------------------------------------------------------

def test_json_array_layout_by_hand():
    empty = io.StringIO()
    assert write_json_array([], empty) == 0
    assert empty.getvalue() == "[]\n"
    out = io.StringIO()
    rows = [FileResult(path="a.png", error="bad"), FileResult(path="b.png", error="worse")]
    assert write_json_array(rows, out) == 2
    lines = out.getvalue().split("\n")
    assert lines[0] == "[" and lines[-2] == "]" and lines[-1] == ""
    assert lines[1].startswith('  {"path": "a.png"') and lines[1].endswith(",")
    assert lines[2].startswith('  {"path": "b.png"') and not lines[2].endswith(",")
    assert [r["error"] for r in json.loads(out.getvalue())] == ["bad", "worse"]


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("-0.5", "-0.5"), ("+3", "+3"), ("plain", "plain"), ("a=b", "a=b"), ("", ""), (0.5, 0.5), (None, None),
])
def test_formula_cells_are_neutralised_and_numbers_kept(value, expected):
    assert neutralise_cell(value) == expected


def test_csv_and_json_files_of_a_normal_a_positive_and_a_failed_row(tmp_path):
    rows = [FileResult.from_prediction("n.png", Verdict(0.2)), FileResult.from_prediction("=p.png", Verdict(0.6)),
            FileResult(path="e.png", error="cannot read")]
    target = write_rows_csv(rows, tmp_path / "rows.csv")
    assert target == tmp_path / "rows.csv"
    with open(target, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames[:len(CONTRACT)] == list(CONTRACT)
        table = list(reader)
    assert [r["path"] for r in table] == ["n.png", "'=p.png", "e.png"]
    assert [(r["label"], r["probability"], r["confidence"]) for r in table] == [
        ("normal", "0.200000", "0.800000"), ("osteoporosis", "0.600000", "0.600000"), ("", "", "")]
    assert table[2]["error"] == "cannot read"
    written = json.loads(write_rows_json(rows, tmp_path / "rows.json").read_text())
    assert [(r["path"], r["label"], r["confidence"]) for r in written] == [
        ("n.png", "normal", pytest.approx(0.8)), ("=p.png", "osteoporosis", 0.6), ("e.png", None, None)]
    handle = io.StringIO()
    writer = CsvRowWriter(handle, include_patient=True)
    writer.write(rows[0])
    writer.write(rows[2])
    assert writer.count == 2
    assert handle.getvalue().splitlines()[0].endswith(",patient_name,patient_id,patient_birth_date")


# --- history -----------------------------------------------------------------------------------------------------

def test_history_keeps_one_entry_per_path_content_and_model(tmp_path):
    with History(tmp_path / "h.sqlite3") as history:
        first = history.record("/a/knee.png", FileResult.from_prediction("x", Verdict(0.2, warnings=["w"])), "11" * 32)
        assert (first.path, first.label, first.probability, first.confidence, first.threshold, first.model_version,
                first.warnings, first.file_sha256) == ("/a/knee.png", "normal", 0.2, pytest.approx(0.8), THRESHOLD,
                                                       "2.1.0", ["w"], "11" * 32)
        assert first.id >= 1 and first.recorded_at.endswith("+00:00")
        # same content and model at another path (a copy, or the file moved): an entry of its own; /a/knee.png's
        # stays, since a path not on disk may only be out of reach for now
        again = history.record("/b/copy.png", Verdict(0.5), "11" * 32)
        assert again.id != first.id and again.path == "/b/copy.png" and again.label == "osteoporosis"
        assert history.record("/b/copy.png", Verdict(0.5), "11" * 32).id == again.id  # the same path: updated
        # Keyed on the exact model (model_sha256), not its version string: an edited card under the same version
        # is another model.
        other_model = history.record("/a/knee.png", Verdict(0.2, model_version="3.0.0", model_sha256="ef" * 32),
                                     "11" * 32)
        assert other_model.id != first.id
        same_version = history.record("/a/knee.png", Verdict(0.3, model_sha256="01" * 32), "11" * 32)
        assert same_version.id not in (first.id, other_model.id)
        assert history.count() == 4
        assert history.find("11" * 32, MODEL_SHA256).probability == 0.5  # the newest of the two paths
        assert history.find("11" * 32, "ef" * 32).model_version == "3.0.0"
        assert history.find("11" * 32, "01" * 32).probability == 0.3
        assert history.find("11" * 32, "99" * 32) is None
        assert history.find("22" * 32, MODEL_SHA256) is None
        assert [e.probability for e in history.entries()] == [0.3, 0.2, 0.5, 0.2]  # newest first
        assert len(history.entries(limit=1)) == 1
        for bad in (FileResult(path="e.png", error="bad"), FileResult(path="u.png"), Verdict(0.2, model_sha256="")):
            with pytest.raises(ValueError):
                history.record("e.png", bad, "33" * 32)
        assert history.count() == 4


def test_history_hashes_the_file_when_no_hash_is_given(tmp_path):
    import hashlib

    image = tmp_path / "knee.png"
    image.write_bytes(b"not really an image, but content all the same")
    with History(tmp_path / "h.sqlite3") as history:
        entry = history.record(image, Verdict(0.1))
        assert entry.file_sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
        image.unlink()
        with pytest.raises(HistoryError, match="knee.png"):
            history.record(image, Verdict(0.1))


def test_a_newer_history_is_refused_and_a_closed_one_says_so(tmp_path):
    path = tmp_path / "new.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version=99")
    connection.close()
    with pytest.raises(HistoryError, match="newer version"):
        History(path)
    closed = History(tmp_path / "h.sqlite3")
    closed.close()
    with pytest.raises(HistoryError):
        closed.count()
    with pytest.raises(HistoryError):
        closed.record("x", Verdict(0.1), "44" * 32)


# --- the kinds of field, declared once in columns.py ---------------------------------------------------------------
# FileResult's fields are declared when the module is imported; these check each kind of declaration directly, so
# that a wrong cell format or a lost NULL is caught by what the kind promises, not only by one result's values.

def test_a_text_field():
    from osteo_desktop.core.results.columns import text as text_kind

    plain = text_kind()
    assert (plain.exported, plain.identifying, plain.sql, plain.from_model, plain.csv_names) == (True, False, None,
                                                                                                   False, None)
    assert plain.to_json("a") == "a" and plain.to_json(None) is None
    assert plain.to_csv("a") == "a" and plain.to_csv(None) == ""
    assert plain.to_sql(None) is None and plain.to_sql(3) == "3" and plain.from_sql(None) is None
    assert plain.from_sql(5) == "5"
    stored = text_kind(sql="TEXT NOT NULL", from_model=True)
    assert (stored.sql, stored.from_model) == ("TEXT NOT NULL", True)


def test_a_number_field():
    from osteo_desktop.core.results.columns import number

    six = number()
    assert (six.exported, six.identifying, six.sql, six.from_model) == (True, False, None, False)
    assert six.to_csv(0.2) == "0.200000" and six.to_csv(None) == "" and six.to_csv(1) == "1.000000"
    assert number(places=2).to_csv(0.125) == "0.12" and number(places=3).to_csv(2) == "2.000"
    assert six.to_json(1) == 1.0 and isinstance(six.to_json(1), float) and six.to_json(None) is None
    assert six.to_sql(None) is None and six.to_sql("0.5") == 0.5 and isinstance(six.to_sql(1), float)
    assert six.from_sql(None) is None and six.from_sql(1) == 1.0 and isinstance(six.from_sql(1), float)
    stored = number(sql="REAL NOT NULL", from_model=True)
    assert (stored.sql, stored.from_model) == ("REAL NOT NULL", True)


def test_a_text_list_field():
    from osteo_desktop.core.results.columns import text_list

    warnings = text_list(sql="TEXT")
    assert (warnings.exported, warnings.identifying, warnings.sql, warnings.from_model) == (True, False, "TEXT", False)
    assert warnings.to_json(("a", 2)) == ["a", "2"]
    assert warnings.to_csv(("é", 'say "x"')) == '["é", "say \\"x\\""]'  # JSON text, not ASCII-escaped
    assert warnings.to_sql(["é", 2]) == '["é", "2"]'
    assert warnings.from_sql('["a", 2]') == ["a", "2"]
    for damaged in (None, "not json", "{"):
        assert warnings.from_sql(damaged) == []
    assert text_list().sql is None


def test_a_timings_field():
    from osteo_desktop.core.results.columns import timings

    kind = timings()
    assert (kind.exported, kind.sql, kind.from_model) == (True, None, False)
    assert kind.to_json({"read": 1.23449, 2: 7}) == {"read": 1.234, "2": 7.0}
    assert kind.to_csv({"read": 1.23456, "inference": 10}) == '{"read": 1.235, "inference": 10.0}'
    assert kind.to_json({}) == {} and kind.to_csv({}) == "{}"


def test_an_internal_field_and_a_declared_one():
    from dataclasses import fields

    from osteo_desktop.core.results.columns import Output, declared, internal, json_keys, csv_columns

    hidden = internal(sql="TEXT")
    assert (hidden.exported, hidden.sql, hidden.from_model) == (False, "TEXT", False)
    assert hidden.to_sql(None) is None and hidden.to_sql(1) == "1" and hidden.from_sql(2) == "2"
    assert hidden.from_sql(None) is None
    assert internal().sql is None

    @dataclass
    class Row:
        name: str = declared(Output(), "x")
        secret: str = declared(Output(identifying=True), "")
        tags: list = declared(Output(), default_factory=list)

    by_name = {f.name: f for f in fields(Row)}
    assert by_name["name"].metadata["output"] == Output() and by_name["name"].repr
    assert not by_name["secret"].repr  # identifying: left out of repr()
    row = Row()
    assert row.name == "x" and row.tags == [] and row.tags is not Row().tags
    assert "secret" not in repr(Row(secret="Doe"))
    assert json_keys(Row) == ("name", "tags") and json_keys(Row, include_patient=True) == ("name", "tags", "secret")
    assert csv_columns(Row, True) == ("name", "tags", "secret") and csv_columns(Row) == ("name", "tags")
    from osteo_desktop.core.results import columns

    assert columns.to_json(Row(secret="Doe")) == {"name": "x", "tags": []}
    assert columns.to_json(Row(secret="Doe"), True) == {"name": "x", "tags": [], "secret": "Doe"}


def test_a_history_row_maps_back_to_the_stored_fields_only():
    from osteo_desktop.core.results import columns

    # A row from a database written before some columns existed: only what it has, and nothing unstored.
    assert columns.from_history(FileResult, {"path": "a.png", "probability": 1, "error": "not stored"}) == {
        "path": "a.png", "probability": 1.0}


# --- history: atomicity, messages, set-aside --------------------------------------------------------------------

def test_a_failure_mid_transaction_rolls_back_every_row_and_leaves_the_history_usable(tmp_path, monkeypatch):
    from osteo_desktop.core.results import history as history_module

    with History(tmp_path / "h.sqlite3") as history:
        real = history_module.HistoryEntry.from_row
        calls = []

        def second_fails(row):
            calls.append(row)
            if len(calls) == 2:
                raise RuntimeError("planted")
            return real(row)

        monkeypatch.setattr(history_module.HistoryEntry, "from_row", staticmethod(second_fails))
        with pytest.raises(RuntimeError, match="planted"):  # not turned into a HistoryError: it is not the database
            history.record_many([("a.png", Verdict(0.1), "55" * 32), ("b.png", Verdict(0.2), "66" * 32)])
        monkeypatch.setattr(history_module.HistoryEntry, "from_row", real)
        assert history.count() == 0  # all or nothing
        assert history.record("c.png", Verdict(0.3), "77" * 32).probability == 0.3  # no transaction left open
        assert history.count() == 1


def test_history_messages_say_what_failed(tmp_path, monkeypatch):
    from osteo_desktop.core.results import history as history_module

    with History(tmp_path / "h.sqlite3") as history:
        for bad in (FileResult(path="e.png", label="normal", error="failed after all"), FileResult(path="u.png"),
                    object()):
            with pytest.raises(ValueError, match="^only a successful result can be recorded$"):
                history.record("e.png", bad, "33" * 32)

        def unreadable(path):
            raise OSError(13, "Permission denied")  # no file name attached

        monkeypatch.setattr(history_module, "sha256_of", unreadable)
        with pytest.raises(HistoryError, match=r"^cannot record a file in the history: its content cannot be read "
                                               r"to identify it \(Permission denied\)$"):
            history.record("x.png", Verdict(0.1))
    monkeypatch.undo()
    gone = tmp_path / "gone.png"
    with History(tmp_path / "h2.sqlite3") as history:
        with pytest.raises(HistoryError, match=r"cannot record gone.png in the history: .*\(No such file or directory\)$"):
            history.record(gone, Verdict(0.1))
    closed = History(tmp_path / "h3.sqlite3")
    closed.close()
    with pytest.raises(HistoryError, match="^cannot write to the history database .*h3.sqlite3: "):
        closed.record("x.png", Verdict(0.1), "44" * 32)
    with pytest.raises(HistoryError, match="^cannot read the history database .*h3.sqlite3: "):
        closed.entries()


def test_history_in_a_folder_not_yet_made_and_names_that_are_not_utf8(tmp_path):
    with History(tmp_path / "new" / "deeper" / "h.sqlite3") as history:
        entry = history.record("/films/b\udcffad.png", Verdict(0.1), "88" * 32)  # a Linux name with a byte not UTF-8
        assert entry.path == "/films/b\\xffad.png"
        assert history.entries()[0].path == "/films/b\\xffad.png"


def test_history_lists_the_latest_500_by_default(tmp_path):
    with History(tmp_path / "h.sqlite3") as history:
        history.record_many([(f"{i}.png", Verdict(0.1), f"{i:064x}") for i in range(501)])
        assert history.count() == 501
        latest = history.entries()
        # Stored absolute (a relative path means nothing read from another folder), newest first.
        assert len(latest) == 500 and latest[0].path == str(Path.cwd() / "500.png")
        assert latest[-1].path == str(Path.cwd() / "1.png")


def _history_messages(caplog) -> list[str]:
    """The history's own log messages: other libraries' threads (a Ray process left by an earlier test, say) may log
    into the same capture meanwhile."""
    return [r.getMessage() for r in caplog.records if r.name == "osteo_desktop.core.results.history"]


def test_a_damaged_history_is_set_aside_under_a_dated_name(tmp_path, caplog):
    import re

    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level("WARNING"), History(path) as history:
        assert history.count() == 0
    aside = [p.name for p in tmp_path.iterdir() if ".damaged-" in p.name]
    main = [name for name in aside if re.fullmatch(r"h\.sqlite3\.damaged-\d{8}-\d{6}", name)]
    assert len(main) == 1, aside
    assert _history_messages(caplog) == [f"history database {path} is damaged (file is not a database); moved it to "
                               f"{tmp_path / main[0]} and started a new one"]


def test_a_damaged_history_takes_its_journal_aside_with_it(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    moves = []
    real = Path.replace

    def recorded(self, target):
        moves.append((Path(self).name, Path(target).name))
        return real(self, target)

    monkeypatch.setattr(Path, "replace", recorded)
    history = History(path)
    history.close()
    aside = history.set_aside
    assert aside.read_bytes() == b"this is not a database" * 100
    # The journal files (absent here: nothing to move, and no error for that) follow the database to its new name.
    # (The database itself is moved by a link that cannot overwrite, not by replace.)
    assert [move for move in moves if move[0] != "h.sqlite3"] == [
        ("h.sqlite3-wal", aside.name + "-wal"), ("h.sqlite3-shm", aside.name + "-shm")]


def test_a_damaged_history_that_cannot_be_replaced_says_so(tmp_path, monkeypatch):
    from pathlib import Path

    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)

    def refuse(self, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(HistoryError, match=r"^the history database .*h.sqlite3 is damaged and cannot be replaced: "):
        History(path)


def test_exports_leave_the_patient_out_by_default_and_write_plain_utf8(tmp_path):
    from osteo_desktop.core.results.exports import csv_record

    row = FileResult.from_prediction("/films/genou-été.png", Verdict(0.2))
    row.patient = {"name": "Doe^Jane"}
    assert "patient_name" not in csv_record(row) and csv_record(row, include_patient=True)["patient_name"] == "Doe^Jane"
    handle = io.StringIO()
    CsvRowWriter(handle).write(row)
    assert "patient" not in handle.getvalue() and "\r" not in handle.getvalue()
    out = io.StringIO()
    write_json_array([row], out)
    assert "Doe^Jane" not in out.getvalue() and "genou-été.png" in out.getvalue()  # UTF-8, not \\u escapes
    shown = io.StringIO()
    write_json_array([row], shown, include_patient=True)
    assert json.loads(shown.getvalue())[0]["patient"] == {"name": "Doe^Jane"}


def test_columns_are_added_to_an_old_history_once_and_a_race_is_harmless(tmp_path, caplog):
    from osteo_desktop.core.results import history as history_module

    old = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(old)
    connection.executescript("""
        CREATE TABLE predictions (
            id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, path TEXT NOT NULL, file_sha256 TEXT NOT NULL,
            label TEXT NOT NULL, probability REAL NOT NULL, confidence REAL NOT NULL, threshold REAL NOT NULL,
            model_version TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]', UNIQUE (file_sha256, model_version));
        INSERT INTO predictions VALUES (1, '2026-01-01T00:00:00+00:00', 'a.png', 'ee', 'normal', 0.1, 0.9, 0.339,
                                        '2.1.0', '["w"]');
    """)
    connection.close()
    with caplog.at_level("INFO", logger="osteo_desktop.core.results.history"):
        with History(old) as history:
            [entry] = history.entries()  # kept, with no model digest: listed, never reused
            assert (entry.path, entry.confidence, entry.warnings, entry.scope_gate, entry.model_sha256) == (
                "a.png", 0.9, ["w"], None, None)
            assert history.find("ee", MODEL_SHA256) is None
    added = [m for m in caplog.messages if "adding column" in m]
    assert added and all(m.startswith("history database: adding column ") for m in added)
    assert "history database: adding column scope_gate" in added
    assert "history database: adding column model_sha256" in added
    caplog.clear()
    with caplog.at_level("INFO", logger="osteo_desktop.core.results.history"), History(old):
        pass
    assert not [m for m in caplog.messages if "adding column" in m]  # already there: nothing to add

    class Racing:
        """A connection that lists no columns, as if another process added them between the look and the add."""

        def __init__(self, real):
            self.real = real

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA table_info"):
                return iter([])
            return self.real.execute(sql, *args)

    real = sqlite3.connect(old)
    history_module._add_missing_columns(Racing(real))  # every ALTER fails with "duplicate column": fine
    real.execute("DROP TABLE predictions")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        history_module._add_missing_columns(Racing(real))  # any other failure is not swallowed
    real.close()


def test_a_history_path_that_cannot_be_made_says_why(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(HistoryError, match=r"^cannot open the history database .*file/h.sqlite3: File exists$"):
        History(blocker / "h.sqlite3")


def test_a_result_near_the_threshold_is_called_borderline_in_words():
    """Hand-set numbers: 0.501 against 0.512 is within 0.05 (borderline); 0.40 and 0.62 are not; a declined file
    (no probability) never is."""
    from types import SimpleNamespace

    from osteo_desktop.core.results import text

    def verdict(p, t=0.512):
        return SimpleNamespace(probability=p, threshold=t, warnings=["from the reader"])

    near = text.warning_sentences(verdict(0.501))
    assert near[0] == "from the reader" and near[1].startswith("Borderline: the probability 0.501")
    assert "0.512" in near[1]
    assert text.warning_sentences(verdict(0.40)) == ["from the reader"]
    assert text.warning_sentences(verdict(0.62)) == ["from the reader"]
    assert text.warning_sentences(verdict(None, None)) == ["from the reader"]


# --- the window's CSV, knees of one side, and the history's edges (mutation survivors, issue 15) -----------------

def _warned(path: str = "/films/w.png") -> FileResult:
    return FileResult.from_prediction(path, Verdict(0.2, warnings=["small image", "colour image"]))


def test_the_windows_csv_has_the_warnings_as_words(tmp_path):
    """The command line's CSV keeps the warnings as a JSON list (for scripts); the window's export, read by people
    in a spreadsheet, writes them as words joined by "; "."""
    from osteo_desktop.core.results.exports import csv_record

    row = _warned()
    assert csv_record(row)["warnings"] == '["small image", "colour image"]'
    assert csv_record(row, warnings_as_text=True)["warnings"] == "small image; colour image"
    assert csv_record(row, False, True)["probability"] == "0.200000"  # only the warnings cell changes
    stream = io.StringIO()
    writer = CsvRowWriter(stream, warnings_as_text=True)
    writer.write(row)
    assert list(csv.DictReader(io.StringIO(stream.getvalue())))[0]["warnings"] == "small image; colour image"
    plain = io.StringIO()
    CsvRowWriter(plain).write(row)
    assert list(csv.DictReader(io.StringIO(plain.getvalue())))[0]["warnings"] == '["small image", "colour image"]'
    written = write_rows_csv([row], tmp_path / "window.csv", warnings_as_text=True)
    assert list(csv.DictReader(written.open(newline="")))[0]["warnings"] == "small image; colour image"
    default = write_rows_csv([row], tmp_path / "cli.csv")
    assert list(csv.DictReader(default.open(newline="")))[0]["warnings"] == '["small image", "colour image"]'


def test_two_knees_of_one_side_show_the_one_the_file_is_about():
    """Two knees whose side is unknown share one CSV group: it shows the more suspicious; of two equally suspicious
    ones the first, as the file's answer takes the first of equals (core/pipeline/film.py, most_suspicious)."""
    first = KneeResult("unknown", (0, 0, 10, 10), "osteoporosis", 0.5, 0.5)
    second = KneeResult("unknown", (20, 0, 30, 10), "osteoporosis", 0.5, 0.5)
    assert knee_cells([first, second])["knee_unknown_box"] == "[0, 0, 10, 10]"
    assert knee_cells([second, first])["knee_unknown_box"] == "[20, 0, 30, 10]"
    higher = KneeResult("unknown", (40, 0, 50, 10), "osteoporosis", 0.51, 0.51)
    assert knee_cells([first, higher, second])["knee_unknown_box"] == "[40, 0, 50, 10]"


def test_a_sound_history_has_no_damage_notice_and_a_damaged_one_says_where_it_went(tmp_path):
    with History(tmp_path / "sound.sqlite3") as sound:
        assert sound.set_aside is None and sound.damage_notice() is None
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with History(path) as history:
        (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("h.sqlite3.damaged-")]
        assert history.set_aside == aside
        assert history.damage_notice() == (f"the history database was damaged: it was moved to {aside} (the earlier "
                                           "results are there) and a new, empty history was started")


def test_damage_found_only_by_the_full_check_sets_the_history_aside(tmp_path, caplog):
    """A damaged table page that counting rows does not read (the count uses an index) is found by the whole-file
    check on opening, which names what it found. The page is chosen with sqlite3 alone: one whose damage leaves
    count(*) working and makes PRAGMA quick_check report it."""
    source = tmp_path / "full.sqlite3"
    with History(source) as history:
        history.record_many([(f"/films/{i}.png" + "x" * 300, FileResult.from_prediction("f", Verdict(0.1)), f"{i:064x}")
                             for i in range(300)])
    sqlite3.connect(source).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    data = source.read_bytes()
    size = int.from_bytes(data[16:18], "big")  # the page size, bytes 16-17 of the file header
    chosen = None
    for page in range(len(data) // size, 2, -1):
        damaged = bytearray(data)
        damaged[(page - 1) * size] = 0  # no valid b-tree page type is 0
        candidate = tmp_path / f"p{page}.sqlite3"
        candidate.write_bytes(bytes(damaged))
        connection = sqlite3.connect(candidate)
        try:
            connection.execute("SELECT count(*) FROM predictions").fetchone()
            report = connection.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError:
            report = None
        connection.close()
        if report and report != [("ok",)]:
            chosen = candidate, report[0][0]
            break
        candidate.unlink()
    assert chosen is not None, "no page of 300 rows whose damage only the full check finds"
    path, first_problem = chosen
    with caplog.at_level("WARNING", logger="osteo_desktop.core.results.history"), History(path) as history:
        assert history.count() == 0 and history.set_aside is not None
    assert _history_messages(caplog)[0].startswith(f"history database {path} is damaged (database disk image is malformed "
                                         f"({first_problem})); moved it to {path}.damaged-")


def _version_one(path: Path, rows: str) -> None:
    """A history as version 1 wrote it: keyed on the file and the model's version, no model digest."""
    connection = sqlite3.connect(path)
    connection.executescript(f"""
        CREATE TABLE predictions (id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, path TEXT NOT NULL,
            file_sha256 TEXT NOT NULL, label TEXT, probability REAL NOT NULL, confidence REAL NOT NULL,
            threshold REAL NOT NULL, model_version TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]',
            UNIQUE (file_sha256, model_version));
        {rows}
        PRAGMA user_version=1;""")
    connection.close()


def test_an_old_history_is_re_keyed_once_keeping_each_rows_id(tmp_path, caplog):
    path = tmp_path / "v1.sqlite3"
    _version_one(path, """
        INSERT INTO predictions VALUES (5, '2026-01-01T00:00:00+00:00', '/a.png', 'aa', 'normal', 0.1, 0.9, 0.339,
                                        '2.0.0', '[]');
        INSERT INTO predictions VALUES (9, '2026-01-02T00:00:00+00:00', '/b.png', 'bb', 'osteoporosis', 0.6, 0.6,
                                        0.339, '2.0.0', '[]');""")
    with caplog.at_level("INFO", logger="osteo_desktop.core.results.history"), History(path) as history:
        assert [(e.id, e.path, e.model_sha256) for e in history.entries()] == [(9, "/b.png", None), (5, "/a.png", None)]
        # Now keyed on the exact model: the same content by two models is two entries.
        history.record("/a.png", FileResult.from_prediction("/a.png", Verdict(0.2)), file_sha256="aa")
        history.record("/a.png", FileResult.from_prediction("/a.png", Verdict(0.2, model_sha256="ef" * 32)),
                       file_sha256="aa")
        assert history.count() == 4
    assert caplog.messages.count("history database: re-keying on path, file_sha256, model_sha256") == 1
    caplog.clear()
    with caplog.at_level("INFO", logger="osteo_desktop.core.results.history"), History(path) as history:
        assert history.count() == 4
    assert not [m for m in caplog.messages if "re-keying" in m]  # keyed already: nothing to rebuild
    fresh = tmp_path / "fresh.sqlite3"
    with caplog.at_level("INFO", logger="osteo_desktop.core.results.history"):
        History(fresh).close()
        History(fresh).close()
    assert not [m for m in caplog.messages if "re-keying" in m]


def test_a_plain_index_on_the_key_columns_is_not_the_key(tmp_path):
    """Only a UNIQUE index on (path, file_sha256, model_sha256) is the key: an old table with a plain index on the
    key columns is re-keyed, so that recording the same content and model again updates instead of failing."""
    path = tmp_path / "indexed.sqlite3"
    _version_one(path, """
        ALTER TABLE predictions ADD COLUMN model_sha256 TEXT;
        CREATE INDEX plain_key ON predictions (file_sha256, model_sha256);""")
    with History(path) as history:
        row = FileResult.from_prediction("/a.png", Verdict(0.2))
        history.record("/a.png", row, file_sha256="aa")
        history.record("/a.png", row, file_sha256="aa")
        assert history.count() == 1


def test_a_re_key_that_fails_leaves_the_old_table_whole(tmp_path):
    """A row the new table refuses (no label: written by a damaged or hand-edited old version) stops the re-key:
    it is rolled back, the old table and its rows are left as they were, and the user is told why."""
    path = tmp_path / "v1.sqlite3"
    _version_one(path, """
        INSERT INTO predictions VALUES (1, '2026-01-01T00:00:00+00:00', '/a.png', 'aa', NULL, 0.1, 0.9, 0.339,
                                        '2.0.0', '[]');""")
    with pytest.raises(HistoryError, match=r"^cannot open the history database .*v1\.sqlite3: NOT NULL constraint "
                                           r"failed: predictions_rekeyed\.label$"):
        History(path)
    connection = sqlite3.connect(path)
    tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["predictions"]
    assert connection.execute("SELECT id, path, label FROM predictions").fetchall() == [(1, "/a.png", None)]
    connection.close()


def test_what_cannot_be_recorded_says_why(tmp_path):
    from types import SimpleNamespace

    with History(tmp_path / "h.sqlite3") as history:
        unknown = SimpleNamespace(label="normal", probability=0.1, confidence=0.9, threshold=0.339,
                                  model_version="2.1.0", warnings=[], timings_ms={})  # a verdict with no digest
        with pytest.raises(ValueError, match=r"^a result without its model's digest \(model_sha256\) cannot be "
                                             r"recorded$"):
            history.record("/a.png", unknown, file_sha256="aa")
        with pytest.raises(ValueError, match=r"^a result without its model's digest"):
            history.record("/a.png", FileResult.from_prediction("/a.png", Verdict(0.1, model_sha256="")), "aa")
        with pytest.raises(ValueError, match=r"^agreement must be one of \('agree', 'disagree'\) or None, not "
                                             r"'maybe'$"):
            history.set_agreement("aa", MODEL_SHA256, "maybe")
        # The content's hash the result carries is its key: the file is not read again (it may be gone by now).
        kept = FileResult.from_prediction(tmp_path / "gone.png", Verdict(0.1), file_sha256="12" * 32)
        entry = history.record(tmp_path / "gone.png", kept)
        assert entry.file_sha256 == "12" * 32 and history.find("12" * 32, MODEL_SHA256) is not None
    with pytest.raises(HistoryError, match=r"^cannot write to the history database .*h\.sqlite3: Cannot operate on "
                                           r"a closed database\.$"):
        history.set_agreement("12" * 32, MODEL_SHA256, "agree")
