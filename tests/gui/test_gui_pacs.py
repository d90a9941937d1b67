"""File ▸ PACS… against a real Orthanc (issue 14): configure it, find a study by patient ID, accession number or date,
fetch its radiographs into the scan window (the worklist) and send the results back into the same study."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from osteo_desktop.gui.pacs_dialog import pacs_from_settings, pacs_settings_problem
from tests.dicomnet_helpers import Orthanc
from window_steps import open_and_wait
from tests.imaging_factories import make_dicom
from tests.sr_helpers import SR_CLASSES, sr_numbers

needs_orthanc = pytest.mark.skipif(shutil.which("Orthanc") is None, reason="Orthanc not installed (apt-get install -y orthanc)")


@pytest.fixture
def orthanc(tmp_path):
    folder = tmp_path / "orthanc"
    folder.mkdir()
    server = Orthanc(folder)
    yield server
    server.stop()


def test_settings_are_checked_before_anything_is_saved():
    assert pacs_settings_problem("ORTHANC", "127.0.0.1", "4242", "OSTEO") is None
    assert "1 to 16" in pacs_settings_problem("A" * 17, "h", "4242", "OSTEO")
    assert "1 to 16" in pacs_settings_problem("ORTHANC", "h", "4242", "")
    assert "host" in pacs_settings_problem("ORTHANC", " ", "4242", "OSTEO")
    assert "65535" in pacs_settings_problem("ORTHANC", "h", "70000", "OSTEO")


@needs_orthanc
def test_find_fetch_analyse_and_send_back(qtbot, make_window, orthanc, knee_png, tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
    knee = make_dicom(np.asarray(Image.open(knee_png).convert("L")), modality="CR", StudyInstanceUID=generate_uid(),
                      SeriesInstanceUID=generate_uid(), StudyDate="20250301", AccessionNumber="ACC-31", StudyID="1",
                      ViewPosition="AP", PatientSex="F")
    other = make_dicom(np.asarray(Image.open(knee_png).convert("L")), modality="CR", StudyInstanceUID=generate_uid(),
                       SeriesInstanceUID=generate_uid(), StudyDate="20240101", AccessionNumber="ACC-99", PatientID="P-OTHER")
    orthanc.upload(knee)
    orthanc.upload(other)
    window = make_window()
    window.side.show_pacs()
    dialog = window.side.pacs
    assert not dialog.find_button.isEnabled()  # nothing configured yet: nothing can connect
    dialog.ae_title.setText(orthanc.ae_title)
    dialog.host.setText("127.0.0.1")
    dialog.port.setText(str(orthanc.port))
    dialog.save_button.click()
    assert pacs_from_settings(window.settings).destination.port == orthanc.port
    assert dialog.find_button.isEnabled()

    for field, value in ((dialog.patient_id, "PID-8812"), (dialog.accession, "ACC-31"), (dialog.study_date, "2025-03-01")):
        for edit in (dialog.patient_id, dialog.accession, dialog.study_date):
            edit.clear()
        field.setText(value)
        dialog.find_button.click()
        qtbot.waitUntil(lambda: dialog.worker is None and dialog.table.rowCount() > 0, timeout=20000)
        assert [s.study_instance_uid for s in dialog.studies] == [knee.StudyInstanceUID], value
    cells = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert cells[:4] == ["Doe, Jane", "PID-8812", "2025-03-01", "ACC-31"]

    with qtbot.waitSignal(dialog.study_fetched, timeout=30000) as fetched:
        dialog.fetch_button.click()
    batch = window.side.batch
    qtbot.waitUntil(lambda: batch is not None and not batch.is_running() and len(batch.rows) == 1, timeout=60000)
    assert fetched.args[0].startswith(str(tmp_path / "data"))
    row = batch.rows[0]
    assert row.ok and Path(row.path).name == f"{knee.SOPInstanceUID}.dcm"  # the history and CSV carry no name
    # The worklist says whose film it is, not the UID it is named by (trial 22); the UID is in the tooltip.
    cell = batch.model.item(0, 0)
    assert cell.text() == "Doe, Jane · ID PID-8812 · Acc. ACC-31 · 2025-03-01"
    assert knee.SOPInstanceUID in cell.toolTip()
    # The window says whose film it is too, not the UID it lies under (reported after trial 22): title, status bar;
    # the Image details and the report's suggested name only with the patient's details (hidden by default).
    readable = "Doe^Jane PID-8812 ACC-31 2025-03-01 knee"
    open_and_wait(qtbot, window, row.path)
    assert window.statusBar().currentMessage().startswith(f"{readable}.dcm: analysed in ")
    assert window.windowTitle().startswith(f"{readable}.dcm — ")
    assert dict(window.metadata.rows())["File"] == f"{knee.SOPInstanceUID}.dcm"
    window.metadata.show_patient.setChecked(True)
    assert dict(window.metadata.rows())["File"] == f"{readable}.dcm"
    assert window.logic.suggested_report_path().name == f"{knee.SOPInstanceUID}-report.pdf"
    assert window.logic.suggested_report_path(with_patient=True).name == f"{readable}-report.pdf"

    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=10000)
    with qtbot.waitSignal(dialog.results_sent, timeout=60000) as sent:
        dialog.send_button.click()
    assert sent.args[0] == 3  # the SR, the annotated image and the PDF
    stored = [ds for ds in orthanc.instances() if ds.StudyInstanceUID == knee.StudyInstanceUID]
    classes = {str(ds.SOPClassUID) for ds in stored}
    assert classes & SR_CLASSES and "1.2.840.10008.5.1.4.1.1.104.1" in classes and len(stored) == 4
    sr = next(ds for ds in stored if str(ds.SOPClassUID) in SR_CLASSES)
    assert (sr.PatientID, sr.AccessionNumber) == ("PID-8812", "ACC-31")
    # The probability the scan showed is a numeric measurement of the report sent back.
    assert any(abs(value - row.probability) < 1e-3 for value in sr_numbers(sr))
