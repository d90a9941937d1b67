"""What `osteo predict` and `osteo scan` print, on hand-built rows: the table's columns, the progress line on a
terminal and in a log, and that the progress line is cleared before a table line is printed (issue 15).

Every expected line is written out here; nothing is formatted by the code under test to compare against.
"""

from __future__ import annotations

import io

import pytest

from osteo_desktop.cli import output
from osteo_desktop.cli.output import Progress, Table
from osteo_desktop.core.pipeline.scanning import ScanProgress
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.result import FileResult

CLEAR = "\r\x1b[K"  # carriage return, then erase to the end of the line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves by hand, so that the redraw interval is tested without sleeping."""
    now = [1000.0]
    monkeypatch.setattr(output.time, "monotonic", lambda: now[0])
    return now


def _normal(path: str = "/films/a.png", **changes) -> FileResult:
    values = dict(path=path, label="normal", probability=0.2, confidence=0.8, threshold=0.339, model_version="2.1.0")
    values.update(changes)
    return FileResult(**values)


# The header, worked out by hand: the call's cell is 20 wide ("borderline-above" after a knee's two-space indent
# fits), then a space, "P(OSTEO)" (8), a space, "THRESH" (6), two spaces, "FILE". No "CONF" column: a positive call's
# confidence can be under 0.5 (the threshold is 0.339) and read as favouring normal.
HEADER = "RESULT" + " " * 15 + "P(OSTEO) THRESH  FILE"
INDENT = " " * 39  # one further in than the path, which starts at column 38 (20 + 1 + 8 + 1 + 6 + 2)


def test_table_lines_by_hand():
    out = io.StringIO()
    table = Table(out)
    table.write(_normal())
    table.write(_normal("/films/b.png", label="osteoporosis", probability=0.6123, confidence=0.6123,
                        warnings=["the image is only 120 x 90 pixels"]))
    table.write(FileResult(path="/films/c.png", error="c.png: cannot be read (permission denied)"))
    table.write(FileResult(path="/films/d.png", model_version="2.1.0", out_of_scope="looks like a chest film"))
    assert out.getvalue().split("\n") == [
        HEADER,
        "normal" + " " * 18 + "0.200  0.339  /films/a.png",
        "osteoporosis" + " " * 12 + "0.612  0.339  /films/b.png",
        INDENT + "warning: the image is only 120 x 90 pixels",
        "ERROR" + " " * 33 + "/films/c.png",
        INDENT + "c.png: cannot be read (permission denied)",
        "NO RESULT" + " " * 29 + "/films/d.png",
        INDENT + "No result: looks like a chest film",
        "",
    ]


def test_a_borderline_row_says_so_in_its_call_and_its_warning():
    """0.362 is 0.023 above 0.339 and 0.300 is 0.039 below it: both within the 0.05 margin, so neither is printed as
    a firm call; the knee at 0.100 (0.239 below) is. A positive call with a probability under 0.5 shows no
    "confidence" anywhere."""
    knees = [KneeResult("right", (10, 20, 110, 120), "osteoporosis", 0.362, 0.362),
             KneeResult("left", (150, 20, 250, 120), "normal", 0.1, 0.9)]
    out = io.StringIO()
    table = Table(out)
    table.write(_normal("/films/e.png", label="osteoporosis", probability=0.362, confidence=0.362, knees=knees))
    table.write(_normal("/films/f.png", probability=0.3, confidence=0.7))
    assert out.getvalue().split("\n") == [
        HEADER,
        "borderline-above" + " " * 8 + "0.362  0.339  /films/e.png",
        "  borderline-above" + " " * 6 + "0.362  0.339    Right knee",
        "  normal" + " " * 16 + "0.100  0.339    Left knee",
        INDENT + "warning: Borderline: the probability 0.362 lies within 0.05 of the decision threshold 0.339; the "
                 "framing of the knee alone can move it that far, so read this result as undecided",
        "borderline-below" + " " * 8 + "0.300  0.339  /films/f.png",
        INDENT + "warning: Borderline: the probability 0.300 lies within 0.05 of the decision threshold 0.339; the "
                 "framing of the knee alone can move it that far, so read this result as undecided",
        "",
    ]
    assert "onfidence" not in out.getvalue() and "CONF" not in out.getvalue()


