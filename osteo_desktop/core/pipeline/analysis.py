"""One file, end to end: read, preprocess, judge the scope, predict, explain. The path the GUI, the command line and
tests share; a folder scan (:mod:`~osteo_desktop.core.pipeline.scanning`) takes the same steps in batches, through
:func:`scope_evidence` and :func:`settle`.

A file the scope gate declines (not a frontal knee radiograph) gets no prediction and no explanation: the model's
output on it is computed (the gate reads the same backbone pass) but never handed out.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.explain import upsample_map
from osteo_desktop.core.model.preprocessing import InputGeometry, map_to_original, preprocess_with_geometry
from osteo_desktop.core.model.runtime import Classifier, Prediction
from osteo_desktop.core.model.scope import ScopeDecision, ScopeEvidence, look
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.reading.reader import read_file_bytes, read_radiograph
from osteo_desktop.core.results.result import FileResult


def scope_evidence(radiograph: Radiograph) -> ScopeEvidence:
    """What the gate takes from the film before the model runs (its header, whether it is blank, its statistics)."""
    return look(radiograph.pixels, radiograph.metadata)


def settle(row: FileResult, classifier: Classifier, evidence: ScopeEvidence, prediction: Prediction | None) -> ScopeDecision:
    """Give ``row`` the model's verdict or decline it, as the scope gate decides; returns the decision.

    ``prediction`` may be None only when ``evidence`` already decided (a non-radiograph modality, a blank image).
    """
    decision = classifier.scope_gate.judge(evidence, None if prediction is None else prediction.backbone)
    if decision.in_scope and prediction is not None:
        row.apply_prediction(prediction)
        row.scope_gate = classifier.scope_gate_id
    else:
        row.decline(decision.reason or "not a knee radiograph")
    return decision


@dataclass
class Analysis:
    """Everything shown for one image. ``model_input`` is exactly what the model was given.

    ``prediction`` and ``explanation`` are None when the scope gate declined the file (``scope.in_scope`` False):
    there is no result to show. ``warnings`` and ``timings_ms`` are the file's either way.
    """

    radiograph: Radiograph
    model_input: np.ndarray
    geometry: InputGeometry
    prediction: Prediction | None
    explanation: np.ndarray | None = None  # on the model input grid, (size, size), in [0, 1]
    scope: ScopeDecision | None = None
    model_version: str = ""
    model_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    scope_gate: str | None = None  # the gate that let the result through (None when declined)
    file_sha256: str | None = None  # of the bytes analysed (set when the file was read here, by analyse_file)

    @property
    def declined(self) -> bool:
        return self.prediction is None

    @property
    def out_of_scope(self) -> str | None:
        """The gate's reason when the file was declined, else None."""
        return None if self.scope is None or self.scope.in_scope else self.scope.reason

    @property
    def result(self) -> FileResult:
        """The analysis as a result record: what the history stores and the words in :mod:`~osteo_desktop.core.results.text` describe."""
        row = FileResult(path=str(self.radiograph.path), model_version=self.model_version or None,
                         model_sha256=self.model_sha256, file_sha256=self.file_sha256,
                         warnings=list(self.warnings), timings_ms=dict(self.timings_ms))
        if self.prediction is None:
            row.decline(self.out_of_scope or "not a knee radiograph")
        else:
            row.apply_prediction(self.prediction)
            row.scope_gate = self.scope_gate
        return row

    def explanation_on_original(self) -> np.ndarray | None:
        if self.explanation is None:
            return None
        return map_to_original(self.explanation, self.geometry)


def analyse_radiograph(radiograph: Radiograph, classifier: Classifier, explain: bool = True, read_ms: float = 0.0) -> Analysis:
    start = time.perf_counter()
    evidence = scope_evidence(radiograph)
    model_input, geometry = preprocess_with_geometry(radiograph.pixels, classifier.config)
    preprocess_ms = (time.perf_counter() - start) * 1000.0
    # A film the header (or its blankness) already declines never reaches the model.
    prediction = classifier.predict_inputs(model_input[None])[0] if evidence.decided is None else None
    timings = {"read": read_ms, "preprocess": preprocess_ms, **(prediction.timings_ms if prediction else {})}
    row = FileResult(path=str(radiograph.path))
    decision = settle(row, classifier, evidence, prediction)
    if not decision.in_scope:
        prediction = None
    explanation = None
    if prediction is not None:
        prediction.warnings = list(radiograph.warnings)
        prediction.timings_ms = timings
        if explain:
            start = time.perf_counter()
            size = classifier.input_size
            positive = prediction.label == classifier.card.labels[1]
            explanation = upsample_map(classifier.explain(model_input, positive=positive), size, size)
            timings["explain"] = (time.perf_counter() - start) * 1000.0
    return Analysis(radiograph, model_input, geometry, prediction, explanation, scope=decision,
                    model_version=classifier.version, model_sha256=classifier.model_sha256, warnings=list(radiograph.warnings), timings_ms=timings,
                    scope_gate=row.scope_gate)


def analyse_file(path: str | Path, classifier: Classifier, explain: bool = True) -> Analysis:
    """Read and analyse one file. Raises :class:`~osteo_desktop.core.errors.ImageReadError` for unreadable input."""
    start = time.perf_counter()
    data = read_file_bytes(path)  # read once: the content hashed is the content analysed
    radiograph = read_radiograph(path, target_size=classifier.input_size, data=data)
    read_ms = (time.perf_counter() - start) * 1000.0
    analysis = analyse_radiograph(radiograph, classifier, explain=explain, read_ms=read_ms)
    analysis.file_sha256 = hashlib.sha256(data).hexdigest()
    return analysis
