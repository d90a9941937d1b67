"""Thin adapter: an :class:`Analysis` (one finding per knee, or the out-of-scope reason) to :class:`DicomExportInput`."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom.valuerep import PersonName
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.results import text
from osteo_desktop.core.results.text import no_result_headline
from osteo_desktop.core.results.annotated_image import KneeFinding, annotate
from osteo_desktop.core.results.dicom_objects import DicomExportInput, read_source_header, stable_uid


_DICOM_SIDE = {"right": "R", "left": "L"}  # the patient's side as DICOM codes it; "unknown" has no code


class NoStudyError(OsteoError):
    """A raster image has no study to join and the user gave no patient and study details, or a DICOM file lacks the
    UIDs that place its results in its study."""


@dataclass
class StudyDetails:
    """What the user types for a PNG/JPEG so its results can join (or start) a study."""

    patient_id: str
    patient_name: str
    study_date: str = ""  # YYYYMMDD
    accession_number: str = ""
    study_instance_uid: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_id: str = ""
    referring_physician: str = ""


_DICOM_CHARS = re.compile(r"[\\^=\x00-\x1f]")  # separators and control characters have meaning in DICOM values


def study_details(patient_id: str, family: str, given: str = "", study_date: str = "", accession: str = "",
                  study_uid: str = "", *, middle: str = "", prefix: str = "", suffix: str = "") -> StudyDetails | str:
    """The typed details as :class:`StudyDetails`, or why they cannot be used (in words). One rule for the window's
    study dialog and ``osteo dicom-export``.

    The name is written the DICOM way, ``Family^Given^Middle^Prefix^Suffix`` (PS3.5 6.2.1, pydicom's PersonName;
    trailing empty components dropped, but a family name alone keeps its caret, ``Family^``, so it is not read as a
    single-component name); the date is accepted as YYYY-MM-DD or YYYYMMDD and must be a real calendar date (pydicom
    refuses anything else when the object is written, with a message no user can act on).
    """
    patient_id, family, given = patient_id.strip(), family.strip(), given.strip()
    middle, prefix, suffix = middle.strip(), prefix.strip(), suffix.strip()
    accession, study_uid = accession.strip(), study_uid.strip()
    if not patient_id or not family:
        return "The patient ID and family name are needed."
    if any(_DICOM_CHARS.search(value) for value in (patient_id, family, given, middle, prefix, suffix, accession)):
        return "Names and IDs cannot contain \\ ^ = or control characters."
    date = study_date.strip().replace("-", "")
    if date and not _calendar_date(date):
        # "2026-13-01" is written as asked and still no date: say that it is not one, not how to write it
        return f"The study date {study_date.strip()!r} is not a calendar date (write YYYY-MM-DD or YYYYMMDD)."
    if study_uid and not re.fullmatch(r"[0-9]+(\.[0-9]+)+", study_uid):
        return "A study instance UID is digits separated by dots."
    name = str(PersonName.from_named_components(family_name=family, given_name=given, middle_name=middle,
                                                name_prefix=prefix, name_suffix=suffix))
    return StudyDetails(patient_id, name if "^" in name else f"{name}^", date, accession, study_uid)


def _calendar_date(value: str) -> bool:
    if len(value) != 8 or not value.isdigit():
        return False
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return True


def synthetic_source(details: StudyDetails, rows: int, columns: int, content_sha256: str = "") -> Dataset:
    """A header standing in for a raster image: the patient and study the user named.

    Its UIDs (the study's, unless the user named one, the series' and the image's) come from the file's content
    (``content_sha256``) and the details typed: the same PNG exported again with the same details is the same image
    in the same study, so its results get the same UIDs (dicom_objects.derived_uid) and a PACS replaces them rather
    than adding another set. Another file, or other details, is another image. Without a content digest: fresh UIDs.
    """
    def uid(role: str) -> str:
        if not content_sha256:
            return str(generate_uid())
        return stable_uid("raster source", content_sha256, *map(str, dataclasses.astuple(details)), role)

    ds = Dataset()
    ds.PatientID, ds.PatientName = details.patient_id, details.patient_name
    ds.PatientBirthDate, ds.PatientSex = details.patient_birth_date, details.patient_sex
    ds.StudyInstanceUID = details.study_instance_uid or uid("study")
    ds.StudyDate, ds.StudyTime, ds.StudyID = details.study_date, "", details.study_id
    ds.AccessionNumber, ds.ReferringPhysicianName = details.accession_number, details.referring_physician
    ds.SeriesInstanceUID, ds.SOPInstanceUID = uid("series"), uid("instance")
    ds.SOPClassUID, ds.Modality = SecondaryCaptureImageStorage, "OT"
    ds.Rows, ds.Columns = rows, columns
    return ds


def source_for(path: Path, source_format: str, rows: int, columns: int, details: StudyDetails | None,
               content_sha256: str = "") -> Dataset:
    if source_format.lower() == "dicom":
        header = read_source_header(path)
        # The results join the film's study and cite the film: without these UIDs they would be objects with empty
        # Type 1 UIDs, which a PACS rejects or files nowhere.
        missing = [keyword for keyword in ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID")
                   if not str(header.get(keyword, "") or "").strip()]
        if missing:
            raise NoStudyError(f"{path.name} is a DICOM file without {' or '.join(missing)}: its results cannot be "
                               "placed in its study")
        return header
    if details is None or not details.patient_id or not details.patient_name:
        raise NoStudyError(f"{path.name} is a {source_format.upper()} image with no DICOM study to join; give the "
                           "patient ID and name (and study date/accession) to export it as DICOM")
    return synthetic_source(details, rows, columns, content_sha256)


def _content_sha256(analysis) -> str:
    """The file's SHA-256 as read for the analysis (analyse_file and the window set it); an analysis made without
    it (a caller that read the image itself) falls back to the digest of the decoded pixels, the same for the same
    file."""
    digest = getattr(analysis, "file_sha256", None)
    if digest:
        return str(digest)
    pixels = np.ascontiguousarray(analysis.radiograph.pixels)
    return f"pixels {pixels.shape} {pixels.dtype}:" + hashlib.sha256(pixels.tobytes()).hexdigest()


def export_input(analysis, model_sha256: str, pdf_bytes: bytes | None, algorithm_name: str,
                 details: StudyDetails | None = None, out_of_scope_reason: str | None = None,
                 positive_label: str = "osteoporosis") -> DicomExportInput:
    """One finding per knee (its box, side, label and probability); a knee whose side is unknown takes the header's
    laterality when it has one. An analysis without knees but with a result (not made by today's pipeline) is one
    finding over the whole image.

    A file the scope gate declined (``analysis.out_of_scope``) has no finding: the SR carries only the "out of
    scope" evaluation with the reason, and the annotated image the "No result: <reason>" headline.
    """
    radiograph, prediction = analysis.radiograph, analysis.prediction
    out_of_scope_reason = out_of_scope_reason or getattr(analysis, "out_of_scope", None)
    if prediction is None and out_of_scope_reason is None:
        raise ValueError("an analysis without a prediction must say why (out_of_scope)")
    height, width = radiograph.pixels.shape[:2]
    source = source_for(Path(radiograph.path), radiograph.source_format, height, width, details,
                        _content_sha256(analysis))
    rows, columns = int(source.get("Rows", height)), int(source.get("Columns", width))
    side = str(source.get("ImageLaterality", source.get("Laterality", ""))).upper()
    header_side = side if side in ("R", "L") else ""
    scale_x, scale_y = width / columns, height / rows
    knees = [] if out_of_scope_reason else analysis.result.knees
    # Knee boxes are in the decoded pixels; the SR cites the source's pixels (the same unless a reader downscaled).
    findings = [KneeFinding(_DICOM_SIDE.get(knee.side, header_side),
                            (knee.box[0] / scale_x, knee.box[1] / scale_y, knee.box[2] / scale_x, knee.box[3] / scale_y),
                            knee.label, knee.probability, prediction.threshold,
                            # an unknown knee named by the header's laterality here: the header is its source
                            knee.side_source if knee.side in _DICOM_SIDE else ("dicom_header" if header_side else None))
                for knee in knees]
    if not findings and not out_of_scope_reason:
        findings = [KneeFinding(header_side, (0.0, 0.0, columns - 1.0, rows - 1.0), prediction.label,
                                prediction.probability, prediction.threshold)]
    drawn = [KneeFinding(f.side, (f.box[0] * scale_x, f.box[1] * scale_y, f.box[2] * scale_x, f.box[3] * scale_y),
                         f.label, f.probability, f.threshold, f.side_source) for f in findings]
    if out_of_scope_reason:
        headline, detail = no_result_headline(out_of_scope_reason), ""
    else:  # the window's words: a firm call, or "Borderline ...: read as undecided" near the threshold
        headline = text.headline(prediction.label, positive_label, prediction.probability, prediction.threshold)
        detail = text.probability_line(prediction.probability, prediction.threshold, positive_label)
    version = prediction.model_version if prediction is not None else getattr(analysis, "model_version", "")
    # the legend names the box colours in the window's words for this model's labels
    annotated = annotate(radiograph.pixels, drawn, headline, detail, positive_label=positive_label)
    return DicomExportInput(source=source, findings=findings, out_of_scope_reason=out_of_scope_reason,
                            algorithm_name=algorithm_name, algorithm_version=version,
                            model_sha256=model_sha256, annotated_rgb=annotated, pdf_bytes=pdf_bytes)
