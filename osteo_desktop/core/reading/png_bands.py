"""A large PNG decoded a band of rows at a time, by Pillow's own PNG decoder, for a compact read (issue 13).

Pillow decodes a PNG whole, into an image of 4 bytes a pixel for RGB, 2 for 16-bit grey, 1 for 8-bit grey: at
50 megapixels 191, 95 and 48 MiB, held beside what the reader makes of it, which put a scan of such a file past its
300 MiB bound. Here the file's image data (its IDAT chunks, one zlib stream) is inflated a band of rows at a time;
each band's filtered scanlines, after the band before's last row (already unfiltered, given filter type 0, so that
the Up, Average and Paeth filters of the band's first row see it as the row above), are wrapped as a stored
(uncompressed) zlib stream and handed to Pillow's PNG decoder (``zip``) for an image of that band's height. The
unfiltering and the unpacking into Pillow's mode are therefore Pillow's own, and the rows the same bit for bit as
its whole decode (tests/test_compact_pixels.py); only a band is held at a time (about 1 MiB of file rows).

An RGB PNG whose luma cannot be held as codes (a photograph) is not held as samples either (3 bytes a pixel, which
with the file's bytes, held through the read, would put a 50-megapixel photograph past the bound): :class:`Rows`
decodes the bands a consumer takes again from the bytes, each from a checkpoint of the inflater made in a pass
over the image (:func:`checkpointed`), the same rows bit for bit (tests/test_colour_luma.py).

Only what the reader would read as decoded is taken: one frame, not interlaced, grey 8-bit ("L"), grey 16-bit
("I;16") or RGB 8-bit, and nothing in the file that would turn the image upright (an eXIf chunk, or the text chunks
Pillow takes an orientation from). Anything else, and any data the band decode cannot take (truncated, damaged),
is read whole as before, so that the reader's own error or Pillow's leniency is unchanged.
"""

from __future__ import annotations

import bisect
import copy
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

# (Pillow mode, PNG raw mode) read in bands: bytes a pixel in the file's rows, and the dtype of a sample.
BANDED = {("L", "L"): (1, np.dtype(np.uint8)), ("I;16", "I;16B"): (2, np.dtype(">u2")), ("RGB", "RGB"): (3, np.dtype(np.uint8))}
# File rows inflated per band: big enough that the per-band work (a decoder, a small image) costs little, small
# enough to stay in the cache.
_BAND_BYTES = 1 << 20
# Bands a png_bands.Rows keeps once decoded, the most recently used: a consumer that takes bands of another height,
# or two parts of each band, then decodes each band once a pass.
_KEPT_BANDS = 4
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
    return _decode(data, plan, _band_rows(plan))


