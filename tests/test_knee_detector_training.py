"""The knee detector's training helpers on hand-worked cases (no shared data, no model file)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.model.knee_detector import KneeDetector, Windows
from osteo_desktop.training.knee_detector import Film, Outcome, choose_thresholds, fit_logistic, match, square_box


@pytest.mark.parametrize("box, size, expected", [
    ((10, 20, 110, 120), (500, 500), (10, 20, 100)),  # inside the film: unchanged
    ((0, 20, 60, 120), (500, 500), (-40, 20, 100)),  # clipped at the left edge: grows to the left
    ((440, 20, 500, 120), (500, 500), (440, 20, 100)),  # clipped at the right edge: grows to the right
    ((10, 0, 110, 70), (500, 500), (10, -30, 100)),  # clipped at the top
    ((0, 0, 224, 200), (224, 200), (0, -12, 224)),  # both vertical edges touched: the centre stays
])
def test_square_box_undoes_the_film_edge_clip(box, size, expected):
    assert square_box(box, *size) == pytest.approx(expected)


def test_match_is_one_to_one_and_measures_the_boxes():
    truth = [(0, 0, 100, 100), (300, 0, 400, 100)]
    found = [(310, 10, 410, 110), (0, 0, 100, 100), (5, 5, 105, 105)]
    (iou_a, inside_a, ratio_a, offset_a), (iou_b, inside_b, ratio_b, offset_b) = match(truth, found)
    assert (iou_a, inside_a, ratio_a, offset_a) == (1.0, True, 1.0, 0.0)  # the exact box wins, its neighbour is spare
    assert iou_b == pytest.approx(8100 / 11900) and inside_b and ratio_b == 1.0
    assert offset_b == pytest.approx(math.hypot(10, 10) / 100)
    missed = match(truth, [])
    assert [m[:2] for m in missed] == [(0.0, False), (0.0, False)]


def test_logistic_fit_separates_a_separable_set():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 1764)).astype(np.float32)
    y = (x[:, 0] > 0).astype(float)
    weights, bias = fit_logistic(x, y)
    scores = x @ weights.ravel() + bias
    assert np.mean((scores > 0) == (y > 0)) > 0.95
    assert abs(weights.ravel()[0]) == pytest.approx(np.abs(weights).max())  # the informative feature dominates


def outcome(count: int, best: float, partner: float | None) -> Outcome:
    film = Film("knee-xray", f"f{best}{partner}.png", Path("x"), "a/b", 0, 1000, 1000, count, [(0, 0, 1, 1)] * count)
    boxes = [[100.0, 100.0, 100.0]]
    scores = [best]
    if partner is not None:  # beside the first at the same height and size: a possible other knee
        boxes.append([600.0, 100.0, 100.0])
        scores.append(partner)
    return Outcome(film, Windows(np.array(scores, np.float32), np.array(boxes)), 1.0)


def test_pair_threshold_splits_one_from_two_knee_films():
    template = KneeDetector(np.zeros((7, 7, 36)), 0.0, 0.0, 0.0)
    outcomes = [outcome(1, 5.0, -3.0), outcome(1, 4.0, -2.0), outcome(2, 5.0, 1.0), outcome(2, 6.0, 2.0)]
    _, pair = choose_thresholds(outcomes, template)
    assert -2.0 < pair < 1.0  # every film counted right, and the cut lies between the two groups
    assert pair == pytest.approx(-0.5)
