"""Inference with LiteRT: the shipped ``.tflite`` model, with no TensorFlow at run time.

The exported model takes a batch of preprocessed inputs and returns two tensors: the last convolutional block's
activations (for the explanation and the scope gate) and the head's logit. The scope gate
(:mod:`~osteo_desktop.core.model.scope`), the knee detector (:mod:`~osteo_desktop.core.model.knee_detector`) and
the per-knee head (:mod:`~osteo_desktop.core.model.knee_model`) are part of the shipped model, loaded and checked
with it. Temperature
scaling and the decision threshold come from the model card, so recalibrating a model never needs a new export.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from osteo_desktop.core.errors import ModelFormatError
from osteo_desktop.core.model.explain import HeadWeights, grad_cam
from osteo_desktop.core.model.card import ModelCard, load_model_card, model_sha256
from osteo_desktop.core.model.knee_detector import CARD_ROLE as DETECTOR_ROLE
from osteo_desktop.core.model.knee_detector import KneeDetector
from osteo_desktop.core.model.knee_model import KneeHead
from osteo_desktop.core.model.native_stderr import without_native_noise
from osteo_desktop.core.model.scope import ScopeGate
from osteo_desktop.core.model.side_markers import CARD_ROLE as MARKER_ROLE
from osteo_desktop.core.model.side_markers import MarkerReader
from osteo_desktop.core.paths import default_model_dir

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """One image's result, in the shape the command line prints and the GUI shows."""

    label: str
    probability: float
    confidence: float
    threshold: float
    model_version: str
    logit: float
    warnings: list[str] = field(default_factory=list)
    model_sha256: str | None = None  # the exact model (card and files): :func:`~osteo_desktop.core.model.card.model_sha256`
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The backbone's out_relu on the (unmirrored) input, mean-pooled to (C,): what the scope gate reads. It comes
    # from the same interpreter pass as the logit, so the gate costs no second run of the network.
    backbone: np.ndarray | None = field(default=None, repr=False, compare=False)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# Images per interpreter call. Measured on a 2-core Xeon (benchmarks/inference.py): the time per image is lowest at
# 2-4 images per call and grows beyond (about 1.5x at 32), because a big batch's activations no longer fit in the
# cache. Larger batches are therefore run as consecutive micro-batches; every image is computed independently, so
# the outputs are bit-identical to one big call.
MICRO_BATCH = 4


def _default_threads() -> int:
    try:
        available = len(os.sched_getaffinity(0))  # the cores this process may use (containers, taskset)
    except AttributeError:
        available = os.cpu_count() or 1
    return max(1, min(4, available))


