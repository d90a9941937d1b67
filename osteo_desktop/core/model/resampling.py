"""Pillow's bilinear resize of a float image, bit for bit, without Pillow's full-size copy of it (issue 13).

Pillow 13 copies a float32 array into an "F" image before it resizes it (``"F"`` is not among the modes it maps in
place), so each resize of a full-size film held a second full-size float image: 92 MiB at 24 megapixels, twice per
film (the model input and the knee detector's working copy), which put a scan past its 300 MiB bound above about
20 megapixels.

Pillow resizes in two separable passes, each output value a weighted sum (in double, stored as float32) over one
row or one column; its optional ``reducing_gap`` step first averages whole blocks of pixels. The horizontal pass and
the block averaging read rows independently, so here they run on bands of rows (only one band of the original is
ever copied) and the rest runs in Pillow on the much smaller result. The passes go in a fixed order, horizontal
first, as Pillow always did until version 13, which goes vertical first for some shapes (a film whose height shrinks
much more than its width): the same filter and coefficients, a different float32 rounding of the intermediate, so
values can differ from Pillow 13's own call in the last bits (at most 1e-6 in ``tests/test_resampling.py``). On the
371 shared films (288 downscaled, 83 full size) every CSV cell of ``osteo scan`` came out the same as with Pillow's
own call; two whole-film inputs moved by up to 0.015 in a pixel, where the histogram equalisation put a value on
the other side of a bin edge. A fixed order also keeps the model input the same whatever Pillow version is
installed.

A ``uint8`` array is a compact radiograph's grey levels (:mod:`osteo_desktop.core.reading.levels`): each band is
converted to the float32 values they stand for as it is copied, so a film read as levels is resized exactly as the
float image it stands for, without ever being float32 whole.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from osteo_desktop.core.reading.levels import unit_values

# Rows per band: about 512 KiB of float32 per band at any width.
_BAND_BYTES = 1 << 19


def resize_bilinear(pixels: np.ndarray, width: int, height: int, reducing_gap: float | None = None) -> np.ndarray:
    """``Image.fromarray(pixels, "F").resize((width, height), BILINEAR, reducing_gap=...)`` as float32, the same
    values, for a 2-D array of any float dtype and layout (a crop need not be contiguous), or of grey levels (uint8,
    resized as the values they stand for)."""
    rows, columns = pixels.shape
    if (width, height) == (columns, rows):
        return np.array(unit_values(pixels), dtype=np.float32)
    if rows == 0 or columns == 0:  # Pillow gives zeros for an empty image
        return np.zeros((height, width), np.float32)
    factor_x = factor_y = 1
    if reducing_gap is not None:
        factor_x = int(columns / width / reducing_gap) or 1
        factor_y = int(rows / height / reducing_gap) or 1
    if factor_x > 1 or factor_y > 1:
        # Pillow's reduce over the whole image (its "safe box" of a full-image resize is the whole image), then the
        # resize of the reduced image over the box that maps back onto the original's edges.
        reduced = _by_bands(pixels, factor_y, lambda band: band.reduce((factor_x, factor_y)))
        box = (0.0, 0.0, columns / factor_x, rows / factor_y)
        return _resized(Image.fromarray(reduced, mode="F"), (width, height), box)
    # The horizontal pass on bands, then the vertical pass on the narrow intermediate. A pass Pillow would skip
    # (the width or the height unchanged) is a copy here, which leaves the values as they are.
    narrow = _by_bands(pixels, 1, lambda band: band.resize((width, band.height), Image.Resampling.BILINEAR))
    return _resized(Image.fromarray(narrow, mode="F"), (width, height), None)


def _by_bands(pixels: np.ndarray, row_multiple: int, step) -> np.ndarray:
    """``step`` applied to bands of whole rows (a multiple of ``row_multiple`` each) and the results stacked."""
    rows, columns = pixels.shape
    band_rows = max(1, _BAND_BYTES // (4 * max(columns, 1)))
    band_rows = max(row_multiple, band_rows // row_multiple * row_multiple)
    parts = []
    for top in range(0, rows, band_rows):
        band = np.ascontiguousarray(unit_values(pixels[top : top + band_rows]), dtype=np.float32)
        parts.append(np.asarray(step(Image.fromarray(band, mode="F")), dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


def _resized(image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None) -> np.ndarray:
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR, box=box), dtype=np.float32)
