"""Export targets that would destroy something are refused before any work starts (exit 2, one line saying why)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.results.output_target import UnsafeOutputError, check_output_target, is_previous_csv_export


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


@pytest.fixture
def folder(tmp_path, knee_png) -> Path:
    scanned = tmp_path / "scan"
    scanned.mkdir()
    shutil.copy(knee_png, scanned / "a.png")
    return scanned


def _refused(capsys, *argv) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("osteo: error")]
    assert len(lines) == 1, err
    return lines[0]


def test_scan_refuses_to_overwrite_an_image_it_scans(capsys, folder):
    before = (folder / "a.png").read_bytes()
    line = _refused(capsys, "scan", folder, "--csv", folder / "a.png", "--no-history")
    assert "one of the files being analysed" in line
    assert (folder / "a.png").read_bytes() == before


def test_predict_refuses_an_input_also_under_another_name(capsys, folder, tmp_path):
    os.link(folder / "a.png", tmp_path / "alias.csv")  # a hard link: the same file under a CSV name
    before = (folder / "a.png").read_bytes()
    line = _refused(capsys, "predict", folder / "a.png", "--csv", tmp_path / "alias.csv")
    assert "one of the files being analysed" in line
    assert (folder / "a.png").read_bytes() == before


def test_scan_refuses_the_history_database(capsys, folder, tmp_path):
    history = tmp_path / "data" / "history.sqlite3"
    history.parent.mkdir()
    history.write_bytes(b"SQLite format 3\x00 precious")
    line = _refused(capsys, "scan", folder, "--csv", history)
    assert "history database" in line
    assert history.read_bytes() == b"SQLite format 3\x00 precious"


def test_scan_refuses_a_fifo_a_device_a_folder_and_a_symlink(capsys, folder, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in _refused(capsys, "scan", folder, "--csv", fifo, "--no-history")
    assert "not a regular file" in _refused(capsys, "scan", folder, "--csv", "/dev/null", "--no-history")
    assert "is a folder" in _refused(capsys, "scan", folder, "--csv", tmp_path, "--no-history")
    real = tmp_path / "real.csv"
    real.write_text("keep me")
    (tmp_path / "link.csv").symlink_to(real)
    assert "symbolic link" in _refused(capsys, "scan", folder, "--csv", tmp_path / "link.csv", "--no-history")
    assert (tmp_path / "link.csv").is_symlink() and real.read_text() == "keep me"
    assert "does not exist" in _refused(capsys, "scan", folder, "--csv", tmp_path / "nowhere" / "x.csv")


def test_a_new_name_or_an_earlier_export_in_the_folder_is_accepted(capsys, folder, classifier):
    out = folder / "results.csv"
    assert main(["scan", str(folder), "--csv", str(out), "--no-history"]) == 0
    assert is_previous_csv_export(out)
    # The second run replaces its own export and does not report it as a file that failed.
    assert main(["scan", str(folder), "--csv", str(out), "--no-history"]) == 0
    assert len(out.read_text().splitlines()) == 2
    capsys.readouterr()


def test_a_text_file_in_the_folder_is_an_input_not_an_export(folder):
    notes = folder / "notes.csv"
    notes.write_text("my own notes\n")
    assert not is_previous_csv_export(notes)
    with pytest.raises(UnsafeOutputError, match="one of the files"):
        check_output_target(notes, inputs=[folder / "a.png", notes])


def test_history_companion_files_are_protected(tmp_path):
    db = tmp_path / "history.sqlite3"
    wal = tmp_path / "history.sqlite3-wal"
    wal.write_bytes(b"x")
    with pytest.raises(UnsafeOutputError, match="history database"):
        check_output_target(wal, protected=[db])
    assert check_output_target(tmp_path / "new.csv", protected=[db]) == tmp_path / "new.csv"


# The header of a CSV written by version 0.2.0 (README "Command line"), by hand; and with --include-patient.
HEADER_020 = ("path,label,probability,confidence,threshold,model_version,warnings,error,timings_ms,out_of_scope,"
              "reader_agreement,model_sha256,knee_right_label,knee_right_probability,knee_right_confidence,"
              "knee_right_box,knee_left_label,knee_left_probability,knee_left_confidence,knee_left_box,"
              "knee_unknown_label,knee_unknown_probability,knee_unknown_confidence,knee_unknown_box,"
              "knee_right_side_source,knee_left_side_source,call")


@pytest.mark.parametrize("header", [HEADER_020, HEADER_020 + ",patient_name,patient_id,patient_birth_date",
                                    "path,label,probability,confidence,threshold,model_version,warnings,error"])
def test_an_export_written_by_an_earlier_version_is_still_its_export(capsys, folder, classifier, header):
    """After an upgrade, last night's export in the scanned folder is replaced, not refused as an input (columns are
    only ever added, so today's header starts differently than no earlier one)."""
    out = folder / "results.csv"
    out.write_text(header + "\r\n" + "/data/a.png,normal,0.1,0.9,0.36,2.1.0,,,,,,\r\n")
    assert is_previous_csv_export(out)
    assert main(["scan", str(folder), "--csv", str(out), "--no-history"]) == 0
    assert out.read_text().splitlines()[0].startswith(HEADER_020)
    capsys.readouterr()


@pytest.mark.parametrize("header", ["path,label,probability,my_own_column", "label,path,probability", "path", "",
                                    "\xff\xfe not text"])
def test_a_csv_that_only_looks_like_an_export_is_an_input(folder, header):
    other = folder / "other.csv"
    other.write_bytes(header.encode("latin-1") + b"\n1,2,3\n")
    assert not is_previous_csv_export(other)
