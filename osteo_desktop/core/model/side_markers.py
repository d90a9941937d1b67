"""Read burnt-in R/L side markers on a radiograph: where they are and which letter.

Radiographers put a lead letter on the cassette; on the knee films of this project it shows as a small square box
with a letter in it, in two styles: a light box with a dark letter, or a larger grey box with a white letter. So:

1. Proposals (:func:`find_candidates`): on a working copy whose longer side is :data:`WORK_SIDE` pixels, every
   rectangle of a few sizes (:data:`SIZES`, two aspects) is scored by how much its inner rim differs from the strip
   just outside it, on ALL four sides with the same sign (min over the sides): a box brighter, or darker, than its
   surroundings all round. Leg edges, bone and film borders differ on one or two sides only. The best
   non-overlapping rectangles are kept (about 0.1-0.3 s a film in numpy).
2. Classification (:class:`MarkerReader`): a crop of :data:`CONTEXT` times the rectangle, resized to
   :data:`PATCH` x :data:`PATCH` and normalised (zero mean, unit spread), goes through a small two-layer network
   (numpy) with five outputs: R, L, mirror-image R, mirror-image L, not a marker. A mirrored glyph still names the
   patient's side (the lead letter was seen from behind, or the file was stored flipped), so R and mirrored R both
   read as R; the ``mirrored`` flag says which.
3. A rectangle is a marker when its letter's probability (plain + mirrored) reaches the reader's ``threshold``,
   which was chosen on out-of-fold films so that no film got a wrong side (reports/side_markers.md), and the read
   passes the guard (:meth:`MarkerReader.passes_guard`: its mirror image reads as the mirror-image letter, and
   shifted or rescaled crops read the same letter), which turns away most chance likenesses of other glyphs.

Weights in ``side_markers.npz`` (``allow_pickle=False``), listed in the model card. Pure numpy at run time.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.resampling import resize_bilinear
from osteo_desktop.core.reading.luma import film_pixels

log = logging.getLogger(__name__)

MARKER_FILE = "side_markers.npz"
CARD_ROLE = "side_markers"
FORMAT = "osteo-side-markers/1"
WORK_SIDE = 512
# Rectangle widths on the working copy: a marker is about 15 px on a 1024 px film's 512 copy, up to about 40 px.
SIZES = (7, 9, 11, 13, 16, 19, 23, 28, 34, 41, 50)
ASPECTS = (1.0, 1.35)  # height / width: square light boxes and the taller grey boxes
KEEP = 10  # candidates per film
PATCH = 24
CONTEXT = 1.6  # crop side / rectangle's longer side
CLASSES = ("R", "L", "R-mirrored", "L-mirrored", "none")


@dataclass(frozen=True)
class Candidate:
    """A proposed rectangle: (x0, y0, x1, y1) on the WORKING copy (x1, y1 exclusive) and its contrast score."""

    box: tuple[int, int, int, int]
    score: float


@dataclass(frozen=True)
class SideMarker:
    """A marker read on a film: ``letter`` "R" or "L" (the patient's side it names), ``box`` (x0, y0, x1, y1) in
    the input's pixels, ``probability`` of that letter, ``mirrored`` when the glyph is a mirror image."""

    letter: str
    box: tuple[int, int, int, int]
    probability: float
    mirrored: bool

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def working_copy(pixels: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, float]:
    """The film resized so its longer side is ``side`` px (never enlarged), and the factor (working px per input px)."""
    pixels = film_pixels(pixels).astype(np.float32, copy=False)  # a colour raster's luma stays as it is held
    height, width = pixels.shape
    scale = min(1.0, side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = resize_bilinear(pixels, size[0], size[1], reducing_gap=2.0)
    return np.nan_to_num(small, nan=0.0, posinf=1.0, neginf=0.0), scale


def prepare(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The working copy stretched to [0, 1] (proposal scores are contrasts in those units) and its scale."""
    image, scale = working_copy(pixels)
    low, high = float(image.min()), float(image.max())
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image, scale


def _window_means(integral: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mean of every ``height`` x ``width`` window, indexed [y, x] by its top-left corner, as float32.

    Summed in float64 (the integral image's corners reach the whole film's sum, too large for float32's 7 digits),
    then handed on as float32: the contrasts compared below are differences of a few hundredths and more, and
    float32 halves the memory that the four sides' arithmetic walks through (the proposal search's cost)."""
    total = integral[height:, width:] - integral[:-height, width:]
    total -= integral[height:, :-width]
    total += integral[:-height, :-width]
    total *= 1.0 / (height * width)
    return total.astype(np.float32)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


# Rectangles whose contrast (stretched film, [0, 1]) stays below this are not put up at all, which spares the partial
# sort the flat film. On the 288 knee-xray films the candidates on markers read by eye score 0.031 and more, and every
# film's tenth-best candidate 0.019 and more, so the floor changes no candidate there (reports/side_markers.md); a
# film with nothing box-like gets fewer than ``keep`` candidates.
SCORE_FLOOR = 0.015


def find_candidates(image: np.ndarray, keep: int = KEEP, per_size: int = 60, floor: float = SCORE_FLOOR) -> list[Candidate]:
    """The ``keep`` best non-overlapping box-like rectangles on a working copy, best first (see module docstring);
    only rectangles scoring above ``floor``."""
    image = np.asarray(image, np.float64)
    rows, columns = image.shape
    integral = np.zeros((rows + 1, columns + 1))
    integral[1:, 1:] = image.cumsum(0).cumsum(1)
    proposals: list[tuple[float, tuple[int, int, int, int]]] = []
    for width in SIZES:
        rim = max(1, round(width / 6))  # the box's own edge, inside: the letter does not reach it
        strip = max(2, width // 4)  # what surrounds it, one pixel out (edges are blurred by resizing)
        margin = strip + 1
        horizontal = None  # the top and bottom strips' means depend on the width only: shared by both aspects
        for aspect in ASPECTS:
            height = int(round(width * aspect))
            ny, nx = rows - height - 2 * margin + 1, columns - width - 2 * margin + 1
            if ny < 1 or nx < 1:
                continue
            if horizontal is None:
                horizontal = _window_means(integral, rim, width), _window_means(integral, strip, width)
            rim_h, out_h = horizontal
            rim_v, out_v = _window_means(integral, height, rim), _window_means(integral, height, strip)
            y, x = margin, margin  # top-left of the first rectangle that has room for its outer strips

            def at(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
                return array[y + dy:y + dy + ny, x + dx:x + dx + nx]

            left = at(rim_v, 0, 0) - at(out_v, 0, -margin)
            right = at(rim_v, 0, width - rim) - at(out_v, 0, width + 1)
            top = at(rim_h, 0, 0) - at(out_h, -margin, 0)
            bottom = at(rim_h, height - rim, 0) - at(out_h, height + 1, 0)
            # Brighter than the surroundings on all four sides (the least of the four), or darker on all four.
            brighter = np.minimum(left, right)
            np.minimum(brighter, top, out=brighter)
            np.minimum(brighter, bottom, out=brighter)
            darker = np.maximum(left, right, out=left)
            np.maximum(darker, top, out=darker)
            np.maximum(darker, bottom, out=darker)
            np.negative(darker, out=darker)
            score = np.maximum(brighter, darker, out=brighter).ravel()
            best = np.flatnonzero(score > floor)
            if best.size > per_size:
                best = best[np.argpartition(score[best], -per_size)[-per_size:]]
            for flat in best:
                top_row, left_column = divmod(int(flat), nx)
                box = (left_column + x, top_row + y, left_column + x + width, top_row + y + height)
                proposals.append((float(score[flat]), box))
    proposals.sort(key=lambda item: -item[0])
    kept: list[Candidate] = []
    for score, box in proposals:
        if all(not _overlaps(box, other.box) for other in kept):
            kept.append(Candidate(box, score))
            if len(kept) >= keep:
                break
    return kept


def patch(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The normalised (PATCH * PATCH,) crop around a rectangle of the working copy (zero padded off the film)."""
    x0, y0, x1, y1 = box
    side = CONTEXT * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(1, int(round(side)))
    rows, columns = image.shape
    crop = np.zeros((size, size), np.float32)
    sy0, sx0 = max(0, top), max(0, left)
    sy1, sx1 = min(rows, top + size), min(columns, left + size)
    if sy1 > sy0 and sx1 > sx0:
        crop[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = image[sy0:sy1, sx0:sx1]
    small = resize_bilinear(crop, PATCH, PATCH).ravel().astype(np.float64)
    small -= small.mean()
    small /= small.std() + 0.02  # the constant keeps a flat patch (no glyph) flat instead of amplifying noise
    return small.astype(np.float32)


def mirror_patch(vector: np.ndarray) -> np.ndarray:
    """A flattened patch (or rows of them) mirrored left to right."""
    shaped = np.asarray(vector).reshape(*np.shape(vector)[:-1], PATCH, PATCH)
    return shaped[..., ::-1].reshape(np.shape(vector))


# The guard (reports/side_markers.md, "Guard"). The reader learnt the shapes of one source's markers, and on boxed
# glyphs of typefaces it never saw it read some other letters and digits (I, T, 1, B, D, 5, ...) as R or L, a wrong
# side being worse than none. A read now stands only when
# 1. the candidate's mirror image reads as the mirror-image letter (R <-> mirrored R) with at least MIRROR_FLOOR:
#    the networks were trained mirror-equivariant, a real R mirrored reads as a mirrored R, but a symmetric glyph
#    (I, T, 1, H, ...) looks the same both ways and so reads as the same orientation again;
# 2. every crop of JITTERS (the rectangle shifted by 12 % of its side each way, or scaled 0.88 and 1.15, within the
#    jitter the networks were trained with) still reads the letter with at least STEADY_FLOOR: a real marker reads
#    from any framing of it, a chance likeness from one.
# 3. on a lone knee's film, no candidate reads the other letter with VETO_FLOOR or more: a film that carries both
#    letters (a lone knee cut from a bilateral film) names neither, even when the guard turned one of them away.
MIRROR_FLOOR = 0.9
STEADY_FLOOR = 0.8
VETO_FLOOR = 0.5
JITTERS = ((-0.12, 0.0, 1.0), (0.12, 0.0, 1.0), (0.0, -0.12, 1.0), (0.0, 0.12, 1.0), (0.0, 0.0, 0.88), (0.0, 0.0, 1.15))


class MarkerReader:
    """Two-layer network on candidate patches (see the module docstring). Load with :meth:`load`."""

    def __init__(self, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, threshold: float) -> None:
        """One network (w1 (D, H), b1 (H,), w2 (H, 5), b2 (5,)) or an ensemble of S with a leading axis of S on
        each; an ensemble's probabilities are the mean of its members'."""
        self.w1, self.b1 = np.asarray(w1, np.float32), np.asarray(b1, np.float32)
        self.w2, self.b2 = np.asarray(w2, np.float32), np.asarray(b2, np.float32)
        if self.w1.ndim == 2:  # a single network: an ensemble of one
            self.w1, self.b1, self.w2, self.b2 = self.w1[None], self.b1[None], self.w2[None], self.b2[None]
        members, hidden = (self.w1.shape[0], self.w1.shape[2]) if self.w1.ndim == 3 else (-1, -1)
        if (self.w1.shape != (members, PATCH * PATCH, hidden) or self.b1.shape != (members, hidden)
                or self.w2.shape != (members, hidden, len(CLASSES)) or self.b2.shape != (members, len(CLASSES))
                or members < 1):
            raise ModelFormatError(f"side marker weights have shapes {self.w1.shape}, {self.b1.shape}, "
                                   f"{self.w2.shape}, {self.b2.shape}")
        self.threshold = float(threshold)
        if not 0.0 < self.threshold <= 1.0:
            raise ModelFormatError(f"side marker threshold {self.threshold!r} is not in (0, 1]")

    @classmethod
    def load(cls, path: str | Path) -> "MarkerReader":
        """From a model folder (checked against the card's checksum) or the .npz itself; errors as for the detector."""
        path = Path(path)
        if path.is_dir():
            from osteo_desktop.core.model.card import load_model_card

            path = load_model_card(path).verified_path(CARD_ROLE)
        if not path.is_file():
            raise ModelIntegrityError(f"side marker file missing: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise ModelFormatError(f"{path.name} is format {str(data['format'])!r}, not {FORMAT!r}")
                if int(data["work_side"]) != WORK_SIDE or int(data["patch"]) != PATCH:
                    raise ModelFormatError(f"{path.name} was trained on other patches than this version makes")
                return cls(data["w1"], data["b1"], data["w2"], data["b2"], float(data["threshold"]))
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ModelFormatError(f"{path.name} is not a side marker file this version reads: {exc}") from exc

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`load` reads back."""
        return {"format": np.array(FORMAT), "work_side": np.array(WORK_SIDE), "patch": np.array(PATCH),
                "w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2, "threshold": np.array(self.threshold)}

    def member_probabilities(self, patches: np.ndarray) -> np.ndarray:
        """(S, N, 5) class probabilities (:data:`CLASSES` order) of (N, PATCH * PATCH) patches, per network."""
        x = np.asarray(patches, np.float32).reshape(-1, PATCH * PATCH)
        out = np.zeros((len(self.w1), len(x), len(CLASSES)), np.float64)
        for m, (w1, b1, w2, b2) in enumerate(zip(self.w1, self.b1, self.w2, self.b2)):
            logits = (np.maximum(x @ w1 + b1, 0.0) @ w2 + b2).astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            odds = np.exp(logits)
            out[m] = odds / odds.sum(axis=1, keepdims=True)
        return out

    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        """(N, 5) class probabilities (:data:`CLASSES` order) of (N, PATCH * PATCH) patches: the members' mean."""
        return self.member_probabilities(patches).mean(axis=0)

    def scored(self, image: np.ndarray) -> tuple[list[Candidate], np.ndarray]:
        """Candidates on a working copy and their (N, 5) probabilities (training and evaluation use this too)."""
        candidates = find_candidates(image)
        if not candidates:
            return [], np.zeros((0, len(CLASSES)), np.float32)
        return candidates, self.probabilities(np.stack([patch(image, c.box) for c in candidates]))

    def passes_guard(self, image: np.ndarray, box: tuple[float, float, float, float], letter: str, mirrored: bool,
                     mirror_floor: float = MIRROR_FLOOR, steady_floor: float = STEADY_FLOOR) -> bool:
        """Whether a read of ``letter`` on a rectangle of the working copy survives the guard (module docstring):
        its mirror image reads as the mirror-image letter, and every :data:`JITTERS` crop reads the same letter."""
        k = 0 if letter == "R" else 1
        if mirror_floor > 0:
            flipped = self.probabilities(mirror_patch(patch(image, box))[None])[0]
            if flipped[k if mirrored else k + 2] < mirror_floor:  # R <-> mirrored R: the other orientation
                return False
        if steady_floor > 0:
            x0, y0, x1, y1 = box
            w, h = x1 - x0, y1 - y0
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            crops = [patch(image, (cx + dx * w - f * w / 2, cy + dy * h - f * h / 2,
                                   cx + dx * w + f * w / 2, cy + dy * h + f * h / 2)) for dx, dy, f in JITTERS]
            p = self.probabilities(np.stack(crops))
            if float((p[:, k] + p[:, k + 2]).min()) < steady_floor:
                return False
        return True

    def read(self, pixels: np.ndarray, threshold: float | None = None, guarded: bool = True,
             lone: bool = False) -> list[SideMarker]:
        """The markers on a film (2-D, bone bright, any range), most probable first; boxes in its pixels.

        ``guarded`` False reads without the guard (:meth:`passes_guard`): the reader as first trained, for the
        figures that compare the two. ``lone``: the film shows one knee, which takes the side of the markers' one
        letter; then no marker is returned when any candidate reads the other letter with :data:`VETO_FLOOR` or
        more, guarded or not (a film that carries both letters names neither, even when the guard turned one away).
        """
        pixels = film_pixels(pixels)
        if pixels.ndim != 2 or min(pixels.shape) < 16:
            return []
        image, scale = prepare(pixels)
        candidates, probs = self.scored(image)
        height, width = pixels.shape
        found = []
        for candidate, letter, probability, mirrored in self.accepted(image, candidates, probs, threshold, guarded, lone):
            x0, y0, x1, y1 = candidate.box
            box = (int(np.clip(np.floor(x0 / scale), 0, width - 1)), int(np.clip(np.floor(y0 / scale), 0, height - 1)),
                   int(np.clip(np.ceil(x1 / scale), 1, width)), int(np.clip(np.ceil(y1 / scale), 1, height)))
            found.append(SideMarker(letter, box, probability, mirrored))
        found.sort(key=lambda m: -m.probability)
        return found

    def accepted(self, image: np.ndarray, candidates: list[Candidate], probs: np.ndarray, threshold: float | None = None,
                 guarded: bool = True, lone: bool = False) -> list[tuple[Candidate, str, float, bool]]:
        """(candidate, letter, probability, mirrored) of each candidate read as a marker (see :meth:`read`)."""
        threshold = self.threshold if threshold is None else float(threshold)
        found, weak_letters = [], set()
        for candidate, p in zip(candidates, probs):
            right, left = float(p[0] + p[2]), float(p[1] + p[3])
            letter, probability = ("R", right) if right >= left else ("L", left)
            if probability >= VETO_FLOOR:
                weak_letters.add(letter)
            if probability < threshold:
                continue
            mirrored = bool(p[2] > p[0]) if letter == "R" else bool(p[3] > p[1])
            if guarded and not self.passes_guard(image, candidate.box, letter, mirrored):
                log.debug("a %s read at %s failed the guard", letter, candidate.box)
                continue
            found.append((candidate, letter, probability, mirrored))
        if lone and guarded and found and len(weak_letters) > 1:
            log.debug("both letters read on a lone knee's film: no marker names it")
            return []
        return found
