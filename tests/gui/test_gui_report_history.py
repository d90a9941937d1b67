"""PDF report, history view, model dialog, batch-to-window hand-over."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

import pytest

from osteo_desktop.core.results import text
from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.gui.about_dialog import ModelDialog
from osteo_desktop.gui.report_pdf import report_lines, write_report_pdf
from window_steps import open_and_wait


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def test_export_writes_a_one_page_pdf_atomically(qtbot, window, knee_png, tmp_path):
    open_and_wait(qtbot, window, knee_png)
    target = tmp_path / "reports" / "knee.pdf"
    target.parent.mkdir()
    target.write_bytes(b"an older report")
    with qtbot.waitSignal(window.logic.report_saved, timeout=60000) as saved:
        window.logic.export_report(target)  # written in a worker thread
    written = saved.args[0]
    data = written.read_bytes()
    assert written == target
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(data) == 1
    assert len(data) > 20_000  # three images are embedded, not just text
    assert sorted(p.name for p in target.parent.iterdir()) == ["knee.pdf"]  # no temporary file left behind


def test_report_text_has_the_result_and_the_patient_only_on_request(qtbot, window, knee_png, classifier):
    outcome = open_and_wait(qtbot, window, knee_png)
    analysis = outcome.analysis
    analysis = dataclasses.replace(analysis, radiograph=dataclasses.replace(analysis.radiograph, patient={"name": "DOE^JANE", "id": "PID-12345"}))
    when = datetime(2026, 11, 26, 10, 30)
    positive = classifier.card.labels[1]
    without = dict(report_lines(analysis, positive, include_patient=False, created=when))
    assert without["Model version"] == analysis.prediction.model_version
    assert without["Date"] == "2026-11-26 10:30"
    assert without[f"Probability of {positive}"] == f"{analysis.prediction.probability:.3f}"
    assert not any("DOE^JANE" in value for value in without.values())
    assert not any("PID-12345" in value for value in without.values())
    with_patient = report_lines(analysis, positive, include_patient=True, created=when)
    assert with_patient[0][0] == "Result"  # the result heads the report, never the patient's name
    assert ("Patient name", "DOE, JANE") in with_patient  # a name, not DICOM's DOE^JANE
    assert ("Patient ID", "PID-12345") in with_patient


def test_export_dialog_leaves_the_patient_name_out_unless_ticked(qtbot, tmp_path):
    from osteo_desktop.gui.export_dialog import ExportDialog

    with_name = ExportDialog(tmp_path / "r.pdf", [("Patient name", "Doe, Jane")])
    qtbot.addWidget(with_name)
    assert with_name.include_patient.isEnabled() and not with_name.include_patient.isChecked()
    without_name = ExportDialog(tmp_path / "r.pdf", [])
    qtbot.addWidget(without_name)
    assert not without_name.include_patient.isEnabled()
    without_name.path_edit.setText(str(tmp_path / "report"))
    assert without_name.target() == tmp_path / "report.pdf"


def test_a_failed_export_leaves_the_old_report(qtbot, window, knee_png, tmp_path, monkeypatch):
    from osteo_desktop.gui import report_pdf

    outcome = open_and_wait(qtbot, window, knee_png)
    target = tmp_path / "knee.pdf"
    target.write_bytes(b"keep me")

    def broken(*args, **kwargs):
        raise RuntimeError("painting fails half-way")

    monkeypatch.setattr(report_pdf, "_draw_image", broken)
    with pytest.raises(RuntimeError, match="painting fails"):  # the failure reaches the caller, not swallowed
        write_report_pdf(target, outcome.analysis)
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_every_prediction_is_recorded_and_reopens_from_the_history(qtbot, window, history, knee_images, classifier):
    a, b = knee_images["normal"][0], knee_images["osteoporosis"][0]
    open_and_wait(qtbot, window, a)
    shown_b = open_and_wait(qtbot, window, b)
    entries = history.entries()
    assert [e.path for e in entries] == [str(b), str(a)]
    assert entries[0].file_sha256 == sha256_of(b)
    assert entries[0].model_version == classifier.version
    assert abs(entries[0].probability - shown_b.analysis.prediction.probability) < 1e-9

    window.show_history()
    dialog = window._history_dialog
    assert dialog.table.rowCount() == 2
    row_of_a = next(r for r in range(2) if dialog.path_at(r) == str(a))
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        dialog.open_row(row_of_a)
    assert window.current.path == str(a)


def test_history_says_so_when_a_file_has_moved(qtbot, window, history, knee_png, tmp_path):
    moved = tmp_path / "moved.png"
    moved.write_bytes(knee_png.read_bytes())
    open_and_wait(qtbot, window, moved)
    moved.unlink()
    window.show_history()
    dialog = window._history_dialog
    requests = []
    dialog.open_requested.connect(requests.append)
    dialog.open_row(0)
    assert requests == []
    assert "moved.png is no longer" in dialog.summary.text()


def test_batch_double_click_opens_in_the_main_window(qtbot, window, knee_folder):
    window.show_batch_dialog()
    dialog = window._batch_dialog
    with qtbot.waitSignal(dialog.scan_finished, timeout=120000):
        dialog.start_scan(knee_folder)
    good = next(r for r in range(dialog.proxy.rowCount()) if dialog.row_at(r).error is None)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        dialog.table.doubleClicked.emit(dialog.proxy.index(good, 0))
    assert window.current.path == dialog.row_at(good).path


def test_model_dialog_is_a_readable_summary_not_the_raw_card(qtbot, classifier):
    from osteo_desktop.core.model.card import model_sha256, sha256_of

    card = classifier.card
    dialog = ModelDialog(card)
    qtbot.addWidget(dialog)
    shown = " ".join(dialog.text().split())
    assert f"version {card.version}" in shown
    # The identity is the exact model, the digest every result names (over the card and every file); the .tflite's
    # own hash (computed here) is not a second identity beside it.
    assert model_sha256(card) == classifier.model_sha256 and classifier.model_sha256 in shown
    assert sha256_of(card.directory / card.files["tflite"]["path"]) not in shown
    shipped = card.raw["metrics"]["shipped"]
    auc, sens = shipped["roc_auc"], shipped["recall"]
    assert f"ROC AUC {auc['value']:.3f} (95% CI {auc['ci_low']:.3f}–{auc['ci_high']:.3f})" in shown
    assert f"Sensitivity {sens['value']:.3f} (95% CI {sens['ci_low']:.3f}–{sens['ci_high']:.3f})" in shown
    counts = card.raw["training_data"]["counts"]
    assert f"normal {counts['normal']}" in shown and f"osteoporosis {counts['osteoporosis']}" in shown
    for limit in card.raw["limitations"]:
        assert " ".join(limit.split()) in shown
    for raw_key in ("ci_low", "roc_auc", "binary_images_used", "{", "manifest_sha256"):
        assert raw_key not in shown, raw_key  # no JSON keys or braces: words for a reader
    files = [entry["sha256"] for entry in card.files.values()]
    assert not any(checksum in shown for checksum in files)  # only the model's identity, not every file's


def test_model_dialog_gives_the_per_knee_models_sensitivity_and_network_and_says_qus(qtbot, classifier):
    # A new user found only the comparison head's sensitivity (0.942) and network in the dialog, and "DXA T-score"
    # for the QUS subset. The shipped knee model's per-film counts at its threshold: 84 of 104 osteoporosis films
    # found and 91 of 124 normal films cleared (card knee_model.metrics.film_roc_auc.confusion), i.e. 0.81 and 0.73.
    dialog = ModelDialog(classifier.card)
    qtbot.addWidget(dialog)
    shown = " ".join(dialog.text().split())
    confusion = classifier.card.raw["knee_model"]["metrics"]["film_roc_auc"]["confusion"]
    assert (confusion["tp"], confusion["fn"], confusion["tn"], confusion["fp"]) == (84, 20, 91, 33)
    assert "Sensitivity per film at the threshold 0.81 (84 of 104 osteoporosis films)" in shown
    assert "Specificity per film at the threshold 0.73 (91 of 124 normal films)" in shown
    assert "Network Each knee read from a square region around its box" in shown
    assert "DXA" not in shown.replace("must not replace DXA", "").replace("not DXA", "")


def test_the_per_film_figures_name_the_cards_labels(classifier):
    """The films counted are named by the card's labels, not by words written into the dialog."""
    from osteo_desktop.gui.about_dialog import model_summary

    card = dataclasses.replace(classifier.card, labels=("control", "low <density>"))
    shown = " ".join(model_summary(card).split())
    assert "(84 of 104 low &lt;density&gt; films)" in shown and "(91 of 124 control films)" in shown
    assert "osteoporosis films" not in shown and "normal films" not in shown


