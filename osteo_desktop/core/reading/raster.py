"""PNG, JPEG, TIFF and BMP to :class:`Radiograph` with Pillow: 8/16-bit, greyscale stored as RGB(A), EXIF orientation.

The declared size is checked before any pixel is decoded (Pillow opens lazily), so bombs are refused cheaply.
A compact read (``osteo scan``) of a PNG or uncompressed TIFF above :data:`LARGE_RASTER_PIXELS` is made a band of
rows at a time, without Pillow's whole image (:mod:`png_bands`, :func:`_tiff_in_bands`; issue 13's memory bound);
a colour one's luma is then held as codes, or computed from the TIFF's own bytes (:mod:`luma`).
"""

from __future__ import annotations

import io
import logging
import mmap
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError
from osteo_desktop.core.reading import colour, luma, png_bands
from osteo_desktop.core.reading.levels import to_levels
from osteo_desktop.core.reading.limits import MAX_PIXELS, brief, check_dimensions
from osteo_desktop.core.reading.radiograph import COLOUR_DROPPED, TRANSPARENT_AS_BLACK, Radiograph

log = logging.getLogger(__name__)

RASTER_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's own "L" conversion
_EXIF_ORIENTATION = 0x0112
# Pixels per band of the RGB-to-grey conversion: 4 float32 bands of this size stay in a 1 MiB L2 cache.
_BAND_PIXELS = 1 << 16
# Above this size a colour JPEG read compactly decodes its Y plane alone (see _luma_only_jpeg): 64 MiB as YCbCr.
LARGE_COLOUR_JPEG_PIXELS = 16_000_000
# Above this size a PNG or uncompressed TIFF read compactly is read a band of rows at a time (see _png_in_bands,
# _tiff_in_bands), without Pillow's whole image: 32 MiB as 16-bit grey, 64 MiB as RGB.
LARGE_RASTER_PIXELS = 16_000_000
# An uncompressed TIFF's rows, read where they lie in the file's bytes: Pillow mode -> (raw mode, sample dtype,
# samples a pixel). Pillow's "raw" decoder copies these raw modes as they are.
_RAW_TIFF = {"L": ("L", np.dtype(np.uint8), 1), "I;16": ("I;16", np.dtype("<u2"), 1),
             "I;16B": ("I;16B", np.dtype(">u2"), 1), "RGB": ("RGB", np.dtype(np.uint8), 3)}
# The byte order of Pillow's 16-bit grey modes, as its raw encoder writes them.
_SIXTEEN_BIT = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2"}


def read_raster(path: Path, data: bytes, image_format: str, target_size: int | None = None, *,
                compact: bool = False) -> Radiograph:
    """Decode ``data`` (the bytes of ``path``), which content sniffing found to be ``image_format``.

    ``target_size`` is accepted but not used to decode at a reduced scale: see :func:`imaging.read_radiograph`.
    ``compact``: grey levels (uint8) instead of float32 wherever the pixels lie on them (see ``read_radiograph``).
    """
    warnings: list[str] = []
    image = _open(path, data, image_format)
    with image:
        width, height = image.size
        check_dimensions(path, width, height, what=f"{image_format} image")
        metadata: dict[str, Any] = {"format": image_format, "mode": image.mode, "original_width": width, "original_height": height}
        if getattr(image, "is_animated", False):
            warnings.append(f"{image_format} file holds several images; only the first is read")
        colour_check = None
        banded = (_png_in_bands(path, data, image) or _tiff_in_bands(data, image)) if compact else None
        if banded is None:
            if compact and _decodes_large_in_colour(image):
                image, colour_check = _luma_only_jpeg(path, data, image)
            else:
                image = _ycbcr_jpeg(path, data, image)
            image = _load_upright(path, image, image_format, metadata, warnings)
    mode = "YCbCr" if colour_check is not None else image.mode  # as the warning names it when decoded as YCbCr
    grey, bits, is_colour, transparent = banded or (_to_levels if compact else _to_grey)(image)
    if colour_check is not None:
        is_colour = colour_check
    if is_colour:
        warnings.append(f"colour {image_format} image ({mode}) {COLOUR_DROPPED}")
    if transparent:
        warnings.append(TRANSPARENT_AS_BLACK)
    metadata.update(width=int(grey.shape[1]), height=int(grey.shape[0]), bits_stored=bits, window_source="full range")
    return Radiograph(path, grey, image_format.lower(), metadata, warnings)


def _open(path: Path, data: bytes, image_format: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[image_format])
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(path, f"{image_format} image declares more than {MAX_PIXELS / 1e6:.0f} megapixels; refused") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, struct.error...
        raise ImageReadError(path, f"damaged {image_format} header ({brief(exc)})") from exc


