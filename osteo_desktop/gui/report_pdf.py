"""A one-page PDF report of the current result, drawn with Qt's own PDF writer (no extra dependency)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

from osteo_desktop import __version__
from osteo_desktop.core.atomic import atomic_write_bytes
from osteo_desktop.core.pipeline.analysis import Analysis
from osteo_desktop.core.model.preprocessing import model_input_to_preview
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.results import text
from osteo_desktop.gui.logic import result_display
from osteo_desktop.gui.qimages import grey_qimage, heat_qimage

_NAME_KEYS = ("name", "patient_name", "PatientName")
_ID_KEYS = ("id", "patient_id", "PatientID")


def patient_name(patient: dict[str, str]) -> str:
    """The patient's name from the reader's patient fields, written as a name ("Doe, Jane"), or ''."""
    return text.person_name(next((str(patient[k]) for k in _NAME_KEYS if patient.get(k)), ""))


def patient_lines(radiograph: Radiograph) -> list[tuple[str, str]]:
    """What the report prints when the user ticks the patient box: name, patient ID and study date, where present."""
    patient = radiograph.patient
    study_date = radiograph.metadata.get("study_date") or (radiograph.dicom.study_date if radiograph.dicom else None)
    lines = [("Patient name", patient_name(patient)),
             ("Patient ID", next((str(patient[k]) for k in _ID_KEYS if patient.get(k)), "")),
             ("Study date", text.dicom_date(study_date))]
    return [(field, value) for field, value in lines if value]


def report_lines(analysis: Analysis, positive_label: str, include_patient: bool, created: datetime,
                 reader_agreement: str | None = None) -> list[tuple[str, str]]:
    """The report's text as (field, value) pairs, in print order. Patient fields appear only when asked for; the
    reader's verdict ("agree", "disagree", as the history keeps it) when there is one."""
    patient = patient_lines(analysis.radiograph) if include_patient else []
    result = analysis.result  # made afresh by the analysis: setting the verdict on it changes nothing else
    result.reader_agreement = reader_agreement
    return text.report_lines(result, positive_label, file_name=analysis.radiograph.path.name,
                             created=created, patient=patient)


