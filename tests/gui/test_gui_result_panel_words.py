"""The result panel's words and colours on hand-built verdicts (threshold 0.36, margin 0.05): a positive call under
one half reads as the probability against the threshold, never as a confidence; a borderline result's headline says
so in the neutral colour; each knee's line says borderline when it is. Every expected string is written out here."""

from __future__ import annotations

import pytest

from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.palette import BORDERLINE_COLOUR, NEGATIVE_COLOUR, POSITIVE_COLOUR
from osteo_desktop.gui.result_panel import ResultPanel


@pytest.fixture
def panel(qtbot):
    widget = ResultPanel()
    qtbot.addWidget(widget)
    return widget


def _prediction(probability: float) -> Prediction:
    label = "osteoporosis" if probability >= 0.36 else "normal"
    confidence = probability if label == "osteoporosis" else 1 - probability
    return Prediction(label, probability, confidence, 0.36, "2.1.0", 0.0)


def _everything(panel: ResultPanel) -> str:
    return "\n".join([panel.headline.text(), panel.probability_text.text(), panel.knee_lines.text(),
                      panel.details.text(), panel.warnings.text(), panel.probability_text.toolTip()])


def test_a_positive_call_under_one_half_reads_against_the_threshold(panel):
    knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.44, 0.44),
             KneeResult("left", (20, 0, 30, 10), "normal", 0.12, 0.88)]
    panel.show_result(_prediction(0.44), "osteoporosis", knees)
    assert panel.headline.text() == "Osteoporosis suspected"
    assert POSITIVE_COLOUR in panel.headline.styleSheet()
    assert panel.probability_text.text() == "Probability of osteoporosis 44 % — above the screening threshold of 36 %"
    assert "Osteoporosis suspected, probability 0.440 (threshold 0.360)" in panel.knee_lines.text()
    assert "No sign of osteoporosis, probability 0.120 (threshold 0.360)" in panel.knee_lines.text()
    assert "onfidence" not in _everything(panel)
    assert panel.warnings.isHidden()  # 0.08 from the threshold: not borderline


def test_a_borderline_result_heads_as_borderline_in_the_neutral_colour(panel):
    """Right 0.38 (0.02 above 0.36) is the file's result; left 0.33 (0.03 below) is borderline too."""
    knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.38, 0.38),
             KneeResult("left", (20, 0, 30, 10), "normal", 0.33, 0.67)]
    panel.show_result(_prediction(0.38), "osteoporosis", knees)
    assert panel.headline.text() == "Borderline (just above the threshold): read as undecided"
    assert BORDERLINE_COLOUR in panel.headline.styleSheet()
    assert POSITIVE_COLOUR not in panel.headline.styleSheet()
    assert panel.probability_text.text() == (
        "Probability of osteoporosis 38 % — just above the screening threshold of 36 %")
    lines = panel.knee_lines.text().split("<br>")
    # The headline says "read as undecided" for the file; each knee keeps its side of the threshold in the scan
    # table's short words, with its numbers (trial 23: the long words stood three times in the panel).
    assert lines[0].endswith("<b>Right knee</b>: Borderline (above), probability 0.380 (threshold 0.360)")
    assert lines[1].endswith("<b>Left knee</b>: Borderline (below), probability 0.330 (threshold 0.360)")
    assert _everything(panel).count("read as undecided") == 1  # the headline's (the warning says why, in its words)
    assert _everything(panel).count("Borderline (just above the threshold)") == 1
    assert panel.knee_lines.text().count(BORDERLINE_COLOUR) == 2  # each knee's square is neutral
    # The borderline warning is shown once.
    assert panel.warnings.text().count("Borderline:") == 1
    assert panel.warnings.text().startswith("⚠ Borderline: the probability 0.380 lies within 0.05")


def test_under_a_firm_headline_a_borderline_knee_says_the_long_words(panel):
    """Right 0.62 (0.26 above 0.36) heads the file as suspected; left 0.34 (0.02 below) is borderline: the headline
    does not say "read as undecided", so that knee's line does, once."""
    knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.62, 0.62),
             KneeResult("left", (20, 0, 30, 10), "normal", 0.34, 0.66)]
    panel.show_result(_prediction(0.62), "osteoporosis", knees)
    assert panel.headline.text() == "Osteoporosis suspected"
    lines = panel.knee_lines.text().split("<br>")
    assert lines[0].endswith("<b>Right knee</b>: Osteoporosis suspected, probability 0.620 (threshold 0.360)")
    assert lines[1].endswith("<b>Left knee</b>: Borderline (just below the threshold): read as undecided, "
                             "probability 0.340 (threshold 0.360)")


