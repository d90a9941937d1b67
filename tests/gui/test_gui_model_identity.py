"""One meaning of ``model_sha256`` everywhere: the About box, the JSON/CSV row, the PDF report and the DICOM SR's
algorithm identification all name the same digest, the one over the model card and every model file
(:func:`osteo_desktop.core.model.card.model_sha256`), computed here afresh from the model directory.
"""

from __future__ import annotations

from datetime import datetime

import pydicom


def test_about_box_json_pdf_and_dicom_sr_name_the_same_model_digest(qtbot, classifier, knee_png, tmp_path):
    from osteo_desktop.dicom_results import export_analysis
    from osteo_desktop.core.model.card import load_model_card, model_sha256
    from osteo_desktop.core.paths import default_model_dir
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.core.results.dicom_adapter import StudyDetails
    from osteo_desktop.gui import report_pdf
    from osteo_desktop.gui.about_dialog import ModelDialog

    expected = model_sha256(load_model_card(default_model_dir()))
    assert len(expected) == 64
    # The digest covers the card too: the .tflite file's own checksum (what the card lists) is another value.
    assert expected not in {str(entry.get("sha256")) for entry in classifier.card.files.values()}

    analysis = analyse_file(knee_png, classifier, explain=False)
    assert analysis.result.to_dict()["model_sha256"] == expected  # the JSON (and CSV) row

    lines = dict(report_pdf.report_lines(analysis, classifier.card.labels[1], False, datetime(2026, 1, 1)))
    assert lines["Model SHA-256"] == expected  # what the PDF prints

    details = StudyDetails("ID-1", "Doe^Jane", "20260101", "A1")
    written = export_analysis(analysis, classifier, tmp_path / "dicom", details, with_pdf=False)
    (sr,) = [ds for ds in (pydicom.dcmread(p) for p in written) if ds.Modality == "SR"]
    named = {str(e.value) for e in sr.iterall() if isinstance(e.value, str) and "model_sha256=" in str(e.value)}
    assert named == {f"model_sha256={expected}"}  # the SR's algorithm identification (its parameters)

    dialog = ModelDialog(classifier.card)
    qtbot.addWidget(dialog)
    assert expected in dialog.text()  # the About box
