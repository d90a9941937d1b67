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
