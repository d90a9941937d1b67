"""Train and cross-validate the burnt-in side marker reader (core/model/side_markers.py).

Data: ``annotations/side_markers.csv`` (letters and boxes read by eye on the 288 knee-xray films) and, for the
per-film side figures, the knee boxes of ``annotations/knee_boxes.csv``. Folds: the knee-xray manifest's.

Each film is read as the app reads it (``read_radiograph``), the proposal rule puts up its candidates, and each
candidate is labelled from the hand boxes: the letter of the marker box its centre lies in, "none" when it touches
no marker box, and left out when it overlaps a marker box without its centre inside (a piece of the marker's edge:
neither a clean positive nor a fair negative). Training adds every patch mirrored (R -> mirrored R, L -> mirrored L,
none -> none), so the network knows mirror-image glyphs although the films carry none.

The network: PATCH*PATCH -> ``HIDDEN`` ReLU -> 5 softmax, full-batch Adam with L2, in numpy (no TensorFlow: it is
small, and the result must load in core). Out-of-fold probabilities come from five networks, each trained without
its fold; the shipped one is trained on every film, with the threshold chosen on the out-of-fold films.
"""
from __future__ import annotations

from collections.abc import Sequence

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.side_markers import (
    CLASSES, KEEP, MarkerReader, find_candidates, mirror_patch, patch, prepare,
)
from osteo_desktop.core.reading.reader import read_radiograph

log = logging.getLogger(__name__)
HIDDEN = 32
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
IGNORE = -1
JITTERS = 6  # jittered copies of each positive candidate (training only)
EXTRA_NEGATIVES = 30  # candidates put up per film for training negatives (the reader looks at KEEP)
NEAR = 1.0  # marker sides: how far a candidate still counts as on that marker (label_candidates)


@dataclass
class FilmCandidates:
    file: str
    fold: int
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) candidate boxes in file pixels
    patches: np.ndarray  # (N, PATCH*PATCH)
    labels: np.ndarray  # (N,) class index, or IGNORE
    extra_patches: np.ndarray | None = None  # training only: jittered positives and the candidates beyond KEEP
    extra_labels: np.ndarray | None = None


