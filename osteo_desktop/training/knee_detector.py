"""Train and cross-validate the knee detector (core/model/knee_detector.py) on the hand-checked boxes.

Data: ``annotations/knee_boxes.csv`` (plus any extra CSV of the same columns), rows with ``checked_by_eye = yes``
only unless told otherwise. Films: knee-xray (manifest folds), knee-xray-fullsize (the same radiographs at original
size: evaluated in their knee-xray copy's fold, never trained on, so no radiograph counts twice) and knee-other
(one knee per patient; fold = a hash of the file name, as the manifest does not cover them).

Per fold: positives are the checked boxes (jittered a little), negatives random windows first, then two rounds of
hard negatives (the best-scoring windows that overlap no knee by IoU 0.3). The classifier is an L2-regularised
logistic regression on the mirror-symmetrised descriptor, fitted by Newton-CG in numpy. The thresholds (any knee;
a second knee) are chosen on out-of-fold scores of the OTHER folds, so no film's count is decided by a threshold
fitted on it. The shipped model is refitted on every checked film with thresholds from all out-of-fold scores.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import csv
import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from osteo_desktop.training.metrics import wilson
from osteo_desktop.core.model.knee_detector import (
    BLOCKS, CELLS, FEATURES, WORK_SIDE, KneeDetector, Windows, box_iou, dense_windows, mirror_window,
    orientation_integral, partner_mask, score_map, window_descriptor, working_copy,
)
from osteo_desktop.core.reading.reader import read_radiograph

log = logging.getLogger(__name__)
SET_FOLDERS = {"knee-xray": "data/knee-xray", "knee-xray-fullsize": "data/knee-xray-fullsize",
               "knee-other": "data/scope/knee-other"}
TRAIN_SOURCES = ("knee-xray", "knee-other")
NEGATIVE_IOU = 0.3
L2 = 1e-3


@dataclass
class Film:
    source: str
    file: str
    path: Path
    repo: str
    fold: int
    width: int
    height: int
    count: int
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.source}/{self.file}"

    @property
    def group(self) -> str:
        """Source for the per-source figures: knee-xray split by its two source repositories."""
        return f"knee-xray ({self.repo.split('/')[0]})" if self.source == "knee-xray" else self.source


def _hash_fold(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 5


def is_test_holdout(key: str) -> bool:
    """About 1 film in 40 (by a hash of ``source/file``) is kept out of the SHIPPED detector's training, so that
    tests/test_knee_detector.py can check it on films it never saw. Cross-validation still uses every film."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 40 == 0


def load_films(box_files: list[Path], shared: Path, checked_only: bool = True) -> list[Film]:
    """Films with their boxes; rows of later files replace a film's rows of earlier ones (corrections win)."""
    rows_by_film: dict[tuple[str, str], list[dict]] = {}
    for path in box_files:
        per_file: dict[tuple[str, str], list[dict]] = defaultdict(list)
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if checked_only and row.get("checked_by_eye", "").strip().lower() != "yes":
                    continue
                per_file[(row["source"], row["file"])].append(row)
        rows_by_film.update(per_file)
    manifest = {r["file"]: r for r in csv.DictReader(open(shared / SET_FOLDERS["knee-xray"] / "manifest.csv", newline=""))}
    fullsize = {r["file"]: r for r in csv.DictReader(open(shared / SET_FOLDERS["knee-xray-fullsize"] / "manifest.csv", newline=""))}
    scope = {Path(r["file"]).name: r for r in csv.DictReader(open(shared / "data/scope/manifest.csv", newline=""))}
    films = []
    for (source, name), rows in sorted(rows_by_film.items()):
        if source == "knee-xray":
            repo, fold = manifest[name]["source_repo"], int(manifest[name]["fold"])
        elif source == "knee-xray-fullsize":
            twin = manifest[fullsize[name]["shared_file"]]
            repo, fold = twin["source_repo"], int(twin["fold"])
        else:
            repo, fold = scope[Path(name).name]["source_repo"], _hash_fold(name)
        boxes = [tuple(int(float(r[k])) for k in ("x0", "y0", "x1", "y1")) for r in rows if r["x0"].strip()]
        films.append(Film(source, name, shared / SET_FOLDERS[source] / name, repo, fold, int(rows[0]["width"]),
                          int(rows[0]["height"]), len(boxes), boxes))
    return films


