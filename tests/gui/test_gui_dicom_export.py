"""File ▸ Export DICOM results… (issue 14): the SR, the annotated image and the PDF in the source's study; a PNG
asks for patient and study details, and without them nothing is written and the status bar says why."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import EncapsulatedPDFStorage, SecondaryCaptureImageStorage, generate_uid

from osteo_desktop.gui.dicom_export_dialog import StudyDetailsDialog, export_dicom_results, study_details
from tests.imaging_factories import dicom_bytes, make_dicom, write
from tests.sr_helpers import SR_CLASSES, sr_numbers



def open_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.analysis_shown, timeout=60000) as blocker:
        window.open_file(path)
    return blocker.args[0]


def never_asked(*_):
    raise AssertionError("a DICOM file has its own study: nothing to ask")


def test_a_dicom_knee_exports_three_objects_into_its_own_study(qtbot, window, knee_png, tmp_path):
    pixels = np.asarray(Image.open(knee_png).convert("L"))
    source = make_dicom(pixels, StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(), StudyDate="20250301",
                        AccessionNumber="ACC-5", StudyID="S5", PatientSex="F", ReferringPhysicianName="Smith^Anne",
                        ViewPosition="AP", ImageLaterality="R")
    path = write(tmp_path / "knee.dcm", dicom_bytes(source))
    outcome = open_and_wait(qtbot, window, path)
    assert window.dicom_export_action.isEnabled()
    out = tmp_path / "out"
    with qtbot.waitSignal(window.logic.dicom_exported, timeout=60000) as blocker:
        assert export_dicom_results(window, ask_folder=lambda _: str(out), ask_details=never_asked)
    written = blocker.args[0]
    datasets = [pydicom.dcmread(p) for p in written]
    assert {str(ds.SOPClassUID) for ds in datasets} - SR_CLASSES == {str(SecondaryCaptureImageStorage), str(EncapsulatedPDFStorage)}
    assert len(datasets) == 3
    for ds in datasets:
        assert (ds.StudyInstanceUID, ds.PatientID, str(ds.PatientName), ds.AccessionNumber) == (
            source.StudyInstanceUID, "PID-8812", "Doe^Jane", "ACC-5")
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID  # new series in the same study
    sr = hd.sr.srread(next(p for p in written if p.name.endswith(".sr.dcm")))
    probabilities = sr_numbers(sr)  # the SR's numeric measurements: the knee's probability among them
    assert any(abs(p - outcome.analysis.prediction.probability) < 1e-3 for p in probabilities)


def test_a_png_asks_for_a_study_and_without_one_writes_nothing(qtbot, window, knee_png, tmp_path):
    open_and_wait(qtbot, window, knee_png)
    out = tmp_path / "out"
    assert not export_dicom_results(window, ask_folder=lambda _: str(out), ask_details=lambda *_: None)
    assert not out.exists()
    assert "no patient or study" in window.statusBar().currentMessage()

    details = study_details("P-77", "Doe", "John", "2025-03-01", "ACC-9")
    with qtbot.waitSignal(window.logic.dicom_exported, timeout=60000) as blocker:
        assert export_dicom_results(window, ask_folder=lambda _: str(out), ask_details=lambda *_: details)
    datasets = [pydicom.dcmread(p) for p in blocker.args[0]]
    assert len(datasets) == 3
    assert {(ds.PatientID, str(ds.PatientName), ds.StudyDate, ds.AccessionNumber) for ds in datasets} == {
        ("P-77", "Doe^John", "20250301", "ACC-9")}
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1


def test_the_details_form_says_what_is_missing_or_wrong(qtbot):
    assert study_details("", "Doe") == "The patient ID and family name are needed."
    assert "YYYY-MM-DD" in study_details("P", "Doe", study_date="2025-13-01")
    assert "YYYY-MM-DD" in study_details("P", "Doe", study_date="2025-02-29")  # 2025 is not a leap year
    assert not isinstance(study_details("P", "Doe", study_date="2024-02-29"), str)  # 2024 is
    assert "cannot contain" in study_details("P", "Doe^John")
    assert "digits separated by dots" in study_details("P", "Doe", study_uid="abc")
    ok = study_details("P", "Doe", study_date="20250301", study_uid="1.2.3")
    assert (ok.patient_name, ok.study_date, ok.study_instance_uid) == ("Doe^", "20250301", "1.2.3")
    dialog = StudyDetailsDialog("knee.png")
    qtbot.addWidget(dialog)
    export = dialog.buttons.buttons()[0] if dialog.buttons.buttons()[0].text() == "Export" else dialog.buttons.buttons()[1]
    assert not export.isEnabled() and "needed" in dialog.problem.text()
    dialog.patient_id.setText("P-1")
    dialog.family.setText("Doe")
    assert export.isEnabled() and dialog.problem.isHidden()
