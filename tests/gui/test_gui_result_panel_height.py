"""The result panel's height follows what it shows: a result with a line per knee claims the height of its lines, and
the state after it (an error, no result, busy) gives that height back instead of floating its words in blank space."""

from __future__ import annotations

from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.gui.result_panel import ResultPanel

WIDTH = 380  # the side panel's minimum width (main_window_ui)


def _tall_result(panel: ResultPanel) -> None:
    """Two knees, both borderline: headline, probability line, two knee lines, scale, facts and a warning."""
    knees = [KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.38, 0.38),
             KneeResult("left", (20, 0, 30, 10), "normal", 0.33, 0.67)]
    panel.show_result(Prediction("osteoporosis", 0.38, 0.38, 0.36, "2.1.0", 0.0), "osteoporosis", knees)


def _panel(qtbot) -> ResultPanel:
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.resize(WIDTH, 200)
    return panel


def test_an_error_after_a_result_takes_the_height_it_would_take_alone(qtbot):
    message = "broken.dcm: not an image: the content is unrecognised binary data despite its .dcm extension"
    after, alone = _panel(qtbot), _panel(qtbot)
    _tall_result(after)
    claimed = after.minimumHeight()
    assert claimed > 0  # the result did claim its lines' height (else this test shows nothing)
    after.show_error(message)
    alone.show_error(message)
    assert after.minimumHeight() == alone.minimumHeight() < claimed


def test_no_result_and_busy_after_a_result_give_its_height_back(qtbot):
    panel = _panel(qtbot)
    _tall_result(panel)
    claimed = panel.minimumHeight()
    panel.show_no_result("not a knee radiograph: looks like a chest radiograph")
    assert panel.minimumHeight() < claimed
    _tall_result(panel)
    panel.show_busy("knee.png")
    assert panel.minimumHeight() < claimed
