"""The shipped ``.tflite`` computes what the Keras model it was exported from computes, on real knee images."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.preprocessing import preprocess

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def inputs(classifier, knee_images):
    paths = [p for label in sorted(knee_images) for p in knee_images[label][:2]]
    return np.stack([preprocess(read_radiograph(p, target_size=classifier.input_size).pixels, classifier.config) for p in paths])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def test_probabilities_agree(classifier, keras_model, inputs):
    features, logits = keras_model(inputs, training=False)
    keras_p = _sigmoid(np.asarray(logits).reshape(-1) / classifier.card.temperature)
    tflite_logits, tflite_features = classifier.run(inputs)
    tflite_p = _sigmoid(tflite_logits / classifier.card.temperature)
    assert np.max(np.abs(keras_p - tflite_p)) < 1e-4, (keras_p, tflite_p)
    assert tflite_features.shape == tuple(np.asarray(features).shape)
    assert np.allclose(tflite_features, np.asarray(features), atol=1e-3)


def test_head_npz_matches_keras_heads(classifier, keras_model, inputs):
    # head.npz drives the Grad-CAM; its logit from the Keras features must be the model's logit.
    features, logits = keras_model(inputs, training=False)
    pooled = np.asarray(features).mean(axis=(1, 2))
    npz_logits = [classifier.head.logit_and_gradient(g)[0] for g in pooled]
    assert np.allclose(npz_logits, np.asarray(logits).reshape(-1), atol=1e-4)

