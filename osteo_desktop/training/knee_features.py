"""Pooled backbone features of every knee region, computed once with the shipped ``.tflite`` and cached.

The features come from :class:`~osteo_desktop.core.model.runtime.Classifier`, the very interpreter the app runs, so a
head trained on them sees at run time exactly what it saw in training (no TensorFlow/LiteRT difference to bound).
Per knee the bank holds:

- ``plain``: the region around the box; ``mirrored``: its mirror image (the region of the mirrored film);
- ``augmented`` (K copies): the box jittered in scale (±15 %) and position (±8 % of its side), mirrored with
  probability 1/2, each cut again from the film at its own resolution (region-level augmentation);
- framing variants for the invariance study: ``bordered`` (the film inside added black borders, 10 % a side),
  ``grey_bordered`` (the same with mid-grey borders), ``tight`` / ``loose`` (box side x 0.85 / 1.15, same centre)
  and ``half`` (the film cut at its middle, the knee read from its own half; NaN for single-knee films).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_region
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.training.dataset import cache_key
from osteo_desktop.training.features import Progress
from osteo_desktop.training.knee_data import Knee

log = logging.getLogger(__name__)

VARIANTS = ("bordered", "grey_bordered", "tight", "loose", "half")
JITTER_SCALE = 0.15
JITTER_SHIFT = 0.08
BORDER = 0.10
FEATURES_REVISION = 1  # bump when what a cached bank holds changes


@dataclass
class KneeBank:
    plain: np.ndarray  # (N, C)
    mirrored: np.ndarray  # (N, C)
    augmented: np.ndarray  # (N, K, C)
    variants: dict[str, np.ndarray]  # name -> (N, C), NaN rows where the variant does not apply
    old_logit: np.ndarray  # (N,) the 1.1.0 head's logit on the plain region (for reference only)


def scaled_box(box: tuple[float, ...], scale: float, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float, float, float]:
    """The box scaled about its centre by ``scale`` and moved by (dx, dy) box sides."""
    x0, y0, x1, y1 = box
    side_x, side_y = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 + dx * side_x, (y0 + y1) / 2 + dy * side_y
    return cx - scale * side_x / 2, cy - scale * side_y / 2, cx + scale * side_x / 2, cy + scale * side_y / 2


def jittered_inputs(pixels: np.ndarray, box: tuple[float, ...], copies: int, rng: np.random.Generator, config: KneeRegionConfig) -> list[np.ndarray]:
    out = []
    for _ in range(copies):
        scale = rng.uniform(1 - JITTER_SCALE, 1 + JITTER_SCALE)
        dx, dy = rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, size=2)
        model_input, _ = knee_region(pixels, scaled_box(box, scale, dx, dy), config)
        out.append(model_input[:, ::-1] if rng.random() < 0.5 else model_input)
    return out


def bordered(pixels: np.ndarray, value: float) -> tuple[np.ndarray, int, int]:
    """The film inside borders of ``value``, BORDER of its size on every side; returns it and the (x, y) offset."""
    height, width = pixels.shape
    dy, dx = int(round(BORDER * height)), int(round(BORDER * width))
    out = np.full((height + 2 * dy, width + 2 * dx), value, np.float32)
    out[dy : dy + height, dx : dx + width] = pixels
    return out, dx, dy


def half_of(pixels: np.ndarray, box: tuple[float, ...]) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The half of a two-knee film (cut at the middle column) that holds the box's centre, and the box in it."""
    width = pixels.shape[1]
    middle = width // 2
    x0, y0, x1, y1 = box
    if (x0 + x1) / 2 < middle:
        return pixels[:, :middle], (x0, y0, min(x1, middle), y1)
    return pixels[:, middle:], (max(x0, middle) - middle, y0, x1 - middle, y1)


