"""The words of a result, written once in core.results.text and used by every face (panel, PDF, command line)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

import osteo_desktop
from osteo_desktop.core.results import text
from osteo_desktop.core.results.result import FileResult

PACKAGE = Path(osteo_desktop.__file__).parent


def _result(**changes) -> FileResult:
    values = dict(path="/d/knee.png", label="osteoporosis", probability=0.3804, confidence=0.3804, threshold=0.339,
                  model_version="2.1.0", warnings=["the image is only 120 x 90 pixels"])
    values.update(changes)
    return FileResult(**values)


def test_headlines_by_hand():
    assert text.headline("osteoporosis", "osteoporosis") == "Osteoporosis suspected"
    assert text.headline("normal", "osteoporosis") == "No sign of osteoporosis"
    assert text.headline("osteopenia", "osteopenia") == "Osteopenia suspected"
    assert text.headline("normal", "osteopenia") == "Normal"


def test_report_lines_in_reading_order():
    when = datetime(2026, 3, 4, 9, 7)
    patient = [("Patient name", "Doe, Jane"), ("Patient ID", "P-1")]
    assert text.report_lines(_result(), "osteoporosis", file_name="knee.png", created=when, patient=patient) == [
        # The result heads the report, never the patient's name; 0.380 is 0.041 above the threshold 0.339, within
        # the 0.05 borderline margin, so the headline itself says borderline and on which side.
        ("Result", "Borderline (just above the threshold): read as undecided"),
        ("Against the threshold", "Probability of osteoporosis 38 % — just above the screening threshold of 34 %"),
        ("Probability of osteoporosis", "0.380"),
        ("Decision threshold", "0.339"),
        ("Model version", "2.1.0"),
        ("Patient name", "Doe, Jane"),
        ("Patient ID", "P-1"),
        ("File", "knee.png"),
        ("Date", "2026-03-04 09:07"),
        ("Warning", "the image is only 120 x 90 pixels"),
        # 0.380 is 0.041 from the threshold 0.339: within the 0.05 borderline margin
        ("Warning", "Borderline: the probability 0.380 lies within 0.05 of the decision threshold 0.339; the framing "
                    "of the knee alone can move it that far, so read this result as undecided"),
    ]
    plain = text.report_lines(_result(warnings=[], probability=0.62, confidence=0.62), "osteoporosis",
                              file_name="knee.png", created=when)
    assert plain[:2] == [("Result", "Osteoporosis suspected"),
                         ("Against the threshold", "Probability of osteoporosis 62 % — above the screening threshold of 34 %")]
    assert not any(name == "Warning" for name, _ in plain)


def test_a_borderline_reports_knee_lines_have_the_short_words():
    """Two knees 0.380 and 0.320 against 0.339 (0.041 above, 0.019 below: both borderline): the report's Result line
    says "read as undecided" for the file, each knee's line its side in short words with its numbers."""
    from osteo_desktop.core.results.knee import KneeResult

    knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.3804, 0.3804),
             KneeResult("left", (20, 0, 30, 10), "normal", 0.32, 0.68)]
    lines = text.report_lines(_result(knees=knees), "osteoporosis", file_name="knee.png", created=datetime(2026, 3, 4))
    assert lines[0] == ("Result", "Borderline (just above the threshold): read as undecided")
    assert lines[5:7] == [("Right knee", "Borderline (above), probability 0.380 (threshold 0.339)"),
                          ("Left knee", "Borderline (below), probability 0.320 (threshold 0.339)")]
    assert sum(value.count("read as undecided") for _, value in lines) == 1


def test_command_line_lines_by_hand():
    assert text.model_line("osteo-mnv2", "2.1.0", 0.33912) == "Model osteo-mnv2 2.1.0 (threshold 0.339)"
    assert text.scan_summary(1, 0, 0, 0.5) == "1 file: 1 results, 0 failed, in 0.5 s (2.0 files/s)"
    assert text.scan_summary(4, 1, 2, 2.0) == "4 files: 3 results, 1 failed (2 reused from the history), in 2.0 s (2.0 files/s)"
    assert text.percent(0.875) == "88 %"


def test_each_sentence_is_written_in_one_module_only():
    sentences = ("Osteoporosis suspected", "No sign of osteoporosis", "Research tool, not a diagnostic device",
                 "reused from the history", "Checked before analysis: no result")
    for sentence in sentences:
        holders = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if sentence in p.read_text()]
        assert holders == ["core/results/text.py"], f"{sentence!r} is written in {holders}"
    assert osteo_desktop.DISCLAIMER is text.DISCLAIMER


def test_person_names_read_as_names_by_hand():
    assert text.person_name("Doe^John") == "Doe, John"
    assert text.person_name("DOE^JANE^^^") == "DOE, JANE"
    assert text.person_name("Doe^John^A^Dr^Jr") == "Doe, Dr John A, Jr"
    assert text.person_name("Doe") == "Doe"  # no ^: a family name alone, or a name already written out
    assert text.person_name("^John") == "John"
    assert text.person_name("=山田^太郎=やまだ^たろう") == "山田, 太郎"  # the first group that is not empty
    assert text.person_name("Yamada^Tarou=山田^太郎") == "Yamada, Tarou"
    assert text.person_name(None) == text.person_name("") == text.person_name("^^^") == ""
    assert text.person_name("  Jane Doe ") == "Jane Doe"


