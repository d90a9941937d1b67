"""One epoch on a small subset through the real training path (features, head, export, card), then the app's
runtime loads the export and predicts a real radiograph."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shared_paths import IMAGENET_WEIGHTS, KNEE_DIR

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


def test_train_one_epoch_export_and_predict(tmp_path, knee_manifest, knee_images):
    pytest.importorskip("tensorflow")
    if not IMAGENET_WEIGHTS.is_file():
        pytest.skip(f"ImageNet weights not found at {IMAGENET_WEIGHTS}")
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.training.commands import train_main

    out = tmp_path / "model"
    code = train_main([
        "--data", str(KNEE_DIR), "--imagenet-weights", str(IMAGENET_WEIGHTS), "--subset", "16", "--epochs", "1",
        "--copies", "1", "--skip-cv", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--seed", "3",
    ])
    assert code == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["training_data"]["binary_images_used"] == 16
    assert card["training_data"]["manifest_sha256"]
    assert card["recipe"]["max_epochs"] == 1
    assert all((out / entry["path"]).stat().st_size < 20_000_000 for entry in card["files"].values())

    classifier = Classifier.load(out, num_threads=1)
    assert classifier.card.preprocessing.to_dict() == card["preprocessing"]
    analysis = analyse_file(knee_images["osteoporosis"][0], classifier)
    assert 0.0 <= analysis.prediction.probability <= 1.0
    assert analysis.prediction.label in ("normal", "osteoporosis")
    assert analysis.explanation is not None and np.isfinite(analysis.explanation).all()