def checkpointed(data: bytes, plan: Plan, checkpoints: list[Checkpoint]) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`decode`, with a :class:`Checkpoint` appended to ``checkpoints`` at the start of each band: what
    :class:`Rows` decodes a band again from, alone."""
    return _decode(data, plan, _band_rows(plan), checkpoints=checkpoints)


@dataclass(frozen=True)
class Checkpoint:
    """Where a band's decode starts: its top row, the inflater just before its filtered rows (copied again before
    each use: inflating changes it; it keeps the compressed data given but not yet used), the next piece of
    compressed data to give it, and the row above the band (filter type 0 first)."""

    top: int
    inflater: Any
    piece: int
    above: bytes


def _band_rows(plan: Plan) -> int:
    return max(1, _BAND_BYTES // (1 + plan.width * plan.sample_bytes))


def _decode(data: bytes, plan: Plan, band_rows: int, start: Checkpoint | None = None, stop: int | None = None,
            checkpoints: list[Checkpoint] | None = None, pieces: list[tuple[int, int]] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    depth, dtype = BANDED[(plan.mode, plan.rawmode)]
    shape = (plan.width, 3) if plan.mode == "RGB" else (plan.width,)
    stride = 1 + plan.width * depth  # a filter type byte, then the row
    pieces = _pieces(plan.idat) if pieces is None else pieces
    view = memoryview(data)
    if start is None:
        inflater, cursor, first = zlib.decompressobj(), [0], 0
        above = bytes(stride)  # filter type 0 and zeros: the row PNG puts above the first
    else:
        inflater, cursor, first, above = start.inflater.copy(), [start.piece], start.top, start.above
    band = None
    try:
        for top in range(first, plan.height if stop is None else min(stop, plan.height), band_rows):
            if checkpoints is not None:
                checkpoints.append(Checkpoint(top, inflater.copy(), cursor[0], above))
            rows = min(band_rows, plan.height - top)
            filtered = _inflate(inflater, view, pieces, cursor, rows * stride)
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


class Rows:
    """An RGB PNG's samples, (height, width, 3) uint8, decoded from the file's bytes where a part is taken: each
    band from its :class:`Checkpoint` (made by :func:`checkpointed` in a first pass), the last few kept.
    Holds the file's bytes (held through the read anyway) and the checkpoints (a zlib state and a row a band), not
    the samples (3 bytes a pixel). Slicing with slices gives another view (nothing decoded); ``np.asarray`` and any
    other key decode the rows the view spans."""

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, data: bytes, plan: Plan, checkpoints: list[Checkpoint]) -> None:
        self._data, self._plan, self._checkpoints = data, plan, checkpoints
        self._tops = [checkpoint.top for checkpoint in checkpoints]
        self._pieces = _pieces(plan.idat)  # made once: a band is decoded again on each pass
        self._rows, self._columns = range(plan.height), range(plan.width)
        # Shared by the views: top row -> samples, least recently used first, and its lock (a film's consumers may
        # run in another thread than its reader).
        self._kept: tuple[dict[int, np.ndarray], threading.Lock] = ({}, threading.Lock())

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self._rows), len(self._columns), 3)

    @property
    def nbytes(self) -> int:
        """The bytes held: the file's, and not the samples'."""
        return len(self._data)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, key: Any) -> "Rows | np.ndarray":
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) <= 2 and all(isinstance(part, slice) for part in parts):
            rows = self._rows[parts[0]] if parts else self._rows
            columns = self._columns[parts[1]] if len(parts) > 1 else self._columns
            view = copy.copy(self)  # everything shared but the rows and columns it spans
            view._rows, view._columns = rows, columns
            return view
        if len(parts) <= 2 and all(isinstance(part, (slice, int, np.integer)) for part in parts):
            # A row or a column: the view of it, decoded, its axis then dropped (IndexError as NumPy's).
            spans: list[slice] = []
            taken: list[Any] = []
            for axis, part in enumerate(parts):
                if isinstance(part, slice):
                    spans.append(part)
                    taken.append(slice(None))
                else:
                    at = range(self.shape[axis])[part]
                    spans.append(slice(at, at + 1))
                    taken.append(0)
            return np.asarray(self[tuple(spans)])[tuple(taken)]
        if len(parts) == 2 and not any(isinstance(part, slice) or part is Ellipsis or part is None for part in parts):
            return self._picked(*parts)
        return np.asarray(self)[key]

    def _picked(self, first: Any, second: Any) -> np.ndarray:
        """The samples at (row, column) indices (arrays or integers, broadcast as NumPy does), gathered a band of
        rows at a time: a subsample picked over a large part decodes no more than a band of it at once."""
        rows, columns = np.broadcast_arrays(np.arange(len(self._rows))[first], np.arange(len(self._columns))[second])
        out = np.empty((*rows.shape, 3), dtype=np.uint8)
        step = max(1, _BAND_BYTES // max(1, 3 * len(self._columns)))
        for top in range(0, len(self._rows), step):
            inside = (rows >= top) & (rows < top + step)
            if inside.any():
                out[inside] = np.asarray(self[top : top + step])[rows[inside] - top, columns[inside]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.uint8)
        rows = self._rows if self._rows.step > 0 else self._rows[::-1]  # ascending; turned back at the end
        columns: Any = self._columns
        columns = slice(columns.start, columns.stop, columns.step) if columns.step > 0 else np.asarray(columns)
        if len(rows) and len(self._columns):
            index = bisect.bisect_right(self._tops, rows[0]) - 1
            for checkpoint in self._checkpoints[index:]:
                if checkpoint.top > rows[-1]:
                    break
                top, band = self._band(checkpoint)
                bottom = top + band.shape[0]
                # The positions i of the rows r = rows.start + i x step with top <= r < bottom.
                low = max(0, -(-(top - rows.start) // rows.step))
                high = min(len(rows), -(-(bottom - rows.start) // rows.step))
                if low < high:
                    out[low:high] = band[rows[low] - top :: rows.step][: high - low][:, columns]
        out = out if self._rows.step > 0 else out[::-1]
        return out if dtype is None else out.astype(dtype, copy=False)

    def _band(self, checkpoint: Checkpoint) -> tuple[int, np.ndarray]:
        kept, lock = self._kept
        with lock:
            band = kept.pop(checkpoint.top, None)
        if band is None:
            band_rows = (self._tops[1] - self._tops[0]) if len(self._tops) > 1 else self._plan.height
            _, band = next(_decode(self._data, self._plan, band_rows, start=checkpoint, stop=checkpoint.top + 1,
                                   pieces=self._pieces))
        with lock:
            while len(kept) >= _KEPT_BANDS:
                del kept[next(iter(kept))]
            kept[checkpoint.top] = band  # (again) the most recently used
        return checkpoint.top, band


def _pieces(idat: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """(start, end) of the pieces of compressed data fed to zlib, in order."""
    return [(at, min(at + _FEED_BYTES, start + length)) for start, length in idat for at in range(start, start + length, _FEED_BYTES)]


def _inflate(inflater: zlib._Decompress, view: memoryview, pieces: list[tuple[int, int]], cursor: list[int], size: int) -> bytes:
    """The next ``size`` bytes of the inflated stream (``cursor[0]``: the next piece of ``pieces`` to feed it)."""
    parts, got = [], 0
    while got < size:
        source = inflater.unconsumed_tail
        if not source:
            if inflater.eof:
                raise NotBanded("the image data ends before the image's last row")
            if cursor[0] >= len(pieces):
                raise NotBanded("the image data is truncated")
            start, end = pieces[cursor[0]]
            cursor[0] += 1
            source = view[start:end]
        piece = inflater.decompress(source, size - got)
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)
