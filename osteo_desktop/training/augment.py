"""Augmentation of training inputs only, applied to the output of ``core.preprocessing.preprocess``.

The paper lists rotation, zoom, width/height shift and shear without ranges. Ours are deliberately small: knee
radiographs are taken upright with the joint roughly centred, so large rotations or shifts would create views the
app never sees, while a few degrees and a few percent cover real positioning differences. Horizontal flipping
(left vs right knee) is a separate switch because the runtime can also average over it at test time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

BACKGROUND = -1.0  # black, the value preprocessing pads with


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 10.0  # ± degrees: typical tilt of a positioned knee
    zoom: float = 0.10  # ± fraction: differences in magnification / field of view
    shift: float = 0.08  # ± fraction of the side, horizontal and vertical: off-centre joints
    shear_deg: float = 5.0  # ± degrees: mild projection obliquity
    hflip: bool = False  # mirror with probability 1/2

    def to_dict(self) -> dict:
        return asdict(self)


def random_affine(grey: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """One random affine transform of a square (S, S) input in [-1, 1]; uncovered areas become background."""
    size = grey.shape[0]
    angle = math.radians(rng.uniform(-config.rotation_deg, config.rotation_deg))
    shear = math.radians(rng.uniform(-config.shear_deg, config.shear_deg))
    zoom = rng.uniform(1.0 - config.zoom, 1.0 + config.zoom)
    tx, ty = rng.uniform(-config.shift, config.shift, size=2) * size
    flip = config.hflip and rng.random() < 0.5
    cos, sin = math.cos(angle), math.sin(angle)
    # Forward map about the centre: output = R · Shear · Zoom · (input - c) + c + t. PIL wants the inverse.
    forward = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, math.tan(shear)], [0.0, 1.0]]) * zoom
    if flip:
        forward = forward @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    centre = np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    offset = centre - inverse @ (centre + np.array([tx, ty]))
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    image = Image.fromarray(np.ascontiguousarray(grey, np.float32), mode="F")
    out = image.transform((size, size), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR, fillcolor=BACKGROUND)
    return np.asarray(out, dtype=np.float32)


def augmented_copies(grey: np.ndarray, copies: int, seed: int, config: AugmentConfig) -> np.ndarray:
    """``copies`` augmented versions of one input, reproducible from ``seed``: (copies, S, S)."""
    rng = np.random.default_rng(seed)
    return np.stack([random_affine(grey, rng, config) for _ in range(copies)]) if copies else np.empty((0, *grey.shape), np.float32)
