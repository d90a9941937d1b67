"""The history survives a damaged page, stores absolute paths, and ignores an empty XDG_DATA_HOME (issue 12)."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import pytest

from osteo_desktop.core.paths import user_data_dir
from osteo_desktop.core.results.history import History
from osteo_desktop.core.results.result import FileResult

PAGE = 4096


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated (as test_cli.py has it)."""


def _row(index: int) -> tuple[str, FileResult, str]:
    path = f"/data/knee{index}.png"
    return path, FileResult(path=path, label="normal", probability=0.1, confidence=0.9, threshold=0.5,
                            model_version="m", model_sha256="a" * 64, warnings=["w" * 40]), f"{index:064x}"


def _damaged_database(path: Path) -> bytes:
    """A real history of 300 rows with one page's header overwritten: the kind of damage a bad sector leaves."""
    with History(path) as history:
        history.record_many([_row(i) for i in range(300)])
    data = bytearray(path.read_bytes())
    assert len(data) // PAGE > 12
    data[10 * PAGE:10 * PAGE + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    # Independently of the code under test: SQLite itself calls the file damaged, yet a plain count still works,
    # so the damage would otherwise surface only in the middle of some later scan.
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("SELECT count(*) FROM predictions").fetchone() == (300,)
        try:
            problems = connection.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:  # how SQLite reports it depends on which page it is
            problems = [(str(exc),)]
        assert problems != [("ok",)]
    finally:
        connection.close()
    return bytes(data)


def test_a_damaged_page_is_detected_set_aside_with_a_timestamp_and_a_new_history_started(tmp_path):
    path = tmp_path / "history.sqlite3"
    damaged = _damaged_database(path)
    with History(path) as history:
        assert history.count() == 0
        kept = history.set_aside.read_bytes() if history.set_aside is not None else b""
        # The damaged file itself, kept for inspection (SQLite may have bumped its change counter on the way).
        assert len(kept) == len(damaged) and kept[10 * PAGE:11 * PAGE] == damaged[10 * PAGE:11 * PAGE]
        assert re.fullmatch(r"history\.sqlite3\.damaged-\d{8}-\d{6}", history.set_aside.name)
        assert str(history.set_aside) in history.damage_notice()
        history.record_many([_row(1)])  # the new one works
    with History(path) as reopened:
        assert reopened.set_aside is None and reopened.damage_notice() is None and reopened.count() == 1


def test_a_second_damaged_database_in_the_same_second_does_not_replace_the_first_one_set_aside(tmp_path, monkeypatch):
    """The set-aside name has a one-second timestamp. A second damaged file set aside within that second (two
    processes opening the same damaged history at once: the second moves the first one's new database over the
    first's set-aside file) replaced the earlier results kept for recovery. Each is kept under a name of its own."""
    import time

    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "20261203-120000")
    path = tmp_path / "history.sqlite3"
    _damaged_database(path)
    with History(path) as history:
        first = history.set_aside
        kept = first.read_bytes()
    _damaged_database(path)
    with History(path) as history:
        second = history.set_aside
    assert first.name == "history.sqlite3.damaged-20261203-120000"
    assert second is not None and second != first and second.is_file()
    assert first.read_bytes() == kept  # untouched
    assert sorted(p.name for p in tmp_path.glob("history.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))) == sorted([first.name, second.name])


def test_the_command_line_says_so_in_one_line(tmp_path, knee_png, capsys):
    (tmp_path / "data").mkdir()  # OSTEO_DATA_DIR (the isolated fixture)
    _damaged_database(tmp_path / "data" / "history.sqlite3")
    from osteo_desktop.cli import main

    assert main(["predict", "--history", str(knee_png)]) == 0
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "history database was damaged" in line]) == 1
    assert "Traceback" not in err


def test_a_relative_path_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, row, sha = _row(1)
    with History(tmp_path / "h.sqlite3") as history:
        entry = history.record("scans/knee.png", row, file_sha256=sha)
        assert entry.path == str(tmp_path / "scans" / "knee.png")
        assert history.entries()[0].path == str(tmp_path / "scans" / "knee.png")


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG_DATA_HOME is the Linux convention")
@pytest.mark.parametrize("value", ["", "relative/folder"])
def test_an_empty_or_relative_xdg_data_home_is_treated_as_unset(tmp_path, monkeypatch, value):
    monkeypatch.delenv("OSTEO_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", value)
    assert user_data_dir() == tmp_path / "home" / ".local" / "share" / "osteo-desktop"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "osteo-desktop"