class Classifier:
    """The shipped model, verified against its card and ready to predict.

    One LiteRT interpreter is not safe to call from two threads at once, so calls are serialised by a lock.
    """

    def __init__(self, card: ModelCard, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter  # imported late: a heavy native module

        self.card = card
        self.config = card.preprocessing
        head_path = card.verified_path("head")
        try:
            self.head = HeadWeights.load(head_path)
        except (OSError, KeyError, ValueError) as exc:  # np.load: not an .npz, a missing array, or a pickle refused
            raise ModelFormatError(f"the head weights {head_path.name} cannot be loaded: {exc}") from exc
        gate_path = card.verified_path("scope_gate")
        try:
            self.scope_gate = ScopeGate.load(gate_path)
        except (OSError, KeyError, ValueError) as exc:  # as for the head: not an .npz, an array missing, a pickle refused
            raise ModelFormatError(f"the scope gate {gate_path.name} cannot be loaded: {exc}") from exc
        # The knee detector and the per-knee head (model 2.0.0) are part of the model too: a card without them, or a
        # missing or changed file, is a model this version cannot use (ModelIntegrityError / ModelFormatError).
        self.knee_detector = KneeDetector.load(card.verified_path(DETECTOR_ROLE))
        # Burnt-in R/L markers name the knees' sides where the header does not; a card without the reader: none read.
        if MARKER_ROLE in card.files:
            self.knee_detector.marker_reader = MarkerReader.load(card.verified_path(MARKER_ROLE))
        self.knee_head = KneeHead.from_card(card)
        model_path = card.verified_path("tflite")
        # Computed once, from the files as loaded: every result names the exact model that produced it.
        self.model_sha256 = model_sha256(card)
        self._num_threads = num_threads or _default_threads()
        try:
            with without_native_noise():
                self._interpreter = Interpreter(model_path=str(model_path), num_threads=self._num_threads)
        except (RuntimeError, ValueError) as exc:  # LiteRT's ways of saying the file is not a model it can run
            raise ModelFormatError(f"the model {model_path.name} cannot be loaded by LiteRT: {exc}") from exc
        self._lock = threading.Lock()
        # The last single-image runs (input, logit, features): analysing one file predicts and then explains the
        # same input, and explain() reuses the activations instead of running the network a second time.
        self._recent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        self._batch_size = 0
        self._resize(1)
        details = self._interpreter.get_output_details()
        by_rank = {len(d["shape"]): d for d in details}
        if set(by_rank) != {2, 4}:
            raise ModelFormatError(f"unexpected model outputs: {[d['shape'].tolist() for d in details]}")
        self._features_index = by_rank[4]["index"]
        self._features_shape = tuple(int(n) for n in by_rank[4]["shape"][1:])
        self._features_dtype = by_rank[4]["dtype"]
        self._logit_index = by_rank[2]["index"]

    @classmethod
    def load(cls, model_dir: Path | None = None, num_threads: int | None = None) -> "Classifier":
        return cls(load_model_card(model_dir or default_model_dir()), num_threads=num_threads)

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def threshold(self) -> float:
        """The decision threshold of the results given (per knee, model 2.0.0): the knee head's, not the film head's."""
        return self.knee_head.threshold

    @property
    def scope_gate_id(self) -> str:
        """Which gate decided (its checksum): a result recorded before this gate judged the file is not reused."""
        return str(self.card.files["scope_gate"].get("sha256", ""))[:16]

    @property
    def input_size(self) -> int:
        return self.config.input_size

    def _resize(self, batch_size: int) -> None:
        if batch_size == self._batch_size:
            return
        # Cheap (well under a millisecond) unless the batch grows beyond any size seen before: XNNPACK reshapes in place.
        size = self.config.input_size
        self._interpreter.resize_tensor_input(self._input_index, [batch_size, size, size, 3], strict=False)
        with without_native_noise():
            self._interpreter.allocate_tensors()
        self._batch_size = batch_size

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw model outputs for a batch (N, S, S, 3): logits (N,) and last-block activations (N, h, w, C)."""
        if inputs.ndim != 4 or inputs.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"expected inputs of shape (N, {self.input_size}, {self.input_size}, 3), got {inputs.shape}")
        inputs = np.ascontiguousarray(inputs, np.float32)
        count = inputs.shape[0]
        logits = np.empty(count, dtype=np.float32)
        features = np.empty((count, *self._features_shape), dtype=self._features_dtype)
        interpreter = self._interpreter
        with self._lock:
            for start in range(0, count, MICRO_BATCH):
                chunk = inputs[start : start + MICRO_BATCH]
                self._resize(chunk.shape[0])
                interpreter.set_tensor(self._input_index, chunk)
                interpreter.invoke()
                # get_tensor returns a copy already; writing it into the preallocated arrays is the only other one.
                logits[start : start + chunk.shape[0]] = interpreter.get_tensor(self._logit_index).reshape(-1)
                features[start : start + chunk.shape[0]] = interpreter.get_tensor(self._features_index)
            if count == 1:
                self._recent = [(inputs[0].copy(), logits.copy(), features.copy()), *self._recent[:1]]
        return logits, features

    def _run_one(self, model_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`run` on one input, answered from the last single-image runs when the input is the same."""
        with self._lock:
            for recent_input, logits, features in self._recent:
                if recent_input.shape == model_input.shape and np.array_equal(recent_input, model_input):
                    return logits.copy(), features.copy()
        return self.run(model_input[None])

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Model logits for a batch, averaged with the mirrored image when the card asks for flip averaging."""
        return self._logits_and_backbone(inputs)[0]

    def _logits_and_backbone(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits as :meth:`logits`, and the unmirrored input's out_relu mean-pooled to (N, C), from the same pass."""
        logits, features = self.run(inputs)
        pooled = features.reshape(features.shape[0], -1, features.shape[-1]).astype(np.float32).mean(axis=1)
        if self.card.hflip_tta:
            mirrored, _ = self.run(inputs[:, :, ::-1, :])
            logits = (logits + mirrored) / 2.0
        return logits, pooled

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class (osteoporosis) for a batch."""
        return sigmoid(self.logits(inputs) / self.card.temperature)

    def to_prediction(self, logit: float, warnings: list[str] | None = None, timings_ms: dict[str, float] | None = None) -> Prediction:
        probability = float(sigmoid(np.float64(logit) / self.card.temperature))
        threshold = self.card.threshold
        positive = probability >= threshold
        negative_label, positive_label = self.card.labels
        return Prediction(
            label=positive_label if positive else negative_label,
            probability=probability,
            confidence=probability if positive else 1.0 - probability,
            threshold=threshold,
            model_version=self.card.version,
            model_sha256=self.model_sha256,
            logit=float(logit),
            warnings=list(warnings or []),
            timings_ms=dict(timings_ms or {}),
        )

    def predict_inputs(self, inputs: np.ndarray) -> list[Prediction]:
        """Predictions for a batch of preprocessed inputs; ``timings_ms['inference']`` is the per-image share.

        Each prediction carries its input's pooled backbone activations (``backbone``) for the scope gate.
        """
        start = time.perf_counter()
        logits, pooled = self._logits_and_backbone(inputs)
        per_image = (time.perf_counter() - start) * 1000.0 / max(1, len(inputs))
        predictions = [self.to_prediction(float(z), timings_ms={"inference": per_image}) for z in logits]
        for prediction, backbone in zip(predictions, pooled):
            prediction.backbone = backbone
        return predictions

    def explain(self, model_input: np.ndarray, positive: bool | None = None) -> np.ndarray:
        """Grad-CAM map at the model's feature resolution (h, w), in [0, 1], for one preprocessed input.

        By default it explains the label the model gives; ``positive`` forces the osteoporosis (True) or the normal
        (False) side. With flip averaging the decision is the mean of the image's and its mirror's logits, so the
        map is the mean of both Grad-CAMs, the mirror's flipped back onto the image.
        """
        logits, features = self._run_one(model_input)
        logit = float(logits[0])
        mirrored_features = None
        if self.card.hflip_tta:
            mirrored_logits, mirrored_features = self._run_one(np.ascontiguousarray(model_input[:, ::-1, :]))
            logit = (logit + float(mirrored_logits[0])) / 2.0
        if positive is None:
            positive = bool(sigmoid(logit / self.card.temperature) >= self.card.threshold)
        cam = grad_cam(features[0], self.head, positive=positive)
        if mirrored_features is not None:
            cam = (cam + grad_cam(mirrored_features[0], self.head, positive=positive)[:, ::-1]) / 2.0
            peak = float(cam.max())
            cam = cam / peak if peak > 0 else cam
        return cam.astype(np.float32)
