"""How much memory a scan holds: a budget of decoded pixels in flight, and the bound on model inputs held.

A scan's memory is its model, the model inputs waiting for inference and the images being decoded. The model is
fixed; the other two are bounded here in bytes, not in files, because a file can be 0.3 or 48 megapixels:

- :func:`batch_limit`: at most about :data:`INPUT_BUDGET_BYTES` of model inputs per batch, whatever
  ``--batch-size`` says (inference runs in micro-batches of 4, so a larger batch gains nothing);
- :class:`DecodeBudget`: the decoders together hold at most :data:`DECODE_BUDGET_BYTES` of decoded pixels (an
  estimate from the image's declared size and stored form, :func:`decode_cost`); a file larger than the whole
  budget is decoded alone. Eleven 6-megapixel grey films fit at once, or four colour-stored JPEG ones.
- :func:`return_freed_memory`: glibc returns big freed blocks to the system at once (a fixed mmap threshold),
  instead of keeping them in the heap after the first big image has raised its dynamic threshold.

Measured with benchmarks/fullsize.py (section ``memory``) and benchmarks/decode_peak.py (the per-pixel figures).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import logging
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INPUT_BUDGET_BYTES = 12 * 2**20
DECODE_BUDGET_BYTES = 128 * 2**20
# Bytes per declared pixel at the peak of a plain (float32) read + preprocess: the decoder's image (up to 4), the
# float32 grey (4) and float temporaries; measured peaks are 5-16 bytes per pixel (benchmarks/decode_peak.py).
# Also the figure of the stored forms that osteo scan's compact read still converts through float32 (RGBA, LA,
# palette, 32-bit and float, CMYK), of colour DICOM (per sample) and of what the probe cannot place.
BYTES_PER_PIXEL = 12
# The compact read's peaks (osteo scan: grey levels, uint8; benchmarks/decode_peak.py, peak RSS growth at 12-24
# megapixels), by what the decoder holds: Pillow's image plus the levels (1 byte). 8-bit grey 2.0 (1 + 1); 16-bit
# grey PNG 3.0 (2 + 1); RGB 7.0 (Pillow's 4 bytes + the 3 planes it is split into, or those planes + the float32
# luma of a colour image); a colour JPEG 5.1 (decoded as YCbCr, 4 + 1) or 2.1 above the reader's large-JPEG size (Y
# plane only, raster.LARGE_COLOUR_JPEG_PIXELS). A monochrome DICOM: 1.5 uncompressed (the pixel data is read where
# it lies in the file's bytes, held anyway), 4.7 / 6.7 / 8.1 when RLE / JPEG 2000 / JPEG-LS decoded it (rounded
# up to 9). A single-knee film (its knee region, cut in float32 at the film's resolution, the largest) upscaled to
# 15 MP stays at 2.1 (38 MP as a PNG: 2.0). Not counted: a few MiB a file that do not grow with the image (up to
# 7 MiB on the 1-megapixel films of knee-xray-fullsize), which the number of decoding workers bounds.
COMPACT_BYTES_PER_PIXEL = {"L": 2, "I;16": 3, "I;16L": 3, "I;16B": 3, "RGB": 7}
# A PNG or uncompressed TIFF above raster.LARGE_RASTER_PIXELS that the compact read takes a band of rows at a time
# (raster.banded_read; no Pillow image), by (format, mode), from what the read makes beside a band of about 1 MiB:
# 8-bit grey, the levels (1); 16-bit grey PNG, its values gathered until one needs 16 bits (2; the levels are made
# over them); 16-bit grey TIFF, two passes over the file's bytes, the levels only (1); RGB, the levels of a grey
# image (1), the luma codes of a colour one (2, core.reading.luma), or, for an image with more than 65,536 distinct
# luma values (a photograph, which the header cannot tell), the codes until they run out, then, those dropped, for
# a PNG nothing but a checkpoint a band (its samples are decoded again from the file's bytes where they are taken,
# png_bands.Rows), for a TIFF whose strips are out of order its RGB samples (3): priced at those worst cases. An
# RGB TIFF whose rows lie one after another is read in place (a view of its bytes): 1, for what its consumers make
# a band at a time.
COMPACT_BANDED_BYTES_PER_PIXEL = {("PNG", "L"): 1, ("PNG", "I;16"): 2, ("PNG", "RGB"): 2,
                                  ("TIFF", "L"): 1, ("TIFF", "I;16"): 1, ("TIFF", "I;16B"): 1, ("TIFF", "RGB"): 3}
COMPACT_IN_PLACE_BYTES_PER_PIXEL = 1
# An image with an EXIF orientation is turned into a copy while the decoded one is still held: twice the decoder's
# image at the peak, which only counts for 4-byte images (12 MP, turned: RGB JPEG and RGB PNG 8.0, grey JPEG 2.1).
_DECODED_BYTES_PER_PIXEL = {"L": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "RGB": 4}
_EXIF_ORIENTATION = 0x0112
COMPACT_COLOUR_JPEG_BYTES_PER_PIXEL = 5
COMPACT_LARGE_COLOUR_JPEG_BYTES_PER_PIXEL = 2
COMPACT_DICOM_NATIVE_BYTES_PER_PIXEL = 2
COMPACT_DICOM_ENCAPSULATED_BYTES_PER_PIXEL = 9
_M_MMAP_THRESHOLD = -3
_tuned = False


def batch_limit(batch_size: int, input_bytes: int) -> int:
    """The batch size actually used: ``batch_size``, but no more inputs than fit :data:`INPUT_BUDGET_BYTES`."""
    return max(1, min(batch_size, INPUT_BUDGET_BYTES // max(1, input_bytes)))


def decode_cost(path: Path, data: bytes | None = None, *, compact: bool = True) -> int:
    """Estimated peak bytes of reading and preprocessing ``path``, from its declared size (0 when unknown).

    ``compact``: osteo scan's read (grey levels, ``read_radiograph(compact=True)``), whose peak depends on the stored
    form (:data:`COMPACT_BYTES_PER_PIXEL` and the figures beside it); otherwise a plain float32 read,
    :data:`BYTES_PER_PIXEL` a pixel whatever the form.

    Only the header is parsed (Pillow opens lazily; pydicom stops before the pixel data), from ``data`` when the
    file's bytes were already read (a scan reads each file once) or else from the file. A file that cannot be
    probed costs 0 here: the reader then says why it cannot be read, or reads it with its own limits.
    """
    try:
        if data is not None:
            source: Any = io.BytesIO(data)
            head = data[:132]
        else:
            source = path
            with open(path, "rb") as handle:
                head = handle.read(132)
        if head[128:132] == b"DICM":
            import pydicom

            ds = pydicom.dcmread(source, stop_before_pixels=True, specific_tags=["Rows", "Columns", "SamplesPerPixel"])
            samples = int(ds.get("SamplesPerPixel", 1) or 1)
            pixels = int(ds.Rows) * int(ds.Columns) * samples
            per_pixel = _compact_dicom(ds, samples) if compact else BYTES_PER_PIXEL
        else:
            from PIL import Image

            with Image.open(source) as image:
                pixels = image.width * image.height
                per_pixel = _compact_raster(image, data) if compact else BYTES_PER_PIXEL
    except Exception:  # noqa: BLE001 - any file the probe cannot read is the reader's to report
        return 0
    return pixels * per_pixel


def _compact_raster(image: Any, data: bytes | None = None) -> int:
    """Peak bytes a pixel of a compact read of the (opened, not decoded) Pillow ``image``, opened from ``data``
    when given (a large PNG or TIFF is only known to be read in bands from its bytes: without them, a whole decode
    is priced)."""
    if data is not None and image.format in ("PNG", "TIFF"):
        from osteo_desktop.core.reading import raster

        banded = raster.banded_read(image, data)
        if banded == "in place":
            return COMPACT_IN_PLACE_BYTES_PER_PIXEL
        if banded is not None:
            return COMPACT_BANDED_BYTES_PER_PIXEL[(image.format, image.mode)]
    decoded = _DECODED_BYTES_PER_PIXEL.get(image.mode)
    if image.format == "JPEG" and image.mode == "RGB":
        from osteo_desktop.core.reading import raster

        if image.width * image.height > raster.LARGE_COLOUR_JPEG_PIXELS:
            per_pixel, decoded = COMPACT_LARGE_COLOUR_JPEG_BYTES_PER_PIXEL, 1  # its Y plane alone
        else:
            per_pixel = COMPACT_COLOUR_JPEG_BYTES_PER_PIXEL  # YCbCr: 4 bytes, as RGB
    else:
        per_pixel = COMPACT_BYTES_PER_PIXEL.get(image.mode, BYTES_PER_PIXEL)
    if decoded is not None and _turned(image):
        per_pixel = max(per_pixel, 2 * decoded)
    return per_pixel


def _turned(image: Any) -> bool:
    """Whether the reader will turn ``image`` upright (an EXIF orientation other than 1), from what is parsed already.

    A PNG may keep its eXIf chunk after the pixels, where Pillow would decode the image to reach it: only an EXIF
    block already read with the header (JPEG's APP1, an early eXIf) or TIFF's own tags are looked at.
    """
    if "exif" not in image.info and image.format != "TIFF":
        return False
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1) != 1
    except Exception:  # noqa: BLE001 - an EXIF block the reader cannot read either: it reads the image as stored
        return False


def _compact_dicom(ds: Any, samples: int) -> int:
    """Peak bytes a pixel (a sample) of a compact read of the DICOM whose header is ``ds``."""
    if samples != 1:
        return BYTES_PER_PIXEL
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and (syntax.is_compressed or syntax.is_deflated):  # decoded (or inflated) into a copy
        return COMPACT_DICOM_ENCAPSULATED_BYTES_PER_PIXEL
    return COMPACT_DICOM_NATIVE_BYTES_PER_PIXEL


class DecodeBudget:
    """A counting semaphore in bytes. :meth:`acquire` waits until ``cost`` fits (a cost above the whole budget
    waits until nothing else is held, then takes all of it), or returns False once ``cancel`` is set."""

    def __init__(self, capacity: int = DECODE_BUDGET_BYTES) -> None:
        self.capacity = capacity
        self._used = 0
        self._ready = threading.Condition()

    def acquire(self, cost: int, cancel: threading.Event, poll_s: float = 0.1) -> int | None:
        """The bytes taken (give them back with :meth:`release`), or None if the scan was cancelled meanwhile."""
        cost = min(max(cost, 0), self.capacity)
        with self._ready:
            while self._used and self._used + cost > self.capacity:
                if cancel.is_set():
                    return None
                self._ready.wait(poll_s)
            self._used += cost
            return cost

    def release(self, cost: int) -> None:
        with self._ready:
            self._used -= cost
            self._ready.notify_all()


def return_freed_memory() -> None:
    """Fix glibc's mmap threshold at 1 MiB, once per process (elsewhere: nothing to do).

    glibc raises the threshold to the size of each big block freed (up to 32 MiB), so after the first full-size
    image every image's arrays come from the heap, which keeps their pages: a scan of 6-megapixel films then sat
    about 60 MiB higher (benchmarks/fullsize.py, memory section).
    """
    global _tuned
    if _tuned or not sys.platform.startswith("linux"):
        return
    _tuned = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not libc.mallopt(_M_MMAP_THRESHOLD, 2**20):
            log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): its allocator does its own thing
        log.debug("mallopt not available; heap left as it is")
