"""Evaluation arithmetic against brute-force definitions; augmentation's identity and reproducibility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from osteo_desktop.training.augment import AugmentConfig, augmented_copies, random_affine
from osteo_desktop.training.metrics import (
    bootstrap_intervals,
    fit_temperature,
    reliability,
    roc_auc,
    sigmoid,
    spearman,
    threshold_metrics,
    youden_threshold,
)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scores = np.round(y * 0.8 + rng.normal(0, 0.6, n), 1)  # rounding creates ties
    return y, scores


def test_auc_equals_pairwise_count_with_ties():
    y, s = _data()
    pairs = list(itertools.product(s[y == 1], s[y == 0]))
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert roc_auc(y, s) == pytest.approx(expected)


def test_threshold_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.4])
    m = threshold_metrics(y, p, 0.5)  # TP 2, FN 1, FP 1, TN 3
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 4) and m["f1"] == pytest.approx(2 / 3)


def test_youden_threshold_maximises_j():
    y, s = _data(seed=1)
    p = sigmoid(s)
    t = youden_threshold(y, p)
    def j(th):
        m = threshold_metrics(y, p, th)
        return m["recall"] + m["specificity"] - 1
    assert j(t) == pytest.approx(max(j(th) for th in np.unique(p)))


def test_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(2)
    true_logits = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < sigmoid(true_logits)).astype(int)
    assert fit_temperature(y, true_logits * 3.0) == pytest.approx(3.0, rel=0.08)


def test_ece_small_for_calibrated_and_large_for_overconfident():
    rng = np.random.default_rng(3)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    assert reliability(y, p)[0] < 0.02
    assert reliability(y, (p > 0.5).astype(float) * 0.98 + 0.01)[0] > 0.15


def test_bootstrap_interval_contains_point_estimate():
    y, s = _data(seed=4)
    ci = bootstrap_intervals(y, sigmoid(s), 0.5, resamples=200)
    for m in ci.values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"]


def test_spearman_of_monotone_transform_is_one():
    x = np.random.default_rng(5).normal(size=50)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0) and spearman(x, -x) == pytest.approx(-1.0)


def test_augmentation_identity_reproducible_and_black_fill():
    grey = np.random.default_rng(6).uniform(-1, 1, (64, 64)).astype(np.float32)
    identity = AugmentConfig(rotation_deg=0, zoom=0, shift=0, shear_deg=0)
    assert np.array_equal(random_affine(grey, np.random.default_rng(0), identity), grey)
    a = augmented_copies(grey, 3, seed=7, config=AugmentConfig())
    assert np.array_equal(a, augmented_copies(grey, 3, seed=7, config=AugmentConfig()))
    assert not np.array_equal(a[0], a[1])
    # A shift leaves part of the canvas uncovered; it must be the padding black (-1), never another value.
    rng = np.random.default_rng(1)
    shifted = np.stack([random_affine(np.ones((64, 64), np.float32), rng, AugmentConfig(0, 0, 0.25, 0)) for _ in range(8)])
    assert shifted.min() == pytest.approx(-1.0) and shifted.max() == pytest.approx(1.0)
    assert np.isin(shifted[:, 5:-5, 5:-5].round(3), [-1.0, 1.0]).mean() > 0.9


def test_recipe_overrides_switch_each_part_of_the_paper_recipe():
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("the training commands need the training extra")
    from osteo_desktop.training.commands import apply_override
    from osteo_desktop.training.recipe import MODEL2

    recipe = apply_override(MODEL2, "augment=false")
    recipe = apply_override(recipe, "class_weights=false")
    recipe = apply_override(recipe, "lr_schedule=false")
    recipe = apply_override(recipe, "preprocessing.input_size=320")
    recipe = apply_override(recipe, "preprocessing.aspect=squash")
    recipe = apply_override(recipe, "augment_config.rotation_deg=5")
    assert (recipe.augment, recipe.class_weights, recipe.lr_schedule) == (False, False, False)
    assert recipe.preprocessing.input_size == 320 and recipe.preprocessing.aspect == "squash"
    assert recipe.augment_config.rotation_deg == 5
    for bad in ("nonsense=1", "preprocessing.aspect=diagonal", "augment", "other.field=1"):
        with pytest.raises(SystemExit):
            apply_override(MODEL2, bad)