def test_history_lists_newest_first_and_sorts_by_time(qtbot, window, history, knee_images):
    paths = knee_images["normal"][:3]
    for path in paths:
        open_and_wait(qtbot, window, path)
    window.show_history()
    dialog = window._history_dialog
    assert [dialog.path_at(r) for r in range(3)] == [str(p) for p in reversed(paths)]
    dialog.table.sortItems(0, dialog.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    assert [dialog.path_at(r) for r in range(3)] == [str(p) for p in paths]


def test_model_summary_states_the_evaluation_or_its_absence(classifier):
    import copy

    from osteo_desktop.gui.about_dialog import model_summary

    card = classifier.card
    text = model_summary(card)
    assert card.version in text and f"{card.threshold:.3f}" in text
    shipped = card.summary_metrics
    if "roc_auc" in shipped:
        assert f"{shipped['roc_auc']['value']:.3f}" in text
    bare = copy.copy(card)
    bare.raw = {k: v for k, v in card.raw.items() if k != "metrics"}
    assert "No evaluation is recorded" in model_summary(bare)


def test_model_summary_states_the_limits(classifier):
    from html import escape

    from osteo_desktop.gui.about_dialog import model_summary

    text = model_summary(classifier.card)
    for limit in classifier.card.raw.get("limitations", []):
        assert escape(str(limit)) in text


def test_empty_history_says_so(qtbot, window):
    window.show_history()
    dialog = window._history_dialog
    assert dialog.table.rowCount() == 0
    assert "No results recorded yet" in dialog.summary.text()
    assert not dialog.open_button.isEnabled()


def test_export_dialog_refuses_an_empty_name_and_asks_before_replacing(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from osteo_desktop.gui import plain
    from osteo_desktop.gui.export_dialog import ExportDialog

    dialog = ExportDialog(tmp_path / "r.pdf", {})
    qtbot.addWidget(dialog)
    dialog.path_edit.setText("  ")
    dialog.accept()
    assert dialog.result() != ExportDialog.DialogCode.Accepted
    (tmp_path / "r.pdf").write_bytes(b"%PDF earlier report")
    dialog.path_edit.setText(str(tmp_path / "r.pdf"))
    asked = []
    monkeypatch.setattr(plain, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    dialog.accept()
    assert asked and dialog.result() != ExportDialog.DialogCode.Accepted
    monkeypatch.setattr(plain, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.accept()
    assert dialog.result() == ExportDialog.DialogCode.Accepted


def test_history_view_reports_an_unreadable_database_instead_of_failing(qtbot, tmp_path):
    from osteo_desktop.core.results.history import History
    from osteo_desktop.gui.history_view import HistoryDialog

    history = History(tmp_path / "history.sqlite3")
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    history.close()  # a closed (or locked, or damaged) database makes every read fail
    dialog.refresh()
    assert dialog.summary.text().startswith("The history cannot be read")
    assert dialog.table.rowCount() == 0 and not dialog.open_button.isEnabled()


def test_the_report_has_a_line_per_knee_and_writes(qtbot, window, knee_jpeg, tmp_path):
    from datetime import datetime

    from osteo_desktop.gui.report_pdf import _panels, report_lines

    outcome = open_and_wait(qtbot, window, knee_jpeg)
    knees = outcome.analysis.result.knees
    lines = report_lines(outcome.analysis, "osteoporosis", include_patient=False, created=datetime(2026, 12, 2))
    names = {"right": "Right knee", "left": "Left knee", "unknown": "Knee (side unknown)"}
    per_knee = [(field, value) for field, value in lines if field in names.values()]
    assert [field for field, _ in per_knee] == [names[k.side] for k in knees]
    for (_, value), knee in zip(per_knee, knees):
        assert f"probability {knee.probability:.3f}" in value
    panels = _panels(outcome.analysis, "osteoporosis")
    captions = {"right": "Model input: right knee", "left": "Model input: left knee", "unknown": "Model input: knee (side ?)"}
    assert [caption for caption, *_ in panels] == ["Radiograph"] + [captions[k.side] for k in knees][:2]
    assert len(panels[0][3]) == len(knees)  # every knee's box on the radiograph
    # short tags on the third-of-a-page thumbnail ("R 41 %"); the knee lines above give where each side came from
    shorts = {"right": "R", "left": "L", "unknown": "?"}
    threshold = outcome.analysis.result.threshold
    assert [caption for _, caption, _ in panels[0][3]] == [f"{shorts[k.side]} {text.knee_percent(k.probability, threshold)}"
                                                           for k in knees]
    assert write_report_pdf(tmp_path / "knees.pdf", outcome.analysis).read_bytes().startswith(b"%PDF")


def test_a_file_whose_name_is_not_utf8_reopens_from_the_history_and_the_scan_table(qtbot, window, history, knee_png,
                                                                                   knee_images, tmp_path):
    """The history stores such a name with its byte written as \\xff (core.results.names); Qt cannot carry the raw
    name either. Reopening must still find the very file, not report it moved."""
    import os

    folder = tmp_path / "odd"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/kn\xffee.png"
    with open(raw, "wb") as handle:
        handle.write(knee_images["normal"][0].read_bytes())  # not knee_png's content: the history keys on content
    name = os.fsdecode(raw)  # the str Python hands out for it: U+DCFF in place of the byte
    open_and_wait(qtbot, window, name)
    assert history.entries()[0].path.endswith("/kn\\xffee.png")

    open_and_wait(qtbot, window, knee_png)  # something else on screen
    window.show_history()
    dialog = window._history_dialog
    row = next(r for r in range(dialog.table.rowCount()) if dialog.path_at(r).endswith("kn\\xffee.png"))
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        dialog.open_row(row)
    assert window.current.path == name
    assert "no longer" not in dialog.summary.text()

    window.show_batch_dialog()
    batch = window._batch_dialog
    with qtbot.waitSignal(batch.scan_finished, timeout=120000):
        batch.start_scan(folder)
    open_and_wait(qtbot, window, knee_png)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        batch.table.doubleClicked.emit(batch.proxy.index(0, 0))
    assert window.current.path == name


def test_the_model_dialog_opens_with_plain_words_and_keeps_jargon_for_later(classifier):
    """A radiologist reads the first section: what it reads, the threshold, films flagged/cleared and the QUS warning,
    from the card's own counts (84 of 104 / 91 of 124 for 2.1.0, checked by hand against reports/per_knee.md); the
    network's internals ("out_relu", "HeadWeights") and the threshold rule ("Youden") come only after it."""
    from osteo_desktop.gui.about_dialog import model_summary

    shown = " ".join(model_summary(classifier.card).split())
    short = shown[shown.index("In short"):shown.index("Intended use")]
    assert 'A probability of <b>0.36</b> or more is called "osteoporosis suspected"' in short
    assert "it flagged 84 of 104 osteoporosis films and cleared 91 of 124 normal films" in short
    assert "quantitative ultrasound, QUS" in short and "far from reliable" in short
    details = shown.index("Technical details")
    for jargon in ("out_relu", "HeadWeights", "Youden", "npz"):
        assert jargon in shown and shown.index(jargon) > details, jargon  # the card's words, after the plain ones


def test_pdf_knee_tags_stay_whole_inside_the_thumbnail(qtbot):
    """On the report's third-of-a-page radiograph a tag at the film's right edge ran off the panel over its
    neighbour: it is moved left to stay inside the image (and the report's tags are short: see the knees test)."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor, QFontMetricsF, QImage, QPainter

    from osteo_desktop.gui.report_pdf import _draw_image

    film = QImage(200, 100, QImage.Format.Format_RGB32)
    film.fill(QColor(200, 200, 200))
    page = QImage(300, 200, QImage.Format.Format_RGB32)
    page.fill(QColor(255, 255, 255))
    painter = QPainter(page)
    box = QRectF(50, 40, 200, 100)  # the film fills it exactly: scale 1
    tag = "L 39 %"
    _draw_image(painter, box, film, marks=[((170, 30, 199, 90), tag, "#e8873a")])  # a knee at the right edge
    metrics = QFontMetricsF(painter.font(), page)
    painter.end()
    backdrop = [x for x in range(300) if any(page.pixelColor(x, y) == QColor(12, 12, 14) for y in range(40, 75))]
    # the dark backdrop: only inside the film's columns 50..250, ending at its right edge (the box starts at 220 and
    # the tag is wider than the 30 px to the edge), and whole: as wide as "L 39 %" and its padding
    film_columns = [x for x in backdrop if not any(page.pixelColor(x, y) == QColor(12, 12, 14) for y in (150, 160))]
    assert film_columns and min(film_columns) >= 50 and max(film_columns) <= 250
    assert min(film_columns) < 220 and len(film_columns) >= metrics.horizontalAdvance(tag)
