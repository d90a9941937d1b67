"""One fuzz case read by the image reader, judged: shared by tests/test_reader_fuzz.py and benchmarks/fuzz_readers.py.

Both run it in a worker process (a decoder may hang or crash the process); what counts as a sane read and as a bug
is decided here once.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UnexpectedLog(logging.Handler):
    """Catches the reader's last-resort conversion ("unexpected ..."): a documented error reached by accident."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter())
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("unexpected"):
            self.messages.append(record.getMessage() + "\n" + (self.format(record) if record.exc_info else ""))


def watch_reader() -> UnexpectedLog:
    """Listen to the reader's log for its last-resort conversion (call once in the worker process)."""
    handler = UnexpectedLog()
    logging.getLogger("osteo_desktop").addHandler(handler)
    return handler


def read_case(path: Path, unexpected: UnexpectedLog, allowed: type[BaseException]) -> tuple[str, str]:
    """("read", "") for a sane radiograph, (error class name, message) for an ``allowed`` error raised on purpose,
    else ("bug", what went wrong): insane pixels, any other exception, or the last-resort conversion."""
    import numpy as np

    from osteo_desktop.core.reading.reader import read_radiograph

    unexpected.messages.clear()
    try:
        pixels = read_radiograph(path).pixels
        sane = (pixels.ndim == 2 and pixels.dtype == np.float32 and pixels.size > 0 and np.isfinite(pixels).all()
                and 0.0 <= pixels.min() and pixels.max() <= 1.0)
        outcome = ("read", "") if sane else ("bug", f"insane pixels {pixels.shape} {pixels.dtype}")
    except allowed as exc:
        outcome = (type(exc).__name__, str(exc))
    except BaseException:  # noqa: BLE001 - exactly what the fuzzing looks for
        outcome = ("bug", traceback.format_exc())
    if unexpected.messages:
        outcome = ("bug", "reader needed its last-resort conversion:\n" + unexpected.messages[0])
    return outcome


def serve(connection: Any, allowed: type[BaseException], folder: Path,
          report: Callable[[tuple[str, str]], tuple[Any, ...]] = tuple) -> None:
    """The worker process's loop: (bytes, suffix) in, ``report`` of :func:`read_case`'s outcome out; None ends it."""
    unexpected = watch_reader()
    while True:
        job = connection.recv()
        if job is None:
            return
        data, suffix = job
        path = folder / f"case{suffix}"
        path.write_bytes(data)
        connection.send(report(read_case(path, unexpected, allowed)))
