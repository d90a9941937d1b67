"""Pins the shipped model's outputs on fixed shared radiographs.

A change in reading, preprocessing, export or the card's calibration moves these numbers and fails here. After a
deliberate retraining, regenerate the pins with ``python tests/test_model_regression.py`` and update
``PINNED_VERSION`` with the card's new version.
"""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.preprocessing import preprocess

PINNED_VERSION = "2.1.0"  # the pins are the whole-film head's (unchanged since 1.1.0), run on the same backbone pass
PINNED = {
    "normal/normal_a37ea09879fd.jpg": 0.154136,
    "normal/normal_0856ae6ce4fd.jpg": 0.301198,
    "osteopenia/osteopenia_119cd3d93a6c.jpg": 0.608291,
    "osteoporosis/osteoporosis_5a3a99f1eee5.jpg": 0.642490,
    "osteoporosis/osteoporosis_5c8fd5877ae7.jpg": 0.716469,
}
TOLERANCE = 1e-4


def probabilities(classifier, files: list[str]) -> np.ndarray:
    from shared_paths import KNEE_DIR

    inputs = np.stack([
        preprocess(read_radiograph(KNEE_DIR / name, target_size=classifier.input_size).pixels, classifier.config) for name in files
    ])
    return classifier.probabilities(inputs)


def test_shipped_model_outputs_are_pinned(classifier, knee_manifest):
    version = classifier.card.version
    assert version == PINNED_VERSION, (
        f"the shipped model is version {version} but the pins are for {PINNED_VERSION}; regenerate them after retraining"
    )
    files = list(PINNED)
    actual = probabilities(classifier, files)
    for name, expected, got in zip(files, PINNED.values(), actual):
        assert abs(got - expected) < TOLERANCE, f"model {version}: {name} gives p={got:.6f}, pinned {expected:.6f}"


# The per-knee path (issue 11) pinned on its own: the knee detector's boxes and sides, each knee's region, the knee
# head and its calibration. Pinned for knee model 2.1.0 (the framing-consistent knee head; detector unchanged), 2026-12-02.
PINNED_KNEE_VERSION = "2.1.0"
PINNED_KNEES = {
    "normal/normal_0856ae6ce4fd.jpg": {"right": 0.409319, "left": 0.399094},
    "osteoporosis/osteoporosis_5c8fd5877ae7.jpg": {"right": 0.648408, "left": 0.554043},
    "normal/normal_a37ea09879fd.jpg": {"unknown": 0.334053},
}


def test_end_to_end_analysis_gives_the_pinned_knees_and_label(classifier, knee_manifest):  # skips without the data
    # The path the GUI and `osteo predict` take: read, gate, knees, each knee's region, knee head, calibration.
    from shared_paths import KNEE_DIR
    from osteo_desktop.core.pipeline.analysis import analyse_file

    if classifier.knee_head.version != PINNED_KNEE_VERSION:
        pytest.skip("pins are for another knee model version")
    for name, pinned in PINNED_KNEES.items():
        row = analyse_file(KNEE_DIR / name, classifier, explain=False).result
        assert {k.side: round(k.probability, 6) for k in row.knees} == pytest.approx(pinned, abs=TOLERANCE), name
        worst = max(pinned.values())  # the file's result is its most suspicious knee's
        assert abs(row.probability - worst) < TOLERANCE
        assert row.label == ("osteoporosis" if worst >= classifier.knee_head.threshold else "normal")


if __name__ == "__main__":  # regenerate the pins for the model now in model_weights/
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from osteo_desktop.core.model.runtime import Classifier

    model = Classifier.load()
    for name, p in zip(PINNED, probabilities(model, list(PINNED))):
        print(f'    "{name}": {p:.6f},')
    print("version", model.card.version)
