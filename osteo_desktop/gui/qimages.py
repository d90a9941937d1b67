"""NumPy arrays to QImages: greyscale radiographs and the explanation heat map (window/level is the core's:
:func:`osteo_desktop.core.reading.window.apply_window`)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

# A perceptually ordered "hot" ramp (dark blue -> cyan -> yellow -> red) that stays readable over grey bone.
_HEAT_STOPS = np.array(
    [
        [0.00, 0, 0, 140],
        [0.25, 0, 110, 255],
        [0.50, 0, 230, 200],
        [0.70, 255, 230, 0],
        [0.85, 255, 120, 0],
        [1.00, 220, 0, 0],
    ],
    dtype=np.float32,
)


def to_grey8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] (or already 8-bit) as a contiguous uint8 array."""
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    return np.ascontiguousarray(np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8))


def grey_qimage(pixels: np.ndarray) -> QImage:
    """A deep-copied 8-bit greyscale QImage, so the array can be freed afterwards."""
    grey = to_grey8(pixels)
    height, width = grey.shape
    image = QImage(grey.data, width, height, grey.strides[0], QImage.Format.Format_Grayscale8)
    return image.copy()


def heat_rgba(values: np.ndarray) -> np.ndarray:
    """Explanation values in [0, 1] as RGBA; weak areas fade out so the anatomy under them stays visible."""
    v = np.clip(np.nan_to_num(values.astype(np.float32)), 0.0, 1.0)
    rgba = np.empty(v.shape + (4,), dtype=np.uint8)
    for channel in range(3):
        rgba[..., channel] = np.interp(v, _HEAT_STOPS[:, 0], _HEAT_STOPS[:, channel + 1]).astype(np.uint8)
    rgba[..., 3] = (np.clip(v * 1.6, 0.0, 1.0) * 255).astype(np.uint8)
    return rgba


def rgba_qimage(rgba: np.ndarray) -> QImage:
    rgba = np.ascontiguousarray(rgba)
    height, width = rgba.shape[:2]
    image = QImage(rgba.data, width, height, rgba.strides[0], QImage.Format.Format_RGBA8888)
    return image.copy()


def heat_qimage(values: np.ndarray) -> QImage:
    return rgba_qimage(heat_rgba(values))