def test_a_clear_negative_stays_green(panel):
    panel.show_result(_prediction(0.05), "osteoporosis", [KneeResult("left", (0, 0, 10, 10), "normal", 0.05, 0.95)])
    assert panel.headline.text() == "No sign of osteoporosis"
    assert NEGATIVE_COLOUR in panel.headline.styleSheet()
    assert panel.probability_text.text() == "Probability of osteoporosis 5 % — below the screening threshold of 36 %"


def test_the_history_view_heads_an_old_borderline_entry_as_borderline(qtbot, history, tmp_path):
    """An entry recorded before the borderline sentence was kept (warnings []), 0.38 against 0.36: its Result cell is
    the borderline call in the scan table's short words with the warning mark, the window's headline and the sentence
    in its tooltip; its distance from the threshold is 0.020 above; no column says "Confidence"."""
    from osteo_desktop.core.results.result import FileResult
    from osteo_desktop.gui.history_view import COLUMNS, HistoryDialog

    old = FileResult(path=str(tmp_path / "old.png"), file_sha256="01" * 32, label="osteoporosis", probability=0.38,
                     confidence=0.38, threshold=0.36, model_version="2.1.0", model_sha256="cd" * 32, warnings=[],
                     knees=[KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.38, 0.38)])
    history.record(old.path, old, old.file_sha256)
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    dialog.refresh()
    result, against = COLUMNS.index("Result"), COLUMNS.index("Against threshold")
    assert "Confidence" not in COLUMNS
    assert dialog.table.item(0, result).text() == "Borderline (above)  ⚠"
    tip = dialog.table.item(0, result).toolTip()
    assert "Borderline (just above the threshold): read as undecided" in tip
    assert "Borderline: the probability 0.380 lies within 0.05 of the decision threshold 0.360" in tip
    assert dialog.table.item(0, against).text() == "0.020 above"


def test_each_knee_line_says_where_its_side_came_from(panel):
    knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.44, 0.44, "film_marker"),
             KneeResult("left", (20, 0, 30, 10), "normal", 0.12, 0.88, "film_marker")]
    panel.show_result(_prediction(0.44), "osteoporosis", knees)
    lines = panel.knee_lines.text().split("<br>")
    assert "<b>Right knee (film marker)</b>: Osteoporosis suspected, probability 0.440 (threshold 0.360)" in lines[0]
    assert "<b>Left knee (film marker)</b>: No sign of osteoporosis, probability 0.120 (threshold 0.360)" in lines[1]
    panel.show_result(_prediction(0.05), "osteoporosis",
                      [KneeResult("left", (0, 0, 10, 10), "normal", 0.05, 0.95, "dicom_header")])
    assert "<b>Left knee (DICOM header)</b>: " in panel.knee_lines.text()
    panel.show_result(_prediction(0.05), "osteoporosis", [KneeResult("unknown", (0, 0, 10, 10), "normal", 0.05, 0.95)])
    assert "<b>Knee (side unknown)</b>: " in panel.knee_lines.text()


def test_the_history_view_shows_the_readers_mark(qtbot, history, tmp_path):
    """Agree/Disagree set in the worklist is stored; the history view shows it in its own column (it was stored but
    not shown), and an unmarked entry shows nothing there."""
    from osteo_desktop.core.results.result import FileResult
    from osteo_desktop.gui.history_view import COLUMNS, HistoryDialog

    for name, digest in (("marked.png", "02"), ("unmarked.png", "03")):
        entry = FileResult(path=str(tmp_path / name), file_sha256=digest * 32, label="normal", probability=0.1,
                           confidence=0.9, threshold=0.36, model_version="2.1.0", model_sha256="cd" * 32)
        history.record(entry.path, entry, entry.file_sha256)
    assert history.set_agreement("02" * 32, "cd" * 32, "disagree")
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    dialog.refresh()
    reading, file_column = COLUMNS.index("Your reading"), COLUMNS.index("File")
    shown = {dialog.table.item(row, file_column).text(): dialog.table.item(row, reading).text()
             for row in range(dialog.table.rowCount())}
    assert shown == {"marked.png": "Disagree", "unmarked.png": ""}
