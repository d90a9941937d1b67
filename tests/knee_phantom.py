"""A drawn frontal knee phantom with known joint boxes (no real image involved).

Each knee: femoral shaft widening into two rounded condyles, a dark joint space, the tibial plateau narrowing into
the tibial shaft, the fibular head and shaft on the lateral side, a faint patella, all inside a dim soft-tissue
band on a dark background, then blurred a little and given film noise. The box follows annotations/README.md:
square, centred on the middle of the tibial plateau and on the joint line, side 1.2 x plateau width.
"""
from __future__ import annotations

import numpy as np


def _blur(image: np.ndarray, radius: int) -> np.ndarray:
    kernel = np.ones(2 * radius + 1) / (2 * radius + 1)
    for axis in (0, 1):
        image = np.apply_along_axis(lambda v: np.convolve(np.pad(v, radius, mode="edge"), kernel, "valid"), axis, image)
    return image


def draw_knee(canvas: np.ndarray, cx: float, cy: float, plateau: float, lateral: int) -> tuple[int, int, int, int]:
    """Draw one knee with the joint centre (cx, cy) and tibial plateau width ``plateau``; ``lateral`` is -1 or +1,
    the image direction of the fibula. Returns the box (x0, y0, x1, y1), x1/y1 exclusive, unclipped."""
    height, width = canvas.shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    p = plateau
    soft = (np.abs(x - cx) < 0.85 * p)
    canvas[soft] = np.maximum(canvas[soft], 0.22)
    bone = np.zeros_like(canvas)
    # Femur: shaft, flare and two condyles ending just above the joint line.
    bone[(np.abs(x - cx) < 0.24 * p) & (y < cy - 0.2 * p)] = 0.7
    flare = (y >= cy - 0.75 * p) & (y < cy - 0.12 * p)
    half = 0.24 * p + (0.47 - 0.24) * p * np.clip((y - (cy - 0.75 * p)) / (0.55 * p), 0, 1)
    bone[flare & (np.abs(x - cx) < half)] = 0.75
    for dx in (-0.23 * p, 0.23 * p):
        bone[((x - cx - dx) ** 2 + (y - (cy - 0.3 * p)) ** 2) < (0.26 * p) ** 2] = 0.8
    # Tibia: plateau just below the joint space, narrowing into the shaft.
    top = cy + 0.05 * p
    narrow = 0.5 * p - (0.5 - 0.2) * p * np.clip((y - (top + 0.2 * p)) / (0.45 * p), 0, 1)
    bone[(y >= top) & (np.abs(x - cx) < narrow)] = 0.72
    # Fibula: head beside the lateral tibial condyle, then a thin shaft.
    fx = cx + lateral * 0.47 * p
    bone[((x - fx) ** 2 + (y - (top + 0.25 * p)) ** 2) < (0.1 * p) ** 2] = 0.7
    bone[(np.abs(x - fx - lateral * 0.05 * p) < 0.06 * p) & (y >= top + 0.25 * p)] = 0.65
    # Cortex: brighter bone edges, as in a projection of a tube.
    edge = bone - _blur(bone, max(1, int(0.04 * p)))
    bone = bone + 0.6 * np.clip(edge, 0, None)
    # Patella: a faint oval over the femoral condyles.
    bone += 0.08 * ((((x - cx) / (0.22 * p)) ** 2 + ((y - (cy - 0.35 * p)) / (0.28 * p)) ** 2) < 1)
    np.maximum(canvas, bone, out=canvas)
    return (round(cx - 0.6 * p), round(cy - 0.6 * p), round(cx + 0.6 * p), round(cy + 0.6 * p))


def two_knee_phantom(width: int = 900, height: int = 1100, seed: int = 0):
    """A bilateral standing AP film: (pixels float32 in [0, 1], [viewer-left box, viewer-right box]).

    The fibulae lie on the outer sides, as on a real AP film (lateral is away from the midline)."""
    canvas = np.full((height, width), 0.05, np.float32)
    plateau = 0.2 * width
    boxes = [draw_knee(canvas, 0.27 * width, 0.42 * height, plateau, -1),
             draw_knee(canvas, 0.73 * width, 0.43 * height, plateau, +1)]
    canvas = _blur(canvas, 2)
    canvas += np.random.default_rng(seed).normal(0, 0.01, canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 1).astype(np.float32), boxes


def one_knee_phantom(width: int = 500, height: int = 1000, seed: int = 0):
    """A single-knee long film: (pixels, [box])."""
    canvas = np.full((height, width), 0.05, np.float32)
    box = draw_knee(canvas, 0.5 * width, 0.38 * height, 0.4 * width, -1)
    canvas = _blur(canvas, 2)
    canvas += np.random.default_rng(seed).normal(0, 0.01, canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 1).astype(np.float32), [box]
