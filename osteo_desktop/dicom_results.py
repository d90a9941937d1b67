"""An analysis written as DICOM objects (SR, annotated image, optional PDF): one function shared by every face.

`osteo dicom-export`, the window's File > Export DICOM results and PACS send, and the DICOM node all call
:func:`export_analysis`, so the objects they write cannot drift apart. It lives beside the faces rather than in
core because the one-page PDF is painted with Qt (gui/report_pdf.py); without a display the PDF is skipped with a
log line rather than failing the export.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # highdicom costs ~0.1 s to import: only an export itself pays for it
    from osteo_desktop.core.pipeline.analysis import Analysis
    from osteo_desktop.core.results.dicom_adapter import StudyDetails

log = logging.getLogger(__name__)


def model_sha256(classifier: Any) -> str:
    """The exact model's digest (card and every file), as in every other output."""
    return str(classifier.model_sha256)


def report_pdf_bytes(analysis: "Analysis", positive_label: str) -> bytes | None:
    """The one-page PDF report as bytes, or None (logged) when Qt cannot paint it here."""
    try:
        from PySide6.QtWidgets import QApplication

        from osteo_desktop.gui.report_pdf import write_report_pdf

        # A QApplication, not a QGuiApplication: the instance is process-wide, and a window made later in the same
        # process (the app, or a GUI test after a CLI one) aborts in QWidget's constructor on a QGuiApplication.
        app = QApplication.instance() or QApplication(["osteo", "-platform", "offscreen"])
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = write_report_pdf(Path(folder) / "report.pdf", analysis, positive_label=positive_label)
                return path.read_bytes()
        finally:
            # The reference kept (under a name) while the report is painted: a QApplication made here would
            # otherwise be collected at once. Let go once the PDF is written, as before.
            del app
    except Exception as exc:  # noqa: BLE001 - the SR and the image are still worth writing
        log.warning("no PDF report for %s: %s", analysis.radiograph.path, exc)
        return None


def export_analysis(analysis: "Analysis", classifier: Any, out_dir: Path, details: "StudyDetails | None" = None,
                    with_pdf: bool = True) -> list[Path]:
    """Write the SR, the annotated image and (when Qt can paint it) the PDF. Raises NoStudyError for raster input
    without study details."""
    from osteo_desktop.core.results.dicom_adapter import export_input
    from osteo_desktop.core.results.dicom_objects import write_all

    positive = classifier.card.labels[1]
    pdf = report_pdf_bytes(analysis, positive) if with_pdf else None
    inp = export_input(analysis, model_sha256(classifier), pdf, classifier.card.name, details,
                       positive_label=positive)
    return write_all(inp, out_dir, Path(analysis.radiograph.path).stem)
