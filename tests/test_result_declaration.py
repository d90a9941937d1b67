"""One declaration of a result: JSON keys, CSV columns and history columns all derive from FileResult.

The expectations here are written out by hand from the public contract (README, "Command line") and from the
history database that earlier versions wrote, not read back from the declaration under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from osteo_desktop.core.results import columns
from osteo_desktop.core.results.history import History
from osteo_desktop.core.results.knee import KNEE_CSV_COLUMNS, KneeResult, knee_cells
from osteo_desktop.core.results.result import ROW_KEYS, FileResult, csv_columns

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACT_KEYS = ("path", "label", "probability", "confidence", "threshold", "model_version", "warnings", "error",
                 "timings_ms", "out_of_scope",  # out_of_scope: added at the end by issue 11 (the scope gate)
                 "reader_agreement",  # the reader's agree/disagree from the worklist: added at the end by issue 14
                 "model_sha256",  # the exact model (card and files): added at the end by issue 12, after issue 14's
                 "knees",  # every knee found on the film: added at the end by issue 11 (per-knee results)
                 "call")  # the call in one word, borderline included: added at the end after the new-user trial
# The CSV spreads knees over a column group per side (README, "Command line"), written out here by hand; side_source
# (where the side came from) was added later after all the groups, so no published column moved; an unknown side has
# no source, so no column.
KNEE_COLUMNS = tuple(f"knee_{side}_{cell}" for side in ("right", "left", "unknown")
                     for cell in ("label", "probability", "confidence", "box")) + (
    "knee_right_side_source", "knee_left_side_source")
# Each knee's call, a column per side group, was added after the file's call (the last column then published).
KNEE_CALL_COLUMNS = ("knee_right_call", "knee_left_call", "knee_unknown_call")
CSV_CONTRACT = CONTRACT_KEYS[:-2] + KNEE_COLUMNS + ("call",) + KNEE_CALL_COLUMNS
# The table as version 0.1.0 created it (copied from the schema that was written out by hand before the declaration).
OLD_SCHEMA = """
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, path TEXT NOT NULL, file_sha256 TEXT NOT NULL,
    label TEXT NOT NULL, probability REAL NOT NULL, confidence REAL NOT NULL, threshold REAL NOT NULL,
    model_version TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]', UNIQUE (file_sha256, model_version));
