"""How much a knee's probability depends on how its box is drawn, and a head that depends on it less (issue 11, item 3).

Two things the per-knee head (2.0.0) is sensitive to, measured out-of-fold on the manifest's folds:

- the box's scale (x 0.85 / 0.9 / 1.1 / 1.15 about its centre) and position (moved by 10 % of its side left, right,
  up, down): ``FRAMINGS``;
- the detector's own box instead of the hand-checked one: each knee-xray film's boxes from the detector fold model
  that did not see that film (:func:`out_of_fold_detector_boxes`), matched to the hand boxes by IoU.

Every framing is also read mirrored, so the shipped flip-averaged probability can be measured under it, not only a
single pass. The bank (:class:`FramingBank`) adds training copies with a wider jitter than 2.0.0's (scale x 0.8-1.2,
shift ±10 %), and each knee's out-of-fold detector box as a further training row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_region
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.training.dataset import cache_key
from osteo_desktop.training.features import Progress
from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.knee_features import bordered, half_of, scaled_box

log = logging.getLogger(__name__)

# name -> (scale, dx, dy) in box sides
FRAMINGS: dict[str, tuple[float, float, float]] = {
    "scale_0.85": (0.85, 0.0, 0.0), "scale_0.9": (0.9, 0.0, 0.0), "scale_1.1": (1.1, 0.0, 0.0), "scale_1.15": (1.15, 0.0, 0.0),
    "shift_left": (1.0, -0.1, 0.0), "shift_right": (1.0, 0.1, 0.0), "shift_up": (1.0, 0.0, -0.1), "shift_down": (1.0, 0.0, 0.1),
}
WIDE_SCALE = 0.20  # training jitter: scale uniform in 1 ± WIDE_SCALE
WIDE_SHIFT = 0.10  # and shift uniform in ± WIDE_SHIFT box sides
REVISION = 1


@dataclass
class FramingBank:
    """Pooled features, single pass and mirrored, per knee: (N, C) each, NaN where a row does not apply."""

    single: dict[str, np.ndarray]  # "plain", every FRAMINGS name, "detector", "bordered", "grey_bordered", "half"
    mirrored: dict[str, np.ndarray]
    jitter: np.ndarray  # (N, K, C) wide training copies (each mirrored with probability 1/2)


# --- out-of-fold detector boxes -------------------------------------------------------------------------------------

def out_of_fold_detector_boxes(knees: list[Knee], box_files: list[Path], shared: Path, cache_dir: Path, shipped_detector,
                               seed: int = 0, mirrored: bool = False) -> list[tuple[float, float, float, float] | None]:
    """Per knee, the box found on its read file by the detector fold model that did not see its film (the manifest's
    folds; the shipped ``min_score``/``pair_score``), matched one-to-one to the film's hand boxes by IoU (>= 0.3);
    None when the detector missed it. ``mirrored``: the boxes found on the mirrored film, matched to the mirrored
    hand boxes (in the mirrored film's pixels)."""
    from osteo_desktop.core.model.knee_detector import KneeDetector
    from osteo_desktop.training.knee_detector import TRAIN_SOURCES, iou_xyxy, load_films, train_classifier

    films = load_films(box_files, shared)
    models_path = cache_dir / f"detector_folds_seed{seed}.npz"
    if models_path.is_file():
        with np.load(models_path) as data:
            models = {f: (data[f"w{f}"], float(data[f"b{f}"])) for f in range(5)}
    else:
        models = {}
        for fold in range(5):
            train = [f for f in films if f.fold != fold and f.source in TRAIN_SOURCES]
            models[fold] = train_classifier(train, cache_dir / "detector", seed + fold)
            log.info("detector fold %d trained on %d films", fold, len(train))
        models_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(models_path, **{f"w{f}": w for f, (w, _) in models.items()}, **{f"b{f}": np.array(b) for f, (_, b) in models.items()})
    detectors = {f: KneeDetector(w, b, shipped_detector.min_score, shipped_detector.pair_score) for f, (w, b) in models.items()}
    out: list[tuple[float, float, float, float] | None] = [None] * len(knees)
    by_film: dict[str, list[int]] = {}
    for i, knee in enumerate(knees):
        by_film.setdefault(knee.film, []).append(i)
    for indices in by_film.values():
        knee = knees[indices[0]]
        pixels = read_radiograph(knee.read_path).pixels
        width = pixels.shape[1]
        if mirrored:
            pixels = np.ascontiguousarray(pixels[:, ::-1])
        found = [tuple(float(v) for v in k.box) for k in detectors[knee.fold].detect(pixels)]
        truth = {i: (width - knees[i].read_box[2], knees[i].read_box[1], width - knees[i].read_box[0], knees[i].read_box[3]) if mirrored
                 else knees[i].read_box for i in indices}
        pairs = sorted(((iou_xyxy(truth[i], b), i, j) for i in indices for j, b in enumerate(found)), reverse=True)
        used_i, used_j = set(), set()
        for iou, i, j in pairs:
            if iou < 0.3 or i in used_i or j in used_j:
                continue
            used_i.add(i)
            used_j.add(j)
            out[i] = found[j]
    log.info("detector boxes: %d of %d knees matched", sum(b is not None for b in out), len(knees))
    return out


# --- features -------------------------------------------------------------------------------------------------------

def framing_inputs(pixels: np.ndarray, knee: Knee, detector_box, copies: int, rng: np.random.Generator,
                   config: KneeRegionConfig) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """The single-pass input of every framing of one knee, by name, and its wide jitter copies."""
    box = knee.read_box
    named = {"plain": knee_region(pixels, box, config)[0]}
    for name, (scale, dx, dy) in FRAMINGS.items():
        named[name] = knee_region(pixels, scaled_box(box, scale, dx, dy), config)[0]
    if detector_box is not None:
        named["detector"] = knee_region(pixels, detector_box, config)[0]
    for name, value in (("bordered", 0.0), ("grey_bordered", 0.5)):
        framed, ox, oy = bordered(pixels, value)
        named[name] = knee_region(framed, (box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy), config)[0]
    if knee.knee_count == 2:
        half, half_box = half_of(pixels, box)
        named["half"] = knee_region(half, half_box, config)[0]
    jitter = []
    for _ in range(copies):
        scale = rng.uniform(1 - WIDE_SCALE, 1 + WIDE_SCALE)
        dx, dy = rng.uniform(-WIDE_SHIFT, WIDE_SHIFT, size=2)
        model_input = knee_region(pixels, scaled_box(box, scale, dx, dy), config)[0]
        jitter.append(model_input[:, ::-1] if rng.random() < 0.5 else model_input)
    return named, jitter


NAMES = ("plain", *FRAMINGS, "detector", "bordered", "grey_bordered", "half")


def framing_key(knee: Knee, detector_box, config: KneeRegionConfig, copies: int, seed: int, tflite: str) -> str:
    """The cache key of one knee's framing rows (also the seed of its random copies, so studies that share it share
    the copies): the knee, its boxes, the region settings, the copy count, the seed and the backbone's digest."""
    return cache_key("knee-framing", REVISION, knee.film, knee.position, knee.read_path.name, [round(v, 2) for v in knee.read_box],
                     None if detector_box is None else [round(v, 1) for v in detector_box], config.to_dict(), copies, seed, tflite)


def cached_entry(path: Path) -> dict[str, np.ndarray] | None:
    """A knee's cached arrays (one .npz per knee), or None when they are not computed yet."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_entry(path: Path, entry: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **entry)


def film_of(pixels_of: tuple[Path, np.ndarray] | None, knee: Knee) -> tuple[Path, np.ndarray]:
    """The knee's film as (path, pixels): read again only when the knee lies on another film than the last one (a
    film's knees come one after the other)."""
    if pixels_of is None or pixels_of[0] != knee.read_path:
        pixels_of = (knee.read_path, read_radiograph(knee.read_path).pixels)
    return pixels_of


def framing_batch(pixels: np.ndarray, knee: Knee, detector_box, copies: int, seed: int, key: str,
                  config: KneeRegionConfig) -> tuple[list[str], list[np.ndarray]]:
    """A knee's framing inputs as one batch: each named input, the same mirrored, then the random copies, whose
    generator is seeded from the framing key so that every study draws the same copies. Returns (names, batch)."""
    rng = np.random.default_rng([seed, int(key[:8], 16)])
    named, copies_in = framing_inputs(pixels, knee, detector_box, copies, rng, config)
    names = list(named)
    return names, [named[k] for k in names] + [np.ascontiguousarray(named[k][:, ::-1]) for k in names] + copies_in


def extract_framing_bank(knees: list[Knee], detector_boxes, classifier, config: KneeRegionConfig, copies: int, seed: int,
                         cache_dir: Path) -> FramingBank:
    """Features of every framing (single and mirrored) and the jitter copies; each knee cached on its own."""
    from osteo_desktop.core.model.card import sha256_of

    tflite = sha256_of(classifier.card.verified_path("tflite"))[:16]
    n, channels = len(knees), 1280
    single = {name: np.full((n, channels), np.nan, np.float32) for name in NAMES}
    mirrored = {name: np.full((n, channels), np.nan, np.float32) for name in NAMES}
    jitter = np.full((n, copies, channels), np.nan, np.float32)
    progress = Progress("framing features", n)
    pixels_of: tuple[Path, np.ndarray] | None = None
    for i, (knee, detector_box) in enumerate(zip(knees, detector_boxes)):
        key = framing_key(knee, detector_box, config, copies, seed, tflite)
        path = cache_dir / "framing" / f"{key}.npz"
        entry = cached_entry(path)
        if entry is None:
            pixels_of = film_of(pixels_of, knee)
            names, batch = framing_batch(pixels_of[1], knee, detector_box, copies, seed, key, config)
            _, features = classifier.run(np.stack(batch))
            pooled = features.reshape(len(batch), -1, features.shape[-1]).mean(axis=1).astype(np.float32)
            entry = {f"single_{k}": pooled[j] for j, k in enumerate(names)}
            entry.update({f"mirrored_{k}": pooled[len(names) + j] for j, k in enumerate(names)})
            entry["jitter"] = pooled[2 * len(names):]
            save_entry(path, entry)
        for name in NAMES:
            if f"single_{name}" in entry:
                single[name][i] = entry[f"single_{name}"]
                mirrored[name][i] = entry[f"mirrored_{name}"]
        jitter[i] = entry["jitter"]
        progress.update(i + 1)
    return FramingBank(single, mirrored, jitter)
