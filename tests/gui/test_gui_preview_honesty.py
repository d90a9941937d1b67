"""A declined file's preview says what it is, and the explanation controls are offered only when a map exists."""

from __future__ import annotations

from window_steps import open_and_wait

MODEL_INPUT_TITLE = "Model input and explanation"
GATE_TITLE = "Checked before analysis: no result"  # plain words: no "scope gate" jargon on screen


def explanation_controls(window):
    return (window.show_explanation, window.opacity, window.opacity_label, window.explain_action)


def test_nothing_to_explain_before_any_file(window):
    assert window.preview_box.title() == MODEL_INPUT_TITLE
    assert not any(control.isEnabled() for control in explanation_controls(window))


def test_a_declined_file_is_captioned_as_the_gates_view_and_greys_the_explanation(qtbot, window, knee_png, colour_bars):
    open_and_wait(qtbot, window, knee_png)
    assert window.preview_box.title() == MODEL_INPUT_TITLE
    assert all(control.isEnabled() for control in explanation_controls(window))
    assert window.show_explanation.isChecked()

    outcome = open_and_wait(qtbot, window, colour_bars)
    assert outcome.analysis.prediction is None and outcome.analysis.model_input is not None
    assert window.preview.has_image() and not window.preview.has_overlay()  # the film as the gate saw it, no map
    assert window.preview_box.title() == GATE_TITLE
    assert "no result" in window.preview.toolTip() and "Exactly what the model was given" not in window.preview.toolTip()
    assert not any(control.isEnabled() for control in explanation_controls(window))
    window.explain_action.trigger()  # the X shortcut does nothing while there is no map
    assert window.show_explanation.isChecked()

    # The next result brings the controls back, with the reader's choice (ticked) as it was.
    open_and_wait(qtbot, window, knee_png)
    assert window.preview_box.title() == MODEL_INPUT_TITLE
    assert "Exactly what the model was given" in window.preview.toolTip()
    assert all(control.isEnabled() for control in explanation_controls(window))
    assert window.show_explanation.isChecked() and window.view.overlay_visible()


def test_a_failed_file_leaves_no_explanation_controls_on(qtbot, window, knee_png, bad_file):
    open_and_wait(qtbot, window, knee_png)
    with qtbot.waitSignal(window.analysis_failed, timeout=30000):
        window.open_file(bad_file)
    assert window.preview_box.title() == MODEL_INPUT_TITLE
    assert not any(control.isEnabled() for control in explanation_controls(window))
