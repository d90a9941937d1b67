"""Scope gate: is this input a frontal knee radiograph?

The model only reads frontal knee radiographs; anything else gets no result, with a reason in words. DICOM tags
inform the decision (a non-radiograph modality or a lateral view is declined on the tag alone, because the pixels
cannot overrule what the device recorded), and the pixels decide when tags are missing (PNG/JPEG) or say a body
part other than the knee (exports often carry a wrong or default BodyPartExamined): then the image must look like
a knee with a stricter margin.

The pixel part is a multinomial logistic regression over the mean-pooled ``out_relu`` activations of the shipped
backbone on the whole film (the same pass the classifier makes, so it costs nothing extra when the caller passes
the features) plus a few image statistics. Weights live in an .npz read with ``allow_pickle=False``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.reading.body_parts import contradicts, may_show_a_knee
from osteo_desktop.core.reading.levels import unit_values
from osteo_desktop.core.reading.luma import film_pixels

log = logging.getLogger(__name__)

GATE_FILE = "scope_gate.npz"
IN_SCOPE = "knee"
# Modalities that are never a radiograph; the words are what the reason says.
NON_RADIOGRAPH_MODALITIES = {
    "MR": "MR image", "CT": "CT image", "US": "ultrasound image", "NM": "nuclear-medicine image",
    "PT": "PET image", "XA": "angiography image", "RF": "fluoroscopy image", "MG": "mammogram",
    "IO": "intra-oral dental radiograph", "PX": "panoramic dental radiograph", "ES": "endoscopy image",
    "XC": "photograph", "OP": "ophthalmic photograph", "SM": "microscopy image", "SR": "structured report",
    "DOC": "document", "ECG": "ECG", "SEG": "segmentation", "RTSTRUCT": "radiotherapy structure set",
}
# Modalities that are projection radiographs: when the header says so, the reason never says "not a radiograph".
RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DR"}
LATERAL_VIEWS = {"LAT", "LATERAL", "LL", "RL", "RLD", "LLD", "XTABLE", "CROSS-TABLE LATERAL"}
# Words for the reason, per out-of-scope category the pixel model knows.
CATEGORY_WORDS = {
    "chest": "not a knee radiograph: looks like a chest radiograph",
    "hand": "not a knee radiograph: looks like a hand or wrist radiograph",
    "other-msk": "not a knee radiograph: looks like a radiograph of another bone or joint",
    "dental-skull": "not a knee radiograph: looks like a dental or skull radiograph",
    "other-modality": "not a radiograph: looks like an MR, CT or ultrasound image",
    "non-medical": "not a radiograph: looks like a photograph, drawing or document",
    "synthetic": "not a radiograph: looks like a test pattern or graphic",
}
# The pixel model's categories that are radiographs (of something other than a knee).
RADIOGRAPH_CATEGORIES = ("chest", "hand", "other-msk", "dental-skull")
BLANK_STD = 0.01
# Every DICOM object the app writes (SR, annotated image, PDF: core.results.dicom_objects) carries this Manufacturer.
# A film never does, so it tells the app's own output apart: an annotated image fetched back from a PACS, or sent to
# the node, is not a radiograph to read again (it would give a second result for one film, and a store loop when a
# PACS routes the study back to the node).
OWN_MANUFACTURER = "osteo-desktop"
OWN_OBJECT_REASON = "an image made by osteo-desktop (annotated result)"


@dataclass(frozen=True)
class ScopeDecision:
    """The gate's answer: ``reason`` is None when in scope; ``category`` names what the input looks like."""

    in_scope: bool
    reason: str | None
    category: str
    score: float | None  # probability that the pixels show a knee radiograph; None when tags alone decided

    def to_dict(self) -> dict[str, object]:
        return {"in_scope": self.in_scope, "reason": self.reason, "category": self.category, "score": self.score}


