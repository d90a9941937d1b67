"""File ▸ Export DICOM results…: the result on screen as a DICOM SR, an annotated Secondary Capture and the PDF
as Encapsulated PDF, in the source's study, exactly as ``osteo dicom-export`` writes them
(:func:`osteo_desktop.dicom_results.export_analysis`, over :mod:`osteo_desktop.core.results.dicom_objects`).

A PNG or JPEG has no patient or study to join: the user types them (:class:`StudyDetailsDialog`), or nothing is
exported and the status bar says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.core.results.dicom_adapter import study_details
from osteo_desktop.gui.plain import PlainLabel

if TYPE_CHECKING:
    from osteo_desktop.core.results.dicom_adapter import StudyDetails
    from osteo_desktop.gui.main_window import MainWindow

__all__ = ["NO_STUDY", "StudyDetailsDialog", "export_dicom_results", "study_details"]

NO_STUDY = ("A PNG or JPEG carries no patient or study, and DICOM results must belong to one. Give the patient and "
            "study details to export them, or cancel: nothing is exported.")
class StudyDetailsDialog(QDialog):
    """Asks for the patient and study of a PNG/JPEG whose results are to be exported as DICOM."""

    def __init__(self, file_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Patient and study for DICOM export")
        layout = QVBoxLayout(self)
        intro = PlainLabel(f"{file_name}\n{NO_STUDY}")  # a file name is text from the disk: plain (gui.plain)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.patient_id, self.family, self.given = QLineEdit(), QLineEdit(), QLineEdit()
        self.study_date, self.accession, self.study_uid = QLineEdit(), QLineEdit(), QLineEdit()
        self.study_date.setPlaceholderText("YYYY-MM-DD")
        self.study_uid.setPlaceholderText("optional: join this existing study")
        for label, edit in (("Patient ID", self.patient_id), ("Family name", self.family), ("Given name", self.given),
                            ("Study date", self.study_date), ("Accession number", self.accession),
                            ("Study instance UID", self.study_uid)):
            form.addRow(label, edit)
            edit.textChanged.connect(self._check)
        layout.addLayout(form)
        self.problem = PlainLabel()
        self.problem.setObjectName("warnings")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._check()

    def details(self) -> "StudyDetails | str":
        return study_details(self.patient_id.text(), self.family.text(), self.given.text(), self.study_date.text(),
                             self.accession.text(), self.study_uid.text())

    def _check(self) -> None:
        result = self.details()
        self.problem.setText(result if isinstance(result, str) else "")
        self.problem.setVisible(isinstance(result, str))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not isinstance(result, str))


def _ask_folder(window: "MainWindow") -> str:
    start = window.settings.last_report_folder or window.settings.last_folder
    return QFileDialog.getExistingDirectory(window, "Folder for the DICOM results", start)


def _ask_details(window: "MainWindow", file_name: str) -> "StudyDetails | None":
    dialog = StudyDetailsDialog(file_name, window)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    details = dialog.details()
    return None if isinstance(details, str) else details


def export_dicom_results(window: "MainWindow", *, ask_folder: Callable[["MainWindow"], str] = _ask_folder,
                         ask_details: Callable[["MainWindow", str], "StudyDetails | None"] = _ask_details) -> bool:
    """Ask what is needed and start the export in the background; False (and the status bar says why) when not."""
    current = window.logic.current
    if current is None:
        return False
    radiograph = current.analysis.radiograph
    details = None
    if radiograph.source_format.lower() != "dicom":
        details = ask_details(window, radiograph.path.name)
        if details is None:
            window.statusBar().showMessage(f"DICOM results not exported: {radiograph.path.name} is a "
                                           f"{radiograph.source_format.upper()} image with no patient or study, "
                                           "and none was given.", 15000)
            return False
    folder = ask_folder(window)
    if not folder:
        return False
    window.logic.export_dicom(Path(folder), details)
    return True
