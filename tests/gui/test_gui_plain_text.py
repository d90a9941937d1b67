"""Text from file names and DICOM tags is shown literally everywhere in the GUI, never as rich text (issue 12).

What a widget draws is worked out the way Qt decides it: a label in RichText, or in AutoText when
``Qt.mightBeRichText`` says so, and every tooltip that "might be rich text", is drawn as HTML (QTextDocument); anything
else is drawn as the characters themselves. The expectation is independent of the code under test: the marked-up
name and tag values must come out character for character.
"""

from __future__ import annotations

import shutil

import pydicom
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox

from hostile_files import write_knee_dicom
from window_steps import open_and_wait

NAME = "<font color=green>No sign of osteoporosis.png"
PATIENT = "<h1>Doe^Jane</h1>"
PATIENT_SHOWN = "<h1>Doe, Jane</h1>"  # names are shown "Family, Given" (text.person_name); the markup stays literal
INSTITUTION = "<b>General</b> <i>Hospital</i>"


def rendered(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """The characters Qt draws for ``text`` shown in ``text_format`` (tooltips are always AutoText)."""
    rich = text_format == Qt.TextFormat.RichText or (text_format == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text))
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def shown_labels(widget) -> list[str]:
    return [rendered(label.text(), label.textFormat()) for label in widget.findChildren(QLabel) if label.text()]


def test_a_marked_up_file_name_is_shown_literally(qtbot, window, knee_png, tmp_path):
    path = tmp_path / NAME
    shutil.copy(knee_png, path)
    open_and_wait(qtbot, window, path)
    table = window.metadata.table
    cells = {table.item(row, 0).text(): table.item(row, 1) for row in range(table.rowCount())}
    assert cells["File"].text() == NAME  # item views draw plain text
    assert rendered(cells["File"].toolTip()) == NAME  # the tooltip too (Qt guesses tooltips' format)
    for text in shown_labels(window):  # no label anywhere shows the name without its markup
        assert "No sign of osteoporosis.png" not in text or NAME in text
    assert NAME in window.windowTitle()
    recent = [action for action in window.recent_menu.actions() if "osteoporosis.png" in action.text()]
    assert recent and all(rendered(action.toolTip()) == str(path) for action in recent)
    # What the result panel says while a file is read, or when it fails, names the file literally.
    window.result_panel.show_busy(NAME)
    assert rendered(window.result_panel.headline.text(), window.result_panel.headline.textFormat()) == f"Analysing {NAME}…"
    window.result_panel.show_error(f"{NAME}: not an image")
    assert rendered(window.result_panel.headline.text(), window.result_panel.headline.textFormat()).startswith(NAME)


def test_markup_in_dicom_tags_is_shown_literally(qtbot, window, knee_png, tmp_path):
    path = write_knee_dicom(tmp_path / "knee.dcm", knee_png, patient_name=PATIENT, patient_id="ID-1")
    dataset = pydicom.dcmread(path)
    dataset.InstitutionName = INSTITUTION
    dataset.save_as(path)
    open_and_wait(qtbot, window, path)
    window.metadata.show_patient.setChecked(True)
    table = window.metadata.table
    values = [table.item(row, 1) for row in range(table.rowCount())]
    for expected in (INSTITUTION, PATIENT_SHOWN):
        (item,) = [item for item in values if item.text() == expected]
        assert rendered(item.toolTip()) == expected
    for text in shown_labels(window):
        assert "Doe, Jane" not in text or PATIENT_SHOWN in text
        assert "Hospital" not in text or INSTITUTION in text


def test_message_boxes_and_menus_show_text_literally(qtbot, monkeypatch):
    from osteo_desktop.gui import plain

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append((box.text(), box.textFormat())) or 0)
    plain.message(None, "Export CSV", f"The results were not saved: {NAME}")
    assert [rendered(text, fmt) for text, fmt in shown] == [f"The results were not saved: {NAME}"]
    assert plain.action_text("R&D knee.png") == "R&&D knee.png"


def test_a_window_title_shows_a_file_name_literally(qtbot, window, knee_png, tmp_path):
    path = tmp_path / "knee [*] <b>right.png"
    shutil.copy(knee_png, path)
    open_and_wait(qtbot, window, path)
    window.show()
    assert window.windowHandle().title().startswith(path.name)  # what the window system is given


def test_the_pdf_draws_names_and_tags_as_plain_text_and_names_the_exact_model(qtbot, classifier, knee_png, tmp_path, monkeypatch):
    from PySide6.QtGui import QPainter

    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.gui import report_pdf

    path = write_knee_dicom(tmp_path / NAME.replace(".png", ".dcm"), knee_png, patient_name=PATIENT)
    analysis = analyse_file(path, classifier, explain=False)
    drawn: list[str] = []
    original = QPainter.drawText

    def record(painter, *args):
        drawn.extend(arg for arg in args if isinstance(arg, str))
        return original(painter, *args)

    # QPainter.drawText lays out the characters as given (it has no rich-text mode): what it is handed is what prints.
    monkeypatch.setattr(QPainter, "drawText", record)
    report_pdf.write_report_pdf(tmp_path / "report.pdf", analysis, include_patient=True)
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert NAME.replace(".png", ".dcm") in drawn and PATIENT_SHOWN in drawn
    assert classifier.model_sha256 in drawn  # the exact model (card and files) is named on the report


def test_the_model_dialog_names_the_exact_model(qtbot, classifier):
    from osteo_desktop.gui.about_dialog import ModelDialog

    dialog = ModelDialog(classifier.card)
    qtbot.addWidget(dialog)
    assert classifier.model_sha256 in dialog.text()  # the summary (a QTextBrowser: markup built and escaped here)
    for text in shown_labels(dialog):  # and the labels around it are plain
        assert "<" not in text
