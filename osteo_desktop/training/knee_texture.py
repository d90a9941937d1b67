"""Features that see bone texture, not framing: a pre-registered study for the per-knee head (issue 11, item 3).

The 2.1.0 head reads only the backbone's last block (out_relu, 7 x 7 x 1280 at 224 px), mean-pooled. Two kinds of
texture-sensitive features are added here, each computed on the very model inputs the 2.1.0 study used
(:func:`~osteo_desktop.training.knee_framing.framing_inputs`: same regions, framings and random jitter copies):

- ``block_6`` / ``block_13``: the mean-pooled activations of two intermediate MobileNetV2 layers of the shipped
  ``.tflite`` (block_6_expand_relu, 28 x 28 x 192; block_13_expand_relu, 14 x 14 x 576): finer spatial scales,
  from the same forward pass. LiteRT exposes intermediate tensors only without its default (XNNPACK) delegate and
  with ``experimental_preserve_all_tensors``, so the study runs the interpreter that way (about 7x slower; the
  last block's features agree with the app's interpreter to float rounding, checked by :func:`delegate_agreement`).
  At run time a re-export with the pooled layers as extra outputs would cost almost nothing.
- ``texture``: hand-crafted statistics of the model input's grey values (:func:`texture_statistics`): uniform
  local-binary-pattern histograms at radius 1 and 2 and grey-level co-occurrence statistics at distances 1, 2 and 4.
  They are exactly invariant to mirroring (see the functions), and need no backbone at all.

Caveat fixed in advance: every statistic is taken on the 224-pixel model input, so a close-up knee (many film
pixels) shows finer detail than a knee from a long-leg view; the study reports whether the new features lean more or
less on the region's size in pixels (:func:`size_shortcut`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_square
from osteo_desktop.training.dataset import cache_key
from osteo_desktop.training.features import Progress
from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.knee_framing import (NAMES, FramingBank, cached_entry, film_of, framing_batch, framing_key,
                                                  save_entry)

log = logging.getLogger(__name__)

REVISION = 1
TAPS = {"block_6": "block_6_expand_relu", "block_13": "block_13_expand_relu"}  # name -> layer name in the .tflite
GROUPS = ("final", *TAPS, "texture")
LBP_RADII = (1, 2)
GLCM_LEVELS = 16
GLCM_DISTANCES = (1, 2, 4)
GLCM_NAMES = ("contrast", "homogeneity", "energy", "correlation")


# --- hand-crafted texture statistics (pure functions) -----------------------------------------------------------------

# The 8 neighbours at a square ring of radius r, in circular order (right, then clockwise). Integer offsets, not the
# interpolated circle of the textbook LBP: cheap, and a mirror image still visits the same ring in reverse order.
_RING = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


def lbp_histogram(grey: np.ndarray, radius: int) -> np.ndarray:
    """Uniform local-binary-pattern histogram (10 bins, sums to 1) of a 2-D image, over pixels ``radius`` or more
    from the edge. A pixel's 8 neighbours on the ring of ``radius`` each give a bit (neighbour >= centre); a pattern
    with at most 2 changes between 0 and 1 around the ring is "uniform" and counted in bin = number of ones (0-8),
    every other pattern in bin 9. The bin depends only on the ring's circular sequence up to rotation and reversal,
    so the histogram of a mirrored image is the same."""
    grey = np.asarray(grey, np.float64)
    r = int(radius)
    h, w = grey.shape
    if h <= 2 * r or w <= 2 * r:
        raise ValueError(f"image {grey.shape} too small for radius {r}")
    centre = grey[r : h - r, r : w - r]
    bits = np.stack([grey[r + dy * r : h - r + dy * r, r + dx * r : w - r + dx * r] >= centre for dy, dx in _RING])
    ones = bits.sum(axis=0)
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(axis=0)
    code = np.where(transitions <= 2, ones, 9)
    return np.bincount(code.ravel(), minlength=10).astype(np.float64) / code.size


def quantise(grey: np.ndarray, levels: int) -> np.ndarray:
    """Grey values in [0, 1] to integer levels 0..levels-1 (1.0 goes to the top level)."""
    return np.minimum((np.clip(np.asarray(grey, np.float64), 0.0, 1.0) * levels).astype(int), levels - 1)


def cooccurrence(levels_image: np.ndarray, levels: int, distance: int, axis: int) -> np.ndarray:
    """Symmetric, normalised grey-level co-occurrence matrix of pixel pairs ``distance`` apart along ``axis``
    (1: horizontal, 0: vertical). Symmetric, so a mirrored image has the same matrix."""
    q = np.asarray(levels_image)
    a, b = (q[:, :-distance], q[:, distance:]) if axis == 1 else (q[:-distance], q[distance:])
    counts = np.bincount((a * levels + b).ravel(), minlength=levels * levels).reshape(levels, levels).astype(np.float64)
    counts = counts + counts.T
    return counts / counts.sum()


def glcm_statistics(matrix: np.ndarray) -> np.ndarray:
    """(contrast, homogeneity, energy, correlation) of a symmetric normalised co-occurrence matrix (Haralick's
    definitions; correlation 1 when the grey level has no spread)."""
    levels = matrix.shape[0]
    i, j = np.indices((levels, levels))
    contrast = float((matrix * (i - j) ** 2).sum())
    homogeneity = float((matrix / (1.0 + (i - j) ** 2)).sum())
    energy = float((matrix**2).sum())
    mean = float((matrix * i).sum())
    variance = float((matrix * (i - mean) ** 2).sum())
    correlation = float((matrix * (i - mean) * (j - mean)).sum() / variance) if variance > 0 else 1.0
    return np.array([contrast, homogeneity, energy, correlation])


def texture_statistics(model_input: np.ndarray) -> np.ndarray:
    """The ``texture`` feature group of one model input ((S, S, 3) in [-1, 1] or (S, S) grey in [0, 1]): LBP
    histograms at LBP_RADII (10 each), then per GLCM distance the four statistics averaged over the horizontal and
    vertical matrices (GLCM_LEVELS levels). 32 values; the same for the input's mirror image."""
    x = np.asarray(model_input, np.float64)
    grey = (x[..., 0] + 1.0) / 2.0 if x.ndim == 3 else x
    parts = [lbp_histogram(grey, r) for r in LBP_RADII]
    q = quantise(grey, GLCM_LEVELS)
    for d in GLCM_DISTANCES:
        parts.append((glcm_statistics(cooccurrence(q, GLCM_LEVELS, d, 1)) + glcm_statistics(cooccurrence(q, GLCM_LEVELS, d, 0))) / 2.0)
    return np.concatenate(parts)


