"""The per-knee model (2.0.0): the shipped backbone on each knee's region, a small head applied in NumPy.

Each knee is cut from the film at its own resolution (:func:`~osteo_desktop.core.model.preprocessing.knee_region`)
and run through the same ``.tflite`` as the whole-film pass; the knee head (``knee_head.npz``, ``HeadWeights``
layout) turns the pooled ``out_relu`` activations into a logit, so no second network is shipped and grad-CAM works
per knee as it does for the film. The whole film and its knees go through the interpreter together, in one call.

The card's ``knee_model`` section carries the region settings, temperature, threshold and how a mirrored film is
made to give the same answer: ``hflip_tta`` (each region and its mirror image are read and their logits averaged,
as shipped since 2.0.0) or ``canonical_orientation`` (each region read once, mirrored when an antisymmetric score
of it is negative; measured in reports/knee_canonical.md, not shipped). ``files.knee_head`` holds the head and its
checksum. A file's result is its most suspicious knee.

:func:`knee_inputs` and :func:`knee_predictions` are the knees' part of a film's analysis, used both by the app's
pipeline (core/pipeline/film.py) and by :func:`analyse_film` (given boxes: benchmarks, training scripts, tests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from osteo_desktop.core.errors import ModelFormatError
from osteo_desktop.core.model.card import ModelCard
from osteo_desktop.core.model.explain import HeadWeights, grad_cam
from osteo_desktop.core.model.preprocessing import KneeGeometry, KneeRegionConfig, knee_map_to_original, knee_region

Box = tuple[float, float, float, float]


def centroid_offset(model_input: np.ndarray, power: int = 1) -> float:
    """Horizontal offset of the centroid of the region's grey values (mapped to [0, 1], raised to ``power``: 4 lets
    the brightest bone weigh most) from the region's middle, in half-widths (-1 to 1).

    Antisymmetric: the mirror image's offset is the negative (the columns' positions are symmetric about the middle
    and the same sums are taken in the opposite order: equal up to the rounding of the sum)."""
    grey = (np.asarray(model_input[..., 0], np.float64) + 1.0) / 2.0
    columns = (grey**power).sum(axis=0)
    size = columns.size
    x = (np.arange(size) - (size - 1) / 2.0) / max((size - 1) / 2.0, 1.0)
    total = columns.sum()
    return float(columns @ x / total) if total > 0 else 0.0


# Orientation scores a card may name (knee_model.canonical_orientation): s(mirror(x)) = -s(x).
# "centroid_p4": chosen among four centroid scores as the one whose sign changed least often when the knee's box was
# drawn differently (training/knee_canonical.py), before any head was fitted on canonical regions.
ORIENTATION_SCORES: dict[str, Callable[[np.ndarray], float]] = {"centroid_p4": lambda model_input: centroid_offset(model_input, 4)}


@dataclass(frozen=True)
class KneeHead:
    """The knee head and how to use it, as the card records them."""

    version: str
    weights: HeadWeights
    region: KneeRegionConfig
    temperature: float
    threshold: float
    hflip_tta: bool
    labels: tuple[str, str]
    orientation: str | None = None  # the card's canonical_orientation: the name of an ORIENTATION_SCORES score

    def mirrors(self, model_input: np.ndarray) -> bool:
        """Whether the knee's region goes through the model mirrored: its canonical orientation is the one in which
        the card's orientation score is >= 0 (never, without one)."""
        return self.orientation is not None and ORIENTATION_SCORES[self.orientation](model_input) < 0.0

    @classmethod
    def from_card(cls, card: ModelCard) -> "KneeHead":
        section = card.raw.get("knee_model")
        if not isinstance(section, dict):
            raise ModelFormatError("the model card has no knee_model section")
        path = card.verified_path("knee_head")
        try:
            weights = HeadWeights.load(path)
            head = cls(
                version=str(section["version"]),
                weights=weights,
                region=KneeRegionConfig.from_dict(section["region"]),
                temperature=float(section["temperature"]),
                threshold=float(section["threshold"]),
                hflip_tta=bool(section.get("hflip_tta", False)),
                labels=card.labels,
                orientation=section.get("canonical_orientation"),
            )
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"the knee model in the card or {path.name} is invalid: {exc}") from exc
        if head.orientation is not None and head.orientation not in ORIENTATION_SCORES:
            raise ModelFormatError(f"the knee model's canonical orientation {head.orientation!r} is unknown "
                                   f"(known: {', '.join(sorted(ORIENTATION_SCORES))})")
        if not (np.isfinite(head.temperature) and head.temperature > 0 and 0.0 <= head.threshold <= 1.0):
            raise ModelFormatError("the knee model's temperature or threshold is invalid")
        return head

    def probability(self, logit: float) -> float:
        return float(1.0 / (1.0 + np.exp(-np.float64(logit) / self.temperature)))


@dataclass
class KneePrediction:
    box: Box
    label: str
    probability: float
    confidence: float
    logit: float
    geometry: KneeGeometry
    features: np.ndarray = field(repr=False)  # out_relu activations of the region (h, w, C), for the heat map
    mirrored_features: np.ndarray | None = field(default=None, repr=False)
    flipped: bool = False  # the region went through the model mirrored (its canonical orientation)


