"""Where to save the PDF report, and whether the patient's name goes into it (off unless the user ticks it)."""

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

from osteo_desktop.gui.report_pdf import patient_name
from osteo_desktop.gui import plain


class ExportDialog(QDialog):
    def __init__(self, suggested: Path, patient: dict[str, str], parent: QWidget | None = None) -> None:
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
        self.include_patient = QCheckBox("Include the patient's name")
        self.include_patient.setChecked(False)
        has_name = bool(patient_name(patient))
        self.include_patient.setEnabled(has_name)
        if not has_name:
            self.include_patient.setToolTip("This image carries no patient name.")
        layout.addWidget(self.include_patient)
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

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export report", self.path_edit.text(), "PDF (*.pdf)")
        if path:
            self.path_edit.setText(path)

    def target(self) -> Path:
        path = Path(self.path_edit.text().strip()).expanduser()
        return path if path.suffix.lower() == ".pdf" else path.with_name(path.name + ".pdf")