def _ycbcr_jpeg(path: Path, data: bytes, image: Image.Image) -> Image.Image:
    """A colour JPEG set to decode as YCbCr: its Y plane is the grey image, with no colour conversion at all.

    JPEG stores luma (Y, BT.601, the weights of :data:`_LUMA`) and chroma; decoding to RGB and weighing the
    channels back to grey costs about as much again as the decode itself. Y differs from the luma of the decoded RGB
    only by that RGB's rounding to 8 bits: at most 0.9 grey levels on the 54 colour-stored JPEG films of
    knee-xray-fullsize, and at most 0.0006 in probability (tests/test_imaging_raster.py). Full resolution always.
    A JPEG whose components are coded as RGB (no YCbCr) cannot be decoded so; it is opened again and read as RGB.
    """
    if image.format != "JPEG" or image.mode != "RGB":
        return image
    image.draft("YCbCr", None)
    if image.mode != "YCbCr":
        return image
    try:
        image.load()
    except MemoryError:  # not a refusal of YCbCr: decoding it again as RGB would only need more
        raise
    except Exception:  # noqa: BLE001 - libjpeg refuses YCbCr output for RGB-coded components; read them as RGB
        image.close()
        return _open(path, data, "JPEG")
    return image


def _decodes_large_in_colour(image: Image.Image) -> bool:
    return image.format == "JPEG" and image.mode == "RGB" and image.width * image.height > LARGE_COLOUR_JPEG_PIXELS


