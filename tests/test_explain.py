"""The NumPy Grad-CAM: its analytic gradient against finite differences, and its maps on real images."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.model.explain import HeadWeights, grad_cam, upsample_map


def _random_head(rng: np.random.Generator, heads: int = 2, channels: int = 16) -> HeadWeights:
    return HeadWeights(
        w1=rng.normal(0, 0.3, (heads, channels, 12)).astype(np.float32),
        b1=rng.normal(0, 0.1, (heads, 12)).astype(np.float32),
        w2=rng.normal(0, 0.3, (heads, 12, 8)).astype(np.float32),
        b2=rng.normal(0, 0.1, (heads, 8)).astype(np.float32),
        w3=rng.normal(0, 0.3, (heads, 8)).astype(np.float32),
        b3=rng.normal(0, 0.1, (heads,)).astype(np.float32),
    )


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    head = _random_head(rng)
    pooled = rng.uniform(0, 1, 16).astype(np.float64)
    _, gradient = head.logit_and_gradient(pooled)
    eps = 1e-3
    numeric = np.array(
        [
            (head.logit_and_gradient(pooled + eps * np.eye(16)[k])[0] - head.logit_and_gradient(pooled - eps * np.eye(16)[k])[0]) / (2 * eps)
            for k in range(16)
        ]
    )
    np.testing.assert_allclose(gradient, numeric, rtol=2e-2, atol=2e-3)


def test_cam_is_normalised_and_follows_the_gradient_sign():
    rng = np.random.default_rng(2)
    head = _random_head(rng, heads=1)
    features = rng.uniform(0, 1, (7, 7, 16)).astype(np.float32)
    positive = grad_cam(features, head, positive=True)
    negative = grad_cam(features, head, positive=False)
    assert positive.shape == (7, 7) and 0.0 <= positive.min() and positive.max() == pytest.approx(1.0)
    # the two sides of the decision highlight complementary evidence
    assert not np.allclose(positive, negative)


def test_upsample_keeps_range():
    cam = np.linspace(0, 1, 49, dtype=np.float32).reshape(7, 7)
    big = upsample_map(cam, 224, 224)
    assert big.shape == (224, 224) and big.min() >= 0.0 and big.max() <= 1.0


def test_shipped_head_reproduces_the_tflite_logit(classifier, knee_images):
    """head.npz and the .tflite must describe the same network, or the explanation explains another model."""
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.core.model.preprocessing import preprocess

    for path in knee_images["osteoporosis"][:2] + knee_images["normal"][:2]:
        model_input = preprocess(read_radiograph(path).pixels, classifier.config)
        logits, features = classifier.run(model_input[None])
        pooled = features[0].reshape(-1, features.shape[-1]).mean(axis=0)
        numpy_logit, _ = classifier.head.logit_and_gradient(pooled)
        assert numpy_logit == pytest.approx(float(logits[0]), abs=1e-3)
        cam = classifier.explain(model_input)
        assert cam.shape == features.shape[1:3] and cam.max() == pytest.approx(1.0)


def test_flip_averaged_explanation_is_mirror_symmetric(tmp_path, knee_images):
    """With flip averaging in the card, explaining an image and its mirror must give mirrored maps."""
    import json

    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.core.model.card import CARD_FILENAME
    from osteo_desktop.core.paths import default_model_dir
    from osteo_desktop.core.model.preprocessing import preprocess
    from osteo_desktop.core.model.runtime import Classifier

    shipped = default_model_dir()
    card = json.loads((shipped / CARD_FILENAME).read_text())
    for entry in card["files"].values():
        (tmp_path / entry["path"]).symlink_to(shipped / entry["path"])
    card["hflip_tta"] = True
    (tmp_path / CARD_FILENAME).write_text(json.dumps(card))
    classifier = Classifier.load(tmp_path)

    model_input = preprocess(read_radiograph(knee_images["osteoporosis"][0]).pixels, classifier.config)
    mirrored = np.ascontiguousarray(model_input[:, ::-1, :])
    cam = classifier.explain(model_input, positive=True)
    cam_of_mirror = classifier.explain(mirrored, positive=True)
    np.testing.assert_allclose(cam, cam_of_mirror[:, ::-1], atol=1e-5)
    # and the flip-averaged decision is the mean of the two logits
    plain, flipped = classifier.run(np.stack([model_input, mirrored]))[0]
    assert classifier.logits(model_input[None])[0] == pytest.approx((plain + flipped) / 2, abs=1e-5)
