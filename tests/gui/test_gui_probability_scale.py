"""The probability scale keeps every knee's side label readable, also when two knees' probabilities are close."""

from __future__ import annotations

import itertools

import pytest

from osteo_desktop.gui.probability_scale import ProbabilityScale

GREEN, ORANGE = "#3cb878", "#e8873a"
WIDTH = 360  # the track runs from x 10 to x WIDTH - 10


def marker_x(probability: float) -> float:
    return 10 + probability * (WIDTH - 20)


@pytest.fixture
def scale(qtbot):
    widget = ProbabilityScale()
    qtbot.addWidget(widget)
    widget.resize(WIDTH, 54)
    return widget


@pytest.mark.parametrize("values", [(0.41, 0.43), (0.43, 0.41), (0.5, 0.5), (0.0, 0.01), (0.99, 1.0), (0.2, 0.21, 0.22)])
def test_close_labels_do_not_intersect_and_stay_inside(scale, values):
    marks = ["R", "L", "?"][: len(values)]
    scale.set_values(0.36, [(mark, p, GREEN) for mark, p in zip(marks, values)])
    rects = scale.label_rects()
    assert len(rects) == len(values)
    for a, b in itertools.combinations(rects, 2):
        assert not a.intersects(b), (a, b)
    for rect in rects:
        assert rect.width() > 0 and rect.left() >= 0 and rect.right() <= WIDTH


def test_close_labels_keep_probability_order_and_stay_near_their_markers(scale):
    scale.set_values(0.36, [("R", 0.43, ORANGE), ("L", 0.41, ORANGE)])
    right_knee, left_knee = scale.label_rects()
    assert left_knee.right() <= right_knee.left()  # the lower probability's label is on the left
    for rect, probability in ((right_knee, 0.43), (left_knee, 0.41)):
        assert abs(rect.center().x() - marker_x(probability)) < 20  # still over its own marker's neighbourhood


def test_labels_far_apart_sit_centred_over_their_markers(scale):
    scale.set_values(0.36, [("R", 0.2, GREEN), ("L", 0.8, ORANGE)])
    for rect, probability in zip(scale.label_rects(), (0.2, 0.8)):
        assert rect.center().x() == pytest.approx(marker_x(probability), abs=0.01)
    assert scale.label_rects()[0].bottom() <= 20 - 8 + 0.01  # above the marker's triangle, which tops out at y 12
