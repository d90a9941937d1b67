"""Every way a file can fail to be a radiograph gives an ImageReadError naming the file and the cause."""

from __future__ import annotations

import os
import signal
import sys
import zipfile

import pytest

from osteo_desktop.core.errors import ImageReadError, NotAnImageError
from osteo_desktop.core.reading.reader import read_radiograph


def _error(path) -> ImageReadError:
    with pytest.raises(ImageReadError) as caught:
        read_radiograph(path)
    assert caught.value.path == str(path)
    assert os.path.basename(str(path)) in str(caught.value), "the message must name the file"
    return caught.value


def test_text_file_named_png_is_not_an_image(tmp_path):
    path = tmp_path / "scan.png"
    path.write_text("Patient list\nnot really a picture\n")
    error = _error(path)
    assert isinstance(error, NotAnImageError)
    assert "not an image" in str(error) and "text" in str(error) and ".png" in str(error)


def test_empty_file_is_not_an_image(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    error = _error(path)
    assert isinstance(error, NotAnImageError) and "empty" in str(error)


def test_zip_archive_is_named_as_such(tmp_path):
    path = tmp_path / "study.dcm"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "x")
    error = _error(path)
    assert isinstance(error, NotAnImageError) and "ZIP" in str(error)


def test_random_binary_is_not_an_image(tmp_path):
    path = tmp_path / "blob.jpg"
    path.write_bytes(bytes(range(256)) * 8)
    assert isinstance(_error(path), NotAnImageError)


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_png_names_the_damage(knee_png, tmp_path, keep):
    data = knee_png.read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: int(len(data) * keep)])
    error = _error(path)
    assert not isinstance(error, NotAnImageError)
    assert "PNG" in str(error) and ("truncated" in str(error) or "damaged" in str(error))


def test_truncated_jpeg_names_the_damage(knee_jpeg, tmp_path):
    data = knee_jpeg.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    error = _error(path)
    assert "JPEG" in str(error) and ("truncated" in str(error) or "damaged" in str(error))


def test_truncated_dicom_header(dicom_dir, tmp_path):
    data = (dicom_dir / "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:300])
    assert "DICOM" in str(_error(path))


def test_directory_named_dcm(tmp_path):
    folder = tmp_path / "series.dcm"
    folder.mkdir()
    error = _error(folder)
    assert isinstance(error, NotAnImageError) and "folder" in str(error)


def test_missing_file(tmp_path):
    assert "not found" in str(_error(tmp_path / "gone.png"))


def test_symlink_loop(tmp_path):
    loop = tmp_path / "loop.png"
    os.symlink(loop, loop)
    assert "link" in str(_error(loop))


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root and Windows ignore mode bits")
def test_unreadable_file(knee_png, tmp_path):
    path = tmp_path / "locked.png"
    path.write_bytes(knee_png.read_bytes())
    path.chmod(0)
    try:
        assert "permission denied" in str(_error(path))
    finally:
        path.chmod(0o600)


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGALRM"), reason="no named pipes or alarms")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)

    def blocked(signum, frame):
        raise AssertionError("the reader opened the pipe and blocked")

    # A watchdog, not a timing assert: a reader that opened the pipe would wait for a writer for ever.
    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        assert isinstance(_error(pipe), NotAnImageError)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_unsupported_image_format_says_what_it_is(tmp_path):
    from PIL import Image

    path = tmp_path / "knee.gif"
    Image.new("L", (200, 200), 90).save(path)
    assert "GIF" in str(_error(path))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (FileNotFoundError(2, "No such file or directory"), "not found"),
        (OSError(5, "Input/output error"), "input/output error"),
    ],
)
def test_file_that_vanishes_or_locks_between_listing_and_reading(knee_png, tmp_path, monkeypatch, error, expected):
    from osteo_desktop.core.reading import reader as imaging

    path = tmp_path / "moving.png"
    path.write_bytes(knee_png.read_bytes())  # stat() still sees it; the open that follows fails

    def failing_open(*args, **kwargs):
        raise error

    monkeypatch.setattr(imaging, "open", failing_open, raising=False)
    assert expected in str(_error(path))
