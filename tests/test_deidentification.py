"""Patient name, ID and birth date never reach output, logs, exports or the history unless the user asks."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_files import write_knee_dicom
from osteo_desktop.core.results.history import History
from osteo_desktop.core.pipeline.scanning import scan_files

REPO_ROOT = Path(__file__).resolve().parents[1]
NAME, PATIENT_ID, BIRTH_DATE = "Kowalczyk^Wanda^Maria^Dr^PhD^Extra", "PID-73519-XQ", "19380417"
IDENTIFYING = ("Kowalczyk", "Wanda", "PID-73519", "19380417")


@pytest.fixture(scope="module")
def identified_folder(tmp_path_factory, knee_png) -> Path:
    from pydicom import config

    folder = tmp_path_factory.mktemp("identified")
    # Six name components is invalid for the PN type; a pydicom that warns about it quotes the value, and such a
    # third-party message must not reach a log either.
    previous = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        write_knee_dicom(folder / "knee.dcm", knee_png, patient_name=NAME, patient_id=PATIENT_ID, birth_date=BIRTH_DATE)
    finally:
        config.settings.writing_validation_mode = previous
    return folder


def _leaks(text: str) -> list[str]:
    return [value for value in IDENTIFYING if value in text]


def _osteo(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OSTEO_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "osteo_desktop", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_reader_keeps_identifiers_only_in_the_patient_field(identified_folder):
    from osteo_desktop.core.reading.reader import read_radiograph

    radiograph = read_radiograph(identified_folder / "knee.dcm")
    assert PATIENT_ID in json.dumps(radiograph.patient)  # the test file really carries them
    assert not _leaks(json.dumps(radiograph.metadata, default=str) + " ".join(radiograph.warnings))


def test_command_line_output_logs_exports_and_history_are_de_identified(tmp_path, identified_folder):
    out_csv, data_dir = tmp_path / "report.csv", tmp_path / "data"
    scan = _osteo(["-vv", "scan", str(identified_folder), "--csv", str(out_csv), "--json"], data_dir)
    assert scan.returncode == 0, scan.stderr
    info = _osteo(["-vv", "info", str(identified_folder / "knee.dcm")], data_dir)
    info_json = _osteo(["info", "--json", str(identified_folder / "knee.dcm")], data_dir)
    predict = _osteo(["-vv", "predict", "--history", str(identified_folder / "knee.dcm")], data_dir)
    assert info.returncode == info_json.returncode == predict.returncode == 0
    history_bytes = b"".join(p.read_bytes() for p in data_dir.iterdir())
    everything = {
        "scan stdout": scan.stdout, "scan stderr (log)": scan.stderr, "csv": out_csv.read_text(),
        "info": info.stdout + info.stderr, "info json": info_json.stdout, "predict": predict.stdout + predict.stderr,
        "history database": history_bytes.decode("latin-1"),
    }
    leaked = {where: _leaks(text) for where, text in everything.items() if _leaks(text)}
    assert not leaked, f"patient identifiers leaked: {leaked}"


def test_identifiers_appear_only_when_the_user_opts_in(tmp_path, identified_folder):
    out_csv = tmp_path / "report.csv"
    scan = _osteo(["scan", str(identified_folder), "--csv", str(out_csv), "--include-patient", "--no-history"],
                  tmp_path / "data")
    assert scan.returncode == 0, scan.stderr
    exported = out_csv.read_text()
    assert PATIENT_ID in exported and BIRTH_DATE in exported and "Kowalczyk" in exported
    assert not (tmp_path / "data").exists()  # --no-history wrote nothing to the data folder


def test_library_logs_carry_no_identifiers(tmp_path, identified_folder, classifier, caplog):
    caplog.set_level(logging.DEBUG, logger="osteo_desktop")
    with History(tmp_path / "history.sqlite3") as history:
        rows = list(scan_files([identified_folder / "knee.dcm", identified_folder / "missing.dcm"], classifier,
                               history=history))
    assert rows[0].ok and rows[1].error
    assert rows[0].patient == {}  # not even kept in memory unless asked for
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("osteo_desktop"))
    assert not _leaks(ours)


def test_include_patient_on_a_rescan_fills_the_patient_columns_from_the_file(tmp_path, knee_png, capsys, monkeypatch):
    """Issue 12: a rescan takes its results from the history, which keeps no patient identifier; the patient
    columns asked for still come from the file, never blank when the file has them."""
    import csv as csv_module

    from hostile_files import write_knee_dicom
    from osteo_desktop.cli import main

    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "study"
    folder.mkdir()
    write_knee_dicom(folder / "knee.dcm", knee_png, patient_name="Doe^Jane", patient_id="P-12", birth_date="19500102")
    shutil.copy(knee_png, folder / "knee.png")  # a PNG carries no patient fields: its cells stay empty
    rows = {}
    for run in ("first", "rescan"):
        out = tmp_path / f"{run}.csv"
        assert main(["scan", str(folder), "--include-patient", "--csv", str(out)]) == 0
        with open(out, newline="") as handle:
            rows[run] = {Path(r["path"]).name: r for r in csv_module.DictReader(handle)}
    capsys.readouterr()
    from osteo_desktop.core.results.history import History

    with History(tmp_path / "data" / "history.sqlite3") as history:
        assert history.count() == 2  # the rescan reused both results
    for run in ("first", "rescan"):
        dicom, png = rows[run]["knee.dcm"], rows[run]["knee.png"]
        assert (dicom["patient_name"], dicom["patient_id"], dicom["patient_birth_date"]) == ("Doe^Jane", "P-12", "19500102")
        assert (png["patient_name"], png["patient_id"], png["patient_birth_date"]) == ("", "", "")
