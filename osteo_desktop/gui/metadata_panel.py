"""Key facts and DICOM tags of the open image; patient identifiers only when the user asks to see them."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QCheckBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.results import text
from osteo_desktop.gui import worklist
from osteo_desktop.gui.plain import tooltip


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        # A window centre of 15000.0 reads "15000", not "1.5e+04".
        return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return " \\ ".join(_format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items())
    return str(value)


def _split_camel(name: str) -> str:
    """'BodyPartExamined' -> 'Body part examined'; snake_case too. Tag names are easier to scan as words."""
    words, current = [], ""
    for ch in name.replace("_", " "):
        if ch.isupper() and current and not current[-1].isupper() and current[-1] != " ":
            words.append(current)
            current = ch
        else:
            current += ch
    words.append(current)
    text = " ".join(w.strip() for w in words if w.strip())
    return text[:1].upper() + text[1:].lower() if text else name


# Plain names for the reader's keys where splitting the key is not enough; everything else keeps _split_camel.
_LABELS = {
    "mode": "Colour mode",
    "body_part": "Body part",
    "view_position": "View",
    "manufacturer_model": "Device model",
    "photometric": "Photometric interpretation",
    "sop_class": "Image type",
    "voi_lut_function": "Window function",
    "window_center": "Window centre",
    "window_source": "Brightness/contrast from",
    "signed": "Signed pixel values",
}
_IMAGE_MODES = {"1": "black and white", "L": "greyscale", "I": "greyscale (32-bit)", "I;16": "greyscale (16-bit)",
                "F": "greyscale (floating point)", "P": "palette colour", "LA": "greyscale with transparency",
                "RGB": "colour (RGB)", "RGBA": "colour with transparency (RGBA)", "CMYK": "colour (CMYK)"}


# Shown only with "Show patient details": who the image is of, and what would find the study (its date and accession
# number point to one visit of one person). Reader key, label, and how the value is written.
_PATIENT_ROWS = (
    ("name", "Patient name", text.person_name),
    ("id", "Patient ID", str),
    ("birth_date", "Birth date", text.dicom_date),
    ("sex", "Sex", str),
    ("age", "Age", str),
    ("accession_number", "Accession number", str),
    ("institution", "Institution", str),
)
_BEHIND_TOGGLE = ("study_date",)  # in the reader's metadata, but shown with the patient details


def patient_rows(radiograph: Radiograph) -> list[tuple[str, str]]:
    """The patient-details rows: name (as a name, not DICOM's Doe^John), ID, birth date, sex, age, accession number,
    institution, study date and referring physician, each only when the file carries it."""
    patient, dicom = radiograph.patient, radiograph.dicom
    rows = [(label, write(patient[key])) for key, label, write in _PATIENT_ROWS if patient.get(key)]
    study_date = radiograph.metadata.get("study_date") or (dicom.study_date if dicom else None)
    if study_date:
        rows.insert(next((i for i, (label, _) in enumerate(rows) if label == "Institution"), len(rows)),
                    ("Study date", text.dicom_date(study_date)))
    if dicom is not None and dicom.referring_physician_name:
        rows.append(("Referring physician", text.person_name(dicom.referring_physician_name)))
    return rows


def _metadata_rows(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """The reader's metadata in words: width and height are already in 'Size', the original size only when it
    differs, dates as YYYY-MM-DD, yes/no for flags, and a pixel spacing of zero (not recorded) left out."""
    rows = []
    size = (metadata.get("width"), metadata.get("height"))
    for key, value in metadata.items():
        key = str(key)
        if value in (None, "", []) or key in ("width", "height") or key in _BEHIND_TOGGLE:
            continue
        if key in ("original_width", "original_height"):
            original = (metadata.get("original_width"), metadata.get("original_height"))
            if key == "original_width" and None not in original and original != size:
                rows.append(("Original size", f"{original[0]} × {original[1]} pixels"))
            continue
        if key == "pixel_spacing" and isinstance(value, (list, tuple)):
            if not value or not all(isinstance(v, (int, float)) and v > 0 for v in value):
                continue
            text = " × ".join(f"{v:.4g}" for v in value) + " mm"
        elif key == "mode":
            text = _IMAGE_MODES.get(str(value), str(value))
        elif key.endswith("_date") and isinstance(value, str) and len(value) == 8 and value.isdigit():
            text = f"{value[:4]}-{value[4:6]}-{value[6:]}"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = _format_value(value)
        rows.append((_LABELS.get(key, _split_camel(key)), text))
    return rows


VISIBLE_ROWS = 8  # the table is never shorter than this many rows: at 4 rows, ticked patient details were out of sight


class MetadataPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Field", "Value"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        # One line of text a row, with a little air: the style's default row was almost twice the text's height.
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setMinimumHeight(self.minimum_table_height())
        self.show_patient = QCheckBox("Show patient details")
        self.show_patient.setToolTip("Patient name, ID, birth date, study date and accession number are hidden unless "
                                     "you ask for them.")
        self.show_patient.toggled.connect(self._refill)
        self.show_patient.toggled.connect(self._reveal_patient_rows)
        layout.addWidget(self.table)
        layout.addWidget(self.show_patient)
        self._radiograph: Radiograph | None = None
        self._refill()

    def minimum_table_height(self) -> int:
        """A header and VISIBLE_ROWS rows, inside the table's frame."""
        rows = VISIBLE_ROWS * self.table.verticalHeader().defaultSectionSize()
        return self.table.horizontalHeader().sizeHint().height() + rows + 2 * self.table.frameWidth()

    def _reveal_patient_rows(self, shown: bool) -> None:
        """Ticked: scroll the patient rows (added at the end) into view, as many as fit, from the first."""
        added = len(patient_rows(self._radiograph)) if shown and self._radiograph is not None else 0
        if added:
            first = self.table.item(self.table.rowCount() - added, 0)
            self.table.doItemsLayout()  # the scroll range must count the rows just added (Qt updates it later)
            self.table.scrollToItem(first, QAbstractItemView.ScrollHint.PositionAtTop)
        else:  # hidden again: back to the first rows (it stayed scrolled down, on "Bits allocated" and below)
            self.table.scrollToTop()

    def set_radiograph(self, radiograph: Radiograph | None) -> None:
        self._radiograph = radiograph
        self._refill()

    def rows(self) -> list[tuple[str, str]]:
        """What the table shows, top to bottom (patient rows only when the box is ticked)."""
        r = self._radiograph
        if r is None:
            return []
        # A film fetched from a PACS lies under its UID: with the patient's details shown, it is named as the reader
        # knows it (worklist.shown_name); hidden, nothing here says whose it is.
        shown = worklist.shown_name(r.path) if self.show_patient.isChecked() else r.path.name
        rows = [("File", shown), ("Size", f"{r.width} × {r.height} pixels")]
        if not any(str(k).lower() == "format" for k in r.metadata):
            rows.insert(1, ("Format", r.source_format.upper()))
        rows += _metadata_rows(r.metadata)
        if self.show_patient.isChecked():
            rows += patient_rows(r)
        return rows

    def _refill(self) -> None:
        r = self._radiograph
        self.show_patient.setEnabled(bool(r and patient_rows(r)))
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for i, (field, value) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(field))
            item = QTableWidgetItem(value)
            item.setToolTip(tooltip(value))  # a tag value is text from a file: never rich text
            self.table.setItem(i, 1, item)
