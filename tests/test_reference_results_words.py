"""The words of a per-knee result (core/results/text.py), on hand-built results whose every sentence is written out
here (issue 15): each knee's name, short mark, summary and line, the off-bone warning, the borderline margin on both
sides, the report of a film with knees and of a declined one, and the command line's one-liners.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from osteo_desktop.core.results import text
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.result import FileResult

DIGEST = "ab" * 32
WHEN = datetime(2026, 12, 3, 7, 5)


def _film(**changes) -> FileResult:
    """A bilateral film: the right knee suspected (0.412), the left not (0.120); the file's answer the right knee's."""
    values = dict(path="/films/both.png", label="osteoporosis", probability=0.412, confidence=0.412, threshold=0.339,
                  model_version="2.1.0", model_sha256=DIGEST,
                  knees=[KneeResult("right", (10, 20, 110, 120), "osteoporosis", 0.412, 0.412),
                         KneeResult("left", (150, 20, 250, 120), "normal", 0.12, 0.88)])
    values.update(changes)
    return FileResult(**values)


@pytest.mark.parametrize("side, name, short", [("right", "Right knee", "R"), ("left", "Left knee", "L"),
                                               ("unknown", "Knee (side unknown)", "?"),
                                               ("", "Knee (side unknown)", "?")])
def test_a_knee_is_called_by_the_patients_side(side, name, short):
    assert text.knee_name(side) == name
    assert text.knee_short(side) == short


def test_each_knee_in_a_line():
    # A knee's line gives its probability beside the threshold, never a confidence: 0.412 is a positive call whose
    # confidence (41 %) would read as the model favouring normal.
    right, left = _film().knees
    assert text.knee_summary(right, "osteoporosis", 0.339) == "Osteoporosis suspected, probability 0.412 (threshold 0.339)"
    assert text.knee_line(right, "osteoporosis", 0.339) == ("Right knee: Osteoporosis suspected, probability 0.412 "
                                                            "(threshold 0.339)")
    assert text.knee_line(left, "osteoporosis", 0.339) == ("Left knee: No sign of osteoporosis, probability 0.120 "
                                                           "(threshold 0.339)")
    unknown = KneeResult("unknown", (0, 0, 9, 9), "normal", 0.0555, 0.9445)
    assert text.knee_line(unknown, "osteoporosis", 0.339) == ("Knee (side unknown): No sign of osteoporosis, "
                                                              "probability 0.056 (threshold 0.339)")
    # 0.30 is 0.039 below 0.339: within the margin, so the knee's own line says borderline and which side.
    near = KneeResult("left", (0, 0, 9, 9), "normal", 0.30, 0.70)
    assert text.knee_line(near, "osteoporosis", 0.339) == ("Left knee: Borderline (just below the threshold): read as "
                                                           "undecided, probability 0.300 (threshold 0.339)")


@pytest.mark.parametrize("side, source, title, tag", [
    ("right", "film_marker", "Right knee (film marker)", "R (film marker)"),
    ("left", "dicom_header", "Left knee (DICOM header)", "L (DICOM header)"),
    ("right", "hanging_convention", "Right knee (film position)", "R (film position)"),
    ("unknown", None, "Knee (side unknown)", "?"),
    ("left", None, "Left knee", "L"),  # recorded before sources were kept: the side alone, nothing invented
])
def test_a_knee_says_where_its_side_came_from(side, source, title, tag):
    knee = KneeResult(side, (0, 0, 9, 9), "osteoporosis", 0.412, 0.412, source)
    assert text.knee_title(knee) == title
    assert text.knee_tag(knee) == tag
    assert text.knee_line(knee, "osteoporosis", 0.339) == f"{title}: Osteoporosis suspected, probability 0.412 (threshold 0.339)"


def test_the_report_names_each_knee_with_its_side_source():
    film = _film(knees=[KneeResult("right", (10, 20, 110, 120), "osteoporosis", 0.412, 0.412, "hanging_convention"),
                        KneeResult("left", (150, 20, 250, 120), "normal", 0.12, 0.88, "hanging_convention")])
    lines = dict(text.report_lines(film, "osteoporosis", file_name="both.png", created=datetime(2026, 12, 3, 14, 0)))
    assert lines["Right knee (film position)"] == "Osteoporosis suspected, probability 0.412 (threshold 0.339)"
    assert lines["Left knee (film position)"] == "No sign of osteoporosis, probability 0.120 (threshold 0.339)"


def test_headlines_for_other_label_pairs():
    # A model whose positive label is not "osteoporosis": the label itself, capitalised.
    assert text.headline("osteopenia", "osteopenia") == "Osteopenia suspected"
    assert text.headline("healthy", "osteopenia") == "Healthy"
    assert text.headline("normal", "osteoporosis") == "No sign of osteoporosis"
    # A label that is neither: not the positive one, so no "suspected".
    assert text.headline("ungraded", "osteoporosis") == "No sign of osteoporosis"


def test_the_off_bone_warning_names_the_knee_and_the_share_off_bone():
    assert text.off_bone_warning("left", 0.3) == (
        "Left knee: most of the heat map (70 %) lies outside bone; the result may rest on soft tissue, background or "
        "markers rather than on the bone")
    assert text.off_bone_warning("unknown", 0.125).startswith("Knee (side unknown): most of the heat map (88 %) lies")


@pytest.mark.parametrize("probability, threshold, borderline", [
    (0.339, 0.339, True),  # on the threshold
    (0.3, 0.339, True),  # 0.039 below
    (0.38, 0.339, True),  # 0.041 above
    (0.2891, 0.339, True),  # 0.0499 below
    (0.3889, 0.339, True),  # 0.0499 above
    (0.289, 0.339, False),  # 0.05 below (to within float): not within the margin
    (0.4, 0.339, False),  # 0.061 above
    (0.25, 0.339, False),  # 0.089 below
])
def test_borderline_is_within_five_hundredths_on_either_side(probability, threshold, borderline):
    result = SimpleNamespace(probability=probability, threshold=threshold, warnings=[])
    sentence = text.borderline_sentence(result)
    if not borderline:
        assert sentence is None and text.warning_sentences(result) == []
        return
    assert sentence == (f"Borderline: the probability {probability:.3f} lies within 0.05 of the decision threshold "
                        f"{threshold:.3f}; the framing of the knee alone can move it that far, so read this result as "
                        "undecided")
    assert text.warning_sentences(result) == [sentence]


def test_borderline_excludes_exactly_five_hundredths():
    """"Within 0.05" is strictly less: 0.1 - 0.05 and 0.05 - 0.0 are exactly the float 0.05 (0.1 is twice 0.05 in
    binary), so these sit on the margin and are not borderline."""
    assert 0.1 - 0.05 == 0.05 and abs(0.0 - 0.05) == 0.05
    assert text.borderline_sentence(SimpleNamespace(probability=0.1, threshold=0.05)) is None
    assert text.borderline_sentence(SimpleNamespace(probability=0.0, threshold=0.05)) is None
    assert text.borderline_sentence(SimpleNamespace(probability=0.0999, threshold=0.05)) is not None


def test_borderline_needs_both_numbers():
    assert text.borderline_sentence(SimpleNamespace(probability=0.3, threshold=None)) is None
    assert text.borderline_sentence(SimpleNamespace(probability=None, threshold=0.3)) is None
    assert text.borderline_sentence(object()) is None  # a declined row carries neither
    assert text.BORDERLINE_MARGIN == 0.05


def test_the_report_of_a_film_with_two_knees():
    lines = text.report_lines(_film(warnings=["the image is only 120 x 90 pixels"]), "osteoporosis",
                              file_name="both.png", created=WHEN, patient=[("Patient ID", "P-7")])
    assert lines == [
        ("Result", "Osteoporosis suspected"),  # 0.412 is 0.073 above 0.339: beyond the 0.05 margin, a firm call
        ("Against the threshold", "Probability of osteoporosis 41 % — above the screening threshold of 34 %"),
        ("Probability of osteoporosis", "0.412"),
        ("Decision threshold", "0.339"),
        ("Model version", "2.1.0"),
        ("Right knee", "Osteoporosis suspected, probability 0.412 (threshold 0.339)"),
        ("Left knee", "No sign of osteoporosis, probability 0.120 (threshold 0.339)"),
        ("Model SHA-256", DIGEST),
        ("Patient ID", "P-7"),
        ("File", "both.png"),
        ("Date", "2026-12-03 07:05"),
        ("Warning", "the image is only 120 x 90 pixels"),
    ]
    assert text.report_title(_film()) == "Knee radiograph screening"


def test_a_report_without_a_digest_or_knees_has_neither_line():
    lines = text.report_lines(_film(model_sha256=None, knees=[], probability=0.9, confidence=0.9), "osteoporosis",
                              file_name="f.png", created=WHEN)
    assert [name for name, _ in lines] == ["Result", "Against the threshold", "Probability of osteoporosis", "Decision threshold",
                                           "Model version", "File", "Date"]
    # A history entry or a Prediction has no knees attribute at all: no knee lines, no error.
    bare = SimpleNamespace(label="normal", probability=0.1, confidence=0.9, threshold=0.339, model_version="2.1.0",
                           warnings=[])
    assert text.report_lines(bare, "osteoporosis", file_name="f.png", created=WHEN) == [
        ("Result", "No sign of osteoporosis"),
        ("Against the threshold", "Probability of osteoporosis 10 % — below the screening threshold of 34 %"),
        ("Probability of osteoporosis", "0.100"),
        ("Decision threshold", "0.339"), ("Model version", "2.1.0"), ("File", "f.png"), ("Date", "2026-12-03 07:05")]


def test_the_report_of_a_declined_film_has_no_numbers_and_no_knees():
    film = _film(warnings=["colour image: read as greyscale"])
    film.decline("looks like a chest film")
    assert film.knees == [] and film.model_sha256 == DIGEST
    assert text.result_headline(film, "osteoporosis") == "No result: looks like a chest film"
    assert text.report_title(film) == "Screening: no result"
    assert text.report_lines(film, "osteoporosis", file_name="chest.png", created=WHEN,
                             patient=[("Patient name", "Doe, Jane")]) == [
        ("Result", "No result: looks like a chest film"),
        ("Model version", "2.1.0"),
        ("Model SHA-256", DIGEST),
        ("Patient name", "Doe, Jane"),
        ("File", "chest.png"),
        ("Date", "2026-12-03 07:05"),
        ("Warning", "colour image: read as greyscale"),  # the reader's warning is about the file: it stays
    ]
    # A declined row whose reason is empty still says why there is no result.
    assert text.result_headline(SimpleNamespace(out_of_scope="", label=None), "osteoporosis") == (
        "No result: not a knee radiograph")


def test_result_headline_of_a_result_and_of_a_history_entry():
    assert text.result_headline(_film(), "osteoporosis") == "Osteoporosis suspected"
    entry = SimpleNamespace(label="normal")  # no out_of_scope attribute: a result
    assert text.result_headline(entry, "osteoporosis") == "No sign of osteoporosis"


def test_one_liners_by_hand():
    assert text.model_line("osteo-knee", "2.1.0", 0.5125) == "Model osteo-knee 2.1.0 (threshold 0.512)"
    # Regression: one result read "1 result were given".
    assert text.not_recorded(1, "disk full") == "1 result was given but not recorded in the history: disk full"
    assert text.not_recorded(3, None) == "3 results were given but not recorded in the history: unknown cause"
    assert text.not_recorded(0, "") == "0 results were given but not recorded in the history: unknown cause"
    assert text.warnings_line(["first", "second"]) == "first; second"
    assert text.warnings_line(()) == ""
    assert text.percent(0.005) == "0 %" and text.percent(1.0) == "100 %"
    assert text.scan_summary(1, 1, 0, 2.0) == "1 file: 0 results, 1 failed, in 2.0 s (0.5 files/s)"
    assert text.scan_summary(2, 0, 0, -1.0) == "2 files: 2 results, 0 failed, in -1.0 s"  # a clock step back: no rate


@pytest.mark.parametrize("value, expected", [
    ("Doe^John", "Doe, John"),
    ("Doe^John^A^Dr^Jr", "Doe, Dr John A, Jr"),
    ("^^^^Jr", "Jr"),
    ("Doe", "Doe"),
    ("  Jane Doe  ", "Jane Doe"),
    (None, ""),
    ("=Yamada^Tarou", "Yamada, Tarou"),  # the first group empty: the next one
    ("^=Kim^Min", "Kim, Min"),
    ("Doe^^^Dr", "Doe, Dr"),
    ("Yamada=", "Yamada"),  # groups without "^": still the first group, not the raw value with its "="
    ("X^^=Ex^Jan", "X"),  # a one-letter family name is a name: its group is the first that is not empty
])
def test_person_names_by_hand(value, expected):
    assert text.person_name(value) == expected


@pytest.mark.parametrize("value, expected", [("20261203", "2026-12-03"), (" 19991231 ", "1999-12-31"),
                                             ("2026120", "2026120"), ("2026-12-03", "2026-12-03"), (None, ""),
                                             ("abcdefgh", "abcdefgh")])
def test_dicom_dates_by_hand(value, expected):
    assert text.dicom_date(value) == expected
