"""The in-memory radiograph every reader returns and every consumer takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Radiograph:
    """A decoded radiograph.

    ``pixels`` is what the display shows by default and what preprocessing turns into the model input: a 2-D
    float32 array in [0, 1], bright bone on a dark background (MONOCHROME1 already inverted, DICOM already
    windowed). ``modality_values`` keeps the DICOM values after the modality LUT so the viewer can re-window;
    it is None for raster images. Patient identifiers live in ``patient`` only, so that code which logs or
    exports ``metadata`` never leaks them by accident.
    """

    path: Path
    pixels: np.ndarray
    source_format: str
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    modality_values: np.ndarray | None = None
    window: tuple[float, float] | None = None
    invert_for_display: bool = False
    patient: dict[str, str] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])
