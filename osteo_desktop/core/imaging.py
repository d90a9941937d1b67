"""Reading radiographs from disk. PLACEHOLDER: the raster path only; the full reader (DICOM, content sniffing,
warnings, limits) replaces this module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ImageReadError
from .radiograph import Radiograph


def read_radiograph(path: str | Path, *, target_size: int | None = None) -> Radiograph:
    path = Path(path)
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except Exception as exc:  # noqa: BLE001 - placeholder
        raise ImageReadError(path, str(exc)) from exc
    return Radiograph(path=path, pixels=grey, source_format="raster")