# --- working copies and ground truth --------------------------------------------------------------------------------

def working_image(film: Film, cache_dir: Path) -> tuple[np.ndarray, float]:
    """The working copy the detector would make of the film as the app reads it (cached)."""
    cached = cache_dir / f"work{WORK_SIDE}" / (film.key.replace("/", "__") + ".npz")
    if cached.is_file():
        with np.load(cached) as data:
            return data["image"], float(data["scale"])
    pixels = read_radiograph(film.path).pixels
    if pixels.shape != (film.height, film.width):
        raise ValueError(f"{film.key}: read {pixels.shape}, annotated {film.height}x{film.width}")
    image, scale = working_copy(pixels)
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cached, image=image, scale=scale)
    return image, scale


def square_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[float, float, float]:
    """The unclipped square (x0, y0, side) of an annotated box that the film edge may have clipped."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0)

    def grow(lo: float, hi: float, limit: int) -> float:
        if hi - lo >= side:
            return lo
        if lo <= 0 < hi < limit:
            return hi - side
        if hi >= limit and lo > 0:
            return lo
        return (lo + hi - side) / 2  # clipped on both sides (or neither): keep the centre

    return grow(x0, x1, width), grow(y0, y1, height), side


def truth_windows(film: Film, scale: float) -> np.ndarray:
    """Annotated knees as (x0, y0, side) on the working copy, (K, 3)."""
    squares = [square_box(b, film.width, film.height) for b in film.boxes]
    return np.array(squares, dtype=np.float64).reshape(-1, 3) * scale


# --- descriptors --------------------------------------------------------------------------------------------------

def symmetric(features: np.ndarray) -> np.ndarray:
    """Mirror-symmetrised descriptors (N, 1764): a linear model on these scores a window and its mirror alike."""
    shaped = features.reshape(-1, BLOCKS, BLOCKS, FEATURES)
    return ((shaped + mirror_window(shaped)) / 2).reshape(len(shaped), -1)


def positive_descriptors(integral: np.ndarray, truth: np.ndarray, rng: np.random.Generator, jitter: int = 4) -> np.ndarray:
    out = []
    for x0, y0, side in truth:
        out.append(window_descriptor(integral, x0, y0, side))
        for _ in range(jitter):  # small shifts and scale changes (IoU about 0.75 or more) the pyramid also makes
            s = side * 2 ** rng.uniform(-0.125, 0.125)
            cx, cy = x0 + side / 2 + rng.uniform(-1, 1) * side / 16, y0 + side / 2 + rng.uniform(-1, 1) * side / 16
            out.append(window_descriptor(integral, cx - s / 2, cy - s / 2, s))
    return np.array(out, np.float32).reshape(-1, BLOCKS * BLOCKS * FEATURES)


def all_windows(integral: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per grid: block features, and (rows, cols) -> (x0, y0, side) boxes."""
    for blocks, x0, y0, cell in dense_windows(integral):
        rows, cols = blocks.shape[0] - BLOCKS + 1, blocks.shape[1] - BLOCKS + 1
        if rows < 1 or cols < 1:
            continue
        ii, jj = np.mgrid[0:rows, 0:cols]
        boxes = np.stack([x0 + jj * cell, y0 + ii * cell, np.full(ii.shape, CELLS * cell)], axis=-1)
        yield blocks, boxes


