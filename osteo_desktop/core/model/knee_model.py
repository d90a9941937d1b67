"""The per-knee model (2.0.0): the shipped backbone on each knee's region, a small head applied in NumPy.

Each knee is cut from the film at its own resolution (:func:`~osteo_desktop.core.model.preprocessing.knee_region`)
and run through the same ``.tflite`` as the whole-film pass; the knee head (``knee_head.npz``, ``HeadWeights``
layout) turns the pooled ``out_relu`` activations into a logit, so no second network is shipped and grad-CAM works
per knee as it does for the film. The whole film and its knees go through the interpreter together, in one call.

The card's ``knee_model`` section carries the region settings, temperature, threshold and whether the mirror
image is averaged in; ``files.knee_head`` the head and its checksum. A file's result is its most suspicious knee.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from osteo_desktop.core.errors import ModelFormatError
from osteo_desktop.core.model.card import ModelCard
from osteo_desktop.core.model.explain import HeadWeights, grad_cam
from osteo_desktop.core.model.preprocessing import KneeGeometry, KneeRegionConfig, knee_map_to_original, knee_region

Box = tuple[float, float, float, float]


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
            )
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"the knee model in the card or {path.name} is invalid: {exc}") from exc
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


def analyse_film(classifier: Any, head: KneeHead, pixels: np.ndarray, boxes: Sequence[Box], film_input: np.ndarray | None = None) -> FilmAnalysis:
    """Run the whole film (when ``film_input`` is given: the gate's / old head's pass) and every knee region in one
    interpreter call; ``classifier`` is a :class:`~osteo_desktop.core.model.runtime.Classifier`."""
    start = time.perf_counter()
    regions = [knee_region(pixels, box, head.region) for box in boxes]
    batch = [model_input for model_input, _ in regions]
    if head.hflip_tta:
        batch += [np.ascontiguousarray(model_input[:, ::-1]) for model_input, _ in regions]
    offset = 0
    if film_input is not None:
        batch.insert(0, film_input)
        offset = 1
    prepared = time.perf_counter()
    if not batch:
        return FilmAnalysis([], timings_ms={"knee_regions": 0.0, "inference": 0.0})
    logits, features = classifier.run(np.stack(batch))
    ran = time.perf_counter()
    knees = []
    count = len(regions)
    negative_label, positive_label = head.labels
    for i, (box, (_, geometry)) in enumerate(zip(boxes, regions)):
        own = features[offset + i]
        logit, _ = head.weights.logit_and_gradient(own.reshape(-1, own.shape[-1]).mean(axis=0))
        mirrored = None
        if head.hflip_tta:
            mirrored = features[offset + count + i]
            mirrored_logit, _ = head.weights.logit_and_gradient(mirrored.reshape(-1, mirrored.shape[-1]).mean(axis=0))
            logit = (logit + mirrored_logit) / 2.0
        probability = head.probability(logit)
        positive = probability >= head.threshold
        knees.append(KneePrediction(tuple(float(v) for v in box), positive_label if positive else negative_label, probability,
                                    probability if positive else 1.0 - probability, float(logit), geometry, own, mirrored))
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
    return np.clip(knee_map_to_original(cam, knee.geometry), 0.0, 1.0)