def knee_inputs(pixels: np.ndarray, knee: Knee, copies: int, seed: int, config: KneeRegionConfig) -> dict[str, list[np.ndarray]]:
    """Every input the bank needs for one knee, by name."""
    box = knee.read_box
    plain, _ = knee_region(pixels, box, config)
    rng = np.random.default_rng(seed)
    inputs: dict[str, list[np.ndarray]] = {"plain": [plain], "mirrored": [np.ascontiguousarray(plain[:, ::-1])]}
    inputs["augmented"] = jittered_inputs(pixels, box, copies, rng, config)
    for name, value in (("bordered", 0.0), ("grey_bordered", 0.5)):
        framed, dx, dy = bordered(pixels, value)
        inputs[name] = [knee_region(framed, (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy), config)[0]]
    inputs["tight"] = [knee_region(pixels, scaled_box(box, 0.85), config)[0]]
    inputs["loose"] = [knee_region(pixels, scaled_box(box, 1.15), config)[0]]
    if knee.knee_count == 2:
        half, half_box = half_of(pixels, box)
        inputs["half"] = [knee_region(half, half_box, config)[0]]
    return inputs


def _knee_key(knee: Knee, config: KneeRegionConfig, copies: int, seed: int, tflite: str) -> str:
    return cache_key("knee-features", FEATURES_REVISION, knee.film, knee.position, knee.knee_count, knee.read_path.name,
                     [round(v, 2) for v in knee.read_box], config.to_dict(), copies, seed, tflite)


def extract_knee_features(knees: list[Knee], classifier, config: KneeRegionConfig, copies: int, seed: int, cache_dir: Path | None) -> KneeBank:
    """The bank for ``knees`` (see the module docstring). Each knee's rows are cached on their own, keyed by its box
    and everything else they depend on, so correcting some boxes recomputes only those knees."""
    tflite = sha256_of(classifier.card.verified_path("tflite"))[:16]
    n, channels = len(knees), 1280
    plain = np.full((n, channels), np.nan, np.float32)
    mirrored = np.full((n, channels), np.nan, np.float32)
    augmented = np.full((n, copies, channels), np.nan, np.float32)
    variants = {v: np.full((n, channels), np.nan, np.float32) for v in VARIANTS}
    old_logit = np.full(n, np.nan, np.float32)
    progress = Progress("knee features", n)
    pixels_of: tuple[Path, np.ndarray] | None = None
    computed = 0
    for i, knee in enumerate(knees):
        # The seed of a knee's augmentation depends on the knee, not on its position in the list.
        knee_seed = int(_knee_key(knee, config, 0, seed, "")[:8], 16)
        path = cache_dir / "knees" / f"{_knee_key(knee, config, copies, seed, tflite)}.npz" if cache_dir else None
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                entry = {name: data[name] for name in data.files}
        else:
            if pixels_of is None or pixels_of[0] != knee.read_path:
                pixels_of = (knee.read_path, read_radiograph(knee.read_path).pixels)
            entry = _knee_entry(pixels_of[1], knee, classifier, config, copies, knee_seed)
            computed += 1
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, **entry)
        plain[i], mirrored[i], augmented[i], old_logit[i] = entry["plain"], entry["mirrored"], entry["augmented"], entry["old_logit"]
        for name in VARIANTS:
            if name in entry:
                variants[name][i] = entry[name]
        progress.update(i + 1)
    log.info("knee features: %d of %d knees computed, the rest from the cache", computed, n)
    return KneeBank(plain, mirrored, augmented, variants, old_logit)


def _knee_entry(pixels: np.ndarray, knee: Knee, classifier, config: KneeRegionConfig, copies: int, seed: int) -> dict[str, np.ndarray]:
    inputs = knee_inputs(pixels, knee, copies, seed, config)
    names = [name for name, items in inputs.items() for _ in items]
    logits, features = classifier.run(np.stack([x for items in inputs.values() for x in items]))
    pooled = features.reshape(len(names), -1, features.shape[-1]).mean(axis=1)
    entry = {name: pooled[[j for j, n in enumerate(names) if n == name]] for name in inputs}
    entry = {name: (rows if name == "augmented" else rows[0]) for name, rows in entry.items()}
    entry["old_logit"] = np.float32(logits[names.index("plain")])
    return entry
