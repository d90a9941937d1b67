"""A stand-in classifier whose answers the test plans (issue 15): the shared one for pipeline tests.

It has what the pipeline asks of :class:`~osteo_desktop.core.model.runtime.Classifier` since 2.0.0: a scope gate
(``scope_gate``, ``scope_gate_id``), a knee detector that finds one right knee in the middle of every film, a knee
head, ``run`` (the interpreter: logits and last-block activations of each input) and ``model_sha256``.

The n-th film given to ``run`` gets ``planned[n]`` = (probability, in scope?): its whole-film activations carry the
scope value (the stand-in gate reads it) and its knee's activations carry the answer's number (1, 2, ...: exact in
float32, unlike 0.2), whose probability the stand-in head returns as the knee's calibrated probability. So each knee's (and file's) answer is known before the code runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from osteo_desktop.core.model.card import load_model_card
from osteo_desktop.core.model.explain import HeadWeights
from osteo_desktop.core.model.knee_detector import DetectedKnee
from osteo_desktop.core.model.knee_model import KneeHead
from osteo_desktop.core.model.preprocessing import KneeRegionConfig
from osteo_desktop.core.model.scope import ScopeDecision

from shared_paths import REPO_ROOT

THRESHOLD = 0.339
IN_SCOPE, DECLINE = 1.0, 0.0  # the stand-in gate reads channel 0 of the whole film's activations
HAND = "not a knee radiograph: looks like a hand"
INPUT_SIZE = 96  # not the card's: an input made with the default settings instead of the model's is caught
MODEL_SHA256 = "5e" * 32
_FEATURES = (2, 2, 2)  # (H, W, C) activations: channel 0 the scope value, channel 1 the answer's number


class Gate:
    def judge(self, evidence, backbone) -> ScopeDecision:
        if evidence.decided is not None:
            return evidence.decided
        if backbone is not None and float(backbone[..., 0].flat[0]) == DECLINE:
            return ScopeDecision(False, HAND, "hand", 0.01)
        return ScopeDecision(True, None, "knee", 0.99)


class Detector:
    """One right knee, the middle half of the film."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, pixels: np.ndarray, orientation=None) -> list[DetectedKnee]:
        self.calls += 1
        height, width = pixels.shape[:2]
        return [DetectedKnee("right", (width // 4, height // 4, 3 * width // 4, 3 * height // 4), 1.0)]


@dataclass(frozen=True)
class PlannedHead(KneeHead):
    """The knee head whose logit (channel 1 of the knee's pooled activations, read by real dense weights that pass
    it through) is the number of a planned answer: its probability is that answer's."""

    answers: list[float] = field(default_factory=list)

    def probability(self, logit: float) -> float:
        assert float(logit) == round(logit), f"the knee's logit {logit} is not a planned answer's number"
        return self.answers[int(round(logit)) - 1]


def planned_head(card, hflip_tta: bool = False) -> PlannedHead:
    one = np.ones((1, 1, 1), np.float32)
    weights = HeadWeights(w1=np.array([[[0.0], [1.0]]], np.float32), b1=np.zeros((1, 1), np.float32), w2=one,
                          b2=np.zeros((1, 1), np.float32), w3=np.ones((1, 1), np.float32), b3=np.zeros(1, np.float32))
    region = replace(KneeRegionConfig.from_dict(card.raw["knee_model"]["region"]), input_size=INPUT_SIZE)
    return PlannedHead(version="k-test", weights=weights, region=region, temperature=1.0, threshold=THRESHOLD,
                       hflip_tta=hflip_tta, labels=card.labels, answers=[])


class Model:
    """A classifier whose n-th film gets ``planned[n]``: (probability, in scope?). ``batches``: films per call.

    With ``hflip_tta`` each film comes with its knee and the knee's mirror image; the knee's activations then carry
    the answer's number + 0.25 and the mirror's - 0.25, so only their average is a planned answer's number."""

    def __init__(self, planned: list[tuple[float, float]], version: str = "2.1.0", gate_id: str = "gate-a",
                 fail: bool = False, model_sha256: str = MODEL_SHA256, hflip_tta: bool = False) -> None:
        card = load_model_card(REPO_ROOT / "model_weights")
        self.card = card
        self.config = replace(card.preprocessing, input_size=INPUT_SIZE)
        self.input_size = INPUT_SIZE
        self.version = version
        self.model_sha256 = model_sha256
        self.scope_gate_id = gate_id
        self.scope_gate = Gate()
        self.knee_detector = Detector()
        self.knee_head = planned_head(card, hflip_tta)
        self.planned = list(planned)
        self.batches: list[int] = []
        self.fail = fail

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert inputs.shape[1:] == (self.input_size, self.input_size, 3)
        per_film = 3 if self.knee_head.hflip_tta else 2  # the film, its knee (and the knee's mirror image)
        assert len(inputs) % per_film == 0, "each film comes with its one knee"
        films = len(inputs) // per_film
        self.batches.append(films)
        if self.fail:
            raise RuntimeError("the interpreter fell over")
        features = np.zeros((len(inputs), *_FEATURES), np.float32)
        for i in range(films):
            probability, scope = self.planned.pop(0)
            film = per_film * i
            features[film : film + per_film, ..., 0] = scope
            self.knee_head.answers.append(probability)
            number = len(self.knee_head.answers)
            if self.knee_head.hflip_tta:
                assert np.array_equal(inputs[film + 2], inputs[film + 1][:, ::-1]), "the knee's mirror image"
                features[film + 1, ..., 1], features[film + 2, ..., 1] = number + 0.25, number - 0.25
            else:
                features[film + 1, ..., 1] = number
        return np.zeros(len(inputs), np.float32), features
