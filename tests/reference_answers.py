"""Expected answers from outside the code under test, for tests that run the real model (issue 15).

``card()`` is the model card read as plain JSON; ``litert_probability`` runs the shipped .tflite with LiteRT directly
and applies sigmoid(logit / T) by hand; ``assert_a_result`` checks a row (JSON object, FileResult or anything with
the same attributes) against the card and the invariants of a result. A test that compares the command line or the
GUI with the core's own ``analyse_file`` proves only that two paths agree; these say what the right answer is.
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


def litert_probability(path: Path, model_dir: Path = MODEL_DIR) -> float:
    """P(osteoporosis) computed without the project's runtime: LiteRT on the .tflite, sigmoid(logit / T) by hand."""
    from ai_edge_litert.interpreter import Interpreter

    from osteo_desktop.core.model.preprocessing import PreprocessConfig, preprocess
    from osteo_desktop.core.reading.reader import read_radiograph

    model = card(model_dir)
    config = PreprocessConfig.from_dict(model["preprocessing"])
    model_input = preprocess(read_radiograph(path).pixels, config).astype(np.float32)
    interpreter = Interpreter(model_path=str(Path(model_dir) / model["files"]["tflite"]["path"]))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], model_input[None])
    interpreter.invoke()
    # The logit is the output with one value per image; the other output is the feature map.
    logit_detail = next(d for d in interpreter.get_output_details() if int(np.prod(d["shape"])) == 1)
    logit = float(interpreter.get_tensor(logit_detail["index"]).reshape(-1)[0])
    assert not model.get("hflip_tta"), "flip averaging would need the mirrored logit too"
    return 1.0 / (1.0 + math.exp(-logit / model["calibration"]["temperature"]))


def _get(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else getattr(row, key)


def assert_a_result(row: Any, path: Path | None = None, model_dir: Path = MODEL_DIR, places: float = 1e-9) -> None:
    """``row`` is a result that means what it says: the card's threshold, version and labels; the label decided on
    the probability; confidence = probability for a positive, 1 - probability for a normal; and, given the file's
    ``path``, the probability an independent LiteRT run gives. ``places``: the tolerance of printed numbers."""
    model = card(model_dir)
    assert _get(row, "error") is None
    probability = _get(row, "probability")
    assert 0.0 <= probability <= 1.0
    assert _get(row, "threshold") == model["threshold"]
    assert _get(row, "model_version") == model["version"]
    positive = probability >= model["threshold"]
    assert _get(row, "label") == model["labels"]["positive" if positive else "negative"]
    assert _get(row, "confidence") == pytest.approx(probability if positive else 1.0 - probability, abs=places)
    if path is not None:
        assert probability == pytest.approx(litert_probability(path, model_dir), abs=2e-3)
