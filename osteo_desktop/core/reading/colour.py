"""When an RGB image is really a colour image, not a grey radiograph stored with three channels.

Greyscale radiographs are often stored as RGB, and lossy JPEG then leaves the three channels a few grey levels
apart (chroma subsampling and quantisation). Measured on the 60 RGB films of knee-xray-fullsize, the 99th
percentile of a pixel's largest distance from its channel mean is at most 1/255, while the old rule (any
difference at all) called 48 of those 83 films "colour". A colour image (a photograph, a coloured overlay over more
than 1 % of the image, a heat map) differs by tens of levels. The threshold, 24/255, sits well between the two.
"""

from __future__ import annotations

import numpy as np

# The 99th percentile of max_c |channel_c - mean| above which an image counts as colour (scale: 0..1).
COLOUR_SPREAD = 24.0 / 255.0
# Measuring on about this many pixels (an even grid) is plenty for a percentile and keeps a scan fast.
_SAMPLE_PIXELS = 1 << 16


def channel_spread(rgb: np.ndarray) -> float:
    """The 99th percentile over pixels of the largest distance of a channel from the pixel's channel mean.

    ``rgb``: (height, width, 3), floats in [0, 1] or 8-bit integers (0..255, scaled here). Measured on an even
    grid of at most about 65,000 pixels, so the cost does not grow with the image.
    """
    step = sample_step(*rgb.shape[:2])
    return grid_spread(rgb[::step, ::step, :3])


def sample_step(height: int, width: int) -> int:
    """The step of the even grid :func:`channel_spread` measures an image of this size on."""
    return max(1, int(np.ceil(np.sqrt(height * width / _SAMPLE_PIXELS))))


def grid_spread(grid: np.ndarray) -> float:
    """:func:`channel_spread` of pixels already picked (the grid of :func:`sample_step`), taken whole: for a reader
    that holds the channels as separate planes and so picks the grid itself, without making an (h, w, 3) array."""
    sample = np.asarray(grid[..., :3], dtype=np.float32)
    if sample.size == 0:
        return 0.0
    if grid.dtype == np.uint8:
        sample *= np.float32(1.0 / 255.0)
    # Channel by channel: a reduction along the short last axis is several times slower than these plane operations.
    red, green, blue = sample[..., 0], sample[..., 1], sample[..., 2]
    mean = (red + green + blue) / np.float32(3.0)
    spread = np.maximum(np.maximum(np.abs(red - mean), np.abs(green - mean)), np.abs(blue - mean)).ravel()
    # The 99th percentile by partition (as np.percentile's "linear" method, without sorting all of the sample).
    position = 0.99 * (spread.size - 1)
    low = int(np.floor(position))
    high = min(low + 1, spread.size - 1)
    part = np.partition(spread, (low, high))
    return float(part[low] + (part[high] - part[low]) * (position - low))


def is_colour(rgb: np.ndarray) -> bool:
    """Whether an RGB image (in [0, 1], or 8-bit) is really colour (see the module's note), not grey with channel noise."""
    return channel_spread(rgb) > COLOUR_SPREAD
