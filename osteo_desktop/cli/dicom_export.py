"""`osteo dicom-export`: analyse files and write their results as DICOM objects (osteo_desktop.dicom_results)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.dicom_results import export_analysis

log = logging.getLogger(__name__)


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `osteo dicom-export` (a few lines in cli.py call this)."""
    parser = commands.add_parser("dicom-export", parents=parents, help="write results as DICOM SR, annotated image and PDF")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--out", type=Path, required=True, help="folder for the DICOM objects")
    parser.add_argument("--patient-id", default="",
                        help="for PNG/JPEG input, which has no DICOM study of its own: the PatientID written into "
                             "its objects (each such FILE starts a new study unless --study-uid names one to join); "
                             "needed, with --patient-name, to export a PNG/JPEG at all. DICOM input keeps the patient "
                             "and study of its own header and ignores it")
    parser.add_argument("--patient-name", default="",
                        help="for PNG/JPEG input: the PatientName, DICOM style Family^Given^Middle^Prefix^Suffix "
                             "(each component kept; at least the family name)")
    parser.add_argument("--study-date", default="", help="for PNG/JPEG input: YYYY-MM-DD or YYYYMMDD")
    parser.add_argument("--accession-number", default="", help="for PNG/JPEG input: the study's accession number")
    parser.add_argument("--study-uid", default="", help="for PNG/JPEG input: join this existing study")
    parser.add_argument("--no-pdf", action="store_true", help="skip the Encapsulated PDF")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.cli.common import usage_error
    from osteo_desktop.core.results.dicom_adapter import NoStudyError, study_details
    from pydicom.valuerep import PersonName

    details = None
    if args.patient_id or args.patient_name:
        # The window's rule for typed study details: a bad date or name is a usage error before anything is analysed.
        if args.patient_name.count("^") > 4 or "=" in args.patient_name:  # PersonName would drop the rest unsaid
            return usage_error(parser, "The patient name is written Family^Given^Middle^Prefix^Suffix: at most five "
                                       "components, and no = (ideographic or phonetic forms).")
        name = PersonName(args.patient_name)
        details = study_details(args.patient_id, name.family_name, name.given_name, args.study_date,
                                args.accession_number, args.study_uid, middle=name.middle_name,
                                prefix=name.name_prefix, suffix=name.name_suffix)
        if isinstance(details, str):
            return usage_error(parser, details)
    classifier = Classifier.load(getattr(args, "model_dir", None))
    failed = 0
    for path in args.files:
        try:
            # The PDF shows each knee's heat map, as File > Export report does; without a PDF nothing draws one.
            analysis = analyse_file(path, classifier, explain=not args.no_pdf)
            written = export_analysis(analysis, classifier, args.out, details, with_pdf=not args.no_pdf)
        except NoStudyError as exc:
            log.error("%s", exc)
            failed += 1
            continue
        except OsteoError as exc:  # its message names the file already ("knee.dcm: DICOM pixel data is truncated ...")
            log.error("%s", exc if path.name in str(exc) else f"{path}: {exc}")
            failed += 1
            continue
        for item in written:
            print(item)
    return 1 if failed else 0
