"""Patient sides from burnt-in R/L markers: the rules of knee_sides, worked out by hand on made-up positions.

A marker is (letter, x, y) in the film's pixels. Two knees at x = 100 and x = 700 have their midline at 400 and are
600 apart, so a marker names a knee only when it lies more than 0.25 * 600 = 150 px from x = 400 (x < 250 or
x > 550).
"""
from __future__ import annotations

import logging

import pytest

from osteo_desktop.core.model.knee_sides import assign_sides, sides_from_markers

VIEWER_LEFT, VIEWER_RIGHT = (100.0, 500.0), (700.0, 500.0)
LONE = [(300.0, 400.0)]


def header(orientation=None, laterality=None, view=None) -> dict:
    return {"patient_orientation": orientation, "image_laterality": laterality, "view_position": view}


@pytest.mark.parametrize("markers, expected", [
    ([("R", 20.0, 50.0)], "right"),
    ([("L", 380.0, 50.0)], "left"),
    ([("R", 20.0, 50.0), ("R", 30.0, 900.0)], "right"),  # two reads of R agree
    ([("R", 20.0, 50.0), ("L", 380.0, 50.0)], "unknown"),  # R and L on one lone knee: nothing certain
    ([], "unknown"),
    (None, "unknown"),
])
def test_lone_knee_takes_the_side_its_markers_name(markers, expected):
    assert assign_sides(LONE, None, markers) == [expected]


@pytest.mark.parametrize("markers, expected", [
    # An R beside the viewer's left knee: the hanging convention confirmed.
    ([("R", 60.0, 100.0)], ["right", "left"]),
    # An L beside the viewer's left knee: the film is the other way round.
    ([("L", 60.0, 100.0)], ["left", "right"]),
    # An R beside the viewer's RIGHT knee: swapped too.
    ([("R", 760.0, 100.0)], ["left", "right"]),
    # R left and L right: both say the convention.
    ([("R", 60.0, 100.0), ("L", 740.0, 100.0)], ["right", "left"]),
    # R at x = 260: 140 px from the midline, inside the 150 px band -> says nothing -> the convention stays.
    ([("L", 260.0, 100.0)], ["right", "left"]),
    # Just outside the band (x = 249) it names the viewer's left knee.
    ([("L", 249.0, 100.0)], ["left", "right"]),
    # Two markers that contradict each other (both R, one beside each knee): the convention stays.
    ([("R", 60.0, 100.0), ("R", 760.0, 100.0)], ["right", "left"]),
])
def test_two_knees_the_knee_a_marker_lies_nearer_takes_its_side(markers, expected):
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], None, markers) == expected
    # The answer belongs to the knee, not to the list position.
    assert assign_sides([VIEWER_RIGHT, VIEWER_LEFT], None, markers) == expected[::-1]


def test_sides_from_markers_says_none_when_markers_give_nothing():
    assert sides_from_markers([VIEWER_LEFT, VIEWER_RIGHT], []) is None
    assert sides_from_markers([VIEWER_LEFT, VIEWER_RIGHT], [("R", 400.0, 0.0)]) is None  # on the midline
    assert sides_from_markers([VIEWER_LEFT, VIEWER_RIGHT], [("X", 60.0, 0.0)]) is None  # not a side letter
    assert sides_from_markers([VIEWER_LEFT, VIEWER_LEFT], [("R", 60.0, 0.0)]) is None  # no distance between knees
    assert sides_from_markers([VIEWER_LEFT, (400.0, 500.0), VIEWER_RIGHT], [("R", 60.0, 0.0)]) is None


def test_the_header_wins_over_a_marker_that_disagrees_and_the_disagreement_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="osteo_desktop.core.model.knee_sides"):
        # Lone knee: Image Laterality L, marker R -> left.
        assert assign_sides(LONE, header(laterality="L"), [("R", 20.0, 50.0)]) == ["left"]
        # Two knees: Patient Orientation "L\F" (viewer's left = patient's right), an L beside the viewer's left knee.
        assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header("L\\F"), [("L", 60.0, 100.0)]) == ["right", "left"]
    assert sum("header decides" in record.getMessage() for record in caplog.records) == 2


def test_a_marker_that_agrees_with_the_header_changes_nothing_and_logs_nothing(caplog):
    with caplog.at_level(logging.INFO, logger="osteo_desktop.core.model.knee_sides"):
        assert assign_sides(LONE, header(laterality="R"), [("R", 20.0, 50.0)]) == ["right"]
    assert not caplog.records


def test_a_lone_knee_patient_orientation_does_not_silence_its_marker():
    # "L\F" says how the image lies, not which knee this is: the marker still names it.
    assert assign_sides(LONE, header("L\\F"), [("L", 20.0, 50.0)]) == ["left"]


def test_two_knees_with_an_orientation_that_has_no_left_right_axis_may_take_the_marker():
    # "A\F": the header gives no left-right axis (unknown sides); the marker beside the viewer's left knee decides.
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header("A\\F"), [("L", 60.0, 100.0)]) == ["left", "right"]


def test_on_a_lateral_view_the_nearness_of_a_marker_says_nothing_about_two_knees():
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header(view="LAT"), [("L", 60.0, 100.0)]) == ["unknown", "unknown"]
    # A lone knee on a lateral view: the letter still names it.
    assert assign_sides(LONE, header(view="LAT"), [("L", 20.0, 50.0)]) == ["left"]


def test_swapping_the_convention_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="osteo_desktop.core.model.knee_sides"):
        assign_sides([VIEWER_LEFT, VIEWER_RIGHT], None, [("L", 60.0, 100.0)])
    assert any("turn the hanging convention round" in record.getMessage() for record in caplog.records)
