"""The Image details table shows at least eight rows, and ticking "Show patient details" brings them into view."""

from __future__ import annotations

from PySide6.QtCore import QRect

from osteo_desktop.core.reading.reader import read_radiograph
from tests.imaging_factories import dicom_bytes, gradient, make_dicom, write

PATIENT_LABELS = ["Patient name", "Patient ID", "Birth date", "Sex", "Accession number", "Study date"]


def fully_shown(table) -> list[str]:
    viewport = QRect(0, 0, table.viewport().width(), table.viewport().height())
    return [table.item(r, 0).text() for r in range(table.rowCount())
            if viewport.contains(table.visualItemRect(table.item(r, 0)))]


def test_eight_rows_at_1600_by_1000_and_the_patient_rows_come_into_view(qtbot, window, tmp_path):
    ds = make_dicom(gradient(), StudyDate="20250301", AccessionNumber="ACC-77", PatientSex="F")
    radiograph = read_radiograph(write(tmp_path / "knee.dcm", dicom_bytes(ds)))
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    panel = window.metadata
    panel.set_radiograph(radiograph)
    table = panel.table
    assert table.rowCount() > 8  # more rows than fit: the table must scroll to show what is ticked
    qtbot.waitUntil(lambda: len(fully_shown(table)) >= 8, timeout=3000)

    panel.show_patient.setChecked(True)
    shown = fully_shown(table)
    assert len(shown) >= 8
    for label in PATIENT_LABELS:
        assert label in shown, (label, shown)