TEXTURE_SIZE = 10 * len(LBP_RADII) + len(GLCM_NAMES) * len(GLCM_DISTANCES)


# --- intermediate layers of the shipped .tflite ----------------------------------------------------------------------

class TapRunner:
    """The shipped ``.tflite`` run without delegates, returning per input the mean-pooled last block (``final``)
    and the mean-pooled tapped layers (TAPS)."""

    BATCH = 4

    def __init__(self, tflite_path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(model_path=str(tflite_path), num_threads=threads, experimental_preserve_all_tensors=True,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.interpreter.resize_tensor_input(self.input_index, [self.BATCH, 224, 224, 3])
        self.interpreter.allocate_tensors()
        outputs = {len(d["shape"]): d["index"] for d in self.interpreter.get_output_details()}
        self.final_index = outputs[4]
        self.tap_index = {}
        for name, layer in TAPS.items():
            found = [d["index"] for d in self.interpreter.get_tensor_details()
                     if len(d["shape"]) == 4 and f"/{layer}" in d["name"].split(";")[0]]
            if len(found) != 1:
                raise ValueError(f"layer {layer}: {len(found)} tensors in the model")
            self.tap_index[name] = found[0]

    def run(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        n = len(inputs)
        out: dict[str, list[np.ndarray]] = {g: [] for g in ("final", *TAPS)}
        for start in range(0, n, self.BATCH):
            chunk = np.zeros((self.BATCH, 224, 224, 3), np.float32)
            part = inputs[start : start + self.BATCH]
            chunk[: len(part)] = part
            self.interpreter.set_tensor(self.input_index, chunk)
            self.interpreter.invoke()
            out["final"].append(self.interpreter.get_tensor(self.final_index)[: len(part)].mean(axis=(1, 2)))
            for name, index in self.tap_index.items():
                out[name].append(self.interpreter.get_tensor(index)[: len(part)].mean(axis=(1, 2)))
        return {g: np.concatenate(v).astype(np.float32) for g, v in out.items()}


def delegate_agreement(runner: TapRunner, classifier, inputs: np.ndarray) -> float:
    """Largest |difference| between the study's pooled last block and the app interpreter's (XNNPACK) on ``inputs``."""
    _, features = classifier.run(inputs)
    return float(np.max(np.abs(features.mean(axis=(1, 2)) - runner.run(inputs)["final"])))


# --- the bank ----------------------------------------------------------------------------------------------------------

@dataclass
class TextureBank:
    """Per feature group (GROUPS): per input name (knee_framing.NAMES) the features as read and mirrored, (N, C_g),
    NaN where the input does not apply; the wide jitter copies (N, K, C_g)."""

    single: dict[str, dict[str, np.ndarray]]
    mirrored: dict[str, dict[str, np.ndarray]]
    jitter: dict[str, np.ndarray]


def _group_sizes() -> dict[str, int]:
    return {"final": 1280, "block_6": 192, "block_13": 576, "texture": TEXTURE_SIZE}


def extract_texture_bank(knees: list[Knee], detector_boxes, runner: TapRunner, tflite_digest: str, config: KneeRegionConfig,
                         copies: int, seed: int, cache_dir: Path) -> TextureBank:
    """Every group's features of every framing input (as read and mirrored) and the wide jitter copies; each knee
    cached on its own. The random copies are those of the 2.1.0 study (same key, same generator)."""
    sizes = _group_sizes()
    n = len(knees)
    single = {g: {name: np.full((n, c), np.nan, np.float32) for name in NAMES} for g, c in sizes.items()}
    mirrored = {g: {name: np.full((n, c), np.nan, np.float32) for name in NAMES} for g, c in sizes.items()}
    jitter = {g: np.full((n, copies, c), np.nan, np.float32) for g, c in sizes.items()}
    progress = Progress("texture features", n)
    pixels_of: tuple[Path, np.ndarray] | None = None
    computed = 0
    for i, (knee, detector_box) in enumerate(zip(knees, detector_boxes)):
        framing_cache_key = framing_key(knee, detector_box, config, copies, seed, tflite_digest)
        key = cache_key("knee-texture", REVISION, framing_cache_key, TAPS, LBP_RADII, GLCM_LEVELS, GLCM_DISTANCES)
        path = cache_dir / "texture" / f"{key}.npz"
        entry = cached_entry(path)
        if entry is None:
            pixels_of = film_of(pixels_of, knee)
            names, batch = framing_batch(pixels_of[1], knee, detector_box, copies, seed, framing_cache_key, config)
            pooled = runner.run(np.stack(batch))
            pooled["texture"] = np.stack([texture_statistics(x) for x in batch]).astype(np.float32)
            m = len(names)
            entry = {}
            for g in GROUPS:
                entry.update({f"{g}|single|{k}": pooled[g][j] for j, k in enumerate(names)})
                entry.update({f"{g}|mirrored|{k}": pooled[g][m + j] for j, k in enumerate(names)})
                entry[f"{g}|jitter"] = pooled[g][2 * m :]
            save_entry(path, entry)
            computed += 1
        for g in GROUPS:
            for name in NAMES:
                if f"{g}|single|{name}" in entry:
                    single[g][name][i] = entry[f"{g}|single|{name}"]
                    mirrored[g][name][i] = entry[f"{g}|mirrored|{name}"]
            jitter[g][i] = entry[f"{g}|jitter"]
        progress.update(i + 1)
    log.info("texture features: %d of %d knees computed, the rest from the cache", computed, n)
    return TextureBank(single, mirrored, jitter)


def feature_set(bank: TextureBank, groups: tuple[str, ...]) -> FramingBank:
    """The 2.1.0 study's FramingBank with each input's features the concatenation of ``groups``."""
    def join(by_group: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: np.concatenate([by_group[g][name] for g in groups], axis=1) for name in NAMES}

    return FramingBank(join(bank.single), join(bank.mirrored), np.concatenate([bank.jitter[g] for g in groups], axis=2))


# --- the region-size shortcut ------------------------------------------------------------------------------------------

def region_side(knee: Knee, config: KneeRegionConfig) -> int:
    """The side, in the read file's pixels, of the square region the knee is read from."""
    x0, _, x1, _ = knee_square(knee.read_box, config.margin)
    return x1 - x0
