"""Keep LiteRT's one native INFO line off the terminal without losing anything else written to stderr.

LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to file descriptor 2 (not
through Python's sys.stderr or logging) when an interpreter is made, so every command and the window's terminal
showed it. Around that call, fd 2 is pointed at a temporary file; afterwards every captured line is written back to
the real stderr except that one, which goes to the log at INFO (shown with -v). A warning the library (or another
thread) writes in that window therefore still reaches the user, only a few milliseconds later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from typing import BinaryIO, Iterator

log = logging.getLogger(__name__)

# The start of the line, not all of it: its end ("for CPU.") has changed between LiteRT releases.
NATIVE_NOISE = b"INFO: Created TensorFlow Lite XNNPACK delegate"
# fd 2 is the process's: two windows open at once (a model loading in a worker while another resizes) would each
# restore what the other put there, leaving stderr pointed at a deleted file. One window at a time.
_WINDOW = threading.Lock()


@contextlib.contextmanager
def without_native_noise() -> Iterator[None]:
    """Run the block with fd 2 captured; then write back every line but :data:`NATIVE_NOISE`'s (logged at INFO).

    With INFO logging on (-v) nothing is captured: the line is wanted then, and a native abort inside the window
    must not take its last words into a deleted temporary file."""
    if logging.getLogger().isEnabledFor(logging.INFO):  # -v: the root logger at INFO
        yield
        return
    with _WINDOW:
        with _captured_stderr():
            yield


@contextlib.contextmanager
def _captured_stderr() -> Iterator[None]:
    try:
        captured = tempfile.TemporaryFile()
    except OSError:  # no room for a temporary file: let the line through rather than risk losing others
        yield
        return
    with captured:
        try:
            _flush_python_stderr()
            saved = os.dup(2)
        except OSError:  # no fd 2 at all (a detached GUI process): nothing to filter
            yield
            return
        try:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                _flush_python_stderr()  # what Python wrote meanwhile is in the file, not in its buffer
                os.dup2(saved, 2)
                # Also when the block raised: a model that fails to load says why on stderr (LiteRT's ERROR lines).
                _write_back(captured)
        finally:
            os.close(saved)


def _flush_python_stderr() -> None:
    with contextlib.suppress(Exception):  # a closed or replaced sys.stderr has nothing of ours to flush
        sys.stderr.flush()


def _write_back(captured: BinaryIO) -> None:
    captured.seek(0)
    for line in captured.read().splitlines(keepends=True):
        if line.startswith(NATIVE_NOISE):
            log.info("LiteRT: %s", line.decode("utf-8", "replace").rstrip())
            continue
        with contextlib.suppress(OSError):  # stderr closed meanwhile: nowhere left to say it
            os.write(2, line)
