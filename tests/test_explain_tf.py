"""The NumPy Grad-CAM (core/explain.py) equals a Grad-CAM computed by TensorFlow's autodiff on the Keras model."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.model.explain import grad_cam
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.preprocessing import preprocess

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


def _tf_grad_cam(model, image: np.ndarray, positive: bool) -> np.ndarray:
    """Textbook Grad-CAM: channel weights are the spatially averaged gradient of the logit w.r.t. the activations."""
    import tensorflow as tf

    backbone = next(layer for layer in model.layers if layer.name.startswith("mobilenetv2"))
    pooling = model.get_layer("gap")
    heads = [layer for layer in model.layers if layer.name.startswith("head")]
    features = tf.constant(np.asarray(backbone(image[None], training=False)))
    with tf.GradientTape() as tape:
        tape.watch(features)
        pooled = pooling(features)
        logit = tf.reduce_mean(tf.stack([head(pooled, training=False) for head in heads]), axis=0)[0, 0]
        target = logit if positive else -logit
    gradient = tape.gradient(target, features)[0].numpy()
    alpha = gradient.mean(axis=(0, 1))
    cam = np.maximum(features[0].numpy() @ alpha, 0.0)
    return cam / cam.max() if cam.max() > 0 else cam, features[0].numpy()


@pytest.mark.parametrize("label", ["normal", "osteoporosis"])
@pytest.mark.parametrize("positive", [True, False])
def test_numpy_grad_cam_equals_tensorflow(classifier, keras_model, knee_images, label, positive):
    image = preprocess(read_radiograph(knee_images[label][0], target_size=classifier.input_size).pixels, classifier.config)
    expected, features = _tf_grad_cam(keras_model, image, positive)
    actual = grad_cam(features, classifier.head, positive=positive)
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) < 1e-4
    assert actual.max() == pytest.approx(1.0) or actual.max() == 0.0
