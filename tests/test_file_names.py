"""File names are bytes on Linux: names that are not UTF-8, or that hold control characters, never crash an output
and never drive the terminal. The documented escape (core/results/names.py): an undecodable byte is ``\\xNN``."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3

import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.results.names import escape_undecodable, for_terminal

BAD_IMAGE = os.fsdecode(b"knee\xff\xfe.png")  # the surrogateescape str Python gives for these bytes
BAD_TEXT = os.fsdecode(b"notes\xe9.png")  # Latin-1 e-acute: not UTF-8


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


def test_escape_undecodable_is_the_documented_form():
    assert escape_undecodable(BAD_IMAGE) == "knee\\xff\\xfe.png"
    assert escape_undecodable("genou-é.png") == "genou-é.png"  # valid UTF-8 stays as it is
    assert escape_undecodable("\ud800x") == "\\ud800x"  # a surrogate standing for no byte: escaped, no crash


def test_for_terminal_escapes_control_characters():
    assert for_terminal("a\x1b[32mgreen\nosteoporosis\r\t.png") == "a\\x1b[32mgreen\\nosteoporosis\\r\\t.png"
    assert for_terminal("\x9b31m\u2028") == "\\x9b31m\\u2028"
    assert for_terminal(BAD_TEXT) == "notes\\xe9.png"


@pytest.fixture
def folder(tmp_path, knee_png):
    scanned = tmp_path / "scan"
    scanned.mkdir()
    shutil.copy(knee_png, os.path.join(scanned, BAD_IMAGE))
    with open(os.path.join(scanned, BAD_TEXT), "w") as handle:
        handle.write("not a picture")
    return scanned


def test_scan_with_undecodable_names_writes_csv_and_history(tmp_path, capsys, folder, classifier):
    out = tmp_path / "out.csv"
    code = main(["scan", str(folder), "--csv", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err  # one file is not an image; nothing crashed
    with open(out, newline="", encoding="utf-8") as handle:  # strict UTF-8
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == [f"{folder}/knee\\xff\\xfe.png", f"{folder}/notes\\xe9.png"]
    assert rows[0]["label"] in ("normal", "osteoporosis")
    assert rows[1]["error"].startswith("notes\\xe9.png: not an image")
    with sqlite3.connect(tmp_path / "data" / "history.sqlite3") as db:
        stored = [path for (path,) in db.execute("SELECT path FROM predictions")]
    assert stored == [f"{folder}/knee\\xff\\xfe.png"]
    # The second run reuses the recorded result (keyed by content) and still writes the same rows.
    assert main(["scan", str(folder), "--csv", str(out)]) == 1
    assert "1 reused" in capsys.readouterr().err


def test_scan_json_with_undecodable_names(capsys, folder, classifier):
    code = main(["scan", str(folder), "--json", "--no-history"])
    out = capsys.readouterr().out
    assert code == 1
    out.encode("utf-8")  # strict: what reaches stdout is valid UTF-8
    rows = json.loads(out)
    assert [os.path.basename(row["path"]) for row in rows] == ["knee\\xff\\xfe.png", "notes\\xe9.png"]


def test_table_cannot_be_faked_by_a_name(tmp_path, capsys, classifier):
    fake = tmp_path / "x.png\nnormal            0.010  0.990  \x1b[32mall clear.png"
    fake.write_text("not a picture")
    code = main(["predict", str(fake)])
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in out
    table = out.splitlines()
    assert not any(line.startswith("normal") for line in table)  # the newline did not make a row
    assert any("x.png\\nnormal" in line for line in table)


def test_scan_csv_to_a_250_byte_name(tmp_path, capsys, folder, classifier):
    out = tmp_path / ("r" * 246 + ".csv")
    assert main(["scan", str(folder), "--csv", str(out), "--no-history"]) == 1  # 1: the text file; no crash
    capsys.readouterr()
    assert len(out.read_text().splitlines()) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_escaped_name_turns_back_into_the_very_file_name():
    """Round trip by construction: every byte string that is a possible file name, escaped and unescaped, is the
    same bytes; and a file whose real name holds the text \\xff is found as it is, not unescaped."""
    import os

    from osteo_desktop.core.results.names import escape_undecodable, unescape_undecodable

    for raw in (b"plain.png", b"kn\xffee.png", b"\xc3\xa9t\xe9.dcm", b"\x80\x81\xfe", b"caf\xc3\xa9 \xff\xfe.jpg"):
        name = os.fsdecode(raw)
        assert os.fsencode(unescape_undecodable(escape_undecodable(name))) == raw
    assert unescape_undecodable("kn\\xffee.png") == os.fsdecode(b"kn\xffee.png")
    assert unescape_undecodable("no escapes here") == "no escapes here"


def test_file_named_prefers_a_file_that_exists_under_the_written_name(tmp_path):
    import os

    from osteo_desktop.core.results.names import file_named

    literal = tmp_path / "literal\\xffname.png"  # a real name with a backslash in it
    literal.write_bytes(b"x")
    assert file_named(str(literal)) == str(literal)
    assert os.fsencode(file_named(str(tmp_path / "gone\\xff.png"))).endswith(b"gone\xff.png")


def test_log_messages_reach_the_terminal_escaped(capsys):
    """A log line quotes a file name (dicom-export's errors, a folder that cannot be listed): written escaped, like
    say(), so that it cannot recolour the terminal or fake a line; a traceback keeps its lines, each escaped."""
    import logging

    from osteo_desktop.cli.arguments import configure_logging

    configure_logging(0)
    name = "a\x1b[31mred\x07.png\nosteo: fake line"
    logging.getLogger("osteo_desktop.cli").error("%s: not an image", name)
    try:
        raise ValueError("tag \x1b]2;title\x07")
    except ValueError:
        logging.getLogger("osteo_desktop.cli").warning("failed %s", BAD_TEXT, exc_info=True)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == "osteo: ERROR: a\\x1b[31mred\\x07.png\\nosteo: fake line: not an image"
    assert lines[1] == "osteo: WARNING: failed notes\\xe9.png"
    assert lines[2] == "Traceback (most recent call last):"  # the traceback is still lines, not one escaped line
    assert lines[-1] == "ValueError: tag \\x1b]2;title\\x07"
    assert "\x1b" not in err and "\x07" not in err


def test_dicom_export_errors_name_the_file_escaped(tmp_path, capsys):
    missing = tmp_path / "k\x1b[2Jnee.png"
    assert main(["dicom-export", str(missing), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "k\\x1b[2Jnee.png: cannot be read (No such file or directory)" in err
