"""Expected answers from outside the code under test, for tests that run the real model (issue 15).

``card()`` is the model card read as plain JSON. Since model 2.0.0 a result is per knee: the knee head (the card's
``knee_model`` section: its threshold and temperature decide) gives each knee found on the film its probability,
and the file's label, probability and confidence are those of its most suspicious knee. ``litert_knee_probability``
computes one knee's probability without the project's runtime or knee model: the knee's region cut by the one
preprocessing function, LiteRT on the shipped .tflite, the knee head's dense layers and sigmoid(logit / T) by hand.
``assert_a_result`` checks a row (JSON object, FileResult or anything with the same attributes) against the card
and the invariants of a result. A test that compares the command line or the GUI with the core's own
``analyse_file`` proves only that two paths agree; these say what the right answer is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared_paths import REPO_ROOT

MODEL_DIR = REPO_ROOT / "model_weights"


def card(model_dir: Path = MODEL_DIR) -> dict:
    return json.loads((Path(model_dir) / "model_card.json").read_text())


def litert_knee_probability(path: Path, box: Any, model_dir: Path = MODEL_DIR) -> float:
    """P(osteoporosis) of the knee at ``box`` (x0, y0, x1, y1 in the file's pixels) on the film at ``path``."""
    from ai_edge_litert.interpreter import Interpreter

    from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_region
    from osteo_desktop.core.reading.reader import read_radiograph

    model = card(model_dir)
    section = model["knee_model"]
    region, _ = knee_region(read_radiograph(path).pixels, tuple(int(v) for v in box),
                            KneeRegionConfig.from_dict(section["region"]))
    inputs = [region] + ([region[:, ::-1]] if section.get("hflip_tta") else [])
    interpreter = Interpreter(model_path=str(Path(model_dir) / model["files"]["tflite"]["path"]))
    interpreter.allocate_tensors()
    features_detail = next(d for d in interpreter.get_output_details() if len(d["shape"]) == 4)
    with np.load(Path(model_dir) / model["files"]["knee_head"]["path"], allow_pickle=False) as data:
        w1, b1, w2, b2, w3, b3 = (np.asarray(data[k], np.float64) for k in ("w1", "b1", "w2", "b2", "w3", "b3"))
    logits = []
    for model_input in inputs:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                               np.ascontiguousarray(model_input, np.float32)[None])
        interpreter.invoke()
        pooled = interpreter.get_tensor(features_detail["index"])[0].astype(np.float64).mean(axis=(0, 1))
        heads = []
        for k in range(w1.shape[0]):  # ReLU(x W1 + b1) -> ReLU(. W2 + b2) -> . w3 + b3, averaged over the heads
            hidden = np.maximum(np.maximum(pooled @ w1[k] + b1[k], 0) @ w2[k] + b2[k], 0)
            heads.append(float(hidden @ w3[k].reshape(-1) + b3.reshape(w1.shape[0], -1)[k, 0]))
        logits.append(np.mean(heads))
    return 1.0 / (1.0 + math.exp(-float(np.mean(logits)) / section["temperature"]))


def _get(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else getattr(row, key)


def _decided(item: Any, threshold: float, labels: dict, places: float) -> None:
    """The label decided on the probability at ``threshold``; confidence = probability for a positive, 1 - it else."""
    probability = _get(item, "probability")
    assert 0.0 <= probability <= 1.0
    positive = probability >= threshold
    assert _get(item, "label") == labels["positive" if positive else "negative"]
    assert _get(item, "confidence") == pytest.approx(probability if positive else 1.0 - probability, abs=places)


def assert_a_result(row: Any, path: Path | None = None, model_dir: Path = MODEL_DIR, places: float = 1e-9) -> None:
    """``row`` is a result that means what it says: the knee model's threshold, the card's version and labels; at
    least one knee, each decided on its own probability; the file's label, probability and confidence those of its
    most suspicious knee; and, given the file's ``path``, each knee's probability what an independent LiteRT run
    gives for its box. ``places``: the tolerance of printed numbers."""
    model = card(model_dir)
    threshold = model["knee_model"]["threshold"]
    assert _get(row, "error") is None
    assert _get(row, "threshold") == threshold
    assert _get(row, "model_version") == model["version"]
    _decided(row, threshold, model["labels"], places)
    knees = _get(row, "knees")
    assert knees, "a result is given only for a film with a knee on it"
    for knee in knees:
        _decided(knee, threshold, model["labels"], places)
        assert _get(knee, "side") in ("right", "left", "unknown")
    worst = max(_get(knee, "probability") for knee in knees)
    assert _get(row, "probability") == pytest.approx(worst, abs=places)
    if path is not None:
        for knee in knees:
            assert _get(knee, "probability") == pytest.approx(litert_knee_probability(path, _get(knee, "box")), abs=2e-3)
