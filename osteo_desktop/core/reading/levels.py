"""Grey levels: the compact form of a radiograph's pixels, and the float values they stand for (issue 13).

Every reader's output lies on the 256 grey levels k / 255 of the 8-bit films the model was trained on (rounded there
by :func:`~osteo_desktop.core.reading.reader.on_grey_levels` when the source is finer), except an 8-bit colour
raster's luma. So a radiograph can carry the level k itself as uint8, a quarter of a float32 image, and whoever needs
values converts what it reads, a band of rows at a time, to exactly the float32 the full float image held:
``float32(k) / float32(255)``, an IEEE division, correctly rounded and so the same bit for bit however it is
vectorised. Up to the reader's 50-megapixel limit that is 48 MiB instead of 191 MiB per image held.

Convention, wherever a radiograph's pixels are taken (preprocessing, the scope gate, the knee detector, resampling):
a ``uint8`` array holds grey levels and stands for ``k / 255``; any other dtype holds the values themselves.
"""

from __future__ import annotations

import numpy as np

GREY_LEVELS = 255
"""The grid readers round to: the 256 grey levels k / 255 of the 8-bit films the model was trained on."""

_DIVISOR = np.float32(GREY_LEVELS)

UNIT_VALUES = np.divide(np.arange(256, dtype=np.uint8), _DIVISOR, dtype=np.float32)
"""The float32 value of each grey level k, as every conversion here computes it."""
UNIT_VALUES.flags.writeable = False


def is_levels(pixels: np.ndarray) -> bool:
    """Whether ``pixels`` are grey levels (uint8, standing for k / 255) rather than the values themselves."""
    return np.asarray(pixels).dtype == np.uint8


def unit_values(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``pixels`` as float32 values: grey levels divided by 255 (into ``out`` when given, else a new array);
    values of any other dtype as float32 (no copy when they already are, and no ``out``)."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        return np.divide(pixels, _DIVISOR, out=out, dtype=np.float32)
    if out is not None:
        out[...] = pixels
        return out
    return np.asarray(pixels, dtype=np.float32)


def to_levels(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Float values in [0, 1] to the nearest grey level (uint8): ``rint(values x 255)`` in float32, the rounding of
    :func:`~osteo_desktop.core.reading.reader.on_grey_levels`, so ``unit_values(to_levels(v))`` is exactly what it
    gives. Values outside [0, 1] (none come from the readers) are clipped to black and white."""
    scaled = np.multiply(values, _DIVISOR, dtype=np.float32)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    if out is None:
        return scaled.astype(np.uint8)
    out[...] = scaled
    return out


def first_level_above(threshold: float) -> int:
    """The lowest grey level whose value is above ``threshold`` (256 when none is): ``pixels > threshold`` on the
    values is ``levels >= first_level_above(threshold)`` on the levels, the same comparison made on the same float32
    values (the table is increasing)."""
    above = np.flatnonzero(UNIT_VALUES > threshold)
    return int(above[0]) if above.size else 256
