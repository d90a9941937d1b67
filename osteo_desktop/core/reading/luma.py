"""A true-colour raster's float32 luma, held compactly and computed a band at a time where it is read (issue 13).

The luma of an 8-bit colour raster (the BT.601 sum, unrounded: what the model was trained on for colour rasters)
lies between the grey levels, so a compact read cannot give it as levels (:mod:`levels`); held whole as float32 it
is 191 MiB at the reader's 50-megapixel limit, which with the scan process itself (about 114 MiB) is past the
300 MiB bound before anything else. A compact read of a large colour PNG or uncompressed TIFF therefore gives a
:class:`LumaPixels` instead: an array-like of float32 values, stored as

- :class:`CodedLuma`: a uint16 code a pixel and the table of the float32 values the codes stand for (the image's
  distinct luma values, at most 65,536; a tinted film has a few hundred), 2 bytes a pixel; or
- :class:`RgbLuma`: the 8-bit RGB samples themselves where they already lie in memory (an uncompressed TIFF's
  bytes, which the scan holds anyway), no copy at all; or, where the luma has more distinct values than there are
  codes (a photograph), a PNG's samples decoded again from its bytes where they are taken
  (:class:`~osteo_desktop.core.reading.png_bands.Rows`), an out-of-order TIFF's gathered (3 bytes a pixel).

Either gives, for any part of the image, exactly the float32 values the plain read's luma holds there: the table
holds those values, and :func:`luma_of_rgb` computes them with the same float32 products summed in the same order
(tests/test_colour_luma.py). Slicing with slices gives another :class:`LumaPixels` (nothing computed); anything
that needs the values (``np.asarray``, a ufunc, an operator, ``ravel``, indexing by arrays) gets them for the part
it took. So a consumer that works on bands of rows (the resize, the content box, the scope gate's spread, a knee
region) never holds more than a band of float values, and one that does not still gets the right values.
Consumers take the film's pixels through :func:`film_pixels` rather than ``np.asarray``, which would make the
whole float image.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

# ITU-R BT.601, as Pillow's own "L" conversion, each weight over 255: the plain read's float32 products.
_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32) / np.float32(255.0)
# Values per band when a whole conversion (min, max, ravel of a large part) is made a band at a time.
_BAND_VALUES = 1 << 18
MAX_CODES = 1 << 16


def luma_of_rgb(red: np.ndarray, green: np.ndarray, blue: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The float32 BT.601 luma of 8-bit planes: red x w0, plus green x w1, plus blue x w2 (w = weight / 255), each
    product in float32, summed in that order (into ``out`` when given)."""
    if out is None:
        out = np.empty(np.shape(red), dtype=np.float32)
    np.multiply(red, _WEIGHTS[0], out=out, dtype=np.float32)
    out += np.multiply(green, _WEIGHTS[1], dtype=np.float32)
    out += np.multiply(blue, _WEIGHTS[2], dtype=np.float32)
    return out