@dataclass
class FilmAnalysis:
    """The knees of one film (in the order of the boxes given) and, when asked for, the whole film's outputs."""

    knees: list[KneePrediction]
    film_logit: float | None = None
    film_features: np.ndarray | None = field(default=None, repr=False)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def most_suspicious(self) -> KneePrediction | None:
        return max(self.knees, key=lambda k: k.probability) if self.knees else None


def knee_inputs(head: KneeHead, regions: Sequence[np.ndarray], flipped: Sequence[bool] = ()) -> list[np.ndarray]:
    """What goes through the interpreter for a film's knees, in this order: each region (mirrored where ``flipped``
    says so: its canonical orientation, see :meth:`KneeHead.mirrors`), then, when the card averages them, the mirror
    images of those. ``flipped`` empty: no region is mirrored."""
    flipped = list(flipped) or [False] * len(regions)
    if len(flipped) != len(regions):
        raise ValueError(f"{len(regions)} knee regions but {len(flipped)} orientations")
    oriented = [np.ascontiguousarray(region[:, ::-1]) if flip else region for region, flip in zip(regions, flipped)]
    if head.hflip_tta:
        oriented += [np.ascontiguousarray(region[:, ::-1]) for region in oriented]
    return oriented


def inputs_per_knee(head: KneeHead) -> int:
    """How many of :func:`knee_inputs` each knee takes: its region and, when averaged, its mirror image."""
    return 2 if head.hflip_tta else 1


def _pooled(features: np.ndarray) -> np.ndarray:
    # The head was fitted on the float32 mean of the interpreter's float32 activations: pool the same way.
    return features.reshape(-1, features.shape[-1]).astype(np.float32).mean(axis=0)


def knee_predictions(head: KneeHead, boxes: Sequence[Box], geometries: Sequence[KneeGeometry], features: np.ndarray,
                     flipped: Sequence[bool] = ()) -> list[KneePrediction]:
    """The knee head on each knee's activations; ``features`` are the interpreter's outputs for :func:`knee_inputs`
    (same order: the knees, then their mirror images when the card averages them)."""
    count = len(boxes)
    flipped = list(flipped) or [False] * count
    if not (len(geometries) == len(flipped) == count) or len(features) != count * inputs_per_knee(head):
        raise ValueError("the knees' boxes, geometries, orientations and activations do not match")
    negative_label, positive_label = head.labels
    knees = []
    for i, (box, geometry) in enumerate(zip(boxes, geometries)):
        own = features[i]
        logit, _ = head.weights.logit_and_gradient(_pooled(own))
        mirrored = None
        if head.hflip_tta:
            mirrored = features[count + i]
            mirrored_logit, _ = head.weights.logit_and_gradient(_pooled(mirrored))
            logit = (logit + mirrored_logit) / 2.0
        probability = head.probability(logit)
        positive = probability >= head.threshold
        knees.append(KneePrediction(tuple(float(v) for v in box), positive_label if positive else negative_label,  # type: ignore[arg-type]
                                    probability, probability if positive else 1.0 - probability, float(logit), geometry, own,
                                    mirrored, bool(flipped[i])))
    return knees


def analyse_film(classifier: Any, head: KneeHead, pixels: np.ndarray, boxes: Sequence[Box], film_input: np.ndarray | None = None) -> FilmAnalysis:
    """Run the whole film (when ``film_input`` is given: the gate's / old head's pass) and every knee region in one
    interpreter call; ``classifier`` is a :class:`~osteo_desktop.core.model.runtime.Classifier`. The same steps as
    the app's (core/pipeline/film.py), for given boxes: for the benchmarks, the training scripts and the tests."""
    start = time.perf_counter()
    regions = [knee_region(pixels, box, head.region) for box in boxes]
    flipped = [head.mirrors(model_input) for model_input, _ in regions]
    batch = knee_inputs(head, [model_input for model_input, _ in regions], flipped)
    offset = 0
    if film_input is not None:
        batch.insert(0, film_input)
        offset = 1
    prepared = time.perf_counter()
    if not batch:
        return FilmAnalysis([], timings_ms={"knee_regions": 0.0, "inference": 0.0})
    logits, features = classifier.run(np.stack(batch))
    ran = time.perf_counter()
    knees = knee_predictions(head, boxes, [geometry for _, geometry in regions], features[offset:], flipped)
    timings = {"knee_regions": (prepared - start) * 1000.0, "inference": (ran - prepared) * 1000.0,
               "knee_head": (time.perf_counter() - ran) * 1000.0}
    return FilmAnalysis(knees, float(logits[0]) if film_input is not None else None,
                        features[0] if film_input is not None else None, timings)


def knee_heat_map(knee: KneePrediction, head: KneeHead, positive: bool | None = None) -> np.ndarray:
    """Grad-CAM of one knee's decision over the original image (0 outside the knee's region), in [0, 1]."""
    if positive is None:
        positive = knee.probability >= head.threshold
    cam = grad_cam(knee.features, head.weights, positive=positive)
    if knee.mirrored_features is not None:
        cam = (cam + grad_cam(knee.mirrored_features, head.weights, positive=positive)[:, ::-1]) / 2.0
        peak = float(cam.max())
        cam = cam / peak if peak > 0 else cam
    if knee.flipped:  # the map is over the mirrored region the model read: back to the film's orientation
        cam = cam[:, ::-1]
    return np.clip(knee_map_to_original(cam, knee.geometry), 0.0, 1.0)
