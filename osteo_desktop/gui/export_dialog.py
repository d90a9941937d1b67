"""Where to save the PDF report, and whether the patient's name, ID and study date go into it (off unless ticked)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.gui import plain


class ExportDialog(QDialog):
    def __init__(self, suggested: Path, patient: list[tuple[str, str]], parent: QWidget | None = None, *,
                 identified: Path | None = None) -> None:
        """``patient``: the lines the report would print when ticked (:func:`report_pdf.patient_lines`).
        ``identified``: the name suggested while the patient's details are ticked (a film fetched from a PACS, which
        lies under its UID, named as the reader knows it); ``suggested`` otherwise."""
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.addWidget(plain.PlainLabel("A one-page PDF with the images, the result, the model version and the date."))
        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(suggested))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        self.include_patient = QCheckBox("Include the patient's name, ID and study date")
        self.include_patient.setChecked(False)
        self.include_patient.setEnabled(bool(patient))
        self.include_patient.setToolTip(plain.tooltip("Prints: " + ", ".join(field for field, _ in patient) if patient
                                                      else "This image carries no patient name, ID or study date."))
        layout.addWidget(self.include_patient)
        self._names = (str(suggested), str(identified or suggested))
        self.include_patient.toggled.connect(self._name_follows_patient)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def accept(self) -> None:
        """Refuses an empty name, and asks before replacing an earlier report (it would otherwise go silently)."""
        if not self.path_edit.text().strip():
            self.path_edit.setFocus()
            return
        target = self.target()
        if target.is_dir():
            plain.message(self, "Export report", f"{target} is a folder; type a file name for the report.")
            return
        if target.exists():
            answer = plain.question(self, "Export report", f"{target.name} already exists in {target.parent}. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()

    def _name_follows_patient(self, included: bool) -> None:
        """The suggested name says whose report it is only when the report does (a de-identified PDF named
        "Doe^Jane ..." would not be); a name the user typed or chose is left alone."""
        if self.path_edit.text() in self._names:
            self.path_edit.setText(self._names[1] if included else self._names[0])

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export report", self.path_edit.text(), "PDF (*.pdf)")
        if path:
            self.path_edit.setText(path)

    def target(self) -> Path:
        path = Path(self.path_edit.text().strip()).expanduser()
        return path if path.suffix.lower() == ".pdf" else path.with_name(path.name + ".pdf")
