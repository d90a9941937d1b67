"""One file, end to end: read, preprocess, predict, explain. The path the GUI, the command line and tests share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.explain import upsample_map
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.preprocessing import InputGeometry, map_to_original, preprocess_with_geometry
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.model.runtime import Classifier, Prediction
from osteo_desktop.core.results.result import FileResult


@dataclass
class Analysis:
    """Everything shown for one image. ``model_input`` is exactly what the model was given."""

    radiograph: Radiograph
    model_input: np.ndarray
    geometry: InputGeometry
    prediction: Prediction
    explanation: np.ndarray | None = None  # on the model input grid, (size, size), in [0, 1]

    @property
    def result(self) -> FileResult:
        """The analysis as a result record: what the history stores and the words in :mod:`~osteo_desktop.core.results.text` describe."""
        return FileResult.from_prediction(self.radiograph.path, self.prediction)

    def explanation_on_original(self) -> np.ndarray | None:
        if self.explanation is None:
            return None
        return map_to_original(self.explanation, self.geometry)


def analyse_radiograph(radiograph: Radiograph, classifier: Classifier, explain: bool = True, read_ms: float = 0.0) -> Analysis:
    start = time.perf_counter()
    model_input, geometry = preprocess_with_geometry(radiograph.pixels, classifier.config)
    preprocess_ms = (time.perf_counter() - start) * 1000.0
    prediction = classifier.predict_inputs(model_input[None])[0]
    prediction.warnings = list(radiograph.warnings)
    prediction.timings_ms = {"read": read_ms, "preprocess": preprocess_ms, **prediction.timings_ms}
    explanation = None
    if explain:
        start = time.perf_counter()
        size = classifier.input_size
        explanation = upsample_map(classifier.explain(model_input, positive=prediction.label == classifier.card.labels[1]), size, size)
        prediction.timings_ms["explain"] = (time.perf_counter() - start) * 1000.0
    return Analysis(radiograph, model_input, geometry, prediction, explanation)


def analyse_file(path: str | Path, classifier: Classifier, explain: bool = True) -> Analysis:
    """Read and analyse one file. Raises :class:`~osteo_desktop.core.errors.ImageReadError` for unreadable input."""
    start = time.perf_counter()
    radiograph = read_radiograph(path, target_size=classifier.input_size)
    read_ms = (time.perf_counter() - start) * 1000.0
    return analyse_radiograph(radiograph, classifier, explain=explain, read_ms=read_ms)
