"""Analyse files and write their results as DICOM objects: the logic behind `osteo dicom-export` and the node.

Outside core because the one-page PDF is painted with Qt (gui/report_pdf.py); without a display it is skipped
with a log line rather than failing the export.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from osteo_desktop.core.errors import OsteoError

if TYPE_CHECKING:  # highdicom costs ~0.1 s to import: only `osteo dicom-export` itself pays for it
    from osteo_desktop.core.pipeline.analysis import Analysis
    from osteo_desktop.core.results.dicom_adapter import StudyDetails

log = logging.getLogger(__name__)


def model_sha256(classifier: Any) -> str:
    """The exact model's digest (card and every file), as in every other output."""
    return str(classifier.model_sha256)


def report_pdf_bytes(analysis: "Analysis", positive_label: str) -> bytes | None:
    try:
        from PySide6.QtGui import QGuiApplication

        from osteo_desktop.gui.report_pdf import write_report_pdf

        _app = QGuiApplication.instance() or QGuiApplication(["osteo", "-platform", "offscreen"])
        with tempfile.TemporaryDirectory() as folder:
            path = write_report_pdf(Path(folder) / "report.pdf", analysis, positive_label=positive_label)
            return path.read_bytes()
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
    inp = export_input(analysis, model_sha256(classifier), pdf, classifier.card.name, details)
    return write_all(inp, out_dir, Path(analysis.radiograph.path).stem)


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `osteo dicom-export` (a few lines in cli.py call this)."""
    parser = commands.add_parser("dicom-export", parents=parents, help="write results as DICOM SR, annotated image and PDF")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--out", type=Path, required=True, help="folder for the DICOM objects")
    parser.add_argument("--patient-id", default="", help="for PNG/JPEG input: the patient ID (required with --patient-name)")
    parser.add_argument("--patient-name", default="", help="for PNG/JPEG input: the patient name, DICOM style Family^Given")
    parser.add_argument("--study-date", default="", help="for PNG/JPEG input: YYYYMMDD")
    parser.add_argument("--accession-number", default="")
    parser.add_argument("--study-uid", default="", help="for PNG/JPEG input: join this existing study")
    parser.add_argument("--no-pdf", action="store_true", help="skip the Encapsulated PDF")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.core.results.dicom_adapter import NoStudyError, StudyDetails

    classifier = Classifier.load(getattr(args, "model_dir", None))
    details = None
    if args.patient_id or args.patient_name:
        details = StudyDetails(args.patient_id, args.patient_name, args.study_date, args.accession_number, args.study_uid)
    failed = 0
    for path in args.files:
        try:
            analysis = analyse_file(path, classifier, explain=False)
            written = export_analysis(analysis, classifier, args.out, details, with_pdf=not args.no_pdf)
        except NoStudyError as exc:
            log.error("%s", exc)
            failed += 1
            continue
        except OsteoError as exc:
            log.error("%s: %s", path, exc)
            failed += 1
            continue
        for item in written:
            print(item)
    return 1 if failed else 0
