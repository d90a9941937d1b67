"""atomic_write_bytes (the PDF report's writer): the bytes exactly, the returned path, an existing file replaced whole
with its permissions kept, and nothing left beside it."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from osteo_desktop.core.atomic import atomic_write_bytes

# Every byte value, and line ends a text stream would translate: what is read back must be these bytes, unchanged.
DATA = bytes(range(256)) + b"\r\n\n\r%PDF-1.7\n"


def test_the_bytes_come_back_exactly_and_the_path_is_returned(tmp_path):
    target = tmp_path / "report.pdf"
    returned = atomic_write_bytes(str(target), DATA)
    assert returned == target and isinstance(returned, Path)
    assert target.read_bytes() == DATA
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no temporary file left


def test_an_existing_file_is_replaced_whole_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "report.pdf"
    target.write_bytes(b"an older, much longer report " * 100)
    target.chmod(0o600)  # made private by its user: it names a patient
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_empty_bytes_make_an_empty_file(tmp_path):
    target = tmp_path / "empty.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"")
    assert target.read_bytes() == b""


def test_the_text_writer_passes_its_newline_on(tmp_path):
    """atomic_writer and atomic_write_bytes share one stream opener (_atomic_stream): the text writer's ``newline``
    must still reach it. "\\r\\n" translates each "\\n" written; "" writes them as they are."""
    from osteo_desktop.core.atomic import atomic_writer

    with atomic_writer(tmp_path / "crlf.txt", newline="\r\n") as handle:
        handle.write("a\nb\n")
    assert (tmp_path / "crlf.txt").read_bytes() == b"a\r\nb\r\n"
    with atomic_writer(tmp_path / "plain.txt", newline="") as handle:
        handle.write("a\r\nb\n")
    assert (tmp_path / "plain.txt").read_bytes() == b"a\r\nb\n"


@pytest.mark.parametrize("earlier", [True, False], ids=["over an earlier export", "into an empty folder"])
def test_a_group_whose_second_rename_fails_leaves_the_folder_as_it_was(tmp_path, monkeypatch, earlier):
    """Review of stop 22: the first file was renamed over the earlier export's, then removed in the rollback: the
    folder kept an old image and PDF and no SR at all. Now the earlier files come back, or nothing is left."""
    import errno

    from osteo_desktop.core import atomic

    names = ["knee.sr.dcm", "knee.annotated.dcm", "knee.report.dcm"]
    if earlier:
        for name in names:
            (tmp_path / name).write_bytes(b"old " + name.encode())
    real_replace = os.replace

    def second_fails(src, dst, *args, **kwargs):
        if str(dst).endswith("knee.annotated.dcm") and ".tmp" in str(src):
            raise PermissionError(errno.EACCES, "the file is open in a viewer", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(PermissionError):
        atomic.atomic_write_group([(tmp_path / name, b"new " + name.encode()) for name in names])
    monkeypatch.undo()
    left = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert left == ({name: b"old " + name.encode() for name in names} if earlier else {})
