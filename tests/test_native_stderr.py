"""The native-stderr window in-process: fd 2 as pytest's capfd holds it, lines written with os.write as a C library
writes them. Only a line that starts with LiteRT's delegate notice is held back (and logged); every other line comes
back to the real stderr, in its order, also when the block raises."""
from __future__ import annotations

import errno
import logging
import os

import pytest

from osteo_desktop.core.model import native_stderr
from osteo_desktop.core.model.native_stderr import without_native_noise

DELEGATE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(record.levelno, record.getMessage()) for record in caplog.records if record.name == native_stderr.__name__]


def test_only_the_delegate_line_is_held_back_and_it_is_logged_at_info(capfd, caplog):
    caplog.set_level(logging.INFO, logger=native_stderr.__name__)
    with without_native_noise():
        os.write(2, b"first\n")
        os.write(2, DELEGATE)
        os.write(2, b"last, with no line end")
        # Nothing reached the real stderr yet: it all sits in the window's file.
        assert capfd.readouterr().err == ""
    assert capfd.readouterr().err == "first\nlast, with no line end"
    assert _logged(caplog) == [(logging.INFO, "LiteRT: INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")]


def test_the_notice_is_recognised_by_its_start_only(capfd, caplog):
    """Another release's ending is still the notice; the notice's words inside another line are not."""
    caplog.set_level(logging.INFO, logger=native_stderr.__name__)
    with without_native_noise():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for GPU (new words)\r\n")
        os.write(2, b"W: INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"INFO: Created TensorFlow Lite\n")  # shorter than the notice's start: not it
    assert capfd.readouterr().err == ("W: INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
                                      "INFO: Created TensorFlow Lite\n")
    # The log line has the line end stripped (\r too) and undecodable bytes replaced, never a crash.
    assert _logged(caplog) == [(logging.INFO, "LiteRT: INFO: Created TensorFlow Lite XNNPACK delegate for GPU (new words)")]


def test_undecodable_bytes_in_the_notice_are_logged_replaced(capfd, caplog):
    caplog.set_level(logging.INFO, logger=native_stderr.__name__)
    with without_native_noise():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate \xff\n")
        os.write(2, b"kept \xff\n")
    assert capfd.readouterr().err == "kept \ufffd\n"  # capfd decodes with replacement; the byte itself went out
    assert _logged(caplog) == [(logging.INFO, "LiteRT: INFO: Created TensorFlow Lite XNNPACK delegate \ufffd")]


def test_fd_2_is_the_real_stderr_again_after_the_window(capfd):
    with without_native_noise():
        os.write(2, b"inside\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "inside\nafter\n"


def test_lines_written_before_the_block_raises_still_come_out(capfd):
    """A load that fails (a damaged model, a failing allocation) may say why on fd 2 just before Python raises: those
    lines are the ones the user most needs, and must not be thrown away with the window's file."""
    with pytest.raises(RuntimeError, match="load failed"):
        with without_native_noise():
            os.write(2, b"ERROR: the library's own reason\n")
            os.write(2, DELEGATE)
            raise RuntimeError("load failed")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "ERROR: the library's own reason\nafter\n"


def test_without_room_for_a_temporary_file_nothing_is_held_back(capfd, monkeypatch):
    def no_room():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native_stderr.tempfile, "TemporaryFile", no_room)
    with without_native_noise():
        os.write(2, DELEGATE)
        os.write(2, b"other\n")
        assert capfd.readouterr().err == DELEGATE.decode() + "other\n"  # straight through, at once


def test_a_stderr_that_cannot_be_flushed_does_not_break_the_window(capfd, monkeypatch):
    class Closed:
        def flush(self) -> None:
            raise ValueError("I/O operation on closed file")

    monkeypatch.setattr(native_stderr.sys, "stderr", Closed())
    with without_native_noise():
        os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_python_stderr_written_in_the_window_is_flushed_into_it_in_order(monkeypatch, capfd):
    """Python's sys.stderr is buffered: what it holds when the window opens belongs before the window's lines, and
    what it is given inside is flushed into the window before fd 2 is restored."""
    # A buffered text stream on fd 2 itself, as sys.stderr is when it is a file or pipe (a dup of fd 2 would not
    # follow the window's dup2).
    stream = open(2, "w", buffering=1 << 16, closefd=False)
    monkeypatch.setattr(native_stderr.sys, "stderr", stream)
    stream.write("python before\n")  # buffered, not yet on fd 2
    with without_native_noise():
        os.write(2, b"native inside\n")
        stream.write("python inside\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "python before\nnative inside\npython inside\nafter\n"


def test_a_stderr_that_fails_on_writing_back_loses_those_lines_quietly(capfd, monkeypatch):
    """fd 2 closed while the model loaded (a detached window): nowhere left to say it, and no error either."""
    real_write = os.write

    def closed_stderr(fd: int, data: bytes) -> int:
        if fd == 2:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real_write(fd, data)

    with without_native_noise():
        real_write(2, b"first\n")
        real_write(2, b"second\n")
        monkeypatch.setattr(native_stderr.os, "write", closed_stderr)  # from here until the write-back is done
    monkeypatch.undo()
    assert capfd.readouterr().err == ""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to list open descriptors")
def test_the_window_leaves_no_descriptor_open(capfd):
    """Each model load opens a window: a descriptor kept per window (the saved fd 2, the temporary file) would run a
    long session out of them."""
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with without_native_noise():
            os.write(2, b"x\n")
    assert sorted(os.listdir("/proc/self/fd")) == before
    assert capfd.readouterr().err == "x\n" * 3
