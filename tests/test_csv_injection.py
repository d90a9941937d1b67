"""CSV cells that a spreadsheet would run as formulas are neutralised (OWASP CSV injection); numbers are not."""

from __future__ import annotations

import csv
import shutil

import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.results.exports import neutralise_cell, write_rows_csv
from osteo_desktop.core.results.result import FileResult

HYPERLINK = '=HYPERLINK("https:example.invalid","No sign of osteoporosis").png'


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


@pytest.mark.parametrize("cell", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_starts_get_an_apostrophe(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-0.5", "+3", "-1e-3", "0.339", "normal", "", "/data/=x.png", "'=already", 0.5, None])
def test_numbers_and_ordinary_text_are_unchanged(cell):
    assert neutralise_cell(cell) == cell


def test_csv_of_formula_named_files(tmp_path, monkeypatch, capsys, knee_png, classifier):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(knee_png, folder / HYPERLINK)
    (folder / "@SUM(1+1).png").write_text("not a picture")
    monkeypatch.chdir(folder)  # relative paths: the path cell itself starts with the file name
    code = main(["predict", "--csv", "out.csv", "--", HYPERLINK, "@SUM(1+1).png"])
    capsys.readouterr()
    assert code == 1
    with open(folder / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["path"] == "'" + HYPERLINK
    assert rows[0]["label"] in ("normal", "osteoporosis") and 0.0 <= float(rows[0]["probability"]) <= 1.0
    assert rows[1]["path"] == "'@SUM(1+1).png"
    assert rows[1]["error"].startswith("'@SUM(1+1).png: not an image")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())


def test_patient_cells_are_neutralised(tmp_path):
    row = FileResult(path="/x/a.dcm", model_version="1", error="a.dcm: not an image")
    row.patient = {"PatientName": "=cmd|' /C calc'!A0", "PatientID": "-42", "PatientBirthDate": "+19700101"}
    written = write_rows_csv([row], tmp_path / "p.csv", include_patient=True)
    with open(written, newline="") as handle:
        record = next(csv.DictReader(handle))
    assert record["patient_name"] == "'=cmd|' /C calc'!A0"
    assert record["patient_id"] == "-42" and record["patient_birth_date"] == "+19700101"  # numbers stay numbers