def read_marker_labels(path: Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """file -> [(letter, box)] (an empty list for a film read as having no marker)."""
    out: dict[str, list] = defaultdict(list)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            out[row["file"]]  # a film with no marker still gets its (empty) entry
            if row["letter"] in ("R", "L"):
                letter = row["letter"] + ("-mirrored" if row.get("mirrored") == "yes" else "")
                out[row["file"]].append((letter, tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1"))))
    return dict(out)


def label_candidates(boxes: np.ndarray, markers: list) -> np.ndarray:
    """Class index of each candidate box (file pixels) from the hand-read marker boxes; see the module docstring."""
    labels = np.full(len(boxes), CLASS_INDEX["none"], np.int64)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        for letter, (mx0, my0, mx1, my1) in markers:
            if mx0 <= cx <= mx1 and my0 <= cy <= my1:
                labels[i] = CLASS_INDEX[letter]
                break
            if near_marker((x0, y0, x1, y1), (mx0, my0, mx1, my1)):
                labels[i] = IGNORE
    return labels


def near_marker(box: Sequence[float], marker: Sequence[float], reach: float = NEAR) -> bool:
    """Whether a candidate box lies on or beside a hand-read marker box: its centre within ``reach`` marker sides
    of the marker box. The boxes of the larger grey markers are the finder's candidates and can miss part of the
    glyph; a candidate on that part is the same physical marker, neither a clean positive nor a fair negative."""
    x0, y0, x1, y1 = box
    mx0, my0, mx1, my1 = marker
    grow = reach * max(mx1 - mx0, my1 - my0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return mx0 - grow <= cx <= mx1 + grow and my0 - grow <= cy <= my1 + grow


def extract(shared: Path, labels_csv: Path, cache: Path | None = None) -> list[FilmCandidates]:
    """Candidates, patches and labels of every labelled knee-xray film (cached as .npz when ``cache`` is given)."""
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            films = []
            for i, name in enumerate(data["files"]):
                take = data["film"] == i
                more = data["extra_film"] == i
                films.append(FilmCandidates(str(name), int(data["folds"][i]), int(data["sizes"][i, 0]),
                                            int(data["sizes"][i, 1]), data["boxes"][take], data["patches"][take],
                                            data["labels"][take], data["extra_patches"][more],
                                            data["extra_labels"][more]))
            return films
    root = shared / "data" / "knee-xray"
    folds = {}
    with open(root / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            folds[row["file"]] = int(row["fold"])
    labels = read_marker_labels(labels_csv)
    films = []
    rng = np.random.default_rng(0)
    for name in sorted(labels):
        pixels = read_radiograph(root / name).pixels
        image, scale = prepare(pixels)
        more = find_candidates(image, keep=EXTRA_NEGATIVES)
        candidates = more[:KEEP]
        boxes = np.array([[c / scale for c in cand.box] for cand in candidates]).reshape(-1, 4)
        patches = np.stack([patch(image, cand.box) for cand in candidates]) if candidates else np.zeros((0, 576))
        height, width = pixels.shape
        film = FilmCandidates(name, folds[name], width, height, boxes, patches.astype(np.float32),
                              label_candidates(boxes, labels[name]))
        film.extra_patches, film.extra_labels = _training_extras(image, scale, more[KEEP:], film, labels[name], rng)
        films.append(film)
    if cache is not None:
        film_index = np.concatenate([np.full(len(f.boxes), i) for i, f in enumerate(films)])
        np.savez_compressed(cache, files=np.array([f.file for f in films]), folds=np.array([f.fold for f in films]),
                            sizes=np.array([[f.width, f.height] for f in films]), film=film_index,
                            boxes=np.concatenate([f.boxes for f in films]),
                            patches=np.concatenate([f.patches for f in films]),
                            labels=np.concatenate([f.labels for f in films]),
                            extra_film=np.concatenate([np.full(len(f.extra_labels), i) for i, f in enumerate(films)]),
                            extra_patches=np.concatenate([f.extra_patches for f in films]),
                            extra_labels=np.concatenate([f.extra_labels for f in films]))
    return films


def _training_extras(image, scale, beyond, film, markers, rng) -> tuple[np.ndarray, np.ndarray]:
    """Training-only patches of one film: each positive candidate jittered (shifted up to 15 % of its side, scaled
    0.85-1.2x) :data:`JITTERS` times, and the candidates ranked after :data:`KEEP` as more negatives."""
    patches, labels = [], []
    for box, label in zip(film.boxes, film.labels):
        if label in (IGNORE, CLASS_INDEX["none"]):
            continue
        x0, y0, x1, y1 = [v * scale for v in box]
        w, h = x1 - x0, y1 - y0
        for _ in range(JITTERS):
            f = rng.uniform(0.85, 1.2)
            cx, cy = (x0 + x1) / 2 + rng.uniform(-0.15, 0.15) * w, (y0 + y1) / 2 + rng.uniform(-0.15, 0.15) * h
            patches.append(patch(image, (cx - f * w / 2, cy - f * h / 2, cx + f * w / 2, cy + f * h / 2)))
            labels.append(label)
    if beyond:
        boxes = np.array([[c / scale for c in cand.box] for cand in beyond])
        beyond_labels = label_candidates(boxes, markers)
        for cand, label in zip(beyond, beyond_labels):
            if label == CLASS_INDEX["none"]:
                patches.append(patch(image, cand.box))
                labels.append(label)
    return (np.stack(patches).astype(np.float32) if patches else np.zeros((0, 576), np.float32),
            np.array(labels, np.int64))


def with_mirrors(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training set plus every patch mirrored, its class mirrored too."""
    swap = np.array([CLASS_INDEX["R-mirrored"], CLASS_INDEX["L-mirrored"], CLASS_INDEX["R"], CLASS_INDEX["L"],
                     CLASS_INDEX["none"]])
    return np.concatenate([x, mirror_patch(x)]), np.concatenate([y, swap[y]])


def train_network(x: np.ndarray, y: np.ndarray, hidden: int = HIDDEN, epochs: int = 600, l2: float = 1e-3,
                  rate: float = 0.01, seed: int = 0) -> MarkerReader:
    """Full-batch Adam on softmax cross-entropy; classes weighted so each letter counts as much as "none"."""
    rng = np.random.default_rng(seed)
    x, y = with_mirrors(np.asarray(x, np.float64), np.asarray(y))
    n, d = x.shape
    k = len(CLASSES)
    counts = np.bincount(y, minlength=k).astype(float)
    weight = np.where(counts > 0, n / (k * np.maximum(counts, 1)), 0.0)[y]
    weight /= weight.sum()
    params = [rng.normal(0, np.sqrt(2 / d), (d, hidden)), np.zeros(hidden),
              rng.normal(0, np.sqrt(1 / hidden), (hidden, k)), np.zeros(k)]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    target = np.eye(k)[y]
    for step in range(1, epochs + 1):
        w1, b1, w2, b2 = params
        pre = x @ w1 + b1
        h = np.maximum(pre, 0)
        logits = h @ w2 + b2
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        g_logits = (p - target) * weight[:, None]
        g_w2 = h.T @ g_logits + l2 * w2
        g_h = g_logits @ w2.T * (pre > 0)
        grads = [x.T @ g_h + l2 * w1, g_h.sum(0), g_w2, g_logits.sum(0)]
        for i, g in enumerate(grads):
            moments[i] = 0.9 * moments[i] + 0.1 * g
            squares[i] = 0.999 * squares[i] + 0.001 * g * g
            params[i] = params[i] - rate * (moments[i] / (1 - 0.9 ** step)) / (np.sqrt(squares[i] / (1 - 0.999 ** step)) + 1e-8)
    return MarkerReader(*params, threshold=0.5)


def out_of_fold(films: list[FilmCandidates], extra: tuple[np.ndarray, np.ndarray] | None = None,
                readers: dict | None = None, **kwargs) -> list[np.ndarray]:
    """Per film, the (N, 5) probabilities from the network trained without that film's fold (plus ``extra``
    patches and labels, e.g. :func:`synthetic_patches`, in every fold's training set; ``readers``, when given, collects
    each fold's network under its fold)."""
    probs: list[np.ndarray] = [np.zeros((len(f.boxes), len(CLASSES))) for f in films]
    for fold in sorted({f.fold for f in films}):
        train = [f for f in films if f.fold != fold]
        x = np.concatenate([f.patches for f in train] + [f.extra_patches for f in train if f.extra_patches is not None])
        y = np.concatenate([f.labels for f in train] + [f.extra_labels for f in train if f.extra_labels is not None])
        keep = y != IGNORE
        x, y = x[keep], y[keep]
        if extra is not None:
            x, y = np.concatenate([x, extra[0]]), np.concatenate([y, extra[1]])
        reader = train_network(x, y, **kwargs)
        if readers is not None:
            readers[fold].append(reader)
        for i, f in enumerate(films):
            if f.fold == fold and len(f.boxes):
                probs[i] = reader.probabilities(f.patches)
        log.info("fold %d trained on %d candidates", fold, int(keep.sum()))
    return probs


OTHER_GLYPHS = "ABCDEFGHIJKMNOPQSTUVWXYZ0123456789"
# Fonts for the rendered glyphs, where the machine has them (Debian/Ubuntu paths). Pillow's own built-in font is left
# OUT on purpose: tests/test_side_markers.py draws its markers with it, so the tests read a font training never saw.
TRAINING_FONTS = tuple(f"/usr/share/fonts/{name}" for name in (
    "truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf", "truetype/dejavu/DejaVuSansMono.ttf",
    "truetype/dejavu/DejaVuSerif.ttf", "opentype/urw-base35/NimbusSans-Regular.otf",
    "opentype/urw-base35/NimbusSans-Bold.otf", "opentype/urw-base35/NimbusSansNarrow-Regular.otf",
    "opentype/urw-base35/URWGothic-Book.otf", "opentype/urw-base35/C059-Roman.otf",
    "truetype/noto/NotoSansMono-Regular.ttf", "truetype/noto/NotoSansMono-Bold.ttf"))


def synthetic_patches(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rendered boxed glyphs on smooth noisy backgrounds: R, L and (as "none") other letters and digits.

    The films carry few hard negatives (an "ID" or "D 001" label, a "01") and 72 L markers; rendered glyphs in the
    films' two styles (light box, dark letter; grey box, white letter) teach the letter shapes and that a boxed
    letter is not necessarily a marker. Pillow's built-in scalable font; rectangles jittered as the finder's are.
    """
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = [path for path in TRAINING_FONTS if Path(path).is_file()]
    if not fonts:
        raise FileNotFoundError("none of the training fonts is installed (TRAINING_FONTS)")
    patches, labels = [], []
    for i in range(n):
        kind = i % 5  # R, L, then three others: boxed labels that are not markers outnumber the markers
        glyph = "R" if kind == 0 else "L" if kind == 1 else OTHER_GLYPHS[rng.integers(len(OTHER_GLYPHS))]
        side = int(rng.integers(10, 36))
        canvas = 4 * side
        yy, xx = np.mgrid[0:canvas, 0:canvas] / canvas
        background = (rng.uniform(0, 0.7) + rng.uniform(-0.3, 0.3) * xx + rng.uniform(-0.3, 0.3) * yy
                      + rng.normal(0, 0.02, (canvas, canvas)))
        image = Image.fromarray(np.clip(background * 255, 0, 255).astype(np.uint8), "L")
        draw = ImageDraw.Draw(image)
        width = side if rng.random() < 0.6 else int(side / 1.3)
        x0, y0 = (canvas - width) // 2, (canvas - side) // 2
        light = rng.random() < 0.6
        box_value = int(rng.uniform(170, 240)) if light else int(rng.uniform(70, 140))
        letter_value = int(rng.uniform(60, 130)) if light else int(rng.uniform(200, 255))
        draw.rectangle((x0, y0, x0 + width - 1, y0 + side - 1), fill=box_value)
        font = ImageFont.truetype(fonts[rng.integers(len(fonts))], size=max(6, int(side * rng.uniform(0.6, 0.85))))
        draw.text((x0 + width / 2, y0 + side / 2), glyph, fill=letter_value, font=font, anchor="mm")
        array = np.asarray(image, np.float32) / 255
        jitter = rng.integers(-1, 2, 4) * max(1, side // 8)
        box = (x0 + jitter[0], y0 + jitter[1], x0 + width + jitter[2], y0 + side + jitter[3])
        patches.append(patch(array, box))
        labels.append(CLASS_INDEX[glyph] if glyph in ("R", "L") else CLASS_INDEX["none"])
    return np.stack(patches), np.array(labels)


def read_knee_centres(path: Path, source: str = "knee-xray") -> dict[str, list[tuple[float, float]]]:
    """file -> knee box centres from annotations/knee_boxes.csv, ordered from the viewer's left."""
    out: dict[str, list] = defaultdict(list)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["source"] == source:
                box = [float(row[k]) for k in ("x0", "y0", "x1", "y1")]
                out[row["file"]].append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    return {k: sorted(v) for k, v in out.items()}


def film_markers(film: FilmCandidates, probs: np.ndarray, threshold: float) -> list[tuple[str, float, float]]:
    """(letter, x, y) of the candidates read as markers at ``threshold`` (as MarkerReader.read decides)."""
    found = []
    for box, p in zip(film.boxes, probs):
        right, left = float(p[0] + p[2]), float(p[1] + p[3])
        letter, probability = ("R", right) if right >= left else ("L", left)
        if probability >= threshold:
            found.append((letter, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    return found


def evaluate(films: list[FilmCandidates], probs: list[np.ndarray], labels: dict, knees: dict,
             threshold: float) -> dict:
    """Marker-level and film-level figures at one threshold (see reports/side_markers.md for the definitions)."""
    from osteo_desktop.core.model.knee_sides import assign_sides

    marker = {letter: {"found": 0, "total": 0, "reads": 0, "right": 0} for letter in ("R", "L")}
    film = defaultdict(int)
    for f, p in zip(films, probs):
        read = film_markers(f, p, threshold)
        truth = [(letter[0], (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b) for letter, b in labels[f.file]]
        for letter, x, y in read:  # precision: a read is right when it lies on or beside a marker of its letter
            marker[letter]["reads"] += 1
            cbox = next(b for b in f.boxes if abs((b[0] + b[2]) / 2 - x) < 1e-6 and abs((b[1] + b[3]) / 2 - y) < 1e-6)
            marker[letter]["right"] += any(t[0] == letter and near_marker(cbox, t[3]) for t in truth)
        for letter, _, _, b in truth:  # recall: a hand-read marker is found when a read of its letter lies on it
            marker[letter]["total"] += 1
            marker[letter]["found"] += any(r[0] == letter and b[0] <= r[1] <= b[2] and b[1] <= r[2] <= b[3]
                                           for r in read)
        centres = knees.get(f.file, [])
        if not centres:
            continue
        predicted = assign_sides(centres, None, read)
        expected = assign_sides(centres, None, [(t[0], t[1], t[2]) for t in truth])
        convention = assign_sides(centres, None)
        kind = "lone" if len(centres) == 1 else "pair"
        film[f"{kind} films"] += 1
        if kind == "lone":
            if predicted[0] != "unknown":
                film["lone: side given"] += 1
                film["lone: side WRONG"] += predicted[0] != expected[0]
            film["lone: side by hand-read markers"] += expected[0] != "unknown"
        else:
            if predicted != convention:
                film["pair: convention swapped"] += 1
            elif read and sides_agree(centres, read):
                film["pair: convention confirmed"] += 1
            film["pair: hand-read markers swap the convention"] += expected != convention
            film["pair: sides WRONG"] += predicted != expected
    return {"threshold": threshold, "markers": marker, "films": dict(film)}


def sides_agree(centres, read) -> bool:
    from osteo_desktop.core.model.knee_sides import sides_from_markers

    return sides_from_markers(centres, read) is not None


THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999)


def wrong_sides(result: dict) -> int:
    return result["films"].get("lone: side WRONG", 0) + result["films"].get("pair: sides WRONG", 0)


def safe_threshold(films, probs, labels, knees, grid=THRESHOLDS) -> float:
    """The lowest threshold of ``grid`` at which these films get no wrong side (the highest when none is safe)."""
    for threshold in grid:
        if wrong_sides(evaluate(films, probs, labels, knees, threshold)) == 0:
            return threshold
    return grid[-1]


def _add(total: dict, part: dict) -> dict:
    for key, value in part.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif key != "threshold":
            total[key] = total.get(key, 0) + value
    return total


def nested_evaluation(films, probs, labels, knees, grid=THRESHOLDS) -> tuple[dict, dict[int, float]]:
    """Out-of-fold figures with the threshold ALSO chosen out of fold: for each fold, the lowest threshold that
    gives no wrong side on the other four folds' out-of-fold films is applied to this fold. Returns the summed
    figures and the threshold each fold got."""
    total: dict = {}
    chosen = {}
    for fold in sorted({f.fold for f in films}):
        others = [i for i, f in enumerate(films) if f.fold != fold]
        mine = [i for i, f in enumerate(films) if f.fold == fold]
        threshold = safe_threshold([films[i] for i in others], [probs[i] for i in others], labels, knees, grid)
        chosen[fold] = threshold
        _add(total, evaluate([films[i] for i in mine], [probs[i] for i in mine], labels, knees, threshold))
    return total, chosen


SEEDS = (0, 1, 2)  # networks per ensemble: averaging three cut the out-of-fold wrong reads (reports/side_markers.md)


def ensemble_out_of_fold(films: list[FilmCandidates], seeds=SEEDS, **kwargs) -> tuple[list[np.ndarray], dict]:
    """Out-of-fold probabilities of the seed ensemble, and each fold's ensemble (for the full-size check)."""
    total = None
    readers: dict[int, list[MarkerReader]] = defaultdict(list)
    for seed in seeds:
        probs = out_of_fold(films, seed=seed, readers=readers, **kwargs)
        total = probs if total is None else [a + b for a, b in zip(total, probs)]
    fold_readers = {fold: stack(members, 0.5) for fold, members in readers.items()}
    return [p / len(seeds) for p in total], fold_readers


def stack(readers: list[MarkerReader], threshold: float) -> MarkerReader:
    """One ensemble reader from several single networks."""
    return MarkerReader(np.concatenate([r.w1 for r in readers]), np.concatenate([r.b1 for r in readers]),
                        np.concatenate([r.w2 for r in readers]), np.concatenate([r.b2 for r in readers]), threshold)


def shipping_threshold(films, probs, labels, knees, grid=THRESHOLDS) -> float:
    """The lowest threshold of ``grid`` at which no out-of-fold read anywhere is wrong: no wrong side on any film
    AND no marker read with a letter that is not there (even where it cost no side, e.g. an "ID" label read as R
    on a film that carries an R). Stricter than :func:`safe_threshold`, on purpose: the other sources are unseen."""
    for threshold in grid:
        result = evaluate(films, probs, labels, knees, threshold)
        m = result["markers"]
        if wrong_sides(result) == 0 and all(m[k]["right"] == m[k]["reads"] for k in ("R", "L")):
            return threshold
    return grid[-1]
