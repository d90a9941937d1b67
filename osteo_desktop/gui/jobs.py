"""The work functions the desktop app runs off the GUI thread, each through a :class:`~osteo_desktop.gui.worker.Worker`.

Each ``*_job`` returns a work function (it takes the worker's :class:`~osteo_desktop.gui.worker.Job`). They hold no
widgets and emit nothing themselves: what they return, raise or yield is what the GUI is told.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.gui.worker import Job, WorkFunction

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.analysis import Analysis
    from osteo_desktop.core.reading.radiograph import Radiograph
    from osteo_desktop.core.results.history import History

log = logging.getLogger(__name__)


def plain_error(exc: BaseException, path: str | Path | None = None) -> str:
    """A message fit for a clinician. The core's own errors already are; anything else is logged in full."""
    if isinstance(exc, OsteoError):
        return str(exc)
    name = f"{Path(path).name}: " if path else ""
    if isinstance(exc, MemoryError):
        return f"{name}there is not enough memory to process this image."
    if isinstance(exc, OSError):
        return f"{name}the file could not be read ({exc.strerror or exc})."
    log.error("unexpected error", exc_info=exc)
    return f"{name}the image could not be analysed because of an unexpected problem (details are in the log)."


@dataclass
class AnalysisOutcome:
    """One analysed file, as shown: the path it was opened by, the analysis, and whether the history has it."""

    path: str
    analysis: "Analysis"
    file_sha256: str | None
    elapsed_ms: float
    history_error: str | None = None  # why it could not be recorded, when it could not
    # The reader's verdict on this result as the history keeps it ("agree", "disagree", None): recording the file again
    # keeps an earlier one, so a film marked before says so when it is opened again. Kept here, not on the analysis,
    # whose ``result`` is made afresh each time it is read.
    reader_agreement: str | None = None


def load_model_job(load: Callable[[], "Classifier"]) -> WorkFunction:
    def work(job: Job) -> "Classifier":
        classifier = load()
        importlib.import_module("osteo_desktop.core.pipeline.analysis")  # warms up the image readers meanwhile
        return classifier

    return work


def analyse_job(path: str, classifier: "Classifier", history: "History | None") -> WorkFunction:
    """Read (the image is yielded, to be shown while the model runs), analyse, record in the history, return.

    The history is written here, off the GUI thread, before the result is handed over: a result that was shown has
    been recorded. A job stopped after reading ends there and records nothing.
    """

    def work(job: Job) -> Iterator["Radiograph"]:
        # Imported here, not at the top: the readers pull in pydicom, which would delay the first window.
        from osteo_desktop.core.pipeline.analysis import analyse_radiograph
        from osteo_desktop.core.reading.reader import read_file_bytes, read_radiograph

        start = time.perf_counter()
        data = read_file_bytes(path)  # read once: the content hashed for the history is the content analysed
        radiograph = read_radiograph(path, target_size=classifier.input_size, data=data)
        read_ms = (time.perf_counter() - start) * 1000.0
        yield radiograph
        analysis = analyse_radiograph(radiograph, classifier, read_ms=read_ms)
        digest = analysis.file_sha256 = hashlib.sha256(data).hexdigest()
        del data
        elapsed = (time.perf_counter() - start) * 1000.0
        if job.stop_requested():
            return None
        outcome = AnalysisOutcome(path, analysis, digest, elapsed)
        outcome.history_error, outcome.reader_agreement = _record(history, path, analysis, digest)
        return outcome

    return work


def _record(history: "History | None", path: str, analysis: "Analysis", digest: str | None) -> tuple[str | None, str | None]:
    """Record the result: (why it could not be, or None; the reader's verdict the history keeps for it, or None)."""
    if history is None or analysis.declined:  # a file out of the model's scope has no result to remember
        return None, None
    try:
        entry = history.record(path, analysis.result, file_sha256=digest)
    except Exception as exc:  # noqa: BLE001 - the result matters more than its copy in the history
        log.exception("could not record %s in the history", path)
        return f"The result is shown but could not be saved to the history: {plain_error(exc)}", None
    # Recording again keeps the reader's verdict on this file and model (History: _KEPT_WHEN_NULL).
    return None, entry.reader_agreement


