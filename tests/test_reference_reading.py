"""The reading front door against answers worked out here: sniffing by magic bytes (never by name), the limits and
refusals in their words, the colour check, the Radiograph and identity types, and the reader's dispatch.

Fast: every file is a few hundred bytes made in the test (Pillow, pydicom or by hand); no shared data is decoded.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import signal
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imaging_factories import dicom_bytes, gradient, make_dicom
from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError, NotAnImageError
from osteo_desktop.core.reading import colour, reader
from osteo_desktop.core.reading.limits import MAX_PIXELS, brief, check_dimensions
from osteo_desktop.core.reading.radiograph import DicomIdentity, PatientIdentity, Radiograph, dicom_keywords
from osteo_desktop.core.reading.reader import (
    describe_radiograph, on_grey_levels, read_file_bytes, read_patient, read_radiograph,
)
from osteo_desktop.core.reading.sniffing import SNIFF_BYTES, describe_content, looks_like_damaged_dicom, sniff_format

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _png(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def _error(call, *args, **kwargs) -> ImageReadError:
    with pytest.raises(ImageReadError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- sniffing: content, never the name --------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DICOM_PREAMBLE = bytes(128) + b"DICM"


def _bmp_head(header_size: int) -> bytes:
    return b"BM" + bytes(12) + struct.pack("<I", header_size) + bytes(40)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (DICOM_PREAMBLE + bytes(64), "DICOM"),
        (b"II*\x00" + bytes(124) + b"DICM" + bytes(64), "DICOM"),  # a TIFF header in the DICOM preamble: DICOM wins
        (PNG_MAGIC + bytes(32), "PNG"),
        (b"\xff\xd8\xff\xe0" + bytes(32), "JPEG"),
        (b"II*\x00" + bytes(32), "TIFF"),
        (b"MM\x00*" + bytes(32), "TIFF"),
        (b"II+\x00" + bytes(32), "TIFF"),  # BigTIFF
        (b"MM\x00+" + bytes(32), "TIFF"),
        *[(_bmp_head(size), "BMP") for size in (12, 16, 40, 52, 56, 64, 108, 124)],
        (_bmp_head(41), None),  # "BM" followed by no known BMP header size: text starting with BM, say
        (b"BM" + bytes(12) + b"\x28\x00\x00", None),  # 17 bytes: too short to hold the header size
        (PNG_MAGIC[:-1] + b"\x00" + bytes(32), None),  # one byte off the PNG signature
        (b"\xff\xd8\x00" + bytes(32), None),  # a JPEG needs its third 0xFF
        (b"II*\x01" + bytes(32), None),
        (b"", None),
        (b"GIF89a" + bytes(32), None),
    ],
)
def test_sniff_format_by_magic_bytes(head, expected):
    assert sniff_format(head) == expected


def _element(group: int, element: int, vr: bytes, value: bytes, big: bool = False) -> bytes:
    order = ">" if big else "<"
    return struct.pack(f"{order}HH", group, element) + vr + struct.pack(f"{order}H", len(value)) + value


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_element(0x0008, 0x0005, b"CS", b"ISO_IR 100"), "DICOM"),  # explicit VR little endian, group 0008
        (_element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\x00"), "DICOM"),  # file meta group, no preamble
        (_element(0x0008, 0x0016, b"UI", b"1.2.3\x00", big=True), "DICOM"),  # explicit VR big endian
        (struct.pack("<HHI", 0x0008, 0x0016, 26) + b"1.2.840.10008.5.1.4.1.1.1\x00", "DICOM"),  # implicit VR
        (struct.pack("<HHI", 0x0008, 0x0016, 1023) + bytes(16), "DICOM"),  # the longest first element believed
        (struct.pack("<HHI", 0x0008, 0x0016, 1024) + bytes(16), None),
        (_element(0x0008, 0x1000, b"CS", b"AB"), None),  # element 1000 and above does not open a dataset
        (_element(0x0008, 0x0fff, b"CS", b"AB"), "DICOM"),
        (_element(0x0010, 0x0010, b"PN", b"Doe^J"), None),  # a dataset cannot open on the patient group
        (_element(0x0002, 0x0010, b"UI", b"1.2", big=True), None),  # big endian only for group 0008
        (struct.pack("<HH", 0x0008, 0x0005) + b"CS\x04", None),  # 7 bytes: too short
    ],
)
def test_a_bare_dicom_dataset_is_recognised_by_its_first_element(head, expected):
    assert sniff_format(head) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", "an empty file (0 bytes)"),
        (b"GIF87a" + bytes(10), "a GIF image (unsupported format)"),
        (b"GIF89a" + bytes(10), "a GIF image (unsupported format)"),
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(10), "a JPEG 2000 image (unsupported outside DICOM)"),
        (b"\xff\x4f\xff\x51" + bytes(10), "a JPEG 2000 codestream (unsupported outside DICOM)"),
        (b"PK\x03\x04" + bytes(10), "a ZIP archive"),
        (b"PK\x05\x06" + bytes(10), "an empty ZIP archive"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\x1f\x8b\x08" + bytes(10), "a gzip archive"),
        (b"7z\xbc\xaf\x27\x1c" + bytes(10), "a 7-Zip archive"),
        (b"Rar!\x1a\x07" + bytes(10), "a RAR archive"),
        (b"SQLite format 3\x00" + bytes(10), "an SQLite database"),
        (b"\x7fELF\x02\x01" + bytes(10), "a program (ELF executable)"),
        (b"MZ\x90\x00" + bytes(10), "a Windows program or library"),
        (b"x" * 10 + b"DICM" + b"x" * 10, "damaged DICOM"),
        (b"Patient list\nnot really a picture\n", "a text file"),
        ("Patientenliste: Müller, Jürgen\n".encode(), "a text file"),
        (bytes(range(256)), "unrecognised binary data"),
    ],
)
def test_describe_content_names_what_a_file_is(head, expected):
    assert describe_content(head) == expected


def test_text_cut_inside_a_multibyte_character_is_still_text():
    text = ("Knie rechts, Aufnahme ä" * 40).encode("utf-8")
    cut = text[: text.index("ä".encode()) + 1]  # ends on the first byte of a two-byte character
    assert describe_content(cut) == "a text file"
    assert describe_content(b"ab\xff" + b"cd" * 10) == "unrecognised binary data"  # invalid in the middle


@pytest.mark.parametrize(("printable", "expected"), [(95, "a text file"), (94, "unrecognised binary data")])
def test_text_needs_95_percent_printable_characters(printable, expected):
    head = b"a" * printable + b"\x01" * (100 - printable)
    assert describe_content(head) == expected


def test_tabs_and_line_ends_count_as_text():
    assert describe_content(b"a\tb\r\nc\n" * 20) == "a text file"


def test_damaged_dicom_is_a_dicom_element_past_the_first_byte_or_a_dicm_marker():
    late = b"\x00" * 10 + struct.pack("<HH", 0x0008, 0x0016) + b"UI" + bytes(20)
    assert looks_like_damaged_dicom(late)
    assert looks_like_damaged_dicom(b"junk DICM junk")
    assert not looks_like_damaged_dicom(b"junk junk junk")
    # An element at byte 0 is a bare dataset, not damage; one beyond the first 256 bytes is not looked for.
    assert not looks_like_damaged_dicom(struct.pack("<HH", 0x0008, 0x0016) + b"UI" + bytes(20))
    assert not looks_like_damaged_dicom(bytes(300) + struct.pack("<HH", 0x0008, 0x0016) + b"UI")
    assert looks_like_damaged_dicom(bytes(240) + struct.pack("<HH", 0x0008, 0x0016) + b"UI")


def test_the_sniffing_window_is_1024_bytes():
    assert SNIFF_BYTES == 1024


# --- the reader's dispatch --------------------------------------------------------------------------------------


def test_content_decides_the_reader_whatever_the_name(tmp_path):
    values = np.arange(130 * 140, dtype=np.uint32).reshape(130, 140).astype(np.uint8)
    png = _png(values)
    dicom = dicom_bytes(make_dicom(gradient(height=130, width=140), bits_stored=12, window=(2048, 4096)))
    for name in ("film.dcm", "film.jpg", "film", "FILM.PNG"):
        as_png = read_radiograph(tmp_path / name, data=png)  # no file on disk: the bytes given are read
        assert as_png.source_format == "png" and as_png.metadata["format"] == "PNG" and as_png.dicom is None
        np.testing.assert_array_equal(as_png.pixels, values / np.float32(255.0))
        as_dicom = read_radiograph(tmp_path / name, data=dicom)
        assert as_dicom.source_format == "dicom" and as_dicom.metadata["format"] == "DICOM"
        assert as_dicom.dicom is not None and as_dicom.modality_values is not None


def test_read_radiograph_reads_the_file_when_no_bytes_are_given(tmp_path):
    values = np.full((130, 140), 51, dtype=np.uint8)
    path = tmp_path / "on_disk"
    path.write_bytes(_png(values))
    radiograph = read_radiograph(str(path))
    assert radiograph.path == path and isinstance(radiograph.path, Path)
    np.testing.assert_array_equal(radiograph.pixels, np.full((130, 140), 0.2, dtype=np.float32))


def test_dicom_pixels_are_put_on_the_256_grey_levels_and_8_bit_rasters_left_alone():
    # A 12-bit ramp through window (2048, 4096): exact values k / 4095 are not on the k / 255 grid until rounded.
    pixels = np.linspace(0, 4095, 130 * 140).reshape(130, 140).astype(np.uint16)
    dicom = dicom_bytes(make_dicom(pixels, bits_stored=12, window=(2047.5, 4095), VOILUTFunction="LINEAR_EXACT"))
    radiograph = read_radiograph(Path("ramp.dcm"), data=dicom)
    expected = np.rint(pixels / 4095.0 * 255.0) / 255.0
    np.testing.assert_allclose(radiograph.pixels, expected, rtol=0, atol=1e-6)
    values = np.arange(130 * 140).reshape(130, 140).astype(np.uint8)
    np.testing.assert_array_equal(read_radiograph(Path("x.png"), data=_png(values)).pixels, values / np.float32(255.0))


def test_unknown_content_is_not_an_image_with_a_hint_only_for_an_image_name():
    error = _error(read_radiograph, Path("scan.PNG"), data=b"Patient list\n")
    assert isinstance(error, NotAnImageError)
    assert error.cause == "not an image: the content is a text file despite its .PNG extension"
    error = _error(read_radiograph, Path("notes.txt"), data=b"Patient list\n")
    assert error.cause == "not an image: the content is a text file"
    error = _error(read_radiograph, Path("empty.dcm"), data=b"")
    assert isinstance(error, NotAnImageError) and error.cause == "not an image: the content is an empty file (0 bytes) despite its .dcm extension"
    for suffix in (".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        assert _error(read_radiograph, Path("x" + suffix), data=b"%PDF-1.4").cause.endswith(f"despite its {suffix} extension")


def test_damaged_dicom_is_a_read_error_not_not_an_image():
    head = b"\x00" * 10 + struct.pack("<HH", 0x0008, 0x0016) + b"UI" + bytes(40)
    error = _error(read_radiograph, Path("cut.dcm"), data=head)
    assert not isinstance(error, NotAnImageError)
    assert error.cause == (
        "damaged DICOM: no file meta header ('DICM' marker at byte 128) and the data does not start at a DICOM "
        "element, so it cannot be parsed"
    )


def test_only_the_first_1024_bytes_are_sniffed():
    # A PNG signature at byte 1024 is not looked at; text before it makes the file "a text file".
    error = _error(read_radiograph, Path("late.bin"), data=b"a" * 1024 + PNG_MAGIC)
    assert error.cause == "not an image: the content is a text file"


def test_a_decoder_failure_of_any_kind_becomes_a_read_error(monkeypatch, caplog):
    def exploding(*args, **kwargs):
        raise RuntimeError("decoder blew up\nbadly")

    monkeypatch.setattr(reader, "read_raster", exploding)
    with caplog.at_level(logging.WARNING, logger="osteo_desktop.core.reading.reader"):
        error = _error(read_radiograph, Path("x.png"), data=_png(np.zeros((4, 4), np.uint8)))
    assert type(error) is ImageReadError
    assert error.cause == "could not be decoded (RuntimeError: decoder blew up badly)"
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == "unexpected RuntimeError while reading x.png"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError  # the traceback, for a bug report


def test_running_out_of_memory_is_too_large(monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(reader, "read_dicom", exhausted)
    error = _error(read_radiograph, Path("x.dcm"), data=DICOM_PREAMBLE)
    assert isinstance(error, ImageTooLargeError) and error.cause == "not enough memory to read this image"


def test_a_read_error_passes_through_and_is_logged(monkeypatch, caplog):
    def refusing(path, *args, **kwargs):
        raise ImageTooLargeError(path, "declares too much")

    monkeypatch.setattr(reader, "read_raster", refusing)
    with caplog.at_level(logging.INFO, logger="osteo_desktop.core.reading.reader"):
        error = _error(read_radiograph, Path("big.png"), data=_png(np.zeros((4, 4), np.uint8)))
    assert isinstance(error, ImageTooLargeError) and error.cause == "declares too much"
    [record] = [r for r in caplog.records if r.name == "osteo_desktop.core.reading.reader"]
    assert record.levelno == logging.INFO and record.getMessage() == "could not read big.png: declares too much"
    assert not record.exc_info  # an expected refusal: no traceback unless debugging
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="osteo_desktop.core.reading.reader"):
        _error(read_radiograph, Path("big.png"), data=_png(np.zeros((4, 4), np.uint8)))
    [record] = [r for r in caplog.records if r.name == "osteo_desktop.core.reading.reader"]
    assert record.exc_info is not None and record.exc_info[0] is ImageTooLargeError


@pytest.mark.parametrize(("width", "height", "warns"), [(128, 128, False), (127, 300, True), (300, 127, True), (129, 128, False)])
def test_a_side_under_128_pixels_warns(width, height, warns):
    radiograph = read_radiograph(Path("s.png"), data=_png(np.zeros((height, width), np.uint8)))
    expected = (
        [f"the image is only {width} x {height} pixels; the model needs at least 128 pixels a side, too few to be read reliably"]
        if warns else []
    )
    assert radiograph.warnings == expected


def test_the_size_warning_uses_the_stored_size():
    # A 200 x 100 film stored turned (EXIF 6) is 100 x 200 upright; the warning quotes the stored size.
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((100, 200), np.uint8)).save(buffer, format="PNG", exif=exif)
    radiograph = read_radiograph(Path("t.png"), data=buffer.getvalue())
    assert radiograph.pixels.shape == (200, 100)
    assert radiograph.warnings[-1].startswith("the image is only 200 x 100 pixels;")


# --- on_grey_levels and when it applies -------------------------------------------------------------------------


def test_on_grey_levels_rounds_to_the_nearest_k_over_255_in_place():
    pixels = np.array([0.0, 0.4 / 255, 0.6 / 255, 100.3 / 255, 100.7 / 255, 254.6 / 255, 1.0], dtype=np.float32)
    expected = np.array([0, 0, 1, 100, 101, 255, 255], dtype=np.float64) / 255.0
    result = on_grey_levels(pixels)
    assert result is pixels and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-7)


def test_on_grey_levels_copies_a_read_only_array_and_converts_other_types():
    frozen = np.array([0.3 / 255, 7.8 / 255], dtype=np.float32)
    frozen.flags.writeable = False
    result = on_grey_levels(frozen)
    assert result is not frozen and result.flags.writeable
    np.testing.assert_allclose(result, [0.0, 8 / 255], rtol=0, atol=1e-7)
    np.testing.assert_allclose(frozen, [0.3 / 255, 7.8 / 255], rtol=1e-6)  # left as it was
    doubles = on_grey_levels(np.array([0.5 / 255 + 1e-4, 3.2 / 255]))
    assert doubles.dtype == np.float32
    np.testing.assert_allclose(doubles, [1 / 255, 3 / 255], rtol=0, atol=1e-7)


def _radiograph(source_format: str = "png", **metadata) -> Radiograph:
    pixels = np.array([[0.3 / 255, 2.6 / 255]], dtype=np.float32)
    return Radiograph(Path("x"), pixels, source_format, dict(metadata))


@pytest.mark.parametrize(
    ("source_format", "bits", "finer"),
    [("dicom", 8, True), ("dicom", None, True), ("png", 8, False), ("png", 9, True), ("png", 16, True),
     ("png", None, False), ("png", "eight", False), ("png", 1, False), ("tiff", 32, True)],
)
def test_which_images_are_put_on_the_grey_levels(source_format, bits, finer):
    radiograph = _radiograph(source_format, **({} if bits is None else {"bits_stored": bits}))
    assert reader._finer_than_grey_levels(radiograph) is finer


# --- read_patient, describe_radiograph ---------------------------------------------------------------------------


def test_read_patient_reads_dicom_identifiers_and_nothing_from_other_files():
    ds = make_dicom(gradient(height=16, width=16), bits_stored=12, PatientSex="F", AccessionNumber="ACC-1")
    assert read_patient(Path("p.dcm"), dicom_bytes(ds)) == {
        "name": "Doe^Jane", "id": "PID-8812", "birth_date": "19470312", "sex": "F", "accession_number": "ACC-1",
    }
    assert read_patient(Path("p.png"), _png(np.zeros((4, 4), np.uint8))) == {}
    assert read_patient(Path("p.txt"), b"Doe^Jane") == {}


def test_read_patient_of_a_damaged_dicom_is_a_read_error(monkeypatch):
    def broken(path, data):
        raise KeyError("no such tag")

    monkeypatch.setattr(reader, "read_dicom_patient", broken)
    error = _error(read_patient, "p.dcm", DICOM_PREAMBLE)
    assert type(error) is ImageReadError and error.cause == "could not be parsed (KeyError: 'no such tag')"
    assert error.path == "p.dcm"

    def refusing(path, data):
        raise NotAnImageError(path, "no pixels")

    monkeypatch.setattr(reader, "read_dicom_patient", refusing)
    assert isinstance(_error(read_patient, "p.dcm", DICOM_PREAMBLE), NotAnImageError)


def test_describe_a_raster_radiograph():
    radiograph = Radiograph(
        Path("/films/knee.png"), np.zeros((3, 5), np.float32), "png",
        {"format": "PNG", "mode": "L", "original_width": 5, "original_height": 3, "bits_stored": 8,
         "window_source": "full range", "width": 5, "height": 3, "secret": "not listed"},
        ["a warning"],
    )
    summary = describe_radiograph(radiograph)
    assert summary == {
        "path": "/films/knee.png", "format": "PNG", "width": 5, "height": 3, "bits_stored": 8, "mode": "L",
        "window_source": "full range", "inverted_monochrome1": False, "warnings": ["a warning"],
    }
    summary["warnings"].append("changed")
    assert radiograph.warnings == ["a warning"]  # a copy


def test_describe_a_turned_dicom_radiograph_with_a_window():
    listed = ["bits_stored", "bits_allocated", "signed", "photometric", "mode", "transfer_syntax", "sop_class",
              "frames", "modality", "body_part", "view_position", "laterality", "study_date", "manufacturer",
              "manufacturer_model", "pixel_spacing", "imager_pixel_spacing", "rescale_slope", "rescale_intercept",
              "exif_orientation", "window_source", "voi_lut_function"]
    metadata = {key: f"value of {key}" for key in listed}
    metadata.update(original_width=3, original_height=5)
    radiograph = Radiograph(Path("d.dcm"), np.zeros((3, 5), np.float32), "dicom", metadata,
                            window=(1023.45678, 2047.0004), invert_for_display=True)
    summary = describe_radiograph(radiograph)
    assert summary["format"] == "DICOM"  # from the source format when the metadata has none
    assert summary["original_size"] == [3, 5]
    assert summary["window"] == {"center": 1023.457, "width": 2047.0}
    assert summary["inverted_monochrome1"] is True and summary["warnings"] == []
    assert {key: summary[key] for key in listed} == {key: f"value of {key}" for key in listed}
    assert set(summary) == {"path", "format", "width", "height", "original_size", "window", "inverted_monochrome1",
                            "warnings", *listed}


def test_describe_leaves_out_an_original_size_equal_to_the_size_or_absent():
    same = Radiograph(Path("a"), np.zeros((3, 5), np.float32), "png", {"original_width": 5, "original_height": 3})
    assert "original_size" not in describe_radiograph(same)
    assert "original_size" not in describe_radiograph(Radiograph(Path("a"), np.zeros((3, 5), np.float32), "png"))
    assert "window" not in describe_radiograph(same)


# --- read_file_bytes and its refusals ---------------------------------------------------------------------------


def test_read_file_bytes_gives_the_whole_file(tmp_path):
    data = os.urandom(5000)
    (tmp_path / "f").write_bytes(data)
    assert read_file_bytes(str(tmp_path / "f")) == data


def test_a_folder_is_not_an_image(tmp_path):
    error = _error(read_file_bytes, tmp_path)
    assert isinstance(error, NotAnImageError) and error.cause == "a folder, not an image file"


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGALRM"), reason="no named pipes or alarms")
def test_a_pipe_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe")

    def blocked(signum, frame):
        raise AssertionError("the reader opened the pipe and blocked")

    # A watchdog, not a timing assert: opening a pipe with no writer would block the suite for ever.
    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        error = _error(read_file_bytes, tmp_path / "pipe")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(error, NotAnImageError)
    assert error.cause == "not a regular file (a device, pipe or socket), not an image"


def test_the_file_size_limit_is_512_mib_inclusive(tmp_path):
    path = tmp_path / "sparse"
    with open(path, "wb") as handle:
        handle.truncate(512 * 2**20 + 1)  # sparse: no disk used, and refused before a byte is read
    error = _error(read_file_bytes, path)
    assert isinstance(error, ImageTooLargeError)
    assert error.cause == "too large: the file is 512 MiB, more than the 512 MiB this reader accepts; not read"


def test_a_file_of_exactly_the_limit_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 1000)
    (tmp_path / "at").write_bytes(bytes(1000))
    assert read_file_bytes(tmp_path / "at") == bytes(1000)
    (tmp_path / "over").write_bytes(bytes(1001))
    assert isinstance(_error(read_file_bytes, tmp_path / "over"), ImageTooLargeError)


def test_a_file_that_grows_while_read_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 2 * 2**20)
    (tmp_path / "growing").write_bytes(bytes(10))  # stat() sees 10 bytes; the read that follows finds more

    def grown(path, mode):
        return io.BytesIO(bytes(3 * 2**20))

    monkeypatch.setattr(reader, "open", grown, raising=False)
    error = _error(read_file_bytes, tmp_path / "growing")
    assert isinstance(error, ImageTooLargeError)
    assert error.cause == "too large: the file grew past 2 MiB while being read"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOENT, "file not found (it may have been moved or deleted)"),
        (errno.EACCES, "permission denied: the file cannot be read"),
        (errno.EPERM, "permission denied: the file cannot be read"),
        (errno.ELOOP, "symbolic link loop: the link points back to itself"),
        (errno.EISDIR, "a folder, not an image file"),
        (errno.ENAMETOOLONG, "file name too long"),
        (errno.EIO, "input/output error while reading (damaged disk or disconnected drive?)"),
        (errno.ENOSPC, "cannot be read (No space left on device)"),
    ],
)
def test_os_errors_in_words(code, expected):
    assert reader._os_error_cause(OSError(code, os.strerror(code))) == expected


def test_an_os_error_without_words_is_named_by_its_type():
    assert reader._os_error_cause(TimeoutError()) == "cannot be read (TimeoutError)"


def test_a_missing_file_and_a_name_too_long(tmp_path):
    assert _error(read_file_bytes, tmp_path / "gone").cause == "file not found (it may have been moved or deleted)"
    assert _error(read_file_bytes, tmp_path / ("x" * 300)).cause == "file name too long"


# --- limits -----------------------------------------------------------------------------------------------------


def test_check_dimensions_allows_up_to_50_megapixels():
    check_dimensions("f", 10_000, 5_000)  # exactly 50 megapixels
    check_dimensions("f", 1, 1)
    assert MAX_PIXELS == 50_000_000
    error = _error(check_dimensions, "dir/f.png", 10_000, 5_001, what="PNG image")
    assert isinstance(error, ImageTooLargeError) and error.path == "dir/f.png"
    assert error.cause == (
        "PNG image declares 10000 x 5001 pixels (50 megapixels), more than the 50 megapixels this reader decodes; "
        "refused before decoding"
    )
    assert _error(check_dimensions, "f", 65535, 65535).cause.startswith("image declares 65535 x 65535 pixels (4295 megapixels)")


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (-3, 10), (10, -1), (0, 0)])
def test_check_dimensions_refuses_an_empty_size(width, height):
    error = _error(check_dimensions, "f", width, height, what="DICOM image")
    assert type(error) is ImageReadError
    assert error.cause == f"DICOM image declares an empty size ({width} x {height} pixels)"


def test_brief_is_one_bounded_line():
    assert brief(ValueError("bad\n  value\there")) == "bad value here"
    assert brief(ValueError()) == "ValueError"
    assert brief(KeyError("k")) == "'k'"
    exact = "x" * 160
    assert brief(ValueError(exact)) == exact
    long = "y" * 161
    assert brief(ValueError(long)) == "y" * 157 + "..." and len(brief(ValueError(long))) == 160
    assert brief(ValueError("abcdefghij"), limit=8) == "abcde..."
    assert brief(ValueError("abcdefgh"), limit=8) == "abcdefgh"


# --- colour -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "step"),
    [(1, 1, 1), (256, 256, 1), (257, 256, 2), (512, 512, 2), (513, 512, 3), (1000, 1000, 4), (3000, 2000, 10), (0, 5, 1)],
)
def test_sample_step_is_the_ceiling_of_the_root_of_pixels_over_65536(height, width, step):
    assert colour.sample_step(height, width) == step


def test_grid_spread_is_the_99th_percentile_of_each_pixels_largest_channel_distance():
    rng = np.random.default_rng(21)
    grid = rng.random((7, 9, 3)).astype(np.float32)  # 63 pixels: the 99th percentile falls between two of them
    distances = np.abs(grid.astype(np.float64) - grid.mean(axis=2, keepdims=True)).max(axis=2).ravel()
    expected = np.percentile(distances, 99)  # numpy's linear interpolation
    assert colour.grid_spread(grid) == pytest.approx(float(expected), abs=1e-6)
    # By hand: one pixel (0.9, 0, 0) among grey ones: distances 0.6 and 0; position 0.99 x 1 between the two.
    two = np.array([[[0.9, 0.0, 0.0], [0.5, 0.5, 0.5]]], dtype=np.float32)
    assert colour.grid_spread(two) == pytest.approx(0.6 * 0.99, abs=1e-6)
    assert colour.grid_spread(np.array([[[0.3, 0.3, 0.9]]], dtype=np.float32)) == pytest.approx(0.4, abs=1e-6)


def test_grid_spread_of_8_bit_values_and_of_nothing():
    grid = np.array([[[255, 0, 0]]], dtype=np.uint8)
    assert colour.grid_spread(grid) == pytest.approx(170 / 255, abs=1e-6)
    assert colour.grid_spread(np.zeros((0, 4, 3), np.uint8)) == 0.0
    # A fourth channel (alpha) is not a colour.
    assert colour.grid_spread(np.array([[[10, 10, 10, 255]]], dtype=np.uint8)) == 0.0


def test_channel_spread_samples_the_even_grid():
    rgb = np.zeros((600, 600, 3), dtype=np.float32)  # step 3: rows and columns 0, 3, 6, ...
    rgb[1::3, :, 0] = 1.0  # colour only off the grid: not seen
    assert colour.channel_spread(rgb) == 0.0
    rgb[::3, ::3, 0] = 0.9
    assert colour.channel_spread(rgb) == pytest.approx(0.6, abs=1e-6)


@pytest.mark.parametrize(("blue", "expected"), [(0.1409, False), (0.1413, True), (0.5, True), (0.0, False)])
def test_colour_means_a_spread_over_24_of_255(blue, expected):
    # Pixels (0, 0, b): the largest distance from the mean is 2b / 3: 0.09393 (under 24/255 = 0.09412) or 0.0942.
    rgb = np.zeros((50, 50, 3), dtype=np.float32)
    rgb[..., 2] = blue
    assert colour.is_colour(rgb) is expected
    assert colour.COLOUR_SPREAD == pytest.approx(24 / 255)


# --- the Radiograph and identity types --------------------------------------------------------------------------


def test_identity_fields_map_to_their_dicom_keywords():
    assert dicom_keywords(PatientIdentity) == {
        "name": "PatientName", "id": "PatientID", "birth_date": "PatientBirthDate", "sex": "PatientSex",
    }
    assert dicom_keywords(DicomIdentity) == {
        "study_instance_uid": "StudyInstanceUID", "series_instance_uid": "SeriesInstanceUID",
        "sop_instance_uid": "SOPInstanceUID", "sop_class_uid": "SOPClassUID", "accession_number": "AccessionNumber",
        "study_date": "StudyDate", "study_id": "StudyID", "referring_physician_name": "ReferringPhysicianName",
        "modality": "Modality", "body_part_examined": "BodyPartExamined", "view_position": "ViewPosition",
        "image_laterality": "ImageLaterality", "patient_orientation": "PatientOrientation",
    }


def test_identities_default_to_none_and_hide_identifying_values_from_repr():
    empty = DicomIdentity()
    assert empty.patient == PatientIdentity() and empty.study_instance_uid is None and empty.patient.name is None
    identity = DicomIdentity(
        patient=PatientIdentity(name="Doe^Jane", id="PID-1", birth_date="19470312", sex="F"),
        study_instance_uid="1.2.3", accession_number="ACC-9", referring_physician_name="House^G", modality="DX",
    )
    text = repr(identity) + repr(identity.patient)
    for hidden in ("Doe^Jane", "PID-1", "19470312", "ACC-9", "House^G"):
        assert hidden not in text
    assert "study_instance_uid='1.2.3'" in text and "modality='DX'" in text
    # Every patient field is identifying (the sex too), and the nested patient is left out of the identity's repr.
    assert repr(identity.patient) == "PatientIdentity()" and "patient=" not in repr(identity)
    with pytest.raises(AttributeError):
        identity.modality = "CR"  # frozen


def test_radiograph_size_defaults_and_repr():
    pixels = np.zeros((3, 7), np.float32)
    radiograph = Radiograph(Path("r.png"), pixels, "png")
    assert (radiograph.height, radiograph.width) == (3, 7)
    assert isinstance(radiograph.height, int) and isinstance(radiograph.width, int)
    assert radiograph.metadata == {} and radiograph.warnings == [] and radiograph.patient == {}
    assert radiograph.modality_values is None and radiograph.window is None and radiograph.dicom is None
    assert radiograph.invert_for_display is False
    other = Radiograph(Path("s.png"), pixels, "png")
    other.warnings.append("w")
    other.metadata["k"] = 1
    assert radiograph.warnings == [] and radiograph.metadata == {}  # not shared between instances
    radiograph.patient = {"name": "Doe^Jane"}
    assert "Doe^Jane" not in repr(radiograph)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
def test_error_messages_name_the_file_not_its_folder():
    error = ImageReadError("/very/private/folder/knee.png", "cause")
    assert str(error) == "knee.png: cause" and error.path == "/very/private/folder/knee.png"


# --- boundaries the first reference run left open ---------------------------------------------------------------


def test_the_99th_percentile_interpolates_between_neighbours_in_a_large_grid():
    grid = np.random.default_rng(25).random((25, 40, 3)).astype(np.float32)  # 1000 pixels: position 989.01
    distances = np.abs(grid.astype(np.float64) - grid.mean(axis=2, keepdims=True)).max(axis=2).ravel()
    assert colour.grid_spread(grid) == pytest.approx(float(np.percentile(distances, 99)), abs=1e-6)


def test_megapixels_in_the_refusal_are_rounded_from_millions():
    # 1004 x 60259 = 60,500,036 pixels: 60.500036 million, which rounds to 61.
    error = _error(check_dimensions, "f", 1004, 60259)
    assert "(61 megapixels)" in error.cause


def test_the_window_width_is_shown_to_three_decimals():
    radiograph = Radiograph(Path("d.dcm"), np.zeros((3, 5), np.float32), "dicom", {}, window=(40.0, 400.25))
    assert describe_radiograph(radiograph)["window"] == {"center": 40.0, "width": 400.25}


def test_a_file_that_keeps_growing_is_read_only_up_to_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 1000)
    (tmp_path / "endless").write_bytes(bytes(10))

    class Endless:
        """A file that never ends (a device, or one written faster than it is read): only a bounded read returns."""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size=-1):
            if size is None or size < 0:
                raise MemoryError("read the whole of an endless file")
            return bytes(size)

    monkeypatch.setattr(reader, "open", lambda path, mode: Endless(), raising=False)
    error = _error(read_file_bytes, tmp_path / "endless")
    assert isinstance(error, ImageTooLargeError) and "grew past" in error.cause


def test_a_bmp_signature_needs_exactly_18_bytes():
    assert sniff_format(_bmp_head(40)[:18]) == "BMP"
    assert sniff_format(_bmp_head(40)[:17]) is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_element(0x0008, 0x0005, b"CS", b""), "DICOM"),  # exactly 8 bytes: one empty explicit-VR element
        (_element(0x0008, 0x9000, b"CS", b"AB"), None),  # element 9000: above 0FFF whatever the sign
        (struct.pack("<HHI", 0x0008, 0x0016, 0x80000000) + bytes(16), None),  # a 2 GiB first element is not sane
    ],
)
def test_bare_dicom_edges(head, expected):
    assert sniff_format(head) == expected


@pytest.mark.parametrize(("offset", "expected"), [(1, True), (250, True), (251, False)])
def test_a_late_dicom_element_is_looked_for_from_byte_1_within_the_first_256_bytes(offset, expected):
    head = b"\x01" * offset + struct.pack("<HH", 0x0008, 0x0016) + b"UI" + b"\x01" * 20
    assert looks_like_damaged_dicom(head) is expected


def test_text_edge_cases():
    assert describe_content(b"a") == "a text file"  # one printable character
    assert describe_content(b"abc\xff" + bytes(range(1, 30))) == "unrecognised binary data"
    # Cut inside a four-byte character that follows a two-byte one: dropping the last three bytes leaves text.
    cut = ("x" * 50 + "ä").encode() + "😀".encode()[:3]
    assert describe_content(cut) == "a text file"
