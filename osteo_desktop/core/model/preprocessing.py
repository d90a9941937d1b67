"""The one preprocessing function: radiograph pixels to model input.

Training, inference and the on-screen preview all go through :func:`preprocess`. The preview is derived from the
returned array by :func:`model_input_to_preview`, so what the clinician sees is the model's input itself, not a
re-creation of it. Augmentation is not done here: it belongs to training only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from osteo_desktop.core.model.resampling import resize_bilinear
from osteo_desktop.core.reading.levels import first_level_above, unit_values
from osteo_desktop.core.reading.luma import film_pixels

AspectMode = Literal["pad", "squash"]
ContrastMode = Literal["none", "equalize"]


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings recorded with a model in its card and read back at load time.

    ``border_threshold`` is the intensity (0..1) below which a whole edge row/column counts as black border;
    ``border_min_fraction`` is how much of a row or column must be brighter than that for it to count as content.
    ``knee_crop_aspect`` (0 = off): when the content is taller than this many widths (a long-leg or full-shin view),
    keep a window of that height centred on the knee joint (see :func:`knee_window`), so the joint fills more of
    the input instead of the shaft and the margins.
    """

    input_size: int = 224
    trim_borders: bool = True
    border_threshold: float = 0.06
    border_min_fraction: float = 0.02
    aspect: AspectMode = "pad"
    contrast: ContrastMode = "equalize"
    knee_crop_aspect: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            # A model trained with a setting this version does not implement must not run silently without it.
            raise ValueError(f"unknown preprocessing settings: {sorted(unknown)}")
        config = cls(**data)
        if config.aspect not in ("pad", "squash"):
            raise ValueError(f"unknown aspect mode {config.aspect!r}")
        if config.contrast not in ("none", "equalize"):
            raise ValueError(f"unknown contrast mode {config.contrast!r}")
        if config.knee_crop_aspect != 0 and not 0.5 <= config.knee_crop_aspect <= 4.0:
            raise ValueError(f"knee crop aspect {config.knee_crop_aspect} out of range (0 or 0.5-4)")
        if not 32 <= config.input_size <= 1024:
            raise ValueError(f"input size {config.input_size} out of range")
        return config


