"""How ``osteo predict`` and ``osteo scan`` show rows as they arrive: a table on stdout, progress on stderr."""

from __future__ import annotations

import sys
import time
from typing import IO

from osteo_desktop.core.pipeline.scanning import ScanProgress
from osteo_desktop.core.results import text
from osteo_desktop.core.results.names import for_terminal
from osteo_desktop.core.results.result import FileResult


class Progress:
    """Progress on stderr: a line redrawn in place on a terminal, else a line every few seconds."""

    def __init__(self, stream: IO[str] | None = None, interval_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.2 if self.tty else 5.0)
        self._last = 0.0
        self._shown = False

    def update(self, progress: ScanProgress, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        total = f"/{progress.total}" if progress.total is not None else ""
        eta = f", about {progress.eta_s:.0f} s left" if progress.eta_s is not None and progress.done < (progress.total or 0) else ""
        reused = f", {progress.reused} from history" if progress.reused else ""
        line = (f"scanned {progress.done}{total} ({progress.failed} failed{reused}), "
                f"{progress.rate_per_s:.1f} files/s{eta}")
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self._shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


# The call's cell: wide enough for "borderline-above" after a knee's two-space indent, with room to spare.
CALL_WIDTH = 20
# Where the file's path starts (call, probability, threshold): lines under it (warnings, reasons) start one further in.
INDENT = " " * (CALL_WIDTH + 1 + 8 + 1 + 6 + 2 + 1)


class Table:
    """The human-readable result table, printed as rows arrive: a line per file, under it a line per knee (call,
    probability, threshold, side) and one per warning.

    The numbers are the probability of osteoporosis and the threshold it is called against, not the confidence: the
    threshold is below 0.5, so a positive call's confidence can be under 0.5 and read as favouring normal (the JSON
    and CSV keep ``confidence``). Within the borderline margin the call reads "borderline-above", "borderline-at" or
    "borderline-below" (text.short_call, applied once, by the result: the file's ``call`` and each knee's), and the
    borderline warning says why."""

    def __init__(self, stream: IO[str], include_patient: bool = False, progress: Progress | None = None) -> None:
        self.stream = stream
        self.include_patient = include_patient
        self.progress = progress
        self.stream.write(f"{'RESULT':<{CALL_WIDTH}} {'P(OSTEO)':>8} {'THRESH':>6}  FILE\n")

    def write(self, row: FileResult) -> None:
        if self.progress is not None:
            self.progress.clear()  # a progress line redrawn in place must not run into the table
        # Names, tags and messages quoting them are printed escaped: an escape sequence or a newline in a file
        # name must not recolour the terminal or fake a row.
        path = for_terminal(row.path)
        if row.error is not None:
            line = f"{'ERROR':<{CALL_WIDTH}} {'':>8} {'':>6}  {path}\n{INDENT}{for_terminal(row.error)}"
        elif row.declined:  # no result: no probability, and the reason where the number would be read
            line = (f"{'NO RESULT':<{CALL_WIDTH}} {'':>8} {'':>6}  {path}\n"
                    f"{INDENT}{for_terminal(text.no_result_headline(row.out_of_scope))}")
        else:
            threshold = row.threshold
            call = row.call  # set with the result (FileResult), as each knee's is: the table does not call it again
            line = f"{call:<{CALL_WIDTH}} {row.probability:>8.3f} {threshold:>6.3f}  {path}"
            # One line per knee under the file's (whose result is its most suspicious knee's), numbers aligned: the
            # indented call gets the columns of the file's call and its separator ("  borderline-above" fits).
            for knee in row.knees:
                knee_call = f"  {knee.call}"  # the knee's own call, set with the file's (FileResult): one rule
                line += (f"\n{knee_call:<{CALL_WIDTH + 1}}{knee.probability:>8.3f} {threshold:>6.3f}    "
                         f"{text.knee_title(knee)}")
            for warning in text.warning_sentences(row):
                line += f"\n{INDENT}warning: {for_terminal(warning)}"
        if self.include_patient and row.patient:
            line += f"\n{INDENT}patient: " + ", ".join(f"{k}={for_terminal(v)}" for k, v in row.patient.items())
        self.stream.write(line + "\n")
        self.stream.flush()
