"""CSV and JSON exports: the contract's columns, exact round trips, atomic replacement, de-identified by default."""

from __future__ import annotations

import csv
import json
import os

import pytest

from osteo_desktop.core.atomic import atomic_write_text, atomic_writer
from osteo_desktop.core.results.exports import PATIENT_COLUMNS, write_rows_csv, write_rows_json
from osteo_desktop.core.results.result import ROW_KEYS, FileResult, csv_columns

PATIENT = {"name": "Doe^Jane", "id": "PID-73519", "birth_date": "19380417"}


def _rows() -> list[FileResult]:
    return [
        FileResult(path="/data/a, b.png", label="normal", probability=0.125, confidence=0.875, threshold=0.5,
                model_version="m-1", warnings=['body part is "CHEST"; not a knee', "small image"],
                timings_ms={"read": 1.5, "preprocess": 2.25, "inference": 3.0}, patient=dict(PATIENT)),
        FileResult(path="/data/broken.dcm", model_version="m-1", error="broken.dcm: pixel data is truncated\nat byte 7"),
    ]


def test_csv_columns_are_the_json_keys_and_values_round_trip(tmp_path):
    path = write_rows_csv(_rows(), tmp_path / "out.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == tuple(csv_columns())  # the knees spread over a column group per side
        records = list(reader)
    good, bad = records
    expected = _rows()[0]
    assert good["path"] == expected.path
    assert float(good["probability"]) == pytest.approx(expected.probability, abs=1e-6)
    assert json.loads(good["warnings"]) == expected.warnings
    assert json.loads(good["timings_ms"]) == expected.timings_ms
    assert good["error"] == "" and bad["label"] == "" and bad["probability"] == ""
    assert bad["error"] == _rows()[1].error and bad["model_version"] == "m-1"


def test_exports_are_de_identified_unless_asked(tmp_path):
    plain_csv = write_rows_csv(_rows(), tmp_path / "plain.csv").read_text()
    plain_json = write_rows_json(_rows(), tmp_path / "plain.json").read_text()
    for text in (plain_csv, plain_json):
        for value in PATIENT.values():
            assert value not in text
    with_patient = write_rows_csv(_rows(), tmp_path / "patient.csv", include_patient=True)
    with open(with_patient, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == csv_columns(include_patient=True)
        first = next(reader)
    assert [first[column] for column in PATIENT_COLUMNS] == [PATIENT["name"], PATIENT["id"], PATIENT["birth_date"]]
    data = json.loads(write_rows_json(_rows(), tmp_path / "patient.json", include_patient=True).read_text())
    assert data[0]["patient"] == PATIENT


def test_json_export_is_one_array_of_row_objects(tmp_path):
    data = json.loads(write_rows_json(_rows(), tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [tuple(item) for item in data] == [ROW_KEYS, ROW_KEYS]
    assert data == [row.to_dict() for row in _rows()]
    assert json.loads(write_rows_json([], tmp_path / "empty.json").read_text()) == []


def test_a_failure_mid_export_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("earlier export\n")

    def rows_then_crash():
        yield from _rows()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_rows_csv(rows_then_crash(), target)
    assert target.read_text() == "earlier export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_atomic_writer_replaces_only_when_complete(tmp_path):
    target = tmp_path / "report.txt"
    atomic_write_text(target, "first")
    with atomic_writer(target) as handle:
        handle.write("second, partially")
        assert target.read_text() == "first"  # nothing visible before the block ends
    assert target.read_text() == "second, partially"
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(target) as handle:
            handle.write("third")
            raise KeyboardInterrupt
    assert target.read_text() == "second, partially"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_a_replaced_export_keeps_its_permissions_and_a_new_one_follows_the_umask(tmp_path):
    private = tmp_path / "private.csv"
    private.write_text("earlier export\n")
    private.chmod(0o600)
    write_rows_csv(_rows(), private)
    assert private.stat().st_mode & 0o777 == 0o600
    umask = os.umask(0o022)
    try:
        fresh = write_rows_csv(_rows(), tmp_path / "fresh.csv")
    finally:
        os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o644


def test_a_writer_that_cannot_open_leaves_no_temporary(tmp_path):
    with pytest.raises(LookupError):
        with atomic_writer(tmp_path / "out.txt", encoding="no-such-encoding"):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["a" * 250 + ".csv", "é" * 125 + ".csv"])  # 254 and 254 bytes: at the limit
def test_a_target_name_near_the_limit_gets_a_short_temporary_name(tmp_path, name):
    target = tmp_path / name
    assert len(os.fsencode(target.name)) <= 255
    seen = []
    with atomic_writer(target, newline="") as handle:
        seen = [p.name for p in tmp_path.iterdir()]
        handle.write("complete")
    assert target.read_text() == "complete"
    assert len(seen) == 1 and seen[0].startswith(".") and seen[0].endswith(".tmp")
    assert len(os.fsencode(seen[0])) <= 120
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_csv_record_leaves_the_patient_out_unless_asked():
    from osteo_desktop.core.results import columns

    row = _rows()[0]
    assert not set(PATIENT_COLUMNS) & set(columns.to_csv(row))  # the default: de-identified
    assert {column: columns.to_csv(row, True)[column] for column in PATIENT_COLUMNS} == {
        "patient_name": "Doe^Jane", "patient_id": "PID-73519", "patient_birth_date": "19380417"}