def _luma_only_jpeg(path: Path, data: bytes, image: Image.Image) -> tuple[Image.Image, bool | None]:
    """A large colour JPEG set to decode its Y plane only ("L" draft), and whether it is colour, from a decode at
    half scale a side.

    Decoded as YCbCr, a JPEG is 4 bytes a pixel in Pillow (191 MiB at 50 megapixels), which alone put a scan past
    its 300 MiB bound; libjpeg's grey output is the Y component itself (jdcolor.c copies it), so the pixels are
    those of :func:`_ycbcr_jpeg`'s Y plane, bit for bit (tests/test_compact_pixels.py). The colour check then needs
    the chroma, which a half-scale decode (DCT scaling) gives for a quarter of the memory (1 byte a pixel of the
    full image, let go before the Y plane is decoded, so the read's peak stays the Y plane and its levels): at half
    scale the chroma of a 4:2:0 JPEG, the usual kind, is at the resolution it is stored at, so the check sees what
    the full-size check of :func:`_ycbcr_jpeg` sees. A 1/8 scale (each pixel an 8 x 8 block's mean) was tried first:
    it dilutes a 1-pixel coloured line 8 times, and thin coloured lines over a grey film then read as grey
    (tests/test_compact_pixels.py). Where the reduced YCbCr decode fails (components coded as RGB), the image is
    read as :func:`_ycbcr_jpeg` reads it (None: the colour check is the full image's). Running out of memory is not
    such a failure: it propagates, and the reader reports the file as too large for the memory available.
    """
    try:
        with _open(path, data, "JPEG") as small:
            small.draft("YCbCr", (max(1, small.width // 2), max(1, small.height // 2)))
            if small.mode != "YCbCr":
                return _ycbcr_jpeg(path, data, image), None
            small.load()
            is_colour = _ycbcr_is_colour(small)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - libjpeg refuses YCbCr output for RGB-coded components; read as before
        return _ycbcr_jpeg(path, data, image), None
    image.draft("L", None)
    if image.mode != "L":
        return _ycbcr_jpeg(path, data, image), None
    return image, is_colour


def _load_upright(path: Path, image: Image.Image, image_format: str, metadata: dict[str, Any], warnings: list[str]) -> Image.Image:
    try:
        image.load()
    except MemoryError as exc:
        raise ImageTooLargeError(path, f"not enough memory to decode the {image_format} image") from exc
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt compressed data
        raise ImageReadError(path, f"truncated or damaged {image_format} data ({brief(exc)})") from exc
    try:
        orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF is ignored, as viewers do
        orientation = 1
        warnings.append("EXIF data could not be read; orientation taken as stored")
    if orientation != 1:
        metadata["exif_orientation"] = orientation
        try:
            image = ImageOps.exif_transpose(image)
        except Exception as exc:  # noqa: BLE001
            warnings.append(f"EXIF orientation {orientation} could not be applied ({brief(exc)}); shown as stored")
    return image


def _to_grey(image: Image.Image) -> tuple[np.ndarray, int, bool, bool]:
    """(grey in [0, 1] float32, bits per sample, whether it was really colour, whether it had transparency)."""
    mode = image.mode
    if mode == "1":
        return np.asarray(image, dtype=np.float32), 1, False, False
    if mode == "L":
        return _scaled_8_bit(image), 8, False, False
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float32)
        return _scale_high_bit_depth(values), _bits_for(values), False, False
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            values = (values - low) / max(high - low, 1e-6)
        return values, 32, False, False
    if mode == "YCbCr":
        is_colour = _ycbcr_is_colour(image)
        luma = image.getchannel(0)
        # The YCbCr image holds 4 bytes a pixel (192 MB at 48 megapixels); free it before the float image is made.
        image.close()
        return _scaled_8_bit(luma), 8, is_colour, False
    if mode == "RGB":
        grey, is_colour = _grey_from_rgb_image(image)
        return grey, 8, is_colour, False
    rgba = np.asarray(image.convert("RGBA"))
    grey, is_colour = grey_from_rgb8(rgba[..., :3])
    alpha = rgba[..., 3]
    transparent = bool((alpha < 255).any())
    if transparent:
        # Radiograph backgrounds are dark, so see-through areas become background.
        grey *= alpha
        grey /= np.float32(255.0)
    return grey, 8, is_colour, transparent


def _to_levels(image: Image.Image) -> tuple[np.ndarray, int, bool, bool]:
    """:func:`_to_grey` for a compact read: grey levels (uint8) where the pixels lie on them, made without a float
    image; the values they stand for are exactly :func:`_to_grey`'s (rounded as the reader rounds deeper images).
    Modes left (colour luma, 32-bit, float, palettes) give :func:`_to_grey`'s float32, which the reader rounds."""
    mode = image.mode
    if mode == "1":
        return np.asarray(image).astype(np.uint8) * np.uint8(255), 1, False, False
    if mode == "L":
        return _levels_8_bit(image), 8, False, False
    if mode in _SIXTEEN_BIT:
        return _levels_16_bit(image)
    if mode == "YCbCr":
        is_colour = _ycbcr_is_colour(image)
        # The Y plane straight from Pillow's raw encoder: no separate Y image (getchannel) to copy it from.
        luma = _levels_8_bit(image, "Y")
        image.close()
        return luma, 8, is_colour, False
    if mode == "RGB":
        grey, is_colour = _grey_from_rgb_image(image, levels=True)
        return grey, 8, is_colour, False
    return _to_grey(image)


def _levels_8_bit(image: Image.Image, rawmode: str | None = None) -> np.ndarray:
    """An 8-bit plane's grey levels (the image's own, or its plane ``rawmode``), copied out of Pillow a few rows at
    a time (as :func:`_scaled_8_bit`)."""
    width, height = image.size
    levels = np.empty((height, width), dtype=np.uint8)
    top = 0
    for rows in _raw_rows(image, rawmode or image.mode):
        levels[top : top + rows.shape[0]] = rows
        top += rows.shape[0]
    if top != height:
        raise ValueError(f"Pillow's raw encoder gave {top} of {height} rows")
    return levels


def _levels_16_bit(image: Image.Image) -> tuple[np.ndarray, int, bool, bool]:
    """A 16-bit grey image's grey levels, a band of rows at a time: the values of :func:`_to_grey` (scaled by the
    sample depth its largest value needs), rounded as the reader rounds them, without its two full-size float
    copies (191 MiB each at 50 megapixels). The largest value comes from Pillow's own extrema, without a copy.
    Big-endian rows are looked up as they are: np.take reads their values, whatever the byte order."""
    width, height = image.size
    dtype = np.dtype(_SIXTEEN_BIT[image.mode])
    try:
        high = image.getextrema()[1]
    except ValueError:  # Pillow has no extrema for its big-endian mode: one pass over the rows instead
        high = max((int(rows.max(initial=0)) for rows in _raw_rows(image, image.mode, dtype)), default=0)
    table, bits = _sixteen_bit_table(high)
    levels = np.empty((height, width), dtype=np.uint8)
    top = 0
    for rows in _raw_rows(image, image.mode, dtype):
        np.take(table, rows, out=levels[top : top + rows.shape[0]])
        top += rows.shape[0]
    if top != height:
        raise ValueError(f"Pillow's raw encoder gave {top} of {height} rows")
    return levels, bits, False, False


def _sixteen_bit_table(high: int) -> tuple[np.ndarray, int]:
    """(the grey level of each of the 65,536 16-bit values, the sample depth) of an image whose largest value is
    ``high``: the float expression of _scale_high_bit_depth (an unsigned image has no negative values), then the
    reader's rounding, for each possible value once; the image is looked up in that table a band at a time."""
    bits = _bits_for(np.array([high], dtype=np.float32))
    divisor = float(2**bits - 1)
    return to_levels(np.clip(np.arange(1 << 16, dtype=np.uint16).astype(np.float32) / divisor, 0.0, 1.0)), bits


def _png_in_bands(path: Path, data: bytes, image: Image.Image) -> tuple[np.ndarray, int, bool, bool] | None:
    """:func:`_to_levels` of a large PNG decoded a band of rows at a time (:mod:`png_bands`), without Pillow's whole
    image: the same pixels and colour check, bit for bit. None when it is not read so (smaller than
    :data:`LARGE_RASTER_PIXELS`, a form png_bands does not take, data it cannot decode): the image is then read whole,
    as before, and any damage is reported as the whole read reports it.

    What is held at the peak, besides the file's bytes: 8-bit grey, the levels (1 byte a pixel); 16-bit grey, its
    values (2 bytes), turned into the levels in place (the largest value, which sets the scale, is known only at the
    end); RGB, the levels while every band so far is grey, the luma's codes (2 bytes) from the first band in colour,
    or, once an image has more luma values than codes (a photograph), none: the codes are dropped and the samples
    decoded again from the file's bytes where they are taken (a checkpoint a band, :func:`_held_png`).
    """
    if image.format != "PNG" or image.width * image.height <= LARGE_RASTER_PIXELS:
        return None
    plan = png_bands.plan(image, data)
    if plan is None:
        return None
    bands = png_bands.decode(data, plan)
    try:
        if plan.mode == "L":
            return _assembled(bands, plan.height, plan.width), 8, False, False
        if plan.mode == "RGB":
            grey, is_colour = _grey_from_rgb_bands(bands, plan.height, plan.width, lambda: _held_png(data, plan))
            return grey, 8, is_colour, False
        return _levels_16_bit_bands(bands, plan.height, plan.width)
    except png_bands.NotBanded as exc:
        log.info("%s read whole: its PNG data could not be decoded in bands (%s)", path.name, exc)
        return None
    except MemoryError as exc:
        raise ImageTooLargeError(path, "not enough memory to decode the PNG image") from exc


def _tiff_in_bands(data: bytes, image: Image.Image) -> tuple[np.ndarray, int, bool, bool] | None:
    """:func:`_to_levels` of a large uncompressed TIFF, its rows read where they lie in the file's bytes (held
    anyway) a band at a time, without Pillow's whole image (which its raw decoder fills with the same bytes): the
    same pixels and colour check, bit for bit. 16-bit grey takes two passes over the bytes (the largest value, then
    the levels), so only the levels are made; RGB gives the levels or the luma as :func:`_grey_from_rgb_bands`.
    None when it is not read so (small, compressed, tiled, padded, several frames, an EXIF orientation, strips
    past the file's end): the image is then read whole, as before."""
    if image.format != "TIFF" or image.width * image.height <= LARGE_RASTER_PIXELS:
        return None
    strips = _tiff_strips(data, image)
    if strips is None:
        return None
    height, width = image.size[1], image.size[0]
    _, dtype, samples = _RAW_TIFF[image.mode]
    shape = (width, samples) if samples > 1 else (width,)
    band = max(1, _BAND_PIXELS // width)

    def bands() -> Iterator[tuple[int, np.ndarray]]:
        for top, rows, offset in strips:
            strip = np.frombuffer(data, dtype=dtype, count=rows * width * samples, offset=offset).reshape(rows, *shape)
            for first in range(0, rows, band):
                yield top + first, strip[first : first + band]

    if image.mode == "L":
        return _assembled(bands(), height, width), 8, False, False
    if image.mode == "RGB":
        first = strips[0][2]
        if _one_after_another(strips, width * samples):
            rgb = np.frombuffer(data, dtype=np.uint8, count=height * width * samples, offset=first).reshape(height, width, samples)
            grey, is_colour = _rgb_in_place(bands(), rgb)
        else:
            grey, is_colour = _grey_from_rgb_bands(bands(), height, width, lambda: _held_rgb(bands(), height, width))
        return grey, 8, is_colour, False
    table, bits = _sixteen_bit_table(max(int(rows.max(initial=0)) for _, rows in bands()))
    levels = np.empty((height, width), dtype=np.uint8)
    for top, rows in bands():
        np.take(table, rows, out=levels[top : top + rows.shape[0]])
    return levels, bits, False, False


def banded_read(image: Image.Image, data: bytes) -> str | None:
    """How a compact read reads ``image`` (a PNG or TIFF opened from ``data``, not loaded), for the decode budget:
    "bands" (:func:`_png_in_bands`, :func:`_tiff_in_bands`), "in place" (an RGB TIFF whose rows lie one after
    another in ``data``: nothing made but a view of its bytes, :func:`_rgb_in_place`), or None (read whole)."""
    if image.width * image.height <= LARGE_RASTER_PIXELS:
        return None
    if image.format == "PNG":
        return "bands" if png_bands.plan(image, data) is not None else None
    if image.format != "TIFF":
        return None
    strips = _tiff_strips(data, image)
    if strips is None:
        return None
    return "in place" if image.mode == "RGB" and _one_after_another(strips, image.width * 3) else "bands"


def _one_after_another(strips: list[tuple[int, int, int]], row_bytes: int) -> bool:
    first = strips[0][2]
    return all(offset == first + top * row_bytes for top, _, offset in strips)


def _rgb_in_place(bands: Iterator[tuple[int, np.ndarray]], rgb: np.ndarray) -> tuple[np.ndarray | luma.LumaPixels, bool]:
    """:func:`_grey_from_rgb_bands` of an RGB TIFF whose rows lie one after another in the file's bytes (``rgb``, a
    view of them), with nothing copied out of the bytes (issue 13: the scan holds them while it reads, 3 bytes a
    pixel, so levels or luma made beside them would put a 50-megapixel file past 300 MiB): a grey image's levels are
    its red samples where they lie (a strided view), a colour image's luma is computed from them wherever it is
    taken (:class:`luma.RgbLuma`). The same values and colour check, bit for bit."""
    height, width = rgb.shape[:2]
    step = colour.sample_step(height, width)
    grid, grey = [], True
    for top, band in bands:
        grid.append(band[(-top) % step :: step, ::step].copy())
        grey = grey and np.array_equal(band[..., 0], band[..., 1]) and np.array_equal(band[..., 1], band[..., 2])
    if grey:
        return rgb[..., 0], False
    return luma.RgbLuma(rgb), colour.grid_spread(np.concatenate(grid)) > colour.COLOUR_SPREAD


def _tiff_strips(data: bytes, image: Image.Image) -> list[tuple[int, int, int]] | None:
    """(top row, rows, offset in the file) of each strip of an uncompressed, single-frame, upright TIFF whose rows
    lie unpadded in ``data`` as Pillow's raw decoder would copy them; None for any other TIFF."""
    form = _RAW_TIFF.get(image.mode)
    if form is None or getattr(image, "n_frames", 1) != 1:
        return None
    try:
        if int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1) != 1:
            return None
    except Exception:  # noqa: BLE001 - an EXIF block that cannot be read: the whole read says what it does with it
        return None
    rawmode, dtype, samples = form
    width, height = image.size
    row_bytes = width * dtype.itemsize * samples
    strips: list[tuple[int, int, int]] = []
    top = 0
    for codec, extents, offset, args in sorted(image.tile, key=lambda tile: tile[1][1]):
        if codec != "raw" or not isinstance(args, tuple) or args not in ((rawmode, 0, 1), (rawmode, row_bytes, 1)):
            return None
        x0, y0, x1, y1 = extents
        if (x0, y0, x1) != (0, top, width) or y1 <= y0 or offset < 0 or offset + (y1 - y0) * row_bytes > len(data):
            return None
        strips.append((top, y1 - y0, offset))
        top = y1
    return strips if top == height else None


def _assembled(bands: Iterator[tuple[int, np.ndarray]], height: int, width: int) -> np.ndarray:
    levels = np.empty((height, width), dtype=np.uint8)
    for top, rows in bands:
        levels[top : top + rows.shape[0]] = rows
    return levels


def _levels_16_bit_bands(bands: Iterator[tuple[int, np.ndarray]], height: int, width: int) -> tuple[np.ndarray, int, bool, bool]:
    """:func:`_levels_16_bit` of a 16-bit grey PNG's bands, bit for bit.

    The levels depend on the sample depth, which the largest value sets: until a value needs 16 bits (at least
    2**14; the depth can only grow), the bands' values are gathered (2 bytes a pixel); from then on the depth is 16
    bits whatever follows, so the rows gathered are turned into levels in place (row r's levels lie at byte
    r x width, its values at 2 r x width, already read) and each later band goes straight to levels (1 byte a
    pixel). The half of the store the levels do not use is handed back to the system at the end. So a 16-bit film
    holds about 1 byte a pixel, and one whose values all fit 14 bits 2 bytes a pixel before it is turned.
    """
    size = height * width
    store = _scratch(2 * size)
    values = np.frombuffer(store, dtype=np.uint16, count=size).reshape(height, width)
    levels = np.frombuffer(store, dtype=np.uint8, count=size).reshape(height, width)
    table: np.ndarray | None = None
    high, bits = 0, 16
    for top, rows in bands:
        bottom = top + rows.shape[0]
        if table is not None:
            np.take(table, rows, out=levels[top:bottom])  # big-endian rows: np.take reads their values
            continue
        values[top:bottom] = rows
        high = max(high, int(rows.max(initial=0)))
        if high >= 1 << 14:
            table, bits = _sixteen_bit_table(high)
            _levels_in_place(values, levels, table, bottom)
    if table is None:
        table, bits = _sixteen_bit_table(high)
        _levels_in_place(values, levels, table, height)
    del values
    return _shrunk(store, levels), bits, False, False


def _levels_in_place(values: np.ndarray, levels: np.ndarray, table: np.ndarray, rows: int) -> None:
    """The levels of the first ``rows`` rows of ``values`` written over them (``levels`` views the same bytes)."""
    band = max(1, _BAND_PIXELS // values.shape[1])
    for top in range(0, rows, band):
        bottom = min(top + band, rows)
        # A copy of the band's values first: the first band's levels overlap its own values.
        np.take(table, values[top:bottom].copy(), out=levels[top:bottom])


def _scratch(size: int) -> mmap.mmap | np.ndarray:
    """``size`` bytes whose end can be handed back to the system (private anonymous memory, where the platform has
    madvise), else a plain array."""
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MADV_DONTNEED") and hasattr(mmap.mmap, "madvise"):
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
    return np.empty(size, dtype=np.uint8)


def _shrunk(store: mmap.mmap | np.ndarray, head: np.ndarray) -> np.ndarray:
    """``head`` (a view of the start of ``store``), with the rest of ``store`` handed back: its pages dropped
    (MADV_DONTNEED; only ``head`` is ever read again), or, without madvise, ``head`` copied out of it."""
    if not isinstance(store, mmap.mmap):
        return head.copy()
    start = -(-head.nbytes // mmap.PAGESIZE) * mmap.PAGESIZE
    if start < len(store):
        store.madvise(mmap.MADV_DONTNEED, start, len(store) - start)
    return head


def _grey_from_rgb_bands(bands: Iterator[tuple[int, np.ndarray]], height: int, width: int,
                         again: Callable[[], tuple[luma.LumaPixels, bool]]) -> tuple[np.ndarray | luma.LumaPixels, bool]:
    """:func:`_grey_from_rgb_image` (``levels``) of an RGB PNG's or TIFF's bands: the grey levels while every band so
    far has equal channels; from the first that has not, the float32 luma, as codes (:class:`luma.CodedLuma`, 2 bytes
    a pixel instead of 4; issue 13's memory bound). The colour check is made on the same grid of pixels.

    Levels and codes share one store of 2 bytes a pixel: the levels in its first half (the rest never touched, and
    handed back when the image stays grey), widened in place into codes when colour comes (a grey pixel's luma is
    the luma of (k, k, k), the first 256 codes). An image with more than 65,536 distinct luma values (a photograph,
    not a tinted film) is read again from the start, the codes dropped first: ``again()`` gives its luma and colour
    check from a second pass over the bands (:func:`_held_png`, :func:`_held_rgb`).
    """
    step = colour.sample_step(height, width)
    size = height * width
    store = _scratch(2 * size)
    levels: np.ndarray | None = np.frombuffer(store, dtype=np.uint8, count=size).reshape(height, width)
    codes: np.ndarray | None = None
    coder: luma.LumaCoder | None = None
    grid = []
    for top, rgb in bands:
        bottom = top + rgb.shape[0]
        grid.append(rgb[(-top) % step :: step, ::step].copy())  # rows top + i with (top + i) % step == 0
        red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        if levels is not None:
            if np.array_equal(red, green) and np.array_equal(green, blue):
                levels[top:bottom] = red
                continue
            codes = np.frombuffer(store, dtype=np.uint16, count=size).reshape(height, width)
            every = np.arange(256, dtype=np.uint8)
            coder = luma.LumaCoder(luma.luma_of_rgb(every, every, every))
            _widened_in_place(levels, codes, top)
            levels = None
        values = luma.luma_of_rgb(red, green, blue)
        if not coder.encode(values, codes[top:bottom]):  # type: ignore[union-attr]
            log.info("more than %d distinct luma values: the image's RGB samples are held instead", luma.MAX_CODES)
            # The rows coded so far cannot give their samples back: the codes are dropped (their pages handed back
            # before the samples are written) and the image is read again from the start.
            getattr(bands, "close", lambda: None)()
            _released(store)
            codes = store = coder = values = None
            return again()
    if levels is not None:
        return _shrunk(store, levels), False  # type: ignore[arg-type]
    is_colour = colour.grid_spread(np.concatenate(grid)) > colour.COLOUR_SPREAD
    return luma.CodedLuma(codes, coder.table), is_colour  # type: ignore[arg-type, union-attr]


def _released(store: mmap.mmap | np.ndarray) -> None:
    """``store``'s pages handed back to the system now (views of it may still be alive until they are dropped)."""
    if isinstance(store, mmap.mmap):
        store.madvise(mmap.MADV_DONTNEED, 0, len(store))


def _held_png(data: bytes, plan: png_bands.Plan) -> tuple[luma.RgbLuma, bool]:
    """The luma of an RGB PNG computed, where it is taken, from samples decoded again from the file's bytes where
    they are taken (:class:`png_bands.Rows`: the bytes, held through the read anyway and at most about the size of
    the samples, 3 bytes a pixel; plus a checkpoint a band), and the colour check on the grid of
    :func:`_grey_from_rgb_bands`, from a pass over the bands that makes the checkpoints."""
    checkpoints: list[png_bands.Checkpoint] = []
    step = colour.sample_step(plan.height, plan.width)
    grid = [rgb[(-top) % step :: step, ::step].copy() for top, rgb in png_bands.checkpointed(data, plan, checkpoints)]
    rows = png_bands.Rows(data, plan, checkpoints)
    return luma.RgbLuma(rows), colour.grid_spread(np.concatenate(grid)) > colour.COLOUR_SPREAD  # type: ignore[arg-type]


def _held_rgb(bands: Iterator[tuple[int, np.ndarray]], height: int, width: int) -> tuple[luma.RgbLuma, bool]:
    """The luma of an RGB image's bands computed from its samples, gathered (3 bytes a pixel, read-only), where they
    are taken (:class:`luma.RgbLuma`: the same float32 values as the plain read's, bit for bit), and the colour
    check on the same grid of pixels as :func:`_grey_from_rgb_bands` (rows and columns multiple of the step)."""
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for top, band in bands:
        rgb[top : top + band.shape[0]] = band
    rgb.flags.writeable = False
    step = colour.sample_step(height, width)
    return luma.RgbLuma(rgb), colour.grid_spread(rgb[::step, ::step].copy()) > colour.COLOUR_SPREAD


def _widened_in_place(levels: np.ndarray, codes: np.ndarray, rows: int) -> None:
    """The first ``rows`` rows of ``levels`` as uint16 codes (the same numbers: the codes of (k, k, k)) in ``codes``,
    which views the same bytes: from the last band up, since code row r lies over level rows 2r and 2r + 1, which
    are then already widened, or in the band being widened (copied first)."""
    band = max(1, _BAND_PIXELS // levels.shape[1])
    for bottom in range(rows, 0, -band):
        top = max(0, bottom - band)
        codes[top:bottom] = levels[top:bottom].copy()


def _scaled_8_bit(image: Image.Image) -> np.ndarray:
    """An 8-bit ("L") image as float32 in [0, 1].

    Copied out of Pillow a few rows at a time by its raw encoder (what ``tobytes`` does, without joining the rows
    into a full-size copy), each band divided into the float image while it is in the cache. np.asarray would make
    that full-size 8-bit copy (two, through ``tobytes``), and cropping the image in bands, as this did before, a
    Pillow image a band: both cost more, in copies and in fresh pages (benchmarks/read_steps.py). The same float32
    division, bit for bit.
    """
    width, height = image.size
    grey = np.empty((height, width), dtype=np.float32)
    top = 0
    for rows in _raw_rows(image, image.mode):
        np.divide(rows, np.float32(255.0), out=grey[top : top + rows.shape[0]], dtype=np.float32)
        top += rows.shape[0]
    if top != height:
        raise ValueError(f"Pillow's raw encoder gave {top} of {height} rows")
    return grey


def _raw_rows(image: Image.Image, rawmode: str, dtype: np.dtype = np.dtype(np.uint8)) -> Iterator[np.ndarray]:
    """(rows, width) bands of one plane of ``image`` (samples of ``dtype``), in order, each a fresh buffer of about
    64 KiB.

    Pillow's raw encoder writes whole rows into each chunk (RawEncode.c), the way ``Image.tobytes`` drives it.
    ``_getencoder`` is not public API: where it is missing or refuses the mode, the plane comes from ``tobytes``.
    """
    width = image.width
    try:
        encoder = Image._getencoder(image.mode, "raw", rawmode)
    except (AttributeError, OSError, ValueError):
        yield np.frombuffer(image.tobytes("raw", rawmode), dtype=dtype).reshape(-1, width)
        return
    try:
        encoder.setimage(image.im, (0, 0, *image.size))
        chunk_bytes = max(1 << 16, width * 4)
        while True:
            _, status, chunk = encoder.encode(chunk_bytes)
            if chunk:
                yield np.frombuffer(chunk, dtype=dtype).reshape(-1, width)
            if status:
                break
        if status < 0:
            raise OSError(f"Pillow's raw encoder failed ({status})")
    finally:
        encoder.cleanup()


def _grey_from_rgb_image(image: Image.Image, levels: bool = False) -> tuple[np.ndarray, bool]:
    """:func:`grey_from_rgb8` of an RGB Pillow image, on its three channels as separate planes.

    Pillow holds RGB as 4 bytes a pixel: np.asarray packs them into an (h, w, 3) copy, and every band of the luma
    then reads each channel with a stride of 3 bytes; ``split`` gives three contiguous planes at about the cost of
    one copy. Same grey, bit for bit (the same float32 products, summed in the same order), same colour check (the
    same grid of pixels). With ``levels``, a grey image stored as RGB gives its grey levels (uint8); a colour one
    still gives its float32 luma, which lies between the levels.
    """
    if levels:
        # Each plane straight from Pillow's raw encoder, then the RGB image (4 bytes a pixel) let go before the
        # float luma is made: a compact read never holds both (92 MiB each at 24 megapixels).
        red, green, blue = (_levels_8_bit(image, band) for band in "RGB")
        image.close()
    else:
        red, green, blue = (np.asarray(plane) for plane in image.split())
    step = colour.sample_step(*red.shape)
    grid = np.stack([red[::step, ::step], green[::step, ::step], blue[::step, ::step]], axis=-1)
    identical = not (grid[..., 0] != grid[..., 1]).any() and not (grid[..., 1] != grid[..., 2]).any()
    identical = identical and bool(np.array_equal(red, green) and np.array_equal(green, blue))
    if identical:
        if levels:
            return red, False
        return np.divide(red, np.float32(255.0), dtype=np.float32), False  # as the "L" path: bit for bit
    is_colour = colour.grid_spread(grid) > colour.COLOUR_SPREAD
    grey = np.multiply(red, _LUMA[0] / np.float32(255.0), dtype=np.float32)
    height, width = red.shape
    band = max(1, _BAND_PIXELS // max(width, 1))
    scratch = np.empty((band, width), dtype=np.float32)
    for top in range(0, height, band):
        out = grey[top : top + band]
        tmp = scratch[: out.shape[0]]
        np.multiply(green[top : top + band], _LUMA[1] / np.float32(255.0), out=tmp, dtype=np.float32)
        out += tmp
        np.multiply(blue[top : top + band], _LUMA[2] / np.float32(255.0), out=tmp, dtype=np.float32)
        out += tmp
    return grey, is_colour


def grey_from_rgb8(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """(grey in [0, 1] float32, whether it is really colour) of an 8-bit (height, width, 3) array.

    A grey film stored as RGB (identical channels) gives its one channel; otherwise the BT.601 luma, as Pillow's
    "L" conversion weighs it but without rounding to 8 bits. Done in bands of rows so that the float temporaries
    stay in the cache: on a 5.8-megapixel film this is about 10 ms instead of about 100 ms for a float copy of the
    whole RGB(A) array (benchmarks/read_fullsize.py).
    """
    identical = _channels_identical(rgb)
    # A grey film stored as RGB (JPEG chroma noise) is not "colour": only a real difference earns the warning.
    is_colour = not identical and colour.is_colour(rgb)
    height, width = rgb.shape[:2]
    grey = np.empty((height, width), dtype=np.float32)
    band = max(1, _BAND_PIXELS // max(width, 1))
    scratch = np.empty((band, width), dtype=np.float32)
    weights = _LUMA / np.float32(255.0)
    for top in range(0, height, band):
        rows = rgb[top : top + band]
        out = grey[top : top + band]
        if identical:
            np.divide(rows[..., 0], np.float32(255.0), out=out, dtype=np.float32)  # as the "L" path: bit for bit
            continue
        tmp = scratch[: rows.shape[0]]
        np.multiply(rows[..., 0], weights[0], out=out, dtype=np.float32)
        np.multiply(rows[..., 1], weights[1], out=tmp, dtype=np.float32)
        out += tmp
        np.multiply(rows[..., 2], weights[2], out=tmp, dtype=np.float32)
        out += tmp
    return grey, is_colour


def _ycbcr_is_colour(image: Image.Image) -> bool:
    """The colour check of :func:`colour.is_colour` on an even grid of the YCbCr image, converted to RGB there only."""
    step = max(1, int(np.ceil(np.sqrt(image.width * image.height / (1 << 16)))))
    # Nearest-neighbour shrinking picks an even grid of pixels (no averaging), as colour.channel_spread samples.
    sample = image.resize((max(1, image.width // step), max(1, image.height // step)), Image.Resampling.NEAREST)
    return colour.is_colour(np.asarray(sample.convert("RGB")))


def _channels_identical(rgb: np.ndarray) -> bool:
    # An even grid of pixels first: a colour or JPEG-compressed RGB image differs there, and the full comparison
    # (two passes over the image) is left for files that really are grey stored as RGB.
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 65536)))
    sample = rgb[::step, ::step]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2])):
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _bits_for(values: np.ndarray) -> int:
    """The smallest usual sample depth (8, 10, 12, 14, 16 bits) holding the largest value."""
    top = int(max(values.max(initial=0.0), 0.0))
    for bits in (8, 10, 12, 14, 16):
        if top < 2**bits:
            return bits
    return 32


def _scale_high_bit_depth(values: np.ndarray) -> np.ndarray:
    # Scaling by the sample depth (not min/max) keeps a 16-bit copy of an 8-bit image identical to the original.
    if values.size and values.min() < 0:
        low, high = float(values.min()), float(values.max())
        return (values - low) / max(high - low, 1.0)
    return np.clip(values / float(2 ** _bits_for(values) - 1), 0.0, 1.0)

