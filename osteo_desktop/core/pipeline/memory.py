"""How much memory a scan holds: a budget of decoded pixels in flight, and the bound on model inputs held.

A scan's memory is its model, the model inputs waiting for inference and the images being decoded. The model is
fixed; the other two are bounded here in bytes, not in files, because a file can be 0.3 or 48 megapixels:

- :func:`batch_limit`: at most about :data:`INPUT_BUDGET_BYTES` of model inputs per batch, whatever
  ``--batch-size`` says (inference runs in micro-batches of 4, so a larger batch gains nothing);
- :class:`DecodeBudget`: the decoders together hold at most :data:`DECODE_BUDGET_BYTES` of decoded pixels (an
  estimate from the image's declared size, :func:`decode_cost`); a file larger than the whole budget is decoded
  alone. Two 6-megapixel films fit at once, so decoding still overlaps inference.
- :func:`return_freed_memory`: glibc returns big freed blocks to the system at once (a fixed mmap threshold),
  instead of keeping them in the heap after the first big image has raised its dynamic threshold.

Measured with benchmarks/fullsize.py (section ``memory``).
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
# Bytes per decoded pixel at the peak of read + preprocess: the decoder's image (up to 4), the float32 grey (4),
# the float32 crop and Pillow's float copy for resizing (4 + 4); measured peaks are 10-14 bytes per pixel.
BYTES_PER_PIXEL = 12
_M_MMAP_THRESHOLD = -3
_tuned = False


def batch_limit(batch_size: int, input_bytes: int) -> int:
    """The batch size actually used: ``batch_size``, but no more inputs than fit :data:`INPUT_BUDGET_BYTES`."""
    return max(1, min(batch_size, INPUT_BUDGET_BYTES // max(1, input_bytes)))


def decode_cost(path: Path, data: bytes | None = None) -> int:
    """Estimated peak bytes of reading and preprocessing ``path``, from its declared size (0 when unknown).

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
            pixels = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
        else:
            from PIL import Image

            with Image.open(source) as image:
                pixels = image.width * image.height
    except Exception:  # noqa: BLE001 - any file the probe cannot read is the reader's to report
        return 0
    return pixels * BYTES_PER_PIXEL


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
