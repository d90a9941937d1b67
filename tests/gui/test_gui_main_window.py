"""The main window's flows on real radiographs: open, predict, preview, explanation, errors, workers."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from osteo_desktop.core.results import text
from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.model.preprocessing import knee_region, model_input_to_preview
from osteo_desktop.core.results.text import probability_line, verdict_headline
from window_steps import open_and_wait


def test_open_shows_the_same_result_as_the_core(qtbot, window, classifier, knee_png):
    outcome = open_and_wait(qtbot, window, knee_png)
    expected = analyse_file(knee_png, classifier).prediction
    shown = window.result_panel.prediction
    assert window.result_panel.state == "result"
    assert shown.label == expected.label
    assert abs(shown.probability - expected.probability) < 1e-6
    assert window.result_panel.headline.text() == verdict_headline(expected, classifier.card.labels[1])
    assert f"{expected.probability:.3f}" in window.result_panel.details.text()
    assert classifier.version in window.result_panel.details.text()
    # How sure: the probability against the threshold, in the words core writes; no "confidence" anywhere.
    assert window.result_panel.probability_text.text() == probability_line(expected.probability, expected.threshold)
    assert not window.result_panel.probability_text.isHidden()
    assert "onfidence" not in window.result_panel.probability_text.text() + window.result_panel.knee_lines.text()
    assert not window.result_panel.disclaimer.isHidden()
    assert outcome.path == str(knee_png)
    assert knee_png.name in window.windowTitle()
    assert window.export_action.isEnabled()


def test_preview_is_exactly_each_knees_model_input(qtbot, window, classifier, knee_jpeg):
    outcome = open_and_wait(qtbot, window, knee_jpeg)
    knees = outcome.analysis.knees
    assert knees
    shown = window.preview.rendered_image()
    size = classifier.input_size
    gap = (shown.shape[1] - len(knees) * size) // max(1, len(knees) - 1) if len(knees) > 1 else 0
    assert shown.shape == (size, len(knees) * size + (len(knees) - 1) * gap)
    for i, knee in enumerate(knees):  # side by side, from the viewer's left, as on the film
        tile = shown[:, i * (size + gap) : i * (size + gap) + size]
        np.testing.assert_array_equal(tile, model_input_to_preview(knee.model_input))
        # and that input is the knee's region as the core's one preprocessing path cuts it from the film
        expected, _ = knee_region(outcome.analysis.radiograph.pixels, knee.prediction.box, classifier.knee_head.region)
        np.testing.assert_allclose(knee.model_input, expected, atol=1e-6)
    assert window.preview.mark_captions() == [c for _, c, _ in window.logic.display(outcome).marks]


def test_knee_boxes_and_one_line_per_knee_are_shown(qtbot, window, classifier, knee_jpeg):
    outcome = open_and_wait(qtbot, window, knee_jpeg)
    knees = outcome.analysis.result.knees
    sides = {"right": "R", "left": "L", "unknown": "?"}
    # Where each side came from, in the words the tag and the line use (README): none for an unknown side.
    sources = {"dicom_header": " (DICOM header)", "film_marker": " (film marker)",
               "hanging_convention": " (film position)", None: ""}
    threshold = outcome.analysis.result.threshold  # the percentage as text.knee_percent writes it (hand cases there)
    assert window.view.mark_captions() == [f"{sides[k.side]}{sources[k.side_source]} {text.knee_percent(k.probability, threshold)}"
                                           for k in knees]
    panel = window.result_panel
    assert panel.knees == knees and not panel.knee_lines.isHidden() and not panel.scale.isHidden()
    lines = panel.knee_lines.text().split("<br>")
    assert len(lines) == len(knees)
    names = {"right": "Right knee", "left": "Left knee", "unknown": "Knee (side unknown)"}
    for line, knee in zip(lines, knees):
        assert f"probability {knee.probability:.3f}" in line
        assert f"<b>{names[knee.side]}{sources[knee.side_source]}</b>" in line
    assert panel.scale.threshold == classifier.knee_head.threshold
    assert [p for _, p, _ in panel.scale.markers] == pytest.approx([k.probability for k in knees])


def test_explanation_overlay_toggle_and_opacity(qtbot, window, knee_png):
    outcome = open_and_wait(qtbot, window, knee_png)
    assert outcome.analysis.explanation is not None
    assert window.view.has_overlay() and window.preview.has_overlay()
    assert window.view.overlay_visible() and window.preview.overlay_visible()
    window.show_explanation.setChecked(False)
    assert not window.view.overlay_visible() and not window.preview.overlay_visible()
    window.explain_action.trigger()
    assert window.view.overlay_visible()
    window.opacity.setValue(80)
    assert abs(window.view.overlay_opacity() - 0.8) < 1e-6
    assert abs(window.preview.overlay_opacity() - 0.8) < 1e-6


def test_a_bad_file_shows_a_plain_error_and_the_app_goes_on(qtbot, window, bad_file, knee_png):
    with qtbot.waitSignal(window.analysis_failed, timeout=30000) as blocker:
        window.open_file(bad_file)
    message = blocker.args[0]
    assert bad_file.name in message
    assert "Traceback" not in message and "Error" not in message.split(":")[0]
    assert window.result_panel.state == "error"
    assert window.result_panel.headline.text() == message
    assert not window.view.has_image()
    assert not window.export_action.isEnabled()
    open_and_wait(qtbot, window, knee_png)
    assert window.result_panel.state == "result"


def test_a_missing_file_is_reported_by_name(qtbot, window, tmp_path):
    missing = tmp_path / "gone.png"
    with qtbot.waitSignal(window.analysis_failed, timeout=30000) as blocker:
        window.open_file(missing)
    assert "gone.png" in blocker.args[0]


def test_event_loop_keeps_running_while_the_worker_predicts(qtbot, make_window, make_gated, knee_png):
    gated = make_gated({1})
    window = make_window(gated)
    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(window.logic.runner.is_busy()))

    def release_after_ticks():
        # the worker is parked inside the prediction; the GUI thread must still be serving timers
        if gated.entered.is_set() and sum(ticks) >= 5:
            gated.gate.set()

    timer.timeout.connect(release_after_ticks)
    timer.start()
    try:
        with qtbot.waitSignal(window.analysis_shown, timeout=60000):
            window.open_file(knee_png)
            assert not window.busy.isHidden()  # the busy indicator is up while the job runs
    finally:
        timer.stop()
        gated.gate.set()
    assert sum(ticks) >= 5  # timer ticks counted while the job was still busy
    assert window.busy.isHidden()


def test_opening_another_image_supersedes_the_running_job(qtbot, make_window, make_gated, history, knee_images):
    first, second = knee_images["normal"][0], knee_images["osteoporosis"][0]
    gated = make_gated({1})
    window = make_window(gated)
    shown = []
    window.analysis_shown.connect(lambda outcome: shown.append(outcome.path))
    try:
        window.open_file(first)
        qtbot.waitUntil(gated.entered.is_set, timeout=30000)
        window.open_file(second)
        # nothing from the first image may sit beside the second one
        assert window.current is None
        assert window.result_panel.state == "busy"
        assert second.name in window.result_panel.headline.text()
        with qtbot.waitSignal(window.analysis_shown, timeout=60000):
            gated.gate.set()
    finally:
        gated.gate.set()
    assert window.logic.runner.wait_for_done()
    QApplication.processEvents()  # deliver every signal the first job queued, so that dropping it is tested
    assert shown == [str(second)]
    assert window.current.path == str(second)
    assert window.current_radiograph.path == second
    assert [entry.path for entry in history.entries()] == [str(second)]


def test_drop_a_file_on_the_view_opens_it(qtbot, window, knee_png):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(knee_png))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        window.view.dropEvent(event)
    assert window.current.path == str(knee_png)


def test_recent_files_are_remembered_and_reopen(qtbot, window, knee_images):
    a, b = knee_images["normal"][0], knee_images["normal"][1]
    open_and_wait(qtbot, window, a)
    open_and_wait(qtbot, window, b)
    assert window.recent_files()[:2] == [str(b), str(a)]
    actions = [action for action in window.recent_menu.actions() if action.toolTip() == str(a)]
    assert len(actions) == 1
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        actions[0].trigger()
    assert window.current.path == str(a)
    assert window.recent_files()[0] == str(a)


def test_input_warnings_are_shown(qtbot, window, dicom_dir):
    chest = dicom_dir / "CR_chest_RG1_J2KI_MONO1_15bit_j2k-lossy.dcm"
    outcome = open_and_wait(qtbot, window, chest)
    warnings = outcome.analysis.warnings  # a chest film gets no result (issue 11), but its warnings are still shown
    assert outcome.analysis.prediction is None
    assert warnings, "the reader should warn that a chest radiograph is not a knee"
    assert not window.result_panel.warnings.isHidden()
    for warning in warnings:
        assert warning in window.result_panel.warnings.text()


def test_dicom_metadata_and_hidden_patient_fields(qtbot, window, dicom_dir):
    path = dicom_dir / "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm"
    outcome = open_and_wait(qtbot, window, path)
    radiograph = outcome.analysis.radiograph
    rows = dict(window.metadata.rows())
    assert rows["File"] == path.name
    assert len(rows) >= 3
    assert not any(field.startswith("Patient") or field in ("Study date", "Accession number") for field in rows)
    identifiers = [str(v) for v in radiograph.patient.values() if len(str(v)) >= 4]  # 'M' occurs in any text
    for value in identifiers:
        assert all(value not in shown for shown in rows.values())
    if radiograph.patient:
        window.metadata.show_patient.setChecked(True)
        assert any(field.startswith("Patient ") for field, _ in window.metadata.rows())


def test_the_model_is_loaded_off_the_gui_thread(qtbot, settings, history, classifier):
    import threading

    from osteo_desktop.gui.main_window import MainWindow

    loaded_in = []

    def load():
        loaded_in.append(threading.current_thread())
        return classifier

    window = MainWindow(settings=settings, history=history, load_classifier=load)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.classifier is not None, timeout=30000)
    assert loaded_in and loaded_in[0] is not threading.main_thread()
    window.close()


def test_a_file_opened_before_the_model_is_ready_is_analysed_when_it_is(qtbot, settings, history, classifier, knee_png):
    import threading

    from osteo_desktop.gui.main_window import MainWindow

    ready = threading.Event()

    def slow_load():
        if not ready.wait(60):
            raise TimeoutError("never released")
        return classifier

    window = MainWindow(settings=settings, history=history, load_classifier=slow_load)
    qtbot.addWidget(window)
    try:
        window.open_file(knee_png)
        assert window.result_panel.state == "busy"
        with qtbot.waitSignal(window.analysis_shown, timeout=60000):
            ready.set()
    finally:
        ready.set()
    assert window.current.path == str(knee_png)
    window.close()


def test_a_path_on_the_command_line_is_opened(qtbot, settings, history, knee_png):
    from osteo_desktop.gui.app import open_main_window, parse_args

    args = parse_args([str(knee_png)])
    assert args.file == str(knee_png) and args.self_test is None
    window = open_main_window(args.file, settings=settings, history=history)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000) as blocker:
        pass
    assert blocker.args[0].path == str(knee_png)
    window.close()


def test_self_test_option_takes_an_optional_file():
    from osteo_desktop.gui.app import parse_args

    assert parse_args(["--self-test"]).self_test == ""
    assert parse_args(["--self-test", "knee.dcm"]).self_test == "knee.dcm"


def test_a_model_that_cannot_load_is_explained(qtbot, settings, history):
    from osteo_desktop.core.errors import ModelIntegrityError
    from osteo_desktop.gui.main_window import MainWindow

    def broken():
        raise ModelIntegrityError("model file osteo.tflite does not match its checksum in the model card")

    window = MainWindow(settings=settings, history=history, load_classifier=broken)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.model_failed, timeout=30000) as blocker:
        pass
    assert blocker.args[0].startswith("The screening model could not be loaded.")
    assert "checksum" in blocker.args[0]
    assert window.result_panel.state == "error"
    assert not window.batch_action.isEnabled()
    window.open_file(__file__)  # opening an image afterwards says why nothing can be analysed
    assert window.result_panel.state == "error"
    assert window.result_panel.headline.text() == blocker.args[0]
    window.close()


def test_a_dropped_folder_is_offered_for_a_batch_scan(qtbot, window, tmp_path):
    window.open_dropped(str(tmp_path))
    dialog = window._batch_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.folder_edit.text() == str(tmp_path)
    assert not dialog.is_running()  # nothing starts until the user says so
    dialog.close()


def test_keyboard_shortcuts_drive_the_viewer(qtbot, window, knee_png):
    from PySide6.QtCore import Qt

    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.view.setFocus()
    open_and_wait(qtbot, window, knee_png)
    fitted = window.view.scale_factor()
    qtbot.keyClick(window.view, Qt.Key.Key_Plus)
    assert window.view.scale_factor() > fitted
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert window.view.scale_factor() == 1.0 / window.view.devicePixelRatioF()
    qtbot.keyClick(window.view, Qt.Key.Key_F)
    assert abs(window.view.scale_factor() - fitted) < 1e-9
    qtbot.keyClick(window.view, Qt.Key.Key_I)
    assert window.view.inverted
    qtbot.keyClick(window.view, Qt.Key.Key_R)
    assert not window.view.inverted
    qtbot.keyClick(window.view, Qt.Key.Key_X)
    assert not window.show_explanation.isChecked()


def test_image_details_are_in_words():
    from osteo_desktop.gui.metadata_panel import _metadata_rows

    rows = dict(_metadata_rows({"format": "JPEG", "mode": "L", "original_width": 839, "original_height": 1024,
                                "width": 839, "height": 1024, "study_date": "20040826", "signed": False,
                                "pixel_spacing": [0.0, 0.0], "window_center": 15000.0}))
    # The study date is shown with the patient details only (issue 14): with the accession number it finds the visit.
    assert rows == {"Format": "JPEG", "Colour mode": "greyscale", "Signed pixel values": "no", "Window centre": "15000"}
    assert dict(_metadata_rows({"original_width": 2000, "original_height": 1000, "width": 1000, "height": 500}))["Original size"] == "2000 × 1000 pixels"


def test_the_right_hand_panel_can_be_resized_both_ways(qtbot, window):
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    splitter, side = window.splitter, window.splitter.widget(1)
    before = side.width()
    # Drag the handle 200 px to the left, as a user would: the panel widens by that much.
    handle = splitter.handle(1)
    start = handle.rect().center()
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(handle, start - QPoint(200, 0))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start - QPoint(200, 0))
    qtbot.waitUntil(lambda: side.width() >= before + 150, timeout=3000)
    # Inside it, the image details can be given the model input's room.
    details_before = window.side_splitter.widget(1).height()
    sizes = window.side_splitter.sizes()
    window.side_splitter.setSizes([sizes[0] - 150, sizes[1] + 150])
    assert window.side_splitter.widget(1).height() > details_before


def test_a_two_knee_result_is_not_drawn_over_the_model_input(qtbot, window, knee_manifest):  # skips without the data
    """The result (a line per knee, the scale, the figures, the disclaimer) gets its full height: in a splitter pane
    its word-wrapped lines were given too little, and the lower half was drawn over the model input."""
    import csv

    from shared_paths import KNEE_DIR

    with open(KNEE_DIR / "manifest.csv", newline="", encoding="utf-8") as handle:
        both = next(KNEE_DIR / row["file"] for row in csv.DictReader(handle) if row.get("qus_t_score"))
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    open_and_wait(qtbot, window, both)
    panel = window.result_panel
    assert len(panel.knees) == 2
    qtbot.waitUntil(lambda: panel.disclaimer.isVisible(), timeout=3000)

    def top_and_bottom(widget):
        top = widget.mapTo(window, QPoint(0, 0)).y()
        return top, top + widget.height()

    _, disclaimer_bottom = top_and_bottom(panel.disclaimer)
    _, panel_bottom = top_and_bottom(panel)
    preview_top, _ = top_and_bottom(window.side_splitter.widget(0))
    assert disclaimer_bottom <= panel_bottom <= preview_top


def test_the_status_bar_names_the_file_being_opened_not_the_last_one(qtbot, make_window, make_gated, knee_images):
    """While the second film is analysed, the status bar says it is being opened; it kept the first film's
    "analysed in … ms" (shown for 8 s), a message about another file beside the busy panel."""
    first, second = knee_images["normal"][0], knee_images["osteoporosis"][0]
    gated = make_gated({2})  # the second film's prediction waits for the gate
    window = make_window(gated)
    try:
        open_and_wait(qtbot, window, first)
        assert window.statusBar().currentMessage().startswith(f"{first.name}: analysed in ")
        window.open_file(second)
        qtbot.waitUntil(gated.entered.is_set, timeout=30000)
        assert window.statusBar().currentMessage() == f"Opening {second.name}…"
        with qtbot.waitSignal(window.analysis_shown, timeout=60000):
            gated.gate.set()
    finally:
        gated.gate.set()
    assert window.statusBar().currentMessage().startswith(f"{second.name}: analysed in ")
