"""A large PNG decoded a band of rows at a time, by Pillow's own PNG decoder, for a compact read (issue 13).

Pillow decodes a PNG whole, into an image of 4 bytes a pixel for RGB, 2 for 16-bit grey, 1 for 8-bit grey: at
50 megapixels 191, 95 and 48 MiB, held beside what the reader makes of it, which put a scan of such a file past its
300 MiB bound. Here the file's image data (its IDAT chunks, one zlib stream) is inflated a band of rows at a time;
each band's filtered scanlines, after the band before's last row (already unfiltered, given filter type 0, so that
the Up, Average and Paeth filters of the band's first row see it as the row above), are wrapped as a stored
(uncompressed) zlib stream and handed to Pillow's PNG decoder (``zip``) for an image of that band's height. The
unfiltering and the unpacking into Pillow's mode are therefore Pillow's own, and the rows the same bit for bit as
its whole decode (tests/test_compact_pixels.py); only a band is held at a time (about 1 MiB of file rows).

Only what the reader would read as decoded is taken: one frame, not interlaced, grey 8-bit ("L"), grey 16-bit
("I;16") or RGB 8-bit, and nothing in the file that would turn the image upright (an eXIf chunk, or the text chunks
Pillow takes an orientation from). Anything else, and any data the band decode cannot take (truncated, damaged),
is read whole as before, so that the reader's own error or Pillow's leniency is unchanged.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

# (Pillow mode, PNG raw mode) read in bands: bytes a pixel in the file's rows, and the dtype of a sample.
BANDED = {("L", "L"): (1, np.dtype(np.uint8)), ("I;16", "I;16B"): (2, np.dtype(">u2")), ("RGB", "RGB"): (3, np.dtype(np.uint8))}
# File rows inflated per band: big enough that the per-band work (a decoder, a small image) costs little, small
# enough to stay in the cache.
_BAND_BYTES = 1 << 20
# Compressed data fed to zlib at a time: what zlib does not use of it is copied (unconsumed_tail), so a PNG written
# as one huge IDAT chunk must not be fed whole.
_FEED_BYTES = 1 << 16
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks after which the image is not the frame read as stored: an animation, an EXIF orientation.
_REFUSED_CHUNKS = frozenset({b"acTL", b"fcTL", b"fdAT", b"eXIf"})
_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
# Text keywords Pillow's getexif takes an orientation from (XMP's tiff:Orientation, ImageMagick's raw EXIF).
_ORIENTING_KEYWORDS = frozenset({b"XML:com.adobe.xmp", b"Raw profile type exif"})


class NotBanded(Exception):
    """The image data could not be decoded in bands (truncated, damaged): it is read whole instead."""


@dataclass(frozen=True)
class Plan:
    """What a band decode needs of an opened PNG: its mode, raw mode, size and where its IDAT data lies."""

    mode: str
    rawmode: str
    width: int
    height: int
    idat: tuple[tuple[int, int], ...]  # (start, length) of each IDAT chunk's data in the file

    @property
    def sample_bytes(self) -> int:
        return BANDED[(self.mode, self.rawmode)][0]


def plan(image: Image.Image, data: bytes) -> Plan | None:
    """How to decode ``image`` (a PNG opened by Pillow from ``data``, not loaded) in bands, or None when it is not to
    be. An animated PNG is refused by its chunks (acTL), which Pillow's frame count is read from."""
    if len(image.tile) != 1:
        return None
    codec, extents, offset, args = image.tile[0]
    width, height = image.size
    if codec != "zip" or tuple(extents) != (0, 0, width, height) or (image.mode, args) not in BANDED:
        return None
    if image.info.get("interlace"):
        return None
    idat = _idat_chunks(data)
    if not idat or idat[0][0] != offset:
        return None
    return Plan(image.mode, str(args), width, height, idat)


def _idat_chunks(data: bytes) -> tuple[tuple[int, int], ...] | None:
    """(start, length) of the IDAT chunks' data, from a walk over every chunk to IEND; None if the file has a chunk
    that rules a band decode out, IDAT chunks that are not consecutive, or no intact chunk structure."""
    if not data.startswith(_SIGNATURE):
        return None
    idat: list[tuple[int, int]] = []
    position, previous = len(_SIGNATURE), b""
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        start = position + 8
        if start + length + 4 > len(data) or kind in _REFUSED_CHUNKS:
            return None
        if kind == b"IDAT":
            if idat and previous != b"IDAT":
                return None
            idat.append((start, length))
        elif kind in _TEXT_CHUNKS and data[start : start + min(length, 80)].split(b"\0", 1)[0] in _ORIENTING_KEYWORDS:
            return None
        elif kind == b"IEND":
            return tuple(idat)
        position, previous = start + length + 4, kind
    return None


def decode(data: bytes, plan: Plan) -> Iterator[tuple[int, np.ndarray]]:
    """(top row, samples) of each band of rows in order: (rows, width) for grey (uint8, or big-endian uint16 for
    16-bit), (rows, width, 3) uint8 for RGB. Raises :class:`NotBanded` for data it cannot decode."""
    depth, dtype = BANDED[(plan.mode, plan.rawmode)]
    shape = (plan.width, 3) if plan.mode == "RGB" else (plan.width,)
    stride = 1 + plan.width * depth  # a filter type byte, then the row
    band_rows = max(1, _BAND_BYTES // stride)
    inflater = zlib.decompressobj()
    feed = _feed(data, plan.idat)
    above = bytes(stride)  # filter type 0 and zeros: the row PNG puts above the first
    band = None
    try:
        for top in range(0, plan.height, band_rows):
            rows = min(band_rows, plan.height - top)
            filtered = _inflate(inflater, feed, rows * stride)
            if band is None or band.height != rows + 1:
                band = Image.new(plan.mode, (plan.width, rows + 1))
            decoder = Image._getdecoder(plan.mode, "zip", plan.rawmode)
            try:
                decoder.setimage(band.im, (0, 0, plan.width, rows + 1))
                status, error = decoder.decode(zlib.compress(above + filtered, 0))
            finally:
                decoder.cleanup()
            if status >= 0 or error != 0:
                raise NotBanded(f"Pillow's PNG decoder stopped ({status}, {error})")
            raw = band.tobytes("raw", plan.rawmode)  # the file's own sample layout: the next band's row above
            above = b"\0" + raw[len(raw) - (stride - 1) :]
            yield top, np.frombuffer(raw, dtype=dtype).reshape(rows + 1, *shape)[1:]
    except (zlib.error, OSError, ValueError, AttributeError) as exc:  # AttributeError: no _getdecoder in Pillow
        raise NotBanded(f"{type(exc).__name__}: {exc}") from exc


def _feed(data: bytes, idat: tuple[tuple[int, int], ...]) -> Iterator[memoryview]:
    view = memoryview(data)
    for start, length in idat:
        for at in range(start, start + length, _FEED_BYTES):
            yield view[at : min(at + _FEED_BYTES, start + length)]


def _inflate(inflater: zlib._Decompress, feed: Iterator[memoryview], size: int) -> bytes:
    """The next ``size`` bytes of the inflated stream."""
    parts, got = [], 0
    while got < size:
        source = inflater.unconsumed_tail
        if not source:
            if inflater.eof:
                raise NotBanded("the image data ends before the image's last row")
            source = next(feed, None)
            if source is None:
                raise NotBanded("the image data is truncated")
        piece = inflater.decompress(source, size - got)
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)