class LumaPixels(NDArrayOperatorsMixin):
    """A 2-D float32 image whose values are computed from a compact store when a part of it is taken."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, store: np.ndarray) -> None:
        self._store = store

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self._store.shape[0]), int(self._store.shape[1]))

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        """The bytes the store holds (not a float image's)."""
        return int(self._store.nbytes)

    def __len__(self) -> int:
        return self.shape[0]

    def _values(self, part: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _like(self, store: np.ndarray) -> "LumaPixels":
        raise NotImplementedError

    def __getitem__(self, key: Any) -> "LumaPixels | np.ndarray":
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) <= 2 and all(isinstance(part, slice) for part in parts):
            return self._like(self._store[parts])
        return self._values(self._store[parts])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self._values(self._store)
        return values if dtype is None else values.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(np.asarray(x) if isinstance(x, LumaPixels) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(x) if isinstance(x, LumaPixels) else x for x in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def bands(self, values: int = _BAND_VALUES) -> Iterator[tuple[int, np.ndarray]]:
        """(top row, float32 values) of bands of whole rows, in order."""
        rows = max(1, values // max(1, self.shape[1]))
        for top in range(0, self.shape[0], rows):
            yield top, self._values(self._store[top : top + rows])

    def copy_into(self, out: np.ndarray) -> np.ndarray:
        """The values written into ``out`` (same shape) a band at a time."""
        for top, band in self.bands():
            out[top : top + band.shape[0]] = band
        return out

    def astype(self, dtype: Any, copy: bool = True) -> "LumaPixels | np.ndarray":
        if np.dtype(dtype) == self.dtype and not copy:
            return self
        return np.asarray(self).astype(dtype)

    def ravel(self) -> np.ndarray:
        return self.copy_into(np.empty(self.shape, dtype=np.float32)).ravel()

    def min(self) -> np.float32:
        return self._extremes()[0]

    def max(self) -> np.float32:
        return self._extremes()[1]

    def _extremes(self) -> tuple[np.float32, np.float32]:
        """The least and the greatest value, from one pass over the bands, kept (a caller that asks for both, as a
        range check does, computes the values once: for a PNG's samples decoded where taken, one decode)."""
        if getattr(self, "_kept_extremes", None) is None:
            ends = [(band.min(), band.max()) for _, band in self.bands() if band.size]
            nan = np.float32(np.nan)
            self._kept_extremes = (min((e[0] for e in ends), default=nan), max((e[1] for e in ends), default=nan))
        return self._kept_extremes


class CodedLuma(LumaPixels):
    """Luma as a uint16 code a pixel into ``table`` (float32 values)."""

    def __init__(self, codes: np.ndarray, table: np.ndarray) -> None:
        super().__init__(codes)
        self.table = table

    def _values(self, part: np.ndarray) -> np.ndarray:
        return np.take(self.table, part)

    def _like(self, store: np.ndarray) -> "CodedLuma":
        return CodedLuma(store, self.table)


class RgbLuma(LumaPixels):
    """Luma computed from (height, width, 3) 8-bit RGB samples (any strides: a view of a file's bytes)."""

    def _values(self, part: np.ndarray) -> np.ndarray:
        part = np.asarray(part)  # samples decoded where they are taken (png_bands.Rows): once, not a plane at a time
        return luma_of_rgb(part[..., 0], part[..., 1], part[..., 2])

    def _like(self, store: np.ndarray) -> "RgbLuma":
        return RgbLuma(store)


def film_pixels(pixels: Any) -> "np.ndarray | LumaPixels":
    """``pixels`` as an array to work on: a :class:`LumaPixels` as it is (its values are made for each part a
    consumer takes), anything else through ``np.asarray``."""
    return pixels if isinstance(pixels, LumaPixels) else np.asarray(pixels)


class LumaCoder:
    """Codes for float32 luma values, given a band at a time: each value not seen before gets the next code (those
    new in one band in increasing order), up to :data:`MAX_CODES`. ``table[code]`` is the value; the first codes are
    those of ``initial``, in its order. Codes are found by binary search in the values seen, kept sorted."""

    def __init__(self, initial: np.ndarray) -> None:
        self.table = np.asarray(initial, dtype=np.float32).copy()
        order = np.argsort(self.table, kind="stable")
        self._sorted = self.table[order]
        self._codes = order.astype(np.uint16)

    def encode(self, values: np.ndarray, out: np.ndarray) -> bool:
        """The code of each of ``values`` into ``out`` (same shape, uint16); False, with ``out`` unfinished, when the
        values would need more than :data:`MAX_CODES` codes."""
        position = self._positions(values) if self._sorted.size else None
        missing = self._sorted[position] != values if position is not None else np.ones(np.shape(values), bool)
        if missing.any():
            new = np.unique(values[missing])
            if self.table.size + new.size > MAX_CODES:
                return False
            codes = np.arange(self.table.size, self.table.size + new.size, dtype=np.uint16)
            self.table = np.concatenate([self.table, new])
            merged = np.concatenate([self._sorted, new])
            order = np.argsort(merged, kind="stable")
            self._sorted, self._codes = merged[order], np.concatenate([self._codes, codes])[order]
            position = self._positions(values)
        np.take(self._codes, position, out=out, mode="clip")  # in range: "clip" writes out directly, unbuffered
        return True

    def _positions(self, values: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self._sorted, values)
        np.minimum(position, self._sorted.size - 1, out=position)
        return position
