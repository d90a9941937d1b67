"""Find the knee joints on a frontal radiograph: a square box around each joint and the patient's side.

Method (after Tiulpin et al., SCIA 2017, "A novel method for automatic localization of joint area on knee plain
radiographs": HOG windows scored by a linear classifier), reworked for films with one or two knees at any framing:

1. Work on a copy whose longer side is :data:`WORK_SIDE` pixels (a 6-megapixel film costs the same as a thumbnail).
2. Gradient orientations (9 unsigned bins, linear interpolation) once, as an integral histogram, so every window
   scale reads its cells from the same pass.
3. Windows of 8 x 8 cells (7 x 7 blocks of 2 x 2 cells, L2-Hys normalised: 1764 numbers) slide over a pyramid of
   window sides from 1/8 of the long side to all of it (4 per octave), stride one cell, on a grid centred on the
   film, and may overhang the film by a quarter of their side (joints at the film edge). A linear classifier scores
   each; its weights are mirror-symmetric and the grid is centred, so a mirrored film gets mirrored boxes.
4. Greedy non-maximum suppression; each kept box is refined by the score-weighted mean of its overlapping
   neighbours (centre and log side). The best window is a knee when it clears ``min_score``; a second, disjoint one
   beside it (similar size and height) is the other knee when it clears ``pair_score``.
5. Boxes are mapped back to the input's pixels and clipped; sides come from :mod:`knee_sides`, with the burnt-in
   R/L markers that the detector's :class:`~side_markers.MarkerReader` reads (when the model has one and the DICOM
   header does not already decide).

Weights and thresholds live in ``knee_detector.npz`` (read with ``allow_pickle=False``), listed in the model card.
Pure numpy and Pillow at run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.knee_sides import sides_with_sources
from osteo_desktop.core.model.side_markers import CARD_ROLE as MARKER_ROLE, MarkerReader, SideMarker
from osteo_desktop.core.model.resampling import resize_bilinear
from osteo_desktop.core.reading.luma import film_pixels

log = logging.getLogger(__name__)

DETECTOR_FILE = "knee_detector.npz"
CARD_ROLE = "knee_detector"
FORMAT = "osteo-knee-detector/1"
WORK_SIDE = 256
MAX_KNEES = 2  # a film shows at most two knees: the best window and its partner
NBINS = 9
CELLS = 8  # window side in cells
BLOCKS = CELLS - 1
FEATURES = 4 * NBINS
OVERHANG = 0.25  # how far (fraction of its side) a window may reach beyond the film
FUSE_IOU = 0.5  # windows this close to a kept one refine its box
# Window sides on the working copy: 1/8 of the long side up to the whole of it, 4 per octave.
WINDOW_SIDES = tuple(float(WORK_SIDE / 8 * 2 ** (k / 4)) for k in range(13))


@dataclass(frozen=True)
class DetectedKnee:
    """A knee: ``side`` is the PATIENT's ("right", "left" or "unknown"); ``box`` is (x0, y0, x1, y1) in the pixels
    of the array given to :meth:`KneeDetector.detect`, x1 and y1 exclusive; ``score`` is the classifier's margin;
    ``side_source`` where the side came from (one of :data:`~knee_sides.SIDE_SOURCES`, None when it is unknown)."""

    side: str
    box: tuple[int, int, int, int]
    score: float
    side_source: str | None = None


@dataclass(frozen=True)
class Windows:
    """Scored windows on the working copy: (N,) scores and (N, 3) x0, y0, side in working pixels."""

    scores: np.ndarray
    boxes: np.ndarray


# --- features -----------------------------------------------------------------------------------------------------

def working_copy(pixels: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, float]:
    """The film resized so its longer side is ``side`` pixels, and the factor (working pixels per input pixel).

    ``pixels``: float values, or grey levels (uint8) or a colour raster's luma (:class:`LumaPixels`), which the
    resize converts a band at a time (no float copy)."""
    pixels = film_pixels(pixels)
    if pixels.dtype != np.uint8:
        pixels = pixels.astype(np.float32, copy=False)
    height, width = pixels.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap: box-average by an integer factor first (cheap), then filter the last step properly; in bands,
    # without a full-size copy of the film (issue 13).
    small = resize_bilinear(pixels, size[0], size[1], reducing_gap=2.0)
    # Readers never give NaN, but a NaN here would become a garbage orientation bin index downstream.
    return np.nan_to_num(small, nan=0.0, posinf=1.0, neginf=0.0), scale


def orientation_integral(image: np.ndarray) -> np.ndarray:
    """Integral histogram of gradient magnitude per unsigned orientation bin, laid out (W+1, H+1, NBINS): x first."""
    height, width = image.shape
    gx = np.zeros_like(image)
    gy = np.zeros_like(image)
    gx[:, 1:-1] = image[:, 2:] - image[:, :-2]
    gy[1:-1] = image[2:] - image[:-2]
    magnitude = np.hypot(gx, gy).ravel()
    # Bin centres at (i + 0.5) * pi / NBINS, so a mirror image maps bin i to bin NBINS-1-i exactly.
    position = (np.arctan2(gy, gx).ravel() % np.pi) * (NBINS / np.pi) - 0.5
    low = np.floor(position)
    frac = (position - low).astype(np.float32)
    low = low.astype(np.int64) % NBINS
    hist = np.zeros((height * width, NBINS), np.float32)
    rows = np.arange(height * width)
    hist[rows, low] = magnitude * (1 - frac)
    hist[rows, (low + 1) % NBINS] += magnitude * frac
    # Cumulative sums as row-by-row adds of whole contiguous rows: several times faster than np.cumsum along a
    # leading axis. float32 is enough: a cell's sum carries an error of about 1e-2 at worst, small against the
    # 0.01-per-pixel floor of the block normalisation.
    down = hist.reshape(height, width * NBINS)
    for i in range(1, height):
        np.add(down[i], down[i - 1], out=down[i])
    across = np.ascontiguousarray(down.reshape(height, width, NBINS).transpose(1, 0, 2)).reshape(width, height * NBINS)
    for j in range(1, width):
        np.add(across[j], across[j - 1], out=across[j])
    integral = np.zeros((width + 1, height + 1, NBINS), np.float32)
    integral[1:, 1:] = across.reshape(width, height, NBINS)
    return integral


def block_features(integral: np.ndarray, x0: float, y0: float, cell: float, nx: int, ny: int) -> np.ndarray:
    """Normalised 2x2-cell blocks (ny-1, nx-1, 36) of a cell grid starting at (x0, y0); cells off the film are empty."""
    width, height = integral.shape[0] - 1, integral.shape[1] - 1
    xs = np.clip(np.floor(x0 + cell * np.arange(nx + 1) + 0.5).astype(np.int64), 0, width)
    ys = np.clip(np.floor(y0 + cell * np.arange(ny + 1) + 0.5).astype(np.int64), 0, height)
    corners = integral[xs][:, ys].transpose(1, 0, 2)
    cells = (corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]).astype(np.float32)
    cells /= cell * cell  # mean magnitude per pixel: comparable across scales
    blocks = np.concatenate([cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]], axis=-1)
    # L2-Hys; the constant keeps flat film (background, noise) near zero instead of blowing it up.
    eps = 0.01
    blocks /= np.sqrt((blocks * blocks).sum(-1, keepdims=True) + eps * eps)
    np.minimum(blocks, 0.2, out=blocks)
    blocks /= np.sqrt((blocks * blocks).sum(-1, keepdims=True) + 1e-6)
    return blocks


def mirror_window(features: np.ndarray) -> np.ndarray:
    """The (…, 7, 7, 36) window descriptor of the mirror-image window."""
    shaped = features.reshape(*features.shape[:-1], 4, NBINS)
    shaped = shaped[..., ::-1, :, :]  # block columns reversed
    shaped = shaped[..., [1, 0, 3, 2], :]  # left and right cell of each block swapped
    shaped = shaped[..., ::-1]  # orientation bin i -> NBINS-1-i
    return shaped.reshape(features.shape)


def window_descriptor(integral: np.ndarray, x0: float, y0: float, side: float) -> np.ndarray:
    """The (7, 7, 36) descriptor of one window (training and tests)."""
    return block_features(integral, x0, y0, side / CELLS, CELLS, CELLS)


def _grid(width: int, height: int, side: float) -> tuple[float, float, float, int, int]:
    """The cell grid for one window side, centred on the film (so a mirror image gets the mirrored grid)."""
    cell = side / CELLS
    nx = max(CELLS, int((width + 2 * OVERHANG * side) // cell))
    ny = max(CELLS, int((height + 2 * OVERHANG * side) // cell))
    return (width - nx * cell) / 2, (height - ny * cell) / 2, cell, nx, ny


def dense_windows(integral: np.ndarray, sides: Sequence[int] = WINDOW_SIDES) -> Iterator[tuple[np.ndarray, int, int, int]]:
    """Every window of every grid: yields (blocks, x0, y0, cell) per grid; window (i, j) starts at cell (i, j)."""
    width, height = integral.shape[0] - 1, integral.shape[1] - 1
    for side in sides:
        if side > 1.01 * max(width, height) + 1e-6:
            continue
        x0, y0, cell, nx, ny = _grid(width, height, side)
        yield block_features(integral, x0, y0, cell, nx, ny), x0, y0, cell


def score_map(blocks: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    """Linear score of every 7x7-block window in a block grid: (rows, cols)."""
    rows, cols = blocks.shape[0] - BLOCKS + 1, blocks.shape[1] - BLOCKS + 1
    if rows < 1 or cols < 1:
        return np.zeros((0, 0), np.float32)
    # One product gives every block's response to each of the 49 block positions; shifted sums add them up.
    responses = blocks @ weights.reshape(BLOCKS * BLOCKS, FEATURES).T
    scores = np.full((rows, cols), bias, np.float32)
    for k in range(BLOCKS * BLOCKS):
        dy, dx = divmod(k, BLOCKS)
        scores += responses[dy:dy + rows, dx:dx + cols, k]
    return scores


def score_windows(image: np.ndarray, weights: np.ndarray, bias: float, floor: float) -> Windows:
    """All windows on the working copy scoring at least ``floor``."""
    integral = orientation_integral(image)
    scores, boxes = [], []
    for blocks, x0, y0, cell in dense_windows(integral):
        grid = score_map(blocks, weights, bias)
        rows, cols = np.nonzero(grid >= floor)
        scores.append(grid[rows, cols])
        boxes.append(np.stack([x0 + cols * cell, y0 + rows * cell, np.full(len(rows), CELLS * cell)], axis=1))
    if not scores:
        return Windows(np.zeros(0, np.float32), np.zeros((0, 3)))
    return Windows(np.concatenate(scores), np.concatenate(boxes))


# --- decisions ------------------------------------------------------------------------------------------------------

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of square boxes (x0, y0, side): a (3,) against b (N, 3)."""
    ix = np.clip(np.minimum(a[0] + a[2], b[:, 0] + b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[1] + a[2], b[:, 1] + b[:, 2]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    return inter / (a[2] ** 2 + b[:, 2] ** 2 - inter)


def fuse(boxes: np.ndarray, scores: np.ndarray, best: int, near: float = FUSE_IOU) -> np.ndarray:
    """The box of window ``best`` refined by its neighbours (IoU >= ``near``): centre and log-side averaged with
    weights exp(score - best score). The pyramid samples sides 2^(1/4) apart; without this, a film padded by a
    border (which shifts the sampled sides) can get a box a whole step larger or smaller."""
    near_mask = box_iou(boxes[best], boxes) >= near
    weights = np.exp(np.minimum(scores[near_mask] - scores[best], 0.0)).astype(np.float64)
    chosen = boxes[near_mask]
    centre_x = chosen[:, 0] + chosen[:, 2] / 2
    centre_y = chosen[:, 1] + chosen[:, 2] / 2
    total = weights.sum()
    side = float(np.exp((weights * np.log(chosen[:, 2])).sum() / total))
    cx, cy = (weights * centre_x).sum() / total, (weights * centre_y).sum() / total
    return np.array([cx - side / 2, cy - side / 2, side])


def non_maximum(windows: Windows, overlap: float = 0.3, keep: int = 20) -> Windows:
    """Greedy NMS: the best windows, none overlapping a better one by more than ``overlap`` IoU, each refined by
    :func:`fuse`."""
    order = np.argsort(-windows.scores, kind="stable")
    scores, boxes = windows.scores[order], windows.boxes[order]
    kept: list[int] = []
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) >= keep:
            break
        alive[i + 1:] &= box_iou(boxes[i], boxes[i + 1:]) <= overlap
    fused = np.array([fuse(boxes, scores, i) for i in kept]).reshape(-1, 3)
    return Windows(scores[kept], fused)


def partner_mask(first: np.ndarray, others: np.ndarray, ratio: float, height: float, gap: float) -> np.ndarray:
    """Which windows could be the other knee of ``first``: side within ``ratio``, centres at about the same height
    (within ``height`` sides) and side by side (horizontal centre distance at least ``gap`` sides)."""
    mean_side = (first[2] + others[:, 2]) / 2
    centre_dx = np.abs((others[:, 0] + others[:, 2] / 2) - (first[0] + first[2] / 2))
    centre_dy = np.abs((others[:, 1] + others[:, 2] / 2) - (first[1] + first[2] / 2))
    similar = (others[:, 2] <= ratio * first[2]) & (first[2] <= ratio * others[:, 2])
    return similar & (centre_dy <= height * mean_side) & (centre_dx >= gap * mean_side)


class KneeDetector:
    """HOG windows scored by a linear classifier; see the module docstring. Load with :meth:`load`."""

    def __init__(self, weights: np.ndarray, bias: float, min_score: float, pair_score: float,
                 pair_ratio: float = 1.5, pair_height: float = 0.6, pair_gap: float = 0.75,
                 marker_reader: MarkerReader | None = None) -> None:
        weights = np.asarray(weights, np.float32)
        if weights.shape != (BLOCKS, BLOCKS, FEATURES):
            raise ModelFormatError(f"knee detector weights have shape {weights.shape}, expected {(BLOCKS, BLOCKS, FEATURES)}")
        self.weights, self.bias = weights, float(bias)
        self.min_score, self.pair_score = float(min_score), float(pair_score)
        self.pair_ratio, self.pair_height, self.pair_gap = float(pair_ratio), float(pair_height), float(pair_gap)
        # Reads burnt-in R/L markers for the sides (None: header and hanging convention only). Set by the runtime
        # from the model card's "side_markers" file, or by load() given a model folder whose card lists one.
        self.marker_reader = marker_reader

    @classmethod
    def load(cls, path: str | Path) -> "KneeDetector":
        """From a model folder (the file is checked against the model card's checksum) or an .npz file itself.

        Raises :class:`ModelIntegrityError` for a missing or tampered file, :class:`ModelFormatError` for one that
        is not a knee detector this version reads.
        """
        path = Path(path)
        if path.is_dir():
            from osteo_desktop.core.model.card import load_model_card

            card = load_model_card(path)
            detector = cls.load(card.verified_path(CARD_ROLE))
            if MARKER_ROLE in card.files:
                detector.marker_reader = MarkerReader.load(card.verified_path(MARKER_ROLE))
            return detector
        if not path.is_file():
            raise ModelIntegrityError(f"knee detector file missing: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise ModelFormatError(f"{path.name} is format {str(data['format'])!r}, not {FORMAT!r}")
                if int(data["work_side"]) != WORK_SIDE:
                    raise ModelFormatError(f"{path.name} was trained on a {int(data['work_side'])} px working copy, "
                                           f"this version makes {WORK_SIDE} px")
                return cls(data["weights"], float(data["bias"]), float(data["min_score"]), float(data["pair_score"]),
                           float(data["pair_ratio"]), float(data["pair_height"]), float(data["pair_gap"]))
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ModelFormatError(f"{path.name} is not a knee detector file this version reads: {exc}") from exc

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`load` reads back (training writes it with ``np.savez``)."""
        return {"format": np.array(FORMAT), "work_side": np.array(WORK_SIDE), "weights": self.weights,
                "bias": np.array(self.bias), "min_score": np.array(self.min_score),
                "pair_score": np.array(self.pair_score), "pair_ratio": np.array(self.pair_ratio),
                "pair_height": np.array(self.pair_height), "pair_gap": np.array(self.pair_gap)}

    def candidates(self, image: np.ndarray) -> Windows:
        """The best non-overlapping windows on a working copy, best first (training uses these too)."""
        floor = min(self.min_score, self.pair_score) - 2.0
        return non_maximum(score_windows(image, self.weights, self.bias, floor))

    def choose(self, found: Windows) -> list[tuple[np.ndarray, float]]:
        """The knees among NMS'd candidates: the best if it clears ``min_score``, and its partner if one clears
        ``pair_score``. Returns (x0, y0, side) in working pixels with the score."""
        if len(found.scores) == 0 or found.scores[0] < self.min_score:
            return []
        knees = [(found.boxes[0], float(found.scores[0]))]
        rest_boxes, rest_scores = found.boxes[1:], found.scores[1:]
        partner = partner_mask(found.boxes[0], rest_boxes, self.pair_ratio, self.pair_height, self.pair_gap)
        partner &= rest_scores >= self.pair_score
        if partner.any():
            best = int(np.flatnonzero(partner)[0])  # candidates are sorted by score
            knees.append((rest_boxes[best], float(rest_scores[best])))
        return knees

    def detect(self, pixels: np.ndarray, orientation: dict | None = None,
               markers: list[SideMarker] | None = None) -> list[DetectedKnee]:
        """The knees on a film: 0 to :data:`MAX_KNEES`, ordered from the viewer's left (smaller x) to right.

        ``pixels``: 2-D, bone bright, as the readers return them: float32 in [0, 1], or uint8 grey levels (k for
        k / 255, a compact read), which :func:`working_copy` resizes without a float copy and which give the same
        knees (tests/test_compact_pixels.py); boxes are in its pixels.
        ``orientation``: see :func:`knee_sides.orientation_from_identity` (None for a raster file).
        ``markers``: burnt-in side markers already read (boxes in ``pixels``' coordinates); None to have the
        detector's ``marker_reader`` read them (when there are knees).
        """
        pixels = film_pixels(pixels)
        if pixels.ndim != 2 or min(pixels.shape) < 8:
            return []
        image, scale = working_copy(pixels)
        height, width = pixels.shape
        knees = []
        for (x0, y0, side), score in self.choose(self.candidates(image)):
            box = (int(np.clip(np.floor(x0 / scale + 0.5), 0, width - 1)), int(np.clip(np.floor(y0 / scale + 0.5), 0, height - 1)),
                   int(np.clip(np.floor((x0 + side) / scale + 0.5), 1, width)), int(np.clip(np.floor((y0 + side) / scale + 0.5), 1, height)))
            box = (box[0], box[1], max(box[2], box[0] + 1), max(box[3], box[1] + 1))
            knees.append((box, score))
        knees.sort(key=lambda item: item[0][0] + item[0][2])
        if markers is None and self.marker_reader is not None and knees:
            # Read even when the header decides: knee_sides then logs a marker that disagrees with it.
            markers = self.marker_reader.read(pixels, lone=len(knees) == 1)
        read = [(m.letter, *m.centre) for m in markers or []]
        sides = sides_with_sources([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, _ in knees], orientation, read)
        return [DetectedKnee(side, box, score, source) for (box, score), (side, source) in zip(knees, sides)]
