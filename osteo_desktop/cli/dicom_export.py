"""`osteo dicom-export`: analyse files and write their results as DICOM objects (osteo_desktop.dicom_results).

It speaks as `osteo predict` does: the model line first and the research-use notice last (both on stdout, around the
written paths), a file's fault in the scan's words (core.pipeline.file_faults), the model's in load_classifier's."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.pipeline.file_faults import failure, os_cause, path_fault
from osteo_desktop.core.results import text
from osteo_desktop.core.results.names import for_terminal
from osteo_desktop.dicom_results import export_analysis

log = logging.getLogger(__name__)


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `osteo dicom-export` (a few lines in cli.py call this)."""
    parser = commands.add_parser("dicom-export", parents=parents, help="write results as DICOM SR, annotated image and PDF",
                                 description="Analyse each FILE and write its results as DICOM objects into --out; a "
                                             "file that cannot be read gets an error and the others still run.")
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
    from osteo_desktop.cli.common import EXIT_FAILED, EXIT_OK, load_classifier, usage_error

    if args.out.exists() and not args.out.is_dir():  # the words of `--model-dir X is not a folder`
        return usage_error(parser, f"--out {args.out} is not a folder")
    details = _study_details(args)
    if isinstance(details, str):
        return usage_error(parser, details)
    classifier = load_classifier(getattr(args, "model_dir", None))
    if classifier is None:
        return EXIT_FAILED
    card = classifier.card
    print(text.model_line(card.name, card.version, classifier.threshold))
    failed = sum(not _export(path, classifier, args, details) for path in args.files)
    print(text.DISCLAIMER)
    return EXIT_FAILED if failed else EXIT_OK


def _study_details(args: argparse.Namespace) -> Any:
    """The typed study details for PNG/JPEG input (None when none were typed), or why they are wrong (a str)."""
    from osteo_desktop.core.results.dicom_adapter import study_details
    from pydicom.valuerep import PersonName

    details = None
    if args.patient_id or args.patient_name:
        # The window's rule for typed study details: a bad date or name is a usage error before anything is analysed.
        if args.patient_name.count("^") > 4 or "=" in args.patient_name:  # PersonName would drop the rest unsaid
            return ("The patient name is written Family^Given^Middle^Prefix^Suffix: at most five components, and no = "
                    "(ideographic or phonetic forms).")
        name = PersonName(args.patient_name)
        details = study_details(args.patient_id, name.family_name, name.given_name, args.study_date,
                                args.accession_number, args.study_uid, middle=name.middle_name,
                                prefix=name.name_prefix, suffix=name.name_suffix)
    return details


def _export(path: Path, classifier: Any, args: argparse.Namespace, details: Any) -> bool:
    """Analyse and export one file, printing the paths written; False after logging why it failed.

    Never raises (but for Ctrl-C): a file that fails in an unforeseen way (a source tag a DICOM library refuses) is
    that file's error, as in a scan, and the files after it are still exported."""
    try:
        return _export_one(path, classifier, args, details)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others; the traceback is logged (-vv)
        log.debug("unexpected error while exporting %s", path, exc_info=True)
        log.error("%s", failure(path, f"unexpected error ({type(exc).__name__}: {exc})"))
        return False


def _export_one(path: Path, classifier: Any, args: argparse.Namespace, details: Any) -> bool:
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.core.results.dicom_adapter import NoStudyError

    fault = path_fault(path)  # missing, a folder, a pipe: in the words `osteo predict` uses for the same fault
    if fault is not None:
        log.error("%s", fault)
        return False
    try:
        # The PDF shows each knee's heat map, as File > Export report does; without a PDF nothing draws one.
        analysis = analyse_file(path, classifier, explain=not args.no_pdf)
    except OsteoError as exc:  # its message names the file already ("knee.dcm: DICOM pixel data is truncated ...")
        log.error("%s", exc if path.name in str(exc) else failure(path, str(exc)))
        return False
    except OSError as exc:  # the file vanished or turned unreadable between the check and the read
        log.error("%s", failure(path, os_cause(exc)))
        return False
    try:
        written = export_analysis(analysis, classifier, args.out, details, with_pdf=not args.no_pdf)
    except NoStudyError as exc:
        log.error("%s", exc)
        return False
    except OSError as exc:  # writing, not reading, failed: the input is fine, --out is not (a full disk, a file)
        log.error("%s: the results cannot be written to --out %s (%s)", path, args.out, exc.strerror or exc)
        return False
    for item in written:
        # Named after the source: printed as the table prints names (escaped), so that a control character cannot
        # drive the terminal and a byte that is not UTF-8 cannot stop the export of the files after it.
        print(for_terminal(item))
    return True
