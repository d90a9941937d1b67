"""What is wrong with a path before it is read, word for word (the scan, predict and dicom-export all print these)."""
from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from osteo_desktop.core.pipeline.file_faults import failure, os_cause, path_fault


def test_failure_names_the_file_only_not_its_folder():
    assert failure(Path("/some/folder/knee.png"), "why") == "knee.png: why"


def test_the_cause_is_the_systems_words_or_the_error_itself_when_it_has_none():
    assert os_cause(OSError(errno.ENOENT, "No such file or directory")) == "cannot be read (No such file or directory)"
    assert os_cause(OSError("no errno, only a message")) == "cannot be read (no errno, only a message)"


def test_a_regular_file_and_a_link_to_one_have_no_fault(tmp_path):
    image = tmp_path / "knee.png"
    image.write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(image)
    assert path_fault(image) is None
    assert path_fault(tmp_path / "link.png") is None


def test_a_missing_file_and_a_dangling_link(tmp_path):
    assert path_fault(tmp_path / "gone.png") == "gone.png: cannot be read (No such file or directory)"
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    assert path_fault(tmp_path / "dangling.png") == "dangling.png: cannot be read (No such file or directory)"


def test_a_path_through_a_file_is_not_a_directory(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    assert path_fault(tmp_path / "file.png" / "inner.png") == "inner.png: cannot be read (Not a directory)"


def test_a_folder(tmp_path):
    (tmp_path / "scans.png").mkdir()
    assert path_fault(tmp_path / "scans.png") == "scans.png: is a folder, not an image file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_a_socket_and_a_device_are_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    words = "not a regular file (a pipe, socket or device); not read"
    assert path_fault(tmp_path / "pipe.png") == f"pipe.png: {words}"  # opening it would block for ever
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock.png"))
        assert path_fault(tmp_path / "sock.png") == f"sock.png: {words}"
    assert path_fault(Path(os.devnull)) == f"null: {words}"
