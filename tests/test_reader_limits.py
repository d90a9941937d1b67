"""Decompression bombs and absurd headers are refused before decoding, in bounded memory."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless

from imaging_factories import dicom_bytes, gradient, make_dicom, write
from osteo_desktop.core.reading.dicom import _end_of_file_meta
from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError
from osteo_desktop.core.reading.limits import MAX_FILE_BYTES, MAX_INFLATED_BYTES, MAX_PIXELS
from osteo_desktop.core.reading.reader import read_radiograph

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
REPO_ROOT = Path(__file__).resolve().parents[1]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png_bomb(side: int) -> bytes:
    """A real bomb: every row of a side x side image, all zeros, deflated (about 1000:1)."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    rows_per_chunk = max(1, (8 << 20) // len(row))
    parts, left = [], side
    while left:
        count = min(left, rows_per_chunk)
        parts.append(compressor.compress(row * count))
        left -= count
    parts.append(compressor.flush())
    return _png(side, side, b"".join(parts))


def _huge_dicom(tmp_path: Path) -> Path:
    ds = make_dicom(gradient(height=8, width=8), bits_stored=12)
    ds.Rows = ds.Columns = 65535  # the largest a US element holds
    return write(tmp_path / "huge_rows.dcm", dicom_bytes(ds))


def _j2k_declaring(tmp_path: Path, side: int) -> Path:
    data = dicom_bytes(make_dicom(gradient(height=64, width=64), bits_stored=12, compress_to=JPEG2000Lossless))
    siz = data.find(b"\xff\x4f\xff\x51")
    assert siz > 0
    patched = bytearray(data)
    patched[siz + 8 : siz + 16] = struct.pack(">II", side, side)  # Xsiz, Ysiz
    return write(tmp_path / "j2k_bomb.dcm", bytes(patched))


def _deflate_bomb(tmp_path: Path) -> Path:
    template = make_dicom(gradient(height=16, width=16), bits_stored=12)
    template.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    data = dicom_bytes(template)
    meta_end = _end_of_file_meta(data)
    assert meta_end
    size = MAX_INFLATED_BYTES + (16 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [compressor.compress(struct.pack("<HH2sHI", 0x0009, 0x1001, b"OB", 0, size))]
    block = bytes(16 << 20)
    for _ in range(size // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return write(tmp_path / "deflate_bomb.dcm", data[:meta_end] + b"".join(parts))


def _jpeg_declaring(knee_jpeg: Path, tmp_path: Path, side: int) -> Path:
    data = bytearray(knee_jpeg.read_bytes())
    offset = 2
    while data[offset + 1] not in (0xC0, 0xC1, 0xC2):
        offset += 2 + struct.unpack_from(">H", data, offset + 2)[0]
    struct.pack_into(">HH", data, offset + 5, side, side)
    return write(tmp_path / "huge.jpg", bytes(data))


def test_dicom_with_absurd_rows_and_columns_is_refused(tmp_path):
    with pytest.raises(ImageTooLargeError, match="65535 x 65535"):
        read_radiograph(_huge_dicom(tmp_path))


def test_jpeg2000_codestream_declaring_100000_squared_is_refused(tmp_path):
    with pytest.raises(ImageTooLargeError, match="100000 x 100000"):
        read_radiograph(_j2k_declaring(tmp_path, 100_000))


def test_zero_length_pixel_data_is_refused(tmp_path):
    ds = make_dicom(gradient(height=8, width=8), bits_stored=12)
    ds.PixelData = b""
    with pytest.raises(ImageReadError, match="pixel data element is empty"):
        read_radiograph(write(tmp_path / "empty_pixels.dcm", dicom_bytes(ds)))


def test_png_header_declaring_100000_squared_is_refused(tmp_path):
    with pytest.raises(ImageTooLargeError):
        read_radiograph(write(tmp_path / "header.png", _png(100_000, 100_000, zlib.compress(b"\x00" * 1000))))


def test_png_bomb_is_refused(tmp_path):
    side = int(np.sqrt(MAX_PIXELS)) + 1000
    bomb = write(tmp_path / "bomb.png", _png_bomb(side))
    assert bomb.stat().st_size < side * side // 100
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        read_radiograph(bomb)


def test_jpeg_header_declaring_65500_squared_is_refused(knee_jpeg, tmp_path):
    with pytest.raises(ImageTooLargeError):
        read_radiograph(_jpeg_declaring(knee_jpeg, tmp_path, 65500))


def test_deflated_dicom_bomb_is_refused(tmp_path):
    with pytest.raises(ImageTooLargeError, match="inflates"):
        read_radiograph(_deflate_bomb(tmp_path))


def test_oversized_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.dcm"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ImageTooLargeError, match="MiB"):
        read_radiograph(path)


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, warnings
    warnings.simplefilter("ignore")
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.core.errors import ImageReadError
    read_radiograph(sys.argv[1])  # warm up imports and decoders on a real file
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {}
    for path in sys.argv[2:]:
        try:
            read_radiograph(path)
            outcomes[path] = "read"
        except ImageReadError as exc:
            outcomes[path] = type(exc).__name__
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcomes": outcomes, "peak_growth_mib": (after - before) / 1024}))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="uses resource.getrusage")
def test_refusals_happen_in_bounded_memory(knee_jpeg, tmp_path):
    """Peak resident memory of a fresh process barely moves while it refuses every bomb above."""
    bombs = [
        _huge_dicom(tmp_path),
        _j2k_declaring(tmp_path, 100_000),
        write(tmp_path / "bomb.png", _png_bomb(int(np.sqrt(MAX_PIXELS)) + 1000)),
        _jpeg_declaring(knee_jpeg, tmp_path, 65500),
        _deflate_bomb(tmp_path),
    ]
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(knee_jpeg), *map(str, bombs)],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"peak memory growth while refusing {len(bombs)} bombs: {report['peak_growth_mib']:.1f} MiB")
    assert set(report["outcomes"].values()) == {"ImageTooLargeError"}, report
    assert report["peak_growth_mib"] < 64, report
