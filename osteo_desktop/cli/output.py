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


class Table:
    """The human-readable result table, printed as rows arrive: a line per file, under it a line per knee (label,
    probability, confidence, side) and one per warning."""

    def __init__(self, stream: IO[str], include_patient: bool = False, progress: Progress | None = None) -> None:
        self.stream = stream
        self.include_patient = include_patient
        self.progress = progress
        self.stream.write(f"{'RESULT':<13} {'P(OSTEO)':>8} {'CONF':>6}  FILE\n")

    def write(self, row: FileResult) -> None:
        if self.progress is not None:
            self.progress.clear()  # a progress line redrawn in place must not run into the table
        # Names, tags and messages quoting them are printed escaped: an escape sequence or a newline in a file
        # name must not recolour the terminal or fake a row.
        path = for_terminal(row.path)
        if row.error is not None:
            line = f"{'ERROR':<13} {'':>8} {'':>6}  {path}\n{'':<32}{for_terminal(row.error)}"
        elif row.declined:  # no result: no probability, and the reason where the number would be read
            line = f"{'NO RESULT':<13} {'':>8} {'':>6}  {path}\n{'':<32}{for_terminal(text.no_result_headline(row.out_of_scope))}"
        else:
            line = f"{row.label:<13} {row.probability:>8.3f} {row.confidence:>6.3f}  {path}"
            # One line per knee under the file's (whose result is its most suspicious knee's), numbers aligned: the
            # indented label gets the 14 columns of the file's label and its separator, since "  osteoporosis" is 14
            # wide and the probability's own 8-wide cell (3 spaces before "0.612") still keeps them apart.
            for knee in row.knees:
                line += f"\n{'  ' + knee.label:<14}{knee.probability:>8.3f} {knee.confidence:>6.3f}    {text.knee_name(knee.side)}"
            for warning in text.warning_sentences(row):
                line += f"\n{'':<32}warning: {for_terminal(warning)}"
        if self.include_patient and row.patient:
            line += f"\n{'':<32}patient: " + ", ".join(f"{k}={for_terminal(v)}" for k, v in row.patient.items())
        self.stream.write(line + "\n")
        self.stream.flush()