def test_knee_lines_under_the_file_line_are_aligned_with_its_numbers():
    """A line per knee under the file's, its numbers in the file line's columns, its side where the path is (two
    further in, as the label is). Regression: a knee labelled "osteoporosis" (12 characters) was written in an
    11-wide cell after a 2-space indent, which pushed its numbers one column to the right of the file line's."""
    knees = [KneeResult("right", (10, 20, 110, 120), "osteoporosis", 0.6123, 0.6123),
             KneeResult("left", (150, 20, 250, 120), "normal", 0.1, 0.9),
             KneeResult("unknown", (0, 0, 5, 5), "normal", 0.25, 0.75)]
    out = io.StringIO()
    Table(out).write(_normal("/films/b.png", label="osteoporosis", probability=0.6123, confidence=0.6123, knees=knees,
                             warnings=["a warning"]))
    lines = out.getvalue().split("\n")
    assert lines == [
        HEADER,
        "osteoporosis" + " " * 12 + "0.612  0.339  /films/b.png",
        "  osteoporosis" + " " * 10 + "0.612  0.339    Right knee",
        "  normal" + " " * 16 + "0.100  0.339    Left knee",
        "  normal" + " " * 16 + "0.250  0.339    Knee (side unknown)",
        INDENT + "warning: a warning",
        "",
    ]
    # The numbers end in the same columns on every line: the header's, the file's and each knee's.
    for line in lines[1:5]:
        assert line[24:29] in ("0.612", "0.100", "0.250") and line[31:36] == "0.339"
    assert lines[0].index("P(OSTEO)") + len("P(OSTEO)") == 29 and lines[0].index("THRESH") + len("THRESH") == 36


def test_each_knee_line_says_where_its_side_came_from():
    knees = [KneeResult("right", (10, 20, 110, 120), "osteoporosis", 0.6123, 0.6123, "hanging_convention"),
             KneeResult("left", (150, 20, 250, 120), "normal", 0.1, 0.9, "film_marker")]
    out = io.StringIO()
    Table(out).write(_normal("/films/b.png", label="osteoporosis", probability=0.6123, confidence=0.6123, knees=knees))
    assert out.getvalue().split("\n")[2:4] == [
        "  osteoporosis" + " " * 10 + "0.612  0.339    Right knee (film position)",
        "  normal" + " " * 16 + "0.100  0.339    Left knee (film marker)",
    ]
    dicom = KneeResult("left", (150, 20, 250, 120), "normal", 0.1, 0.9, "dicom_header")
    out = io.StringIO()
    Table(out).write(_normal("/films/c.dcm", label="normal", probability=0.1, confidence=0.9, knees=[dicom]))
    assert out.getvalue().split("\n")[2] == "  normal" + " " * 16 + "0.100  0.339    Left knee (DICOM header)"


def test_table_escapes_names_and_shows_the_patient_only_on_request():
    row = _normal("/films/evil\x1b[31m\nname.png", patient={"PatientName": "Doe^Jane", "PatientID": "12\x1b"})
    hidden = io.StringIO()
    Table(hidden).write(row)
    assert "\x1b" not in hidden.getvalue() and hidden.getvalue().count("\n") == 2  # header and one row
    assert "Doe^Jane" not in hidden.getvalue()
    shown = io.StringIO()
    Table(shown, include_patient=True).write(row)
    lines = shown.getvalue().split("\n")
    assert len(lines) == 4 and lines[1].startswith("normal" + " " * 18 + "0.200  0.339  /films/evil")
    assert lines[2] == INDENT + "patient: PatientName=Doe^Jane, PatientID=12\\x1b" and lines[3] == ""
    nobody = io.StringIO()
    Table(nobody, include_patient=True).write(_normal())
    assert "patient:" not in nobody.getvalue()