def _max_iou(boxes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    flat = boxes.reshape(-1, 3)
    if len(truth) == 0:
        return np.zeros(len(flat))
    return np.max([box_iou(t, flat) for t in truth], axis=0)


def negative_descriptors(integral: np.ndarray, truth: np.ndarray, rng: np.random.Generator, count: int,
                         model: tuple[np.ndarray, float] | None = None, floor: float = -1.0) -> np.ndarray:
    """Windows overlapping no knee: ``count`` random ones, or (with a model) the best-scoring ones above ``floor``."""
    picked_scores, picked = [], []
    for blocks, boxes in all_windows(integral):
        rows, cols = boxes.shape[:2]
        free = (_max_iou(boxes, truth) < NEGATIVE_IOU).reshape(rows, cols)
        if model is None:
            cand = np.flatnonzero(free.ravel())
            keys = rng.random(len(cand))
        else:
            grid = score_map(blocks, *model)
            cand = np.flatnonzero((free & (grid >= floor)).ravel())
            keys = grid.ravel()[cand]
        order = np.argsort(-keys)[:count]
        for index, key in zip(cand[order], keys[order]):
            i, j = divmod(int(index), cols)
            picked.append(blocks[i:i + BLOCKS, j:j + BLOCKS].ravel())
            picked_scores.append(key)
    if not picked:
        return np.zeros((0, BLOCKS * BLOCKS * FEATURES), np.float32)
    order = np.argsort(-np.array(picked_scores))[:count]
    return np.array(picked, np.float32)[order]


# --- the classifier -----------------------------------------------------------------------------------------------

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 12, cg_steps: int = 25) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by Newton-CG; returns (weights, bias)."""
    n, d = x.shape
    weight = np.where(y > 0, 0.5 / max(1, (y > 0).sum()), 0.5 / max(1, (y <= 0).sum())).astype(np.float64)
    target = (y > 0).astype(np.float64)
    theta = np.zeros(d + 1)

    x = np.asarray(x, np.float32)  # products in float32 (a float64 vector would copy x on every product)

    def loss_grad(t: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        z = (x @ t[:d].astype(np.float32)).astype(np.float64) + t[d]
        loss = np.sum(weight * (np.logaddexp(0, z) - target * z)) + 0.5 * l2 * t[:d] @ t[:d]
        p = 1 / (1 + np.exp(-z))
        r = weight * (p - target)
        return loss, np.concatenate([(r.astype(np.float32) @ x) + l2 * t[:d], [r.sum()]]), weight * p * (1 - p)

    loss, grad, curvature = loss_grad(theta)
    for _ in range(iterations):
        def hess(v: np.ndarray) -> np.ndarray:
            u = curvature * ((x @ v[:d].astype(np.float32)) + v[d])
            return np.concatenate([(u.astype(np.float32) @ x) + l2 * v[:d], [u.sum() + 1e-9 * v[d]]])

        step, r = np.zeros(d + 1), -grad.copy()
        p_dir, rr = r.copy(), r @ r
        for _ in range(cg_steps):
            hp = hess(p_dir)
            alpha = rr / max(p_dir @ hp, 1e-30)
            step += alpha * p_dir
            r -= alpha * hp
            rr_new = r @ r
            if rr_new < 1e-10 * (grad @ grad):
                break
            p_dir, rr = r + (rr_new / rr) * p_dir, rr_new
        size = 1.0
        while size > 1e-4:
            new_loss, new_grad, new_curv = loss_grad(theta + size * step)
            if new_loss <= loss:
                break
            size /= 2
        theta += size * step
        converged = loss - new_loss < 1e-7 * max(1.0, abs(loss))
        loss, grad, curvature = new_loss, new_grad, new_curv
        if converged:
            break
    return theta[:d].astype(np.float32).reshape(BLOCKS, BLOCKS, FEATURES), float(theta[d])


def train_classifier(films: list[Film], cache_dir: Path, seed: int = 0, rounds: int = 2) -> tuple[np.ndarray, float]:
    """Weights and bias from these films (positives, random then hard negatives)."""
    rng = np.random.default_rng(seed)
    positives, negatives = [], []
    for film in films:
        image, scale = working_image(film, cache_dir)
        integral = orientation_integral(image)
        truth = truth_windows(film, scale)
        positives.append(positive_descriptors(integral, truth, rng))
        negatives.append(negative_descriptors(integral, truth, rng, 30))
    pos = symmetric(np.concatenate(positives))
    neg = symmetric(np.concatenate(negatives))
    model = fit_logistic(np.concatenate([pos, neg]), np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    for round_ in range(rounds):
        hard = []
        for film in films:
            image, scale = working_image(film, cache_dir)
            hard.append(negative_descriptors(orientation_integral(image), truth_windows(film, scale), rng, 12, model))
        neg = np.concatenate([neg, symmetric(np.concatenate(hard))])
        model = fit_logistic(np.concatenate([pos, neg]), np.r_[np.ones(len(pos)), np.zeros(len(neg))])
        log.info("round %d: %d positives, %d negatives", round_ + 1, len(pos), len(neg))
    return model


# --- evaluation -----------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """A held-out film's NMS'd candidates (working pixels) and its scale, so thresholds can be applied afterwards."""

    film: Film
    found: Windows
    scale: float
    seconds: float | None = None


def partner_score(detector: KneeDetector, found: Windows) -> float:
    if len(found.scores) < 2:
        return -np.inf
    mask = partner_mask(found.boxes[0], found.boxes[1:], detector.pair_ratio, detector.pair_height, detector.pair_gap)
    return float(found.scores[1:][mask].max()) if mask.any() else -np.inf


def choose_thresholds(outcomes: list[Outcome], detector: KneeDetector) -> tuple[float, float]:
    """(min_score, pair_score) from out-of-fold outcomes: min_score just under the 1st percentile of the best score on
    films with a knee; pair_score maximises count accuracy (midpoint of the best interval)."""
    best = np.array([o.found.scores[0] if len(o.found.scores) else -np.inf for o in outcomes if o.film.count > 0])
    min_score = float(np.percentile(best[np.isfinite(best)], 1)) - 0.5 if np.isfinite(best).any() else 0.0
    pairs = np.array([partner_score(detector, o.found) for o in outcomes])
    both = np.array([o.film.count >= 2 for o in outcomes])
    finite = np.unique(pairs[np.isfinite(pairs)])
    if len(finite) == 0:
        return min_score, 0.0
    cuts = np.concatenate([[finite[0] - 1], (finite[1:] + finite[:-1]) / 2, [finite[-1] + 1]])
    accuracy = np.array([np.mean((pairs >= c) == both) for c in cuts])
    winners = cuts[accuracy == accuracy.max()]
    return min_score, float(np.median(winners))


def cross_validate(films: list[Film], cache_dir: Path, seed: int = 0,
                   rounds: int = 2) -> tuple[list[Outcome], dict[int, tuple[np.ndarray, float]]]:
    """Out-of-fold candidates for every film (fullsize films use their knee-xray twin's fold model), and the fold
    models (weights, bias) by fold."""
    outcomes, models = [], {}
    for fold in range(5):
        start = time.perf_counter()
        train = [f for f in films if f.fold != fold and f.source in TRAIN_SOURCES]
        weights, bias = models[fold] = train_classifier(train, cache_dir, seed + fold, rounds)
        detector = KneeDetector(weights, bias, min_score=-1e9, pair_score=-1e9)
        held = [f for f in films if f.fold == fold]
        for film in held:
            image, scale = working_image(film, cache_dir)
            outcomes.append(Outcome(film, detector.candidates(image), scale))
        log.info("fold %d: trained on %d films, %d held out (%.0f s)", fold, len(train), len(held), time.perf_counter() - start)
    return outcomes, models


def file_boxes(found: Windows, picks: list[tuple[np.ndarray, float]], scale: float, width: int, height: int) -> list[tuple[int, int, int, int]]:
    boxes = []
    for (x0, y0, side), _ in picks:
        boxes.append((max(0, round(x0 / scale)), max(0, round(y0 / scale)),
                      min(width, round((x0 + side) / scale)), min(height, round((y0 + side) / scale))))
    return boxes


def iou_xyxy(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def match(truth: list, predicted: list) -> list[tuple[float, bool, float, float]]:
    """Per annotated knee: (IoU with its matched prediction, whether its centre is inside that prediction, size ratio
    found/checked (square root of the area ratio), centre distance in checked-box sides); one-to-one, best pairs
    first; (0, False, nan, nan) when unmatched."""
    pairs = sorted(((iou_xyxy(t, p), i, j) for i, t in enumerate(truth) for j, p in enumerate(predicted)), reverse=True)
    used_t, used_p, result = set(), set(), {}
    for iou, i, j in pairs:
        if i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        t, p = truth[i], predicted[j]
        cx, cy = (t[0] + t[2]) / 2, (t[1] + t[3]) / 2
        area_t, area_p = (t[2] - t[0]) * (t[3] - t[1]), (p[2] - p[0]) * (p[3] - p[1])
        offset = np.hypot((p[0] + p[2]) / 2 - cx, (p[1] + p[3]) / 2 - cy) / max(t[2] - t[0], t[3] - t[1])
        result[i] = (iou, p[0] <= cx < p[2] and p[1] <= cy < p[3], float(np.sqrt(area_p / area_t)), float(offset))
    return [result.get(i, (0.0, False, float("nan"), float("nan"))) for i in range(len(truth))]


def evaluate(outcomes: list[Outcome], template: KneeDetector) -> dict:
    """Per-fold thresholds from the other folds' outcomes; hits, counts and confusion per source."""
    per_film = []
    for fold in range(5):
        others = [o for o in outcomes if o.film.fold != fold and o.film.source in TRAIN_SOURCES]
        min_score, pair_score = choose_thresholds(others, template)
        detector = KneeDetector(template.weights, template.bias, min_score, pair_score,
                                template.pair_ratio, template.pair_height, template.pair_gap)
        for o in outcomes:
            if o.film.fold != fold:
                continue
            picks = detector.choose(o.found)
            predicted = file_boxes(o.found, picks, o.scale, o.film.width, o.film.height)
            per_film.append({"film": o.film, "predicted": predicted, "matches": match(o.film.boxes, predicted),
                             "thresholds": (min_score, pair_score)})
    return summarise(per_film)


def summarise(per_film: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in per_film:
        groups[item["film"].group].append(item)
        if item["film"].source in TRAIN_SOURCES:
            groups["all (knee-xray + knee-other)"].append(item)
    table = {}
    for name, items in sorted(groups.items()):
        knees = [m for item in items for m in item["matches"]]
        hits = sum(m[0] >= 0.5 for m in knees)
        inside = sum(m[1] for m in knees)
        ratios = [m[2] for m in knees if m[0] >= 0.5]
        offsets = [m[3] for m in knees if m[0] >= 0.5]
        extra = sum(max(0, len(item["predicted"]) - len(item["film"].boxes)) for item in items)
        count_ok = sum(len(item["predicted"]) == item["film"].count for item in items)
        confusion: dict[str, int] = defaultdict(int)
        for item in items:
            confusion[f"{item['film'].count}->{len(item['predicted'])}"] += 1
        ious = [m[0] for m in knees]
        table[name] = {
            "films": len(items), "knees": len(knees),
            "hit_iou50": hits, "hit_iou50_ci": wilson(hits, len(knees)),
            "centre_inside": inside, "centre_inside_ci": wilson(inside, len(knees)),
            "median_iou": float(np.median(ious)) if ious else float("nan"),
            # Of the hits: found/checked size (median, quartiles) and centre distance in sides (median, 90th pct).
            "size_ratio": [float(v) for v in np.percentile(ratios, [50, 25, 75])] if ratios else None,
            "centre_offset": [float(v) for v in np.percentile(offsets, [50, 90])] if offsets else None,
            "extra_boxes": extra, "count_correct": count_ok, "count_ci": wilson(count_ok, len(items)),
            "confusion": dict(sorted(confusion.items())),
        }
    return {"table": table, "per_film": per_film}
