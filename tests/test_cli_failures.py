"""How the command line fails: a reader that goes away, an internal error, an interrupted training command."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from osteo_desktop.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated (as test_cli.py has it)."""


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args, status", [
    (["predict", "{png}", "{png}", "{missing}"], 1),
    (["predict", "--json", "{png}", "{missing}"], 1),
    (["info", "{png}"], 1),
    (["--help"], None),  # argparse itself ignores a failed write of the help; the exit is quiet either way
], ids=["table", "json", "info", "help"])
def test_a_closed_pipe_ends_quietly(tmp_path, knee_png, args, status, buffered):
    """`osteo predict ... | head`: the reader is gone before anything is written; no traceback, no noise."""
    argv = [a.format(png=knee_png, missing=tmp_path / "missing.png") for a in args]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OSTEO_DATA_DIR=str(tmp_path / "data"))
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen([sys.executable, "-m", "osteo_desktop", *argv], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    process.stdout.close()  # like `head -0`: every write the program makes now fails with EPIPE
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err
    if status is not None:
        assert process.returncode == status, err


@pytest.mark.parametrize("json_rows", [False, True], ids=["table", "json"])
def test_a_closed_pipe_still_writes_the_csv_of_the_rows_done(tmp_path, knee_png, json_rows):
    """`osteo scan DIR --csv out.csv | head`: the reader of stdout goes away; the scan stops as on Ctrl-C and the CSV
    holds the rows done (it was not written at all: the broken pipe ended the run inside the CSV's atomic write)."""
    import csv

    folder = tmp_path / "films"
    folder.mkdir()
    for index in range(3):
        (folder / f"knee{index}.png").write_bytes(knee_png.read_bytes())
    (folder / "notes.txt").write_text("not an image\n")
    out = tmp_path / "out.csv"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OSTEO_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    argv = ["scan", str(folder), "--csv", str(out), *(["--json"] if json_rows else [])]
    process = subprocess.Popen([sys.executable, "-m", "osteo_desktop", *argv], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    process.stdout.close()  # the reader is gone before the first row
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert process.returncode == 1, err  # stopped early: not a complete scan
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = {Path(row["path"]).name for row in rows}
    assert names <= {"knee0.png", "knee1.png", "knee2.png", "notes.txt"}
    assert "went away: stopped after" in err and f"wrote {len(rows)} rows to" in err, err


def test_an_internal_error_is_one_line_and_exit_1(capsys, monkeypatch, knee_png):
    from osteo_desktop.core.reading import reader

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in the reader")

    monkeypatch.setattr(reader, "read_radiograph", broken)
    assert main(["info", str(knee_png)]) == 1
    err = capsys.readouterr().err
    assert err == "osteo: internal error: ZeroDivisionError: a bug in the reader (run with -vv for details)\n"
    assert main(["-vv", "info", str(knee_png)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise ZeroDivisionError("a bug in the reader")' in err


def test_a_training_command_fails_and_is_interrupted_like_the_others(capsys, monkeypatch):
    import osteo_desktop.training as training_package

    def crash(argv):
        raise KeyError("fold")

    def interrupted(argv):
        raise KeyboardInterrupt

    fake = types.SimpleNamespace(train_main=crash, evaluate_main=interrupted)
    monkeypatch.setitem(sys.modules, "osteo_desktop.training.commands", fake)
    monkeypatch.setattr(training_package, "commands", fake, raising=False)
    assert main(["train", "--epochs", "1"]) == 1
    assert capsys.readouterr().err == "osteo: internal error: KeyError: 'fold' (run with -vv for details)\n"
    assert main(["evaluate"]) == 130
    assert capsys.readouterr().err == "osteo: interrupted\n"