def test_progress_line_on_a_terminal_is_redrawn_in_place(clock):
    err = Terminal()
    progress = Progress(err)
    assert progress.tty and progress.interval_s == 0.2
    progress.update(ScanProgress(done=1, total=4, failed=0, elapsed_s=2.0, eta_s=6.0))
    assert err.getvalue() == CLEAR + "scanned 1/4 (0 failed), 0.5 files/s, about 6 s left"
    clock[0] += 0.1  # within the redraw interval: nothing new
    progress.update(ScanProgress(done=2, total=4, failed=1, elapsed_s=2.1, eta_s=2.0))
    assert err.getvalue().count(CLEAR) == 1
    clock[0] += 0.2
    progress.update(ScanProgress(done=3, total=4, failed=1, elapsed_s=3.0, eta_s=1.0, reused=2))
    assert err.getvalue().endswith(CLEAR + "scanned 3/4 (1 failed, 2 from history), 1.0 files/s, about 1 s left")
    progress.update(ScanProgress(done=4, total=4, failed=1, elapsed_s=4.0, eta_s=0.0), force=True)
    assert err.getvalue().endswith(CLEAR + "scanned 4/4 (1 failed), 1.0 files/s")  # done: no time left to state
    progress.clear()
    assert err.getvalue().endswith("files/s" + CLEAR)
    progress.clear()  # nothing shown since: nothing to clear
    assert err.getvalue().endswith("files/s" + CLEAR)
    assert "\n" not in err.getvalue()


def test_progress_in_a_log_is_a_line_every_few_seconds(clock):
    err = io.StringIO()
    progress = Progress(err)
    assert not progress.tty and progress.interval_s == 5.0
    progress.update(ScanProgress(done=1, total=None, failed=0, elapsed_s=0.0, eta_s=None))
    clock[0] += 4.9
    progress.update(ScanProgress(done=2, total=None, failed=0, elapsed_s=4.9, eta_s=None))
    clock[0] += 0.2
    progress.update(ScanProgress(done=3, total=None, failed=2, elapsed_s=5.1, eta_s=None))
    progress.clear()  # not a terminal: lines stay
    assert err.getvalue() == "scanned 1 (0 failed), 0.0 files/s\nscanned 3 (2 failed), 0.6 files/s\n"
    assert Progress(io.StringIO(), interval_s=1.5).interval_s == 1.5


def test_the_progress_line_is_cleared_before_each_table_line(clock):
    """Progress and table share a terminal: a table line printed over the progress line must start clean."""
    terminal = Terminal()
    progress = Progress(terminal)
    table = Table(terminal, progress=progress)
    progress.update(ScanProgress(done=1, total=2, failed=0, elapsed_s=1.0, eta_s=1.0))
    table.write(_normal())
    clock[0] += 1.0
    progress.update(ScanProgress(done=2, total=2, failed=0, elapsed_s=2.0, eta_s=0.0))
    table.write(_normal("/films/b.png"))
    shown = terminal.getvalue()
    first = "normal" + " " * 18 + "0.200  0.339  /films/a.png\n"
    assert (CLEAR + "scanned 1/2 (0 failed), 1.0 files/s, about 1 s left" + CLEAR + first) in shown
    assert shown.endswith("scanned 2/2 (0 failed), 1.0 files/s" + CLEAR + "normal" + " " * 18 + "0.200  0.339  /films/b.png\n")


def test_progress_edges(clock):
    class Pipe:  # a stream with no isatty at all: not a terminal
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    assert not Progress(Pipe()).tty
    quiet = Terminal()
    Progress(quiet).clear()  # nothing shown yet: nothing to clear
    assert quiet.getvalue() == ""
    err = Terminal()
    progress = Progress(err, interval_s=0.25)
    progress.update(ScanProgress(done=0, total=None, failed=0, elapsed_s=0.0, eta_s=5.0))
    assert err.getvalue() == CLEAR + "scanned 0 (0 failed), 0.0 files/s"  # no total: no time left to state
    clock[0] += 0.25  # exactly the interval: time to redraw
    progress.update(ScanProgress(done=1, total=None, failed=0, elapsed_s=0.25, eta_s=None))
    assert err.getvalue().endswith(CLEAR + "scanned 1 (0 failed), 4.0 files/s")