def content_box(pixels: np.ndarray, threshold: float, min_fraction: float) -> tuple[int, int, int, int]:
    """Return (top, bottom, left, right) of the region inside black borders; the whole image if all is dark.

    ``pixels`` are values, or grey levels (uint8), compared as the values they stand for. Counted in bands of rows,
    so no full-size mask is made (48 MiB at 50 megapixels)."""
    height, width = pixels.shape
    if pixels.dtype == np.uint8:
        level = first_level_above(threshold)
        bright_in = lambda band: band >= level  # noqa: E731 - the same comparison on the values they stand for
    else:
        bright_in = lambda band: band > threshold  # noqa: E731
    row_counts = np.empty(height, dtype=np.intp)
    col_counts = np.zeros(width, dtype=np.intp)
    band_rows = max(1, (1 << 18) // max(1, width))
    for top in range(0, height, band_rows):
        bright = bright_in(pixels[top : top + band_rows])
        row_counts[top : top + bright.shape[0]] = np.count_nonzero(bright, axis=1)
        col_counts += np.count_nonzero(bright, axis=0)
    # count_nonzero / length is the same fraction as bright.mean() without a float64 pass over the whole image.
    rows = np.flatnonzero(row_counts / width > min_fraction)
    cols = np.flatnonzero(col_counts / height > min_fraction)
    if rows.size == 0 or cols.size == 0:
        return 0, pixels.shape[0], 0, pixels.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def knee_window(pixels: np.ndarray, aspect: float) -> tuple[int, int]:
    """Rows (top, bottom) of a window ``aspect`` widths tall around the knee joint of a tall image.

    The femoral condyles and tibial plateau are the widest bone in a frontal knee view, so the window is centred
    on the rows where the bright (bone) part is widest, smoothed over an eighth of the height; an image that is not
    taller than the window is left whole.
    """
    height, width = pixels.shape
    window = int(round(aspect * width))
    if height <= window:
        return 0, height
    bone = pixels > np.percentile(pixels, 85)
    profile = bone.mean(axis=1)
    span = max(3, height // 8)
    smoothed = np.convolve(profile, np.ones(span) / span, mode="same")
    # The middle of the (often flat-topped) maximum, not its first row.
    centre = int(round(np.flatnonzero(smoothed >= smoothed.max() - 1e-9).mean()))
    top = int(np.clip(centre - window // 2, 0, height - window))
    return top, top + window


def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    # Pillow's resampling is antialiased when shrinking, which a plain bilinear zoom is not; done in bands of rows,
    # without Pillow's full-size float copy of the image (issue 13: 92 MiB at 24 megapixels).
    return resize_bilinear(pixels, width, height)


def equalize_histogram(pixels: np.ndarray, bins: int = 256) -> np.ndarray:
    """Global histogram equalisation of values in [0, 1], returning values in [0, 1]."""
    flat = np.clip(pixels, 0.0, 1.0).ravel()
    histogram, edges = np.histogram(flat, bins=bins, range=(0.0, 1.0))
    cdf = np.cumsum(histogram).astype(np.float64)
    if cdf[-1] == 0:
        return pixels.astype(np.float32)
    cdf_min = cdf[np.flatnonzero(histogram)[0]]
    span = cdf[-1] - cdf_min
    if span <= 0:
        return np.zeros_like(pixels, dtype=np.float32)
    lut = np.clip((cdf - cdf_min) / span, 0.0, 1.0)
    index = np.minimum((flat * bins).astype(np.int64), bins - 1)
    return lut[index].reshape(pixels.shape).astype(np.float32)


@dataclass(frozen=True)
class InputGeometry:
    """Where the model input came from: the crop taken from the original and where it sits on the square canvas."""

    original_shape: tuple[int, int]
    crop: tuple[int, int, int, int]  # top, bottom, left, right in the original
    placed: tuple[int, int, int, int]  # top, left, height, width of the content on the input canvas
    input_size: int


def preprocess(pixels: np.ndarray, config: PreprocessConfig | None = None) -> np.ndarray:
    """Turn radiograph pixels (2-D, float in [0, 1], bone bright, or grey levels as uint8) into the model input.

    Returns a float32 array of shape (size, size, 3) scaled as MobileNetV2 expects, in [-1, 1].
    """
    return preprocess_with_geometry(pixels, config)[0]


def preprocess_with_geometry(pixels: np.ndarray, config: PreprocessConfig | None = None) -> tuple[np.ndarray, InputGeometry]:
    """:func:`preprocess`, also returning the geometry needed to map input positions back onto the original."""
    config = config or PreprocessConfig()
    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {pixels.shape}")
    # Grey levels (uint8, a compact read) stay levels, and a colour raster's luma (LumaPixels) as it is held: the
    # resize converts what it reads, a band at a time.
    image = film_pixels(pixels)
    if image.dtype != np.uint8:
        image = image.astype(np.float32, copy=False)
    crop = (0, image.shape[0], 0, image.shape[1])
    if config.trim_borders:
        crop = content_box(image, config.border_threshold, config.border_min_fraction)
        image = image[crop[0] : crop[1], crop[2] : crop[3]]
    # Clipped after the crop, which finds the same box either way, so only the kept pixels are copied; and only
    # when needed: readers give [0, 1] already (levels always are), and a full-size float copy is 23 MB at
    # 6 megapixels (issue 13).
    if image.dtype != np.uint8 and image.size and (float(image.min()) < 0.0 or float(image.max()) > 1.0):
        image = np.clip(image, 0.0, 1.0)
    if config.knee_crop_aspect:
        image = unit_values(image)  # its percentile needs the values (no shipped model crops so)
        top, bottom = knee_window(image, config.knee_crop_aspect)
        image = image[top:bottom]
        crop = (crop[0] + top, crop[0] + bottom, crop[2], crop[3])
    size = config.input_size
    height, width = image.shape
    if config.aspect == "squash":
        content = _resize(image, size, size)
    else:
        scale = size / max(height, width)
        content = _resize(image, max(1, round(width * scale)), max(1, round(height * scale)))
    content = np.clip(content, 0.0, 1.0)
    if config.contrast == "equalize":
        content = equalize_histogram(content)
    canvas = np.zeros((size, size), dtype=np.float32)
    ch, cw = content.shape
    top, left = (size - ch) // 2, (size - cw) // 2
    canvas[top : top + ch, left : left + cw] = content
    scaled = canvas * 2.0 - 1.0
    geometry = InputGeometry(tuple(pixels.shape[:2]), crop, (top, left, ch, cw), size)
    return np.repeat(scaled[:, :, None], 3, axis=2), geometry


def map_to_original(values: np.ndarray, geometry: InputGeometry) -> np.ndarray:
    """Project a map over the model input (any square resolution) back onto the original image grid.

    Areas of the original that were trimmed away get 0.
    """
    size = geometry.input_size
    if values.shape != (size, size):
        values = _resize(values.astype(np.float32), size, size)
    top, left, ch, cw = geometry.placed
    content = values[top : top + ch, left : left + cw]
    c_top, c_bottom, c_left, c_right = geometry.crop
    out = np.zeros(geometry.original_shape, dtype=np.float32)
    out[c_top:c_bottom, c_left:c_right] = _resize(content, c_right - c_left, c_bottom - c_top)
    return out


def model_input_to_preview(model_input: np.ndarray) -> np.ndarray:
    """The model input as an 8-bit greyscale image, for display. Inverse of the final scaling in :func:`preprocess`."""
    if model_input.ndim != 3 or model_input.shape[2] != 3:
        raise ValueError(f"expected a (size, size, 3) model input, got shape {model_input.shape}")
    return np.clip(np.rint((model_input[:, :, 0] + 1.0) * 127.5), 0, 255).astype(np.uint8)


# --- Per-knee regions -------------------------------------------------------------------------------------------
# Model 2.0.0 reads each knee from a square region around its box, cut from the file at its own resolution, so that
# what else is on the film (the other knee, the shin, borders, markers) and how the film was framed cannot change
# what the model sees of this knee. The same function serves training, inference and the preview.


@dataclass(frozen=True)
class KneeRegionConfig:
    """How a knee's region is cut from the film; recorded in the card's ``knee_model`` section.

    ``margin`` is added on every side as a fraction of the box's side (a knee box is about 1.2 tibial-plateau widths,
    see annotations/README.md): the region's side is ``(1 + 2 * margin) * box side``. 0: the region is the box made
    square; out-of-fold per-film ROC AUC fell as the margin grew (0.835 at 0, 0.819 at 0.1, 0.799 at 0.25). ``edge_fraction`` is the width
    of the film's outer frame (a fraction of its shorter side) whose median brightness counts as its background.
    """

    input_size: int = 224
    margin: float = 0.0
    contrast: ContrastMode = "equalize"
    edge_fraction: float = 0.01

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KneeRegionConfig":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown knee-region settings: {sorted(unknown)}")
        config = cls(**data)
        if config.contrast not in ("none", "equalize"):
            raise ValueError(f"unknown contrast mode {config.contrast!r}")
        if not 0.0 <= config.margin <= 1.0:
            raise ValueError(f"knee-region margin {config.margin} out of range (0-1)")
        if not 32 <= config.input_size <= 1024:
            raise ValueError(f"input size {config.input_size} out of range")
        return config


@dataclass(frozen=True)
class KneeGeometry:
    """Where a knee's model input came from: the square ``region`` (x0, y0, x1, y1) in the original's pixel
    coordinates, which may reach past the film's edges (that part was padded with ``background``)."""

    original_shape: tuple[int, int]
    region: tuple[int, int, int, int]
    input_size: int
    background: float

    def to_original(self, u: float, v: float) -> tuple[float, float]:
        """Original (x, y) of the model input's position (u, v), both in pixels with 0 at the top-left corner."""
        x0, y0, x1, _ = self.region
        scale = (x1 - x0) / self.input_size
        return x0 + u * scale, y0 + v * scale


def film_background(pixels: np.ndarray, edge_fraction: float = 0.01) -> float:
    """Median brightness of the film's outer frame: what lies beyond its edges, for padding a region that runs off."""
    height, width = pixels.shape
    edge = max(1, int(round(edge_fraction * min(height, width))))
    frame = np.concatenate([pixels[:edge].ravel(), pixels[-edge:].ravel(), pixels[:, :edge].ravel(), pixels[:, -edge:].ravel()])
    if frame.dtype == np.uint8:  # grey levels: the median of the values they stand for
        frame = unit_values(frame)
    return float(np.clip(np.median(frame), 0.0, 1.0))


def knee_square(box: tuple[float, float, float, float], margin: float) -> tuple[int, int, int, int]:
    """The square region (x0, y0, x1, y1) around a knee box: same centre, side (1 + 2 margin) x the box's longer
    side, rounded to whole pixels. A box mirrored about the film's middle gives the mirrored region."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty knee box {box}")
    side = max(1, int(round(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin))))
    # With whole-pixel box edges, a side of the same parity as x0 + x1 puts the region's corner on a whole pixel, so
    # no rounding is needed and the box mirrored about the film's middle gives exactly the mirrored region.
    if abs((x0 + x1) - round(x0 + x1)) < 1e-9 and (round(x0 + x1) - side) % 2:
        side += 1
    left = int(np.floor((x0 + x1 - side) / 2.0 + 0.5))
    top = int(np.floor((y0 + y1 - side) / 2.0 + 0.5))
    return left, top, left + side, top + side


def knee_region(
    pixels: np.ndarray, box: tuple[float, float, float, float], config: KneeRegionConfig | None = None
) -> tuple[np.ndarray, KneeGeometry]:
    """The model input for one knee: the square region around ``box`` cut at the film's own resolution, padded with
    the film's background where it runs off the film, equalised, resized to the model input.

    ``pixels`` is the radiograph (2-D, float in [0, 1], bone bright, or its grey levels as uint8); ``box`` is
    (x0, y0, x1, y1) in its pixels.
    Equalisation uses the film's pixels inside the region only, so the padding does not change how the knee looks.
    Returns the (size, size, 3) input in [-1, 1] and the geometry that maps it back onto the film.
    """
    config = config or KneeRegionConfig()
    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {pixels.shape}")
    height, width = pixels.shape
    background = film_background(pixels, config.edge_fraction)
    x0, y0, x1, y1 = knee_square(box, config.margin)
    side = x1 - x0
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"knee box {box} lies outside the {width}x{height} image")
    crop = pixels[cy0:cy1, cx0:cx1]
    # The region is made a band of rows at a time as the resize takes it, never whole at the film's resolution
    # (about 50 MiB for a knee of a 50-megapixel film; issue 13): the same values, so the same input bit for bit.
    region = _PaddedRegion(crop, cy0 - y0, cx0 - x0, side, background)
    size = config.input_size
    content = np.clip(_resize(region, size, size), 0.0, 1.0)
    if config.contrast == "equalize":
        content = _equalize_like(content, _region_sample(crop))
    scaled = content * 2.0 - 1.0
    geometry = KneeGeometry((height, width), (x0, y0, x1, y1), size, background)
    return np.repeat(scaled[:, :, None], 3, axis=2).astype(np.float32), geometry


def _film_values(part: Any) -> np.ndarray:
    """The region's values of a part of the film: grey levels' values, or values clipped to [0, 1], as float32."""
    if part.dtype == np.uint8:
        return unit_values(part)  # grey levels: their values, in [0, 1] already
    return np.clip(np.asarray(part, np.float32), 0.0, 1.0)


class _PaddedRegion:
    """A knee's square region (``side`` x ``side``): the film's pixels ``crop`` placed at (``top``, ``left``), the
    rest ``background``; bands of rows (``region[a:b]``) are made as they are taken, as float32. For the resize,
    which takes its input a band of rows at a time."""

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, crop: Any, top: int, left: int, side: int, background: float) -> None:
        self.crop, self.top, self.left, self.side, self.background = crop, top, left, side, background
        self.shape = (side, side)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.side)
        band = np.full((max(0, stop - start), self.side), self.background, np.float32)
        first, last = max(start, self.top), min(stop, self.top + self.crop.shape[0])
        if first < last:
            band[first - start : last - start, self.left : self.left + self.crop.shape[1]] = _film_values(
                self.crop[first - self.top : last - self.top])
        return band

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        region = self[0 : self.side]
        return region if dtype is None else region.astype(dtype, copy=False)


def _region_sample(crop: Any) -> np.ndarray:
    """The film's values inside a knee's region that its equalisation table is made from: all of them, or above
    2**18 every n-th in row-major order (a subsample gives the same table to within a bin and keeps large films
    fast), picked by index from ``crop`` before they are converted, so no copy of the whole crop is made."""
    rows, columns = crop.shape
    if rows * columns > 1 << 18:
        picked = np.arange(0, rows * columns, rows * columns // (1 << 18) + 1)
        return _film_values(crop[picked // columns, picked % columns])
    return _film_values(crop[0:rows, 0:columns]).ravel()


def _equalize_like(values: np.ndarray, flat: np.ndarray, bins: int = 256) -> np.ndarray:
    """Histogram equalisation of ``values`` with the lookup table of ``flat`` (the region's film values)."""
    histogram, _ = np.histogram(flat, bins=bins, range=(0.0, 1.0))
    cdf = np.cumsum(histogram).astype(np.float64)
    nonzero = np.flatnonzero(histogram)
    if nonzero.size == 0:
        return values.astype(np.float32)
    cdf_min = cdf[nonzero[0]]
    span = cdf[-1] - cdf_min
    if span <= 0:
        return np.zeros_like(values, dtype=np.float32)
    lut = np.clip((cdf - cdf_min) / span, 0.0, 1.0)
    index = np.minimum((np.clip(values, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    return lut[index].astype(np.float32)


def knee_map_to_original(values: np.ndarray, geometry: KneeGeometry) -> np.ndarray:
    """Project a map over a knee's model input (any square resolution) onto the original image grid, in place.

    Outside the knee's region the map is 0; the part of the region beyond the film's edges is dropped.
    """
    height, width = geometry.original_shape
    x0, y0, x1, y1 = geometry.region
    side = x1 - x0
    out = np.zeros((height, width), dtype=np.float32)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return out
    full = _resize(np.asarray(values, np.float32), side, side)
    out[cy0:cy1, cx0:cx1] = full[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    return out