@dataclass(frozen=True)
class ScopeEvidence:
    """What the gate takes from a film before the backbone runs (:func:`look`).

    ``decided`` is a decision the header or a blank image already makes (then the model need not run at all);
    otherwise ``statistics`` are the film's image statistics, ``body_part`` the header's BodyPartExamined and
    ``modality`` its Modality.
    Small on purpose: a folder scan keeps it for each file in flight instead of the full-size pixels.
    """

    decided: ScopeDecision | None
    statistics: np.ndarray | None = None
    body_part: str = ""
    modality: str = ""


def image_statistics(pixels: np.ndarray) -> np.ndarray:
    """Cheap shape and intensity statistics of the grey film (aspect, spread, histogram shape); ``pixels`` are values
    or grey levels (uint8, see :mod:`~osteo_desktop.core.reading.levels`)."""
    height, width = pixels.shape[:2]
    values = np.array(unit_values(pixels[:: max(1, height // 256), :: max(1, width // 256)]), dtype=np.float32).ravel()
    histogram, _ = np.histogram(values, bins=8, range=(0.0, 1.0))
    histogram = histogram / max(1, values.size)
    return np.array([np.log(width / height), values.mean(), values.std(), *histogram], dtype=np.float32)


def pooled_features(backbone_activations: np.ndarray) -> np.ndarray:
    """Mean-pool ``out_relu`` activations (h, w, C) or (1, h, w, C) to (C,)."""
    activations = np.asarray(backbone_activations, dtype=np.float32)
    return activations.reshape(-1, activations.shape[-1]).mean(axis=0)


def gate_features(pixels: np.ndarray, backbone_activations: np.ndarray) -> np.ndarray:
    return _features(image_statistics(pixels), backbone_activations)


def _features(statistics: np.ndarray, backbone_activations: np.ndarray) -> np.ndarray:
    return np.concatenate([np.log1p(pooled_features(backbone_activations)), statistics])


def _tag(metadata: dict, key: str) -> str:
    return str(metadata.get(key, "") or "").strip().upper()


def made_by_osteo_desktop(manufacturer: object) -> bool:
    """Whether a header's Manufacturer says the object is this app's own output (see :data:`OWN_MANUFACTURER`)."""
    return str(manufacturer or "").strip().lower() == OWN_MANUFACTURER


def decide_from_tags(metadata: dict) -> ScopeDecision | None:
    """A decision the DICOM header makes on its own, or None when the pixels must decide."""
    if made_by_osteo_desktop(metadata.get("manufacturer")):
        return ScopeDecision(False, OWN_OBJECT_REASON, "own-result", None)
    modality = _tag(metadata, "modality")
    if modality in NON_RADIOGRAPH_MODALITIES:
        return ScopeDecision(False, f"not a radiograph: {NON_RADIOGRAPH_MODALITIES[modality]}", "other-modality", None)
    view = _tag(metadata, "view_position")
    if view in LATERAL_VIEWS and may_show_a_knee(_tag(metadata, "body_part")):
        return ScopeDecision(False, "lateral knee view: the model reads frontal views", "knee-lateral", None)
    return None


def _spread(pixels: np.ndarray, band_values: int = 1 << 16) -> float:
    """The standard deviation of all pixels, in bands of rows that stay in the cache: np.std makes a full-size
    temporary (pixels - mean; 23 MB at 6 megapixels, 92 MB at 24) and takes about twice as long (issue 13).
    Within about 1e-6 of np.std (float32 pairwise sums per band, float64 across bands). Grey levels (uint8) are
    converted a band at a time into the same float32 values, so they give the same figure bit for bit."""
    values = film_pixels(pixels)  # a colour raster's luma (LumaPixels) is computed for each band taken
    if values.dtype != np.uint8:
        values = values.astype(np.float32, copy=False)
    if values.size <= band_values or values.ndim != 2:
        return float(np.std(unit_values(values)))
    rows = max(1, band_values // values.shape[1])
    scratch = np.empty((rows, values.shape[1]), dtype=np.float32)

    def band_at(top: int) -> np.ndarray:
        band = values[top : top + rows]
        return unit_values(band, out=scratch[: band.shape[0]]) if band.dtype == np.uint8 else band

    total = 0.0
    for top in range(0, values.shape[0], rows):
        total += float(np.sum(band_at(top)))
    mean = np.float32(total / values.size)
    squares = 0.0
    for top in range(0, values.shape[0], rows):
        band = np.subtract(band_at(top), mean, out=scratch[: min(rows, values.shape[0] - top)])
        squares += float(np.vdot(band, band))
    return float(np.sqrt(squares / values.size))


def look(pixels: np.ndarray, metadata: dict) -> ScopeEvidence:
    """The part of the decision that needs no model: the header's verdict, a blank image, else the statistics."""
    tagged = decide_from_tags(metadata)
    if tagged is not None:
        return ScopeEvidence(tagged)
    if _spread(pixels) < BLANK_STD:
        return ScopeEvidence(ScopeDecision(False, "not a radiograph: the image is blank", "synthetic", None))
    return ScopeEvidence(None, image_statistics(pixels), _tag(metadata, "body_part"), _tag(metadata, "modality"))


class ScopeGate:
    """Decides from tags and pixels whether a radiograph is a frontal knee radiograph."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 categories: list[str], threshold: float, strict_threshold: float) -> None:
        self.weights, self.bias, self.mean, self.scale = weights, bias, mean, scale
        self.categories = categories
        self.threshold, self.strict_threshold = threshold, strict_threshold
        self.knee_index = categories.index(IN_SCOPE)

    @classmethod
    def load(cls, path: Path) -> "ScopeGate":
        """Load the gate from its .npz (a directory means ``<dir>/scope_gate.npz``); no pickle."""
        path = Path(path)
        if path.is_dir():
            path = path / GATE_FILE
        with np.load(path, allow_pickle=False) as data:
            return cls(data["weights"], data["bias"], data["mean"], data["scale"],
                       [str(c) for c in data["categories"]], float(data["threshold"]), float(data["strict_threshold"]))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Category probabilities for features (N, D) -> (N, K)."""
        z = (np.atleast_2d(features) - self.mean) / self.scale
        logits = z @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        expo = np.exp(logits)
        return expo / expo.sum(axis=1, keepdims=True)

    def decide(self, pixels: np.ndarray, metadata: dict, backbone_activations: np.ndarray) -> ScopeDecision:
        """Decide for one film: ``pixels`` as read, its metadata, and the backbone's ``out_relu`` on the model input."""
        return self.judge(look(pixels, metadata), backbone_activations)

    def judge(self, evidence: ScopeEvidence, backbone_activations: np.ndarray | None) -> ScopeDecision:
        """Finish the decision :func:`look` began, with the backbone's ``out_relu`` on the film's model input
        ((h, w, C), or already mean-pooled to (C,)); ``None`` only when ``evidence`` has already decided."""
        if evidence.decided is not None:
            return evidence.decided
        if backbone_activations is None or evidence.statistics is None:
            raise ValueError("the scope gate needs the backbone's activations for an undecided film")
        probs = self.probabilities(_features(evidence.statistics, backbone_activations))[0]
        score = float(probs[self.knee_index])
        body_part = evidence.body_part
        # A body part other than the knee in the header: the pixels may overrule it, but only with a wide margin.
        threshold = self.threshold if may_show_a_knee(body_part) else self.strict_threshold
        if score >= threshold:
            return ScopeDecision(True, None, IN_SCOPE, score)
        others = [(p, c) for p, c in zip(probs, self.categories) if c != IN_SCOPE]
        if evidence.modality in RADIOGRAPH_MODALITIES:
            # The device recorded a radiograph (a distal tibia, say, whose pixels the model finds unlike any
            # radiograph it knows): name the likeliest kind of radiograph instead of "not a radiograph".
            others = [(p, c) for p, c in others if c in RADIOGRAPH_CATEGORIES] or others
        category = max(others)[1]
        words = CATEGORY_WORDS.get(category, "not a knee radiograph")
        if body_part and contradicts(category, body_part):
            # The header files it under another body part than the pixels' guess (a distal tibia filed as EXTREMITY
            # that the pixels call a hand): still declined, in words that do not name the wrong body part.
            words = CATEGORY_WORDS["other-msk"]
        return ScopeDecision(False, words, category, score)