"""
OLD_COLUMNS = ["id", "recorded_at", "path", "file_sha256", "label", "probability", "confidence", "threshold",
               "model_version", "warnings"]


def test_json_keys_and_csv_columns_are_the_readme_contract_in_order():
    assert ROW_KEYS == CONTRACT_KEYS
    assert tuple(csv_columns()) == CSV_CONTRACT
    assert KNEE_CSV_COLUMNS == KNEE_COLUMNS
    assert tuple(csv_columns(include_patient=True)) == CSV_CONTRACT + ("patient_name", "patient_id", "patient_birth_date")
    readme = (REPO_ROOT / "README.md").read_text()
    paragraph = readme[readme.index("Each JSON object has"):readme.index("The\nCSV has the same columns")]
    named = [key for key in re.findall(r"`([a-z0-9_]+)`", paragraph) if key in CONTRACT_KEYS]
    assert tuple(named) == CONTRACT_KEYS


# Added since: scope_gate (issue 11), which gate let a recorded result through; nullable, so old rows read NULL.
# reader_agreement (issue 14), the reader's verdict from the worklist; model_sha256 (issue 12), the exact model;
# knees (issue 11, JSON text; NULL reads back as no knees).
ADDED_COLUMNS = ["scope_gate", "reader_agreement", "model_sha256", "knees"]


def test_history_columns_are_the_earlier_table_and_each_is_a_result_field(tmp_path):
    stored = [name for name, _ in columns.history_columns(FileResult)]
    assert ["id", "recorded_at", *stored] == OLD_COLUMNS + ADDED_COLUMNS
    # The key and the gate's identity are internal; everything else stored is also exported.
    assert set(stored) - set(ROW_KEYS) == {"file_sha256", "scope_gate"}
    assert "out_of_scope" not in stored  # declined files are not recorded (README, "History")
    with History(tmp_path / "new.sqlite3"):
        pass
    connection = sqlite3.connect(tmp_path / "new.sqlite3")
    assert [row[1] for row in connection.execute("PRAGMA table_info(predictions)")] == OLD_COLUMNS + ADDED_COLUMNS
    connection.close()


def test_a_result_round_trips_through_every_output(tmp_path):
    result = FileResult(path="/d/a.png", label="osteoporosis", probability=0.4375, confidence=0.4375, threshold=0.339,
                        model_version="m-2", warnings=["Not a knee: the DICOM body part is CHEST"],
                        timings_ms={"read": 1.23449, "inference": 2.0}, model_sha256="5e" * 32)
    assert result.to_dict() == {
        "path": "/d/a.png", "label": "osteoporosis", "probability": 0.4375, "confidence": 0.4375, "threshold": 0.339,
        "model_version": "m-2", "warnings": ["Not a knee: the DICOM body part is CHEST"], "error": None,
        "timings_ms": {"read": 1.234, "inference": 2.0}, "out_of_scope": None, "reader_agreement": None,
        "model_sha256": "5e" * 32, "knees": [], "call": "osteoporosis"}  # 0.4375 is 0.0985 above 0.339: a firm call
    assert result.csv_record() == {
        "path": "/d/a.png", "label": "osteoporosis", "probability": "0.437500", "confidence": "0.437500",
        "threshold": "0.339000", "model_version": "m-2", "warnings": '["Not a knee: the DICOM body part is CHEST"]',
        "error": "", "timings_ms": '{"read": 1.234, "inference": 2.0}', "out_of_scope": "", "reader_agreement": "",
        "model_sha256": "5e" * 32, **dict.fromkeys(KNEE_COLUMNS, ""), "call": "osteoporosis",
        **dict.fromkeys(KNEE_CALL_COLUMNS, "")}
    with History(tmp_path / "h.sqlite3") as history:
        entry = history.record(result.path, result, file_sha256="ab" * 32)
    assert (entry.path, entry.file_sha256, entry.label, entry.warnings) == (result.path, "ab" * 32, result.label, result.warnings)
    assert (entry.probability, entry.confidence, entry.threshold) == (0.4375, 0.4375, 0.339)
    assert entry.error is None and entry.timings_ms == {}  # not stored


def test_an_earlier_database_gains_a_newly_declared_column(tmp_path):
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    # An older table without the warnings column: opening it must add the column, not fail or lose the row.
    connection.executescript(OLD_SCHEMA.replace(", warnings TEXT NOT NULL DEFAULT '[]'", ""))
    connection.execute("INSERT INTO predictions VALUES (1, '2026-01-01T00:00:00+00:00', 'a.png', ?, 'normal', 0.1, 0.9,"
                       " 0.5, 'm-1')", ("c" * 64,))
    connection.commit()
    connection.close()
    with History(path) as history:
        (entry,) = history.entries()
        assert (entry.id, entry.label, entry.warnings) == (1, "normal", [])
        history.record("b.png", FileResult(path="b.png", label="normal", probability=0.2, confidence=0.8,
                                           threshold=0.5, model_version="m-1", warnings=["w"], model_sha256="e" * 64),
                       file_sha256="d" * 64)
        assert history.find("d" * 64, "e" * 64).warnings == ["w"]
        # The row written before model digests existed is kept, but no model can claim it (its card is unknown).
        assert history.find("c" * 64, "e" * 64) is None and history.count() == 2


def test_knees_go_to_json_csv_and_history_and_an_earlier_database_reads_none(tmp_path):
    right = KneeResult("right", (10, 20, 110, 220), "osteoporosis", 0.75, 0.75, "film_marker")
    left = KneeResult("left", (300, 25, 398, 221), "normal", 0.125, 0.875, "film_marker")
    result = FileResult(path="b.png", label="osteoporosis", probability=0.75, confidence=0.75, threshold=0.5,
                        model_version="m", model_sha256="7a" * 32, knees=[right, left])
    data = result.to_dict()
    assert list(data)[-2:] == ["knees", "call"]
    # Each knee's call against the file's threshold 0.5: 0.75 and 0.125 are far (0.25, 0.375) from it, so the labels.
    assert data["knees"] == [{"side": "right", "box": [10, 20, 110, 220], "label": "osteoporosis", "probability": 0.75,
                              "confidence": 0.75, "side_source": "film_marker", "call": "osteoporosis"},
                             {"side": "left", "box": [300, 25, 398, 221], "label": "normal", "probability": 0.125,
                              "confidence": 0.875, "side_source": "film_marker", "call": "normal"}]
    called = [KneeResult("right", (10, 20, 110, 220), "osteoporosis", 0.75, 0.75, "film_marker", "osteoporosis"),
              KneeResult("left", (300, 25, 398, 221), "normal", 0.125, 0.875, "film_marker", "normal")]
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=csv_columns(), lineterminator="\n")
    writer.writeheader()
    writer.writerow(result.csv_record())
    row = next(csv.DictReader(io.StringIO(handle.getvalue())))
    assert (row["knee_right_label"], row["knee_right_probability"], row["knee_right_box"]) == (
        "osteoporosis", "0.750000", "[10, 20, 110, 220]")
    assert (row["knee_left_label"], row["knee_left_confidence"], row["knee_left_box"]) == (
        "normal", "0.875000", "[300, 25, 398, 221]")
    assert row["knee_right_side_source"] == row["knee_left_side_source"] == "film_marker"
    assert row["knee_unknown_label"] == row["knee_unknown_box"] == "" and "knee_unknown_side_source" not in row
    assert row["out_of_scope"] == ""
    with History(tmp_path / "h.sqlite3") as history:
        entry = history.record(result.path, result, file_sha256="ab" * 32)
        assert entry.knees == called
        assert history.find("ab" * 32, "7a" * 32).knees == called
    # A database written before knees existed: the column is added and its rows read back with no knees.
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript(OLD_SCHEMA)
    connection.execute("INSERT INTO predictions VALUES (1, '2026-01-01T00:00:00+00:00', 'a.png', ?, 'normal', 0.1, 0.9,"
                       " 0.5, 'm-1', '[]')", ("c" * 64,))
    connection.commit()
    connection.close()
    with History(path) as history:
        (entry,) = history.entries()
        assert entry.knees == [] and entry.label == "normal"


def test_knees_recorded_before_side_sources_read_back_with_none(tmp_path):
    # The knees column as the previous version wrote it: JSON objects without side_source (text written by hand).
    path = tmp_path / "knees-without-source.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript(OLD_SCHEMA)
    connection.execute("ALTER TABLE predictions ADD COLUMN knees TEXT")
    connection.execute("INSERT INTO predictions (id, recorded_at, path, file_sha256, label, probability, confidence, "
                       "threshold, model_version, warnings, knees) VALUES (1, '2026-11-01T00:00:00+00:00', 'a.png', ?, "
                       "'normal', 0.1, 0.9, 0.5, 'm-2', '[]', ?)",
                       ("c" * 64, '[{"side": "right", "box": [1, 2, 30, 40], "label": "normal", "probability": 0.1, '
                                  '"confidence": 0.9}]'))
    connection.commit()
    connection.close()
    with History(path) as history:
        (entry,) = history.entries()
    # Nor a call: it is derived on reading, 0.1 being 0.4 below the threshold 0.5, so the label.
    assert entry.knees == [KneeResult("right", (1, 2, 30, 40), "normal", 0.1, 0.9, None, "normal")]
    assert entry.knees[0].to_dict()["side_source"] is None
    assert knee_cells(entry.knees)["knee_right_side_source"] == "" and knee_cells(entry.knees)["knee_right_label"] == "normal"


@pytest.mark.parametrize("side, source", [("right", "dicom_header"), ("left", "film_marker"),
                                          ("right", "hanging_convention"), ("left", None), ("unknown", None)])
def test_a_knee_takes_a_declared_side_source(side, source):
    knee = KneeResult(side, (0, 0, 4, 4), "normal", 0.125, 0.875, source)
    assert knee.to_dict()["side_source"] == source
    assert KneeResult.from_dict(json.loads(json.dumps(knee.to_dict()))) == knee
    # an unknown side has no source column (no source to show)
    assert knee_cells([knee]).get(f"knee_{side}_side_source", "") == (source or "")
    assert (f"knee_{side}_side_source" in knee_cells([knee])) == (side != "unknown")


@pytest.mark.parametrize("side, source, message", [
    ("right", "marker", "side source is one of"),  # not a declared value
    ("left", "DICOM_HEADER", "side source is one of"),  # values are exact
    ("unknown", "hanging_convention", "unknown side has no source"),  # a source that told nothing is no source
    ("unknown", "dicom_header", "unknown side has no source"),
])
def test_a_knee_rejects_a_source_that_is_not_declared_or_contradicts_its_side(side, source, message):
    with pytest.raises(ValueError, match=message):
        KneeResult(side, (0, 0, 4, 4), "normal", 0.125, 0.875, source)


def test_a_declined_file_has_no_knees():
    result = FileResult(path="c.png", label="normal", probability=0.2, confidence=0.8, threshold=0.5, model_version="m",
                        knees=[KneeResult("unknown", (0, 0, 9, 9), "normal", 0.2, 0.8)])
    result.decline("no knee joint found on the film")
    assert result.to_dict()["knees"] == [] and result.to_dict()["label"] is None
    assert result.csv_record()["knee_unknown_label"] == ""


def test_knee_results_are_checked_and_one_per_side():
    with pytest.raises(ValueError):
        KneeResult("middle", (0, 0, 1, 1), "normal", 0.1, 0.9)
    with pytest.raises(ValueError):
        KneeResult("left", (5, 0, 5, 1), "normal", 0.1, 0.9)  # empty box
    left = KneeResult("left", (0, 0, 4, 4), "normal", 0.125, 0.875)
    assert knee_cells([left])["knee_left_confidence"] == "0.875000"
    # A lone knee whose side nothing tells has its own group; two such knees share it: the more suspicious is shown.
    lone = KneeResult("unknown", (0, 0, 4, 4), "osteoporosis", 0.5, 0.5)
    other = KneeResult("unknown", (8, 0, 12, 4), "normal", 0.25, 0.75)
    assert knee_cells([lone])["knee_unknown_probability"] == "0.500000"
    assert knee_cells([other, lone])["knee_unknown_box"] == "[0, 0, 4, 4]"
    assert json.loads(json.dumps(left.to_dict())) == left.to_dict()
    assert KneeResult.from_dict(left.to_dict()) == left


def test_patient_identifiers_stay_out_of_repr_and_default_outputs():
    result = FileResult(path="k.dcm", label="normal", patient={"name": "Doe^Jane", "id": "PID-1"})
    assert "Doe" not in repr(result) and "PID-1" not in repr(result)
    assert "patient" not in result.to_dict() and "patient_name" not in result.csv_record()
    assert result.csv_record(include_patient=True)["patient_name"] == "Doe^Jane"


def test_a_result_read_back_from_the_history_carries_its_call(tmp_path):
    """A history entry is built whole from its stored fields: its call is derived as for a fresh result (0.38 against
    0.36 is within 0.05: borderline-above; 0.9 is a firm call), and a failed or declined row has none."""
    with History(tmp_path / "h.sqlite3") as history:
        for name, probability in (("near.png", 0.38), ("far.png", 0.9)):
            row = FileResult(path=name, label="osteoporosis", probability=probability, confidence=probability,
                             threshold=0.36, model_version="m", model_sha256="7a" * 32)
            history.record(name, row, file_sha256=name[0] * 64)
        calls = {entry.path.rsplit("/", 1)[-1]: entry.to_dict()["call"] for entry in history.entries()}  # paths stored absolute
    assert calls == {"near.png": "borderline-above", "far.png": "osteoporosis"}
    assert FileResult(path="x.png", error="x.png: unreadable").call is None
    assert FileResult(path="y.png", out_of_scope="not a radiograph: the image is blank").call is None
