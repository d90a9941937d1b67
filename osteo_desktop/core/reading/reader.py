"""Reading radiographs from disk: the one entry point, :func:`read_radiograph`.

The file is read once into memory (so a file that changes or vanishes mid-read cannot tear the result), its kind
is decided from its content, and the DICOM or raster reader turns it into a :class:`Radiograph`. Every failure is
an :class:`~osteo_desktop.core.errors.ImageReadError` naming the file and the cause; nothing else escapes.
"""

from __future__ import annotations

import errno
import logging
import stat
from pathlib import Path
from typing import Any

import numpy as np

from osteo_desktop.core.reading.dicom import read_dicom, read_dicom_patient
from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError, NotAnImageError
from osteo_desktop.core.reading.levels import GREY_LEVELS, is_levels, to_levels
from osteo_desktop.core.reading.limits import MAX_FILE_BYTES, MAX_PIXELS, MIN_SIDE, brief
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.reading.raster import RASTER_FORMATS, read_raster
from osteo_desktop.core.reading.sniffing import SNIFF_BYTES, describe_content, looks_like_damaged_dicom, sniff_format

log = logging.getLogger(__name__)

SUPPORTED_FORMATS = ("DICOM", *RASTER_FORMATS)
# File name endings of the formats read here. Never used to decide how to read a file (its content does that), only
# to word errors and to spot a folder named like an image.
IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})

__all__ = ["read_radiograph", "read_file_bytes", "read_patient", "describe_radiograph", "SUPPORTED_FORMATS", "MAX_PIXELS", "MAX_FILE_BYTES"]


def read_radiograph(path: str | Path, *, target_size: int | None = None, data: bytes | None = None,
                    compact: bool = False) -> Radiograph:
    """Read a DICOM, PNG, JPEG, TIFF or BMP radiograph.

    ``target_size`` says how many pixels a side the caller needs (the model input). It is accepted but, for now,
    every image is decoded at full resolution. Decoding knee JPEGs at half scale (Pillow's draft mode, longer side
    kept at least twice the target) changed the model input by under 1 % yet moved the probability by up to 0.13
    (bootstrap model) and 0.10 (model 0.2.0-model2; 34 of 60 knee JPEGs moved by more than 0.01), far beyond what
    a speed hint may cost. A full-size knee JPEG decodes in about 5 ms, so the hint is not needed for speed.

    ``data`` is the file's content when the caller has already read it (:func:`read_file_bytes`), so that what is
    hashed and what is analysed are the same bytes: a file replaced in between is not read a second time.

    ``compact`` is for a caller that only analyses the image (a folder scan): the pixels come as grey levels
    (uint8, k standing for k / 255, :mod:`~osteo_desktop.core.reading.levels`) wherever they lie on that grid (all
    but 8-bit colour rasters, whose luma stays float32, or above 16 megapixels is held compactly and computed where
    it is taken, :mod:`~osteo_desktop.core.reading.luma`), made from the decoder's output a band of rows at a time
    without a full-size float image, and ``modality_values`` (only the viewer re-windows) is None. Every value
    they stand for is, bit for bit, the float32 pixel a plain read gives (tests/test_compact_pixels.py).

    Raises :class:`NotAnImageError` for content that is neither an image nor DICOM, :class:`ImageTooLargeError`
    for files or declared sizes beyond the limits in :mod:`image_limits`, and :class:`ImageReadError` otherwise.
    """
    path = Path(path)
    try:
        if data is None:
            data = read_file_bytes(path)
        kind = sniff_format(data[:SNIFF_BYTES])
        if kind is None:
            _refuse_unknown(path, data[:SNIFF_BYTES])
        if kind == "DICOM":
            radiograph = read_dicom(path, data, target_size, compact=compact)
        else:
            radiograph = read_raster(path, data, kind, target_size, compact=compact)
    except ImageReadError as exc:
        # The third-party exception behind the cause is kept for debugging only.
        log.info("could not read %s: %s", path.name, exc.cause, exc_info=log.isEnabledFor(logging.DEBUG))
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(path, "not enough memory to read this image") from exc
    except Exception as exc:  # noqa: BLE001 - last line of defence: third-party decoders can raise anything
        log.warning("unexpected %s while reading %s", type(exc).__name__, path.name, exc_info=True)
        raise ImageReadError(path, f"could not be decoded ({type(exc).__name__}: {brief(exc)})") from exc
    _add_size_warning(radiograph)
    if _finer_than_grey_levels(radiograph) and not is_levels(radiograph.pixels):
        radiograph.pixels = to_levels(radiograph.pixels) if compact else on_grey_levels(radiograph.pixels)
    return radiograph


def _finer_than_grey_levels(radiograph: Radiograph) -> bool:
    """DICOM (windowed onto any value) and rasters of more than 8 bits a sample. An 8-bit raster, grey or colour,
    is left exactly as decoded: that is what the model was trained on (its training reads go through here too)."""
    try:
        bits = int(radiograph.metadata.get("bits_stored") or 8)
    except (TypeError, ValueError):
        bits = 8
    return radiograph.source_format == "dicom" or bits > 8