def export_report_job(target: Path, analysis: "Analysis", positive_label: str, include_patient: bool,
                      reader_agreement: str | None = None) -> WorkFunction:
    def work(job: Job) -> Path:
        from osteo_desktop.core.results.history import default_history_path
        from osteo_desktop.core.results.output_target import check_output_target
        from osteo_desktop.gui.report_pdf import write_report_pdf

        check_output_target(target, inputs=[analysis.radiograph.path], protected=[default_history_path()])
        return write_report_pdf(target, analysis, positive_label=positive_label, include_patient=include_patient,
                                reader_agreement=reader_agreement)

    return work


def export_dicom_job(out_dir: Path, analysis: "Analysis", classifier: "Classifier", details: object | None) -> WorkFunction:
    """The SR, the annotated image and the PDF of ``analysis`` into ``out_dir``, as ``osteo dicom-export`` does."""

    def work(job: Job) -> list[Path]:
        from osteo_desktop.dicom_results import export_analysis

        return export_analysis(analysis, classifier, out_dir, details)

    return work


def pacs_echo_job(pacs: object) -> WorkFunction:
    """C-ECHO the PACS (File ▸ PACS…, Test connection); raises PacsError in words when it does not answer."""

    def work(job: Job) -> None:
        from osteo_desktop.dicomnet.pacs import echo

        echo(pacs)

    return work


def pacs_find_job(pacs: object, patient_id: str, accession_number: str, study_date: str) -> WorkFunction:
    """C-FIND the studies matching the criteria (network code in :mod:`osteo_desktop.dicomnet.pacs`)."""

    def work(job: Job) -> list:
        from osteo_desktop.dicomnet.pacs import find_studies

        return find_studies(pacs, patient_id=patient_id, accession_number=accession_number, study_date=study_date)

    return work


def pacs_fetch_job(pacs: object, study_instance_uid: str, folder: Path) -> WorkFunction:
    """C-GET a study's radiographs into ``folder``; returns the folder and what was fetched (the files, and how many
    of the app's own annotated images were skipped: :class:`~osteo_desktop.dicomnet.pacs.FetchedStudy`)."""

    def work(job: Job) -> tuple[Path, object]:
        from osteo_desktop.dicomnet.pacs import fetch_study_objects

        return folder, fetch_study_objects(pacs, study_instance_uid, folder)

    return work


def pacs_send_job(pacs: object, sources: list[Path], classifier: "Classifier") -> WorkFunction:
    """Analyse each source, write its DICOM results (as ``osteo dicom-export``) and C-STORE them to the PACS."""

    def work(job: Job) -> list[Path]:
        import tempfile

        from osteo_desktop.dicom_results import export_analysis
        from osteo_desktop.core.pipeline.analysis import analyse_file
        from osteo_desktop.dicomnet.pacs import send_results

        with tempfile.TemporaryDirectory(prefix="osteo-pacs-") as scratch:
            objects: list[Path] = []
            for source in sources:
                if job.stop_requested():
                    return []
                analysis = analyse_file(source, classifier, explain=True)  # the PDF shows each knee's heat map
                objects += export_analysis(analysis, classifier, Path(scratch) / Path(source).stem)
            return send_results(pacs, objects)

    return work


def scan_folder_job(root: Path, classifier: "Classifier", recursive: bool, history: "History | None") -> WorkFunction:
    """Every row (ScanRow) and every progress note (ScanProgress) is reported as it comes; stopping keeps them."""

    def work(job: Job) -> None:
        from osteo_desktop.core.pipeline.scanning import scan_folder

        rows = scan_folder(root, classifier, recursive=recursive, cancel=job.stop_event, on_progress=job.report, history=history)
        for row in rows:
            job.report(row)
            if job.stop_requested():
                break

    return work