def _draw_image(painter: QPainter, box: QRectF, image: QImage, overlay: QImage | None = None, opacity: float = 0.5,
                marks: list | None = None) -> None:
    painter.fillRect(box, QColor(12, 12, 14))
    size = image.size().scaled(int(box.width()), int(box.height()), Qt.AspectRatioMode.KeepAspectRatio)
    target = QRectF(box.x() + (box.width() - size.width()) / 2, box.y() + (box.height() - size.height()) / 2, size.width(), size.height())
    painter.drawImage(target, image)
    if overlay is not None:
        painter.setOpacity(opacity)
        painter.drawImage(target, overlay)
        painter.setOpacity(1.0)
    scale = target.width() / max(1, image.width())
    for (x0, y0, x1, y1), caption, colour in marks or []:  # the knees found: box and side, as in the app
        painter.setPen(QPen(QColor(colour), max(1.0, box.width() / 300)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(target.x() + x0 * scale, target.y() + y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale))
        metrics = painter.fontMetrics()  # the caption sits just above its box, clear of the bone, on a dark
        line, pad = metrics.height(), metrics.height() / 4  # backdrop: a light (borderline) tag on white bone vanished
        width = metrics.horizontalAdvance(caption) + 2 * pad
        left = min(max(target.x() + x0 * scale, target.x()), target.right() - width)  # whole, inside the image
        tag = QRectF(left, max(target.y(), target.y() + y0 * scale - line), width, line)
        painter.fillRect(tag, QColor(12, 12, 14))
        painter.drawText(tag.adjusted(pad, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, caption)


def _panels(analysis: Analysis, positive_label: str) -> list[tuple[str, QImage, QImage | None, list]]:
    """The report's images: the radiograph with each knee's box and heat map in place, then each knee's model input
    with its heat map. A declined file has no model input: its second image is the whole film as checked before any
    analysis, captioned as the window captions it (text.DECLINED_TITLE), not "Model input" as if a knee was read."""
    shown = result_display(analysis, positive_label)
    heat = heat_qimage(shown.heat) if shown.heat is not None else None
    # A third of a page is too small for the window's "R (DICOM header) 20 %": the tag keeps side and probability
    # ("R 20 %"), and the knee lines below the images say where each side came from.
    marks = [(box, f"{text.knee_short(knee.side)} {text.knee_percent(knee.probability, analysis.result.threshold)}", colour)
             for (box, _, colour), knee in zip(shown.marks, shown.knees)]
    panels = [("Radiograph", grey_qimage(analysis.radiograph.pixels), heat, marks)]
    if not analysis.knees:
        if analysis.model_input is not None:
            caption = text.DECLINED_TITLE if analysis.prediction is None else "Model input"  # declined: as the window
            panels.append((caption, grey_qimage(model_input_to_preview(analysis.model_input)), None, []))
        return panels
    for knee in analysis.knees[:2]:
        overlay = heat_qimage(knee.explanation) if knee.explanation is not None else None
        panels.append((_input_caption(knee.side), grey_qimage(model_input_to_preview(knee.model_input)),
                       overlay, []))
    return panels


def _input_caption(side: str) -> str:
    """A knee's model-input caption, short enough for a third of the page ("Knee (side unknown): model input" was
    cut to "...: model inp"); "Knee (side ?)" as the scan table's column says it."""
    return {"right": "Model input: right knee", "left": "Model input: left knee"}.get(side, "Model input: knee (side ?)")


def _fitted_text(painter: QPainter, area: QRectF, caption: str) -> None:
    """Draw ``caption`` in ``area``, a point smaller at a time (down to 6 pt) rather than cut off."""
    font = QFont(painter.font())
    while QFontMetricsF(font, painter.device()).horizontalAdvance(caption) > area.width() and font.pointSizeF() > 6:
        font.setPointSizeF(font.pointSizeF() - 0.5)
    saved = painter.font()
    painter.setFont(font)
    painter.drawText(area, Qt.AlignmentFlag.AlignLeft, caption)
    painter.setFont(saved)


def _paint(painter: QPainter, page: QRectF, analysis: Analysis, lines: list[tuple[str, str]], dpi: int,
           positive_label: str = "osteoporosis") -> None:
    mm = dpi / 25.4
    y = page.top()
    painter.setPen(QColor(20, 20, 20))
    painter.setFont(QFont("Sans Serif", 18, QFont.Weight.Bold))
    painter.drawText(QRectF(page.left(), y, page.width(), 12 * mm), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                     text.report_title(analysis.result))
    y += 12 * mm
    painter.setFont(QFont("Sans Serif", 9))
    painter.setPen(QColor(90, 90, 90))
    painter.drawText(QRectF(page.left(), y, page.width(), 6 * mm), Qt.AlignmentFlag.AlignLeft, f"osteo-desktop {__version__}")
    y += 9 * mm

    gap = 4 * mm
    box_w = (page.width() - 2 * gap) / 3
    box_h = 85 * mm
    painter.setFont(QFont("Sans Serif", 9, QFont.Weight.DemiBold))
    for i, (caption, image, overlay, marks) in enumerate(_panels(analysis, positive_label)):
        x = page.left() + i * (box_w + gap)
        painter.setPen(QColor(40, 40, 40))
        _fitted_text(painter, QRectF(x, y, box_w, 6 * mm), caption)
        _draw_image(painter, QRectF(x, y + 6 * mm, box_w, box_h), image, overlay, marks=marks)
    y += box_h + 14 * mm

    box = QRectF(page.left(), page.bottom() - 24 * mm, page.width(), 24 * mm)
    _paint_lines(painter, QRectF(page.left(), y, page.width(), box.top() - 3 * mm - y), lines, mm)
    painter.setPen(QPen(QColor(180, 180, 180), 0.3 * mm))
    painter.setBrush(QColor(245, 245, 245))
    painter.drawRect(box)
    painter.setPen(QColor(40, 40, 40))
    painter.setFont(QFont("Sans Serif", 10))
    painter.drawText(box.adjusted(4 * mm, 3 * mm, -4 * mm, -3 * mm), Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap, text.DISCLAIMER)


def _paint_lines(painter: QPainter, area: QRectF, lines: list[tuple[str, str]], mm: float) -> None:
    """The (field, value) lines, the first (the result) large; each as tall as its wrapped value, so a long warning
    is printed whole. Lines that would run into the disclaimer are replaced by one saying so."""
    label_w = 62 * mm
    wrap = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
    y = area.top()
    for i, (field, value) in enumerate(lines):
        bold = i == 0
        painter.setFont(QFont("Sans Serif", 14 if bold else 10, QFont.Weight.Bold if bold else QFont.Weight.Normal))
        value_box = QRectF(area.left() + label_w, y + 1.5 * mm, area.width() - label_w, area.bottom() - y)
        if " " not in value and painter.fontMetrics().horizontalAdvance(value) > value_box.width():
            painter.setFont(QFont("Sans Serif", 8))  # one long word (the model's SHA-256) cannot wrap: keep it whole
        needed = painter.boundingRect(value_box, wrap, value).height()
        height = max(11 * mm if bold else 7.5 * mm, needed + 3 * mm)
        if y + height > area.bottom():
            painter.setPen(QColor(90, 90, 90))
            painter.drawText(QRectF(area.left(), y, area.width(), 7.5 * mm), wrap,
                             f"{len(lines) - i} more line(s) did not fit on this page; the app shows them all.")
            return
        painter.setPen(QColor(90, 90, 90))
        painter.drawText(QRectF(area.left(), y + 1.5 * mm, label_w, height), wrap, field)
        painter.setPen(QColor(20, 20, 20))
        painter.drawText(QRectF(value_box.left(), value_box.top(), value_box.width(), height), wrap, value)
        y += height


def write_report_pdf(
    path: str | Path,
    analysis: Analysis,
    *,
    positive_label: str = "osteoporosis",
    include_patient: bool = False,
    created: datetime | None = None,
    dpi: int = 200,
    reader_agreement: str | None = None,
) -> Path:
    """Write the report to ``path`` atomically (core.atomic: a temporary file in the same folder, synced, then a rename).

    Qt's PDF writer reports no failed write (a full disk left an empty file that was announced as saved), so the page
    is drawn into memory and written by core.atomic, whose errors reach the caller; the file is created like the
    app's other exports (0666 less the umask), not private as a temporary file would be.
    """
    target = Path(path)
    created = created or datetime.now()
    lines = report_lines(analysis, positive_label, include_patient, created, reader_agreement)
    content = QByteArray()
    buffer = QBuffer(content)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(dpi)
    writer.setTitle(text.report_title(analysis.result))
    writer.setCreator(f"osteo-desktop {__version__}")
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait, QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot draw the PDF report for {target.name}")
    try:
        _paint(painter, QRectF(writer.pageLayout().paintRectPixels(dpi)).translated(-writer.pageLayout().paintRectPixels(dpi).topLeft()), analysis, lines, dpi, positive_label)
    finally:
        painter.end()
    buffer.close()
    data = bytes(content.data())
    if not data.startswith(b"%PDF") or b"%%EOF" not in data[-64:]:
        raise OSError(f"the PDF report for {target.name} was not completed ({len(data)} bytes drawn)")
    atomic_write_bytes(target, data)
    return target