def on_grey_levels(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` rounded to the nearest of the 256 grey levels k / 255 (float32, in place when possible).

    The same radiograph must give the same answer however it is stored. A knee film wrapped as 12-bit DICOM holds
    rint(k x 4095 / 255), which is k / 255 only to within 1.2e-4; the model's contrast equalisation bins the
    resized image at 1/256 and turns that into moves of the probability of up to 0.11 (benchmarks/stored_forms.py,
    before this step). Rounded here, every stored form of an 8-bit film (12-bit MONOCHROME1 with a window, 16-bit
    JPEG 2000 with a rescale, 16-bit PNG) reads as exactly the film's grey levels. Nothing the model can use is
    lost: it was trained on 8-bit films and its preprocessing resolves 256 levels; the viewer re-windows from
    ``modality_values``, which keep the full precision. Applied to DICOM and to rasters deeper than 8 bits only.
    A compact read (:func:`read_radiograph`) keeps the levels themselves, :func:`levels.to_levels`.
    """
    pixels = np.asarray(pixels, dtype=np.float32)
    if not pixels.flags.writeable:
        pixels = pixels.copy()
    np.multiply(pixels, GREY_LEVELS, out=pixels)
    np.rint(pixels, out=pixels)
    np.divide(pixels, GREY_LEVELS, out=pixels)
    return pixels


def read_patient(path: str | Path, data: bytes) -> dict[str, str]:
    """The patient identifiers a file carries (only DICOM does; {} for any other format), pixels not decoded.

    For a result taken from the history, which keeps no patient identifier, when the user asked to export them.
    Raises :class:`ImageReadError` when the file cannot be parsed.
    """
    path = Path(path)
    if sniff_format(data[:SNIFF_BYTES]) != "DICOM":
        return {}
    try:
        return read_dicom_patient(path, data)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in read_radiograph: a parser's own exception is a read error
        raise ImageReadError(path, f"could not be parsed ({type(exc).__name__}: {brief(exc)})") from exc


def describe_radiograph(radiograph: Radiograph) -> dict[str, Any]:
    """A JSON-serialisable summary of what was read (for ``osteo info``). Patient fields are never included."""
    metadata = radiograph.metadata
    summary: dict[str, Any] = {
        "path": str(radiograph.path),
        "format": metadata.get("format", radiograph.source_format.upper()),
        "width": radiograph.width,
        "height": radiograph.height,
    }
    if metadata.get("original_width") and (metadata["original_width"], metadata["original_height"]) != (radiograph.width, radiograph.height):
        summary["original_size"] = [metadata["original_width"], metadata["original_height"]]
    for key in ("bits_stored", "bits_allocated", "signed", "photometric", "mode", "transfer_syntax", "sop_class",
                "frames", "modality", "body_part", "view_position", "laterality", "study_date", "manufacturer",
                "manufacturer_model", "pixel_spacing", "imager_pixel_spacing", "rescale_slope", "rescale_intercept",
                "exif_orientation", "window_source", "voi_lut_function"):
        if key in metadata:
            summary[key] = metadata[key]
    if radiograph.window is not None:
        summary["window"] = {"center": round(float(radiograph.window[0]), 3), "width": round(float(radiograph.window[1]), 3)}
    summary["inverted_monochrome1"] = radiograph.invert_for_display
    summary["warnings"] = list(radiograph.warnings)
    return summary


def read_file_bytes(path: str | Path) -> bytes:
    """The whole file, read once, after checking it is a regular file within :data:`MAX_FILE_BYTES`.

    The size is checked before a byte is read, so a huge (or sparse) file is refused at once; a file that grows
    while it is read is refused too. Raises :class:`ImageReadError` (and its subclasses) for every failure.
    """
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise NotAnImageError(path, "a folder, not an image file")
        if not stat.S_ISREG(info.st_mode):
            # Reading a FIFO or a device could block for ever.
            raise NotAnImageError(path, "not a regular file (a device, pipe or socket), not an image")
        if info.st_size > MAX_FILE_BYTES:
            raise ImageTooLargeError(path, f"too large: the file is {info.st_size / 2**20:.0f} MiB, more than the {MAX_FILE_BYTES // 2**20} MiB this reader accepts; not read")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageReadError(path, _os_error_cause(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(path, f"too large: the file grew past {MAX_FILE_BYTES // 2**20} MiB while being read")
    return data


def _os_error_cause(exc: OSError) -> str:
    causes = {
        errno.ENOENT: "file not found (it may have been moved or deleted)",
        errno.EACCES: "permission denied: the file cannot be read",
        errno.EPERM: "permission denied: the file cannot be read",
        errno.ELOOP: "symbolic link loop: the link points back to itself",
        errno.EISDIR: "a folder, not an image file",
        errno.ENAMETOOLONG: "file name too long",
        errno.EIO: "input/output error while reading (damaged disk or disconnected drive?)",
    }
    return causes.get(exc.errno, f"cannot be read ({exc.strerror or type(exc).__name__})")


def _refuse_unknown(path: Path, head: bytes) -> None:
    if head and looks_like_damaged_dicom(head):
        raise ImageReadError(
            path,
            "damaged DICOM: no file meta header ('DICM' marker at byte 128) and the data does not start at a DICOM "
            "element, so it cannot be parsed",
        )
    kind = describe_content(head)
    hint = f" despite its {path.suffix} extension" if path.suffix.lower() in IMAGE_SUFFIXES else ""
    raise NotAnImageError(path, f"not an image: the content is {kind}{hint}")


def _add_size_warning(radiograph: Radiograph) -> None:
    width = radiograph.metadata.get("original_width") or radiograph.width
    height = radiograph.metadata.get("original_height") or radiograph.height
    if min(width, height) < MIN_SIDE:
        # Said of the image, not of "the result": a file this small is often declined (no result follows), and
        # "so the result is unreliable" under "No result" spoke of a result that was never given.
        radiograph.warnings.append(
            f"the image is only {width} x {height} pixels; the model needs at least {MIN_SIDE} pixels a side, "
            "too few to be read reliably"
        )
