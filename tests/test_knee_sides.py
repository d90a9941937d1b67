"""Patient sides of detected knees, worked out by hand from DICOM PS3.3 C.7.6.1.1.1 (Patient Orientation).

The first value of Patient Orientation is where the row axis points (x growing, left to right on screen), the second
where the column axis points (y growing, downwards). "L" = towards the patient's left.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from osteo_desktop.core.model.knee_sides import SIDE_SOURCES, assign_sides, orientation_from_identity, sides_with_sources

VIEWER_LEFT, VIEWER_RIGHT = (100.0, 500.0), (700.0, 500.0)
TOP, BOTTOM = (400.0, 100.0), (400.0, 900.0)


def header(orientation=None, laterality=None, view=None) -> dict:
    return {"patient_orientation": orientation, "image_laterality": laterality, "view_position": view}


@pytest.mark.parametrize("orientation, expected", [
    # Standard frontal hanging: x runs towards the patient's left, so the viewer's left knee is the RIGHT knee.
    ("L\\F", ["right", "left"]),
    ("L\\H", ["right", "left"]),  # upside down: still x towards patient left
    # Stored mirrored (x towards the patient's right): the viewer's left knee is the patient's LEFT knee.
    ("R\\F", ["left", "right"]),
    ("R\\H", ["left", "right"]),
    # Oblique row direction with an L component ("LP": left and posterior): x still towards the patient's left.
    ("LP\\F", ["right", "left"]),
    # No row direction in R/L and none in the columns either (a lateral-like header): nothing tells.
    ("A\\F", ["unknown", "unknown"]),
    ("P\\H", ["unknown", "unknown"]),
])
def test_two_side_by_side_knees(orientation, expected):
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header(orientation)) == expected
    # The answer belongs to the knee, not to the list position.
    assert assign_sides([VIEWER_RIGHT, VIEWER_LEFT], header(orientation)) == expected[::-1]


@pytest.mark.parametrize("orientation, expected", [
    # Rotated by 90 degrees: rows run foot-wards, columns towards the patient's left -> the top knee is the RIGHT one.
    ("F\\L", ["right", "left"]),
    ("H\\R", ["left", "right"]),
])
def test_rotated_film_orders_knees_top_to_bottom(orientation, expected):
    assert assign_sides([TOP, BOTTOM], header(orientation)) == expected


def test_without_any_header_the_hanging_convention_applies_to_two_knees():
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], None) == ["right", "left"]
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header("")) == ["right", "left"]  # Type 2C, empty = unknown


@pytest.mark.parametrize("laterality, orientation, expected", [
    ("R", None, "right"), ("L", None, "left"),
    ("R", "R\\F", "right"),  # orientation does not place a lone knee: laterality alone decides
    ("B", "L\\F", "unknown"), ("U", None, "unknown"), (None, "L\\F", "unknown"), (None, None, "unknown"),
    (" l ", None, "left"),  # header text as stored: padded, any case
])
def test_lone_knee_side_comes_only_from_image_laterality(laterality, orientation, expected):
    assert assign_sides([VIEWER_LEFT], header(orientation, laterality)) == [expected]
    assert assign_sides([VIEWER_RIGHT], header(orientation, laterality)) == [expected]


def test_lateral_view_does_not_order_knees():
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header("L\\F", None, "LAT")) == ["unknown", "unknown"]
    assert assign_sides([VIEWER_LEFT], header("A\\F", "L", "LATERAL")) == ["left"]


def test_unreadable_orientation_tells_nothing():
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header("L")) == ["unknown", "unknown"]
    assert assign_sides([VIEWER_LEFT, VIEWER_RIGHT], header("RL\\F")) == ["unknown", "unknown"]


def test_no_knees_no_sides():
    assert assign_sides([], header("L\\F", "R")) == []


def test_orientation_dict_from_a_dicom_identity():
    identity = SimpleNamespace(patient_orientation="L\\F", image_laterality="R", view_position="AP", modality="DX")
    assert orientation_from_identity(identity) == header("L\\F", "R", "AP")
    assert orientation_from_identity(None) == header()


def test_without_a_header_knees_are_ordered_left_to_right_not_top_to_bottom():
    # The viewer's left knee sits lower on the film than the other: the hanging convention still orders along x.
    lower_left, higher_right = (100.0, 520.0), (700.0, 480.0)
    assert assign_sides([lower_left, higher_right], None) == ["right", "left"]
    assert assign_sides([higher_right, lower_left], header("")) == ["left", "right"]


def test_with_three_knees_only_the_outermost_get_sides():
    middle = (400.0, 500.0)
    assert assign_sides([middle, VIEWER_RIGHT, VIEWER_LEFT], header("L\\F")) == ["unknown", "left", "right"]
    assert assign_sides([VIEWER_LEFT, middle, VIEWER_RIGHT], header("R\\F")) == ["left", "unknown", "right"]


def test_an_identity_without_the_geometry_attributes_gives_none():
    # A reader's identity from an older version (or another source) that lacks the fields: nothing is known.
    assert orientation_from_identity(SimpleNamespace(modality="DX")) == header()
    assert orientation_from_identity(SimpleNamespace(image_laterality="L")) == header(None, "L")


# --- where each side came from (issue 11): the result's side_source ------------------------------------------------

@pytest.mark.parametrize("centres, orientation, markers, expected", [
    # Two knees, no header at all (PNG/JPEG): the hanging convention names both.
    ([VIEWER_LEFT, VIEWER_RIGHT], None, None, [("right", "hanging_convention"), ("left", "hanging_convention")]),
    # An empty Patient Orientation (Type 2C) says nothing either: still the convention.
    ([VIEWER_LEFT, VIEWER_RIGHT], header(""), None, [("right", "hanging_convention"), ("left", "hanging_convention")]),
    # Patient Orientation with an R/L row axis: the header decides, stored mirrored or not.
    ([VIEWER_LEFT, VIEWER_RIGHT], header("L\\F"), None, [("right", "dicom_header"), ("left", "dicom_header")]),
    ([VIEWER_LEFT, VIEWER_RIGHT], header("R\\F"), None, [("left", "dicom_header"), ("right", "dicom_header")]),
    ([TOP, BOTTOM], header("F\\L"), None, [("right", "dicom_header"), ("left", "dicom_header")]),
    # Patient Orientation without a left-right axis, or a lateral view: unknown sides have no source.
    ([VIEWER_LEFT, VIEWER_RIGHT], header("A\\F"), None, [("unknown", None), ("unknown", None)]),
    ([VIEWER_LEFT, VIEWER_RIGHT], header("L\\F", None, "LAT"), None, [("unknown", None), ("unknown", None)]),
    # A lone knee: Image Laterality names it (the header), otherwise nothing does.
    ([VIEWER_LEFT], header(None, "R"), None, [("right", "dicom_header")]),
    ([VIEWER_LEFT], header("L\\F", " l "), None, [("left", "dicom_header")]),
    ([VIEWER_LEFT], None, None, [("unknown", None)]),
    ([VIEWER_LEFT], header("L\\F", "B"), None, [("unknown", None)]),
    # Markers: a lone knee named by its R; two knees, an L beside the viewer's left knee turns the convention round.
    ([VIEWER_LEFT], None, [("R", 20.0, 50.0)], [("right", "film_marker")]),
    ([VIEWER_LEFT, VIEWER_RIGHT], None, [("L", 60.0, 100.0)], [("left", "film_marker"), ("right", "film_marker")]),
    # A marker that confirms the convention: the film says it, so the marker is the source.
    ([VIEWER_LEFT, VIEWER_RIGHT], None, [("R", 60.0, 100.0)], [("right", "film_marker"), ("left", "film_marker")]),
    # A marker inside the midline band, or markers that contradict each other, say nothing: the convention stays.
    ([VIEWER_LEFT, VIEWER_RIGHT], None, [("L", 400.0, 100.0)], [("right", "hanging_convention"), ("left", "hanging_convention")]),
    ([VIEWER_LEFT, VIEWER_RIGHT], None, [("R", 60.0, 100.0), ("R", 760.0, 100.0)],
     [("right", "hanging_convention"), ("left", "hanging_convention")]),
    # R and L read on a lone knee: unknown, no source.
    ([VIEWER_LEFT], None, [("R", 20.0, 50.0), ("L", 380.0, 50.0)], [("unknown", None)]),
    # The header decides over a marker that disagrees (or agrees): its source is the header.
    ([VIEWER_LEFT], header(None, "L"), [("R", 20.0, 50.0)], [("left", "dicom_header")]),
    ([VIEWER_LEFT], header(None, "R"), [("R", 20.0, 50.0)], [("right", "dicom_header")]),
    ([VIEWER_LEFT, VIEWER_RIGHT], header("L\\F"), [("L", 60.0, 100.0)], [("right", "dicom_header"), ("left", "dicom_header")]),
    # A lateral view: a marker's nearness names neither of two knees.
    ([VIEWER_LEFT, VIEWER_RIGHT], header(view="LAT"), [("L", 60.0, 100.0)], [("unknown", None), ("unknown", None)]),
    ([], header("L\\F", "R"), None, []),
])
def test_each_side_says_where_it_came_from(centres, orientation, markers, expected):
    assert sides_with_sources(centres, orientation, markers) == expected
    # The sides are assign_sides' own: the source is added, nothing else changes.
    assert assign_sides(centres, orientation, markers) == [side for side, _ in expected]


def test_the_side_sources_are_the_public_values():
    # The result contract (README, JSON key side_source): written out here, never read back from the module.
    assert SIDE_SOURCES == ("dicom_header", "film_marker", "hanging_convention")