def test_dicom_dates_read_as_dates():
    assert text.dicom_date("20261202") == "2026-12-02"
    assert text.dicom_date("2026-12-02") == "2026-12-02" and text.dicom_date(None) == "" and text.dicom_date("1999") == "1999"


def test_a_report_is_titled_by_what_was_analysed():
    assert text.report_title(_result()) == "Knee radiograph screening"
    declined = _result(label=None, probability=None, confidence=None, threshold=None,
                       out_of_scope="not a knee radiograph: looks like a hip radiograph")
    assert text.report_title(declined) == "Screening: no result"
    assert "knee" not in text.report_title(declined).lower()


def test_a_scan_summary_states_a_rate_only_over_a_tenth_of_a_second_or_more():
    # one failed file in 4 ms read "(238.0 files/s)": a rate over a few milliseconds says nothing
    assert text.scan_summary(1, 1, 0, 0.0042) == "1 file: 0 results, 1 failed, in 0.0 s"
    # exactly a tenth of a second is enough for a rate: 1 file / 0.1 s = 10 files/s
    assert text.scan_summary(1, 0, 0, 0.1) == "1 file: 1 results, 0 failed, in 0.1 s (10.0 files/s)"
    assert text.scan_summary(6, 1, 2, 3.0, declined=1) == (
        "6 files: 4 results, 1 out of scope (no result), 1 failed (2 reused from the history), in 3.0 s (2.0 files/s)")


def test_short_borderline_headline_for_table_cells():
    # 0.380 is 0.041 above 0.339, 0.300 is 0.039 below: both within the 0.05 margin; 0.62 is a firm call.
    assert text.verdict_headline(_result(), "osteoporosis", short=True) == "Borderline (above)"
    assert text.verdict_headline(_result(), "osteoporosis") == "Borderline (just above the threshold): read as undecided"
    below = _result(label="normal", probability=0.300, confidence=0.7)
    assert text.verdict_headline(below, "osteoporosis", short=True) == "Borderline (below)"
    at = _result(probability=0.339)
    assert text.headline("osteoporosis", "osteoporosis", 0.339, 0.339, short=True) == "Borderline (at)"
    assert text.verdict_headline(at, "osteoporosis") == "Borderline (at the threshold): read as undecided"
    firm = _result(probability=0.62, confidence=0.62)
    assert text.result_headline(firm, "osteoporosis", short=True) == "Osteoporosis suspected"
    declined = FileResult(path="/d/chest.png")
    declined.decline("not a knee radiograph")
    assert text.result_headline(declined, "osteoporosis", short=True) == "No result: not a knee radiograph"


def test_borderline_words_long_by_default_and_short_on_request():
    assert text.borderline_headline("above") == "Borderline (just above the threshold): read as undecided"
    assert text.borderline_headline("below") == "Borderline (just below the threshold): read as undecided"
    assert text.borderline_headline("at") == "Borderline (at the threshold): read as undecided"
    assert text.borderline_headline("above", short=True) == "Borderline (above)"
    # result_headline passes `short` on to a borderline verdict (0.380 is 0.041 above 0.339), and is long without it.
    assert text.result_headline(_result(), "osteoporosis", short=True) == "Borderline (above)"
    assert text.result_headline(_result(), "osteoporosis") == "Borderline (just above the threshold): read as undecided"


# (probability, threshold, knee_percent, knee_mark, call_key), worked out by hand: as few decimals (0 to 3) as make the
# two percentages differ; equal numbers take none. 0.359 against 0.36: "36 %" twice, so one decimal, 35.9 against 36.0.
KNEE_WORDS = [
    (0.39, 0.36, "39 %", "39 % above threshold", "Borderline: read as undecided"),  # 0.03 above
    (0.359, 0.36, "35.9 %", "35.9 % below threshold", "Borderline: read as undecided"),
    (0.36, 0.36, "36 %", "36 % at threshold", "Borderline: read as undecided"),
    (0.3605, 0.36, "36.05 %", "36.05 % above threshold", "Borderline: read as undecided"),  # 36.0 twice; 36.05 vs 36.00
    (0.80, 0.36, "80 %", "80 % above threshold", "Osteoporosis suspected"),  # 0.44 above: a firm call
    (0.10, 0.36, "10 %", "10 % below threshold", "No sign of osteoporosis"),
]


@pytest.mark.parametrize("probability, threshold, percent_words, mark, key", KNEE_WORDS)
def test_a_knees_tag_and_legend_words_by_hand(probability, threshold, percent_words, mark, key):
    assert text.knee_percent(probability, threshold) == percent_words
    assert text.knee_mark(probability, threshold) == mark
    label = "osteoporosis" if probability >= threshold else "normal"
    assert text.call_key(label, "osteoporosis", probability, threshold) == key
