"""How much the image readers agree to decode, and the shared helpers that enforce it.

Every limit is checked against what a file *declares* before anything is decompressed, so a small hostile file
(a decompression bomb, an absurd header) is refused with :class:`ImageTooLargeError` in bounded memory.
"""

from __future__ import annotations

from pathlib import Path

from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError

# The largest radiographs in use (43 x 43 cm at 100 um, stitched long-leg views) are under 30 megapixels; 50 leaves
# headroom while keeping the float32 working copies of one image under a gigabyte.
MAX_PIXELS = 50_000_000

# Files are read into memory once (so a file that changes under us cannot tear the read); a first frame of any
# real radiograph fits well within this.
MAX_FILE_BYTES = 512 * 1024 * 1024

# Deflated DICOM is inflated before parsing; this bounds the inflated dataset.
MAX_INFLATED_BYTES = 256 * 1024 * 1024

# Below this the model input is mostly upsampling, which the model never saw in training.
MIN_SIDE = 128

def check_dimensions(path: str | Path, width: int, height: int, *, what: str = "image") -> None:
    """Refuse a declared size that is empty or larger than :data:`MAX_PIXELS`."""
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"{what} declares an empty size ({width} x {height} pixels)")
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            path,
            f"{what} declares {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), more than the "
            f"{MAX_PIXELS / 1e6:.0f} megapixels this reader decodes; refused before decoding",
        )


def brief(exc: BaseException, limit: int = 160) -> str:
    """A one-line, bounded description of a third-party exception, for the cause part of an error message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
