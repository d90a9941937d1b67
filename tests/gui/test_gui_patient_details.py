"""Patient, study date and accession number appear only behind "Show patient details", names written as names."""

from __future__ import annotations

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.gui.metadata_panel import MetadataPanel
from tests.imaging_factories import dicom_bytes, gradient, make_dicom, write


def test_patient_study_date_and_accession_only_when_ticked(qtbot, tmp_path):
    ds = make_dicom(gradient(), StudyDate="20250301", AccessionNumber="ACC-77", PatientSex="F",
                    ReferringPhysicianName="Smith^Anne^^Dr")  # patient: Doe^Jane, PID-8812, born 19470312
    radiograph = read_radiograph(write(tmp_path / "knee.dcm", dicom_bytes(ds)))
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.set_radiograph(radiograph)
    hidden = dict(panel.rows())
    for value in ("Doe", "PID-8812", "1947", "ACC-77", "2025-03-01", "20250301", "Smith"):
        assert not any(value in shown for shown in hidden.values()), value
    assert panel.show_patient.isEnabled()
    panel.show_patient.setChecked(True)
    shown = dict(panel.rows())
    assert shown["Patient name"] == "Doe, Jane"  # not DICOM's Doe^Jane
    assert shown["Patient ID"] == "PID-8812"
    assert shown["Birth date"] == "1947-03-12"
    assert shown["Sex"] == "F"
    assert shown["Study date"] == "2025-03-01"
    assert shown["Accession number"] == "ACC-77"
    assert shown["Referring physician"] == "Smith, Dr Anne"
    assert not any("^" in value for value in shown.values())
    # The table shows exactly these rows.
    assert [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())] == list(shown)


def test_a_raster_file_has_no_patient_details_to_show(qtbot, knee_png):
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.set_radiograph(read_radiograph(knee_png))
    assert not panel.show_patient.isEnabled()


def test_hiding_the_patient_details_again_shows_the_first_rows(qtbot, tmp_path):
    """Ticking scrolls the patient rows (at the end) into view; unticking goes back to the top (File, Size, ...): the
    table stayed scrolled down, on the pixel rows, with the file's name out of sight."""
    ds = make_dicom(gradient(), StudyDate="20250301", AccessionNumber="ACC-77", PatientSex="F")
    radiograph = read_radiograph(write(tmp_path / "knee.dcm", dicom_bytes(ds)))
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.resize(380, panel.minimum_table_height() + 40)  # the side panel's width, the table at its least height
    panel.set_radiograph(radiograph)
    panel.show()
    qtbot.waitExposed(panel)
    panel.show_patient.setChecked(True)
    bar = panel.table.verticalScrollBar()
    assert bar.value() > 0  # the patient rows lie below the first screenful, so ticking scrolled
    panel.show_patient.setChecked(False)
    assert bar.value() == 0
    assert panel.table.rowAt(0) == 0 and panel.table.item(0, 0).text() == "File"
