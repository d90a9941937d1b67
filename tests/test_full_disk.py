"""A full disk: one line naming the problem, a non-zero exit, no traceback, and no history row lost (issue 12).

ENOSPC is simulated where it strikes: the atomic writer's fsync of the CSV, and the history's commit (which SQLite
reports as "database or disk is full", a HistoryError).
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import shutil

import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.results.history import History, HistoryError


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated (as test_cli.py has it)."""


def _folder(tmp_path, knee_images):
    folder = tmp_path / "study"
    folder.mkdir()
    for path in knee_images["normal"][:2] + knee_images["osteoporosis"][:1]:
        shutil.copy(path, folder / path.name)
    return folder


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_under_the_csv_is_one_line_and_exit_1(tmp_path, knee_images, capsys, monkeypatch):
    folder = _folder(tmp_path, knee_images)
    out = tmp_path / "out" / "results.csv"
    out.parent.mkdir()
    monkeypatch.setattr(os, "fsync", _no_space)
    status = main(["scan", str(folder), "--csv", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "error" in line]
    assert "No space left on device" in line and "results.csv" in line
    assert list(out.parent.iterdir()) == []  # no partial CSV, no temporary file left
    monkeypatch.undo()
    with History(tmp_path / "data" / "history.sqlite3") as history:
        assert history.count() == 3  # every result was recorded before its row was written


def test_a_full_disk_under_the_history_keeps_earlier_rows_and_exits_1(tmp_path, knee_images, capsys, monkeypatch):
    folder = _folder(tmp_path, knee_images)
    out = tmp_path / "results.csv"
    real_record_many = History.record_many
    calls = []

    def fills_up(self, results):
        calls.append(len(results))
        if len(calls) > 1:
            raise HistoryError(f"cannot write to the history database {self.path}: database or disk is full")
        return real_record_many(self, results)

    monkeypatch.setattr(History, "record_many", fills_up)
    status = main(["scan", str(folder), "--csv", str(out), "--batch-size", "1"])
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "database or disk is full" in errors[0] and "2 results" in errors[0]
    with open(out, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 3  # the results themselves are not lost
    monkeypatch.undo()
    logging.getLogger().handlers.clear()
    with History(tmp_path / "data" / "history.sqlite3") as history:
        assert history.count() == 1  # the row recorded before the disk filled is still there


@pytest.mark.parametrize("case", ["missing folder", "folder in the way"])
def test_a_failed_atomic_write_names_the_target_not_its_hidden_temporary(tmp_path, case):
    """What the user is told names the file they asked for: the window showed "No such file or directory
    (/reports/.knee.pdf.6e67fd1c.tmp)" for a missing folder."""
    from osteo_desktop.core.atomic import atomic_write_bytes

    if case == "missing folder":
        target, expected = tmp_path / "no such folder" / "knee.pdf", errno.ENOENT
    else:
        target, expected = tmp_path / "knee.pdf", errno.EISDIR
        target.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OSError) as raised:
        atomic_write_bytes(target, b"%PDF-1.4 ... %%EOF")
    assert raised.value.errno == expected and raised.value.filename == str(target)
    assert not [p for p in tmp_path.rglob(".*.tmp")]  # nothing hidden left behind
