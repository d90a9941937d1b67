"""Results as DICOM objects a PACS viewer shows: a TID 1500 SR, an annotated Secondary Capture, an Encapsulated PDF.

Pure pydicom/highdicom: no network, no Qt. Input is :class:`DicomExportInput`, a small shape of our own so this module
does not depend on the result types being restructured elsewhere; a thin adapter builds it from an analysis.
"""

from __future__ import annotations

import datetime as _dt
from copy import deepcopy
import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset, dcmread
from pydicom.sr.codedict import codes
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

from osteo_desktop.core.atomic import atomic_write_group
from osteo_desktop.core.model.scope import OWN_MANUFACTURER as MANUFACTURER  # how the app knows its own objects
from osteo_desktop import __version__
from osteo_desktop.core.results import text
from osteo_desktop.core.results.annotated_image import KneeFinding
from osteo_desktop.core.results.annotated_image import side_words as _side_words

log = logging.getLogger(__name__)

_SCHEME = "99OSTEO"  # private coding scheme for concepts without a standard code
PROBABILITY = hd.sr.CodedConcept("osteo-probability", _SCHEME, "Osteoporosis probability")
THRESHOLD = hd.sr.CodedConcept("osteo-threshold", _SCHEME, "Decision threshold")
RESULT = hd.sr.CodedConcept("osteo-result", _SCHEME, "Screening result")
SCOPE = hd.sr.CodedConcept("osteo-scope", _SCHEME, "Out of scope")
# A knee within text.BORDERLINE_MARGIN of the threshold gets this second qualitative evaluation beside its result, so
# a PACS reading the SR sees what the window's headline says: the call is borderline, read it as undecided.
BORDERLINE = hd.sr.CodedConcept("osteo-borderline", _SCHEME, "Borderline")
UNDECIDED = hd.sr.CodedConcept("osteo-undecided", _SCHEME,
                               f"Within {text.BORDERLINE_MARGIN:.2f} of the decision threshold: read as undecided")
UNITLESS = hd.sr.CodedConcept("1", "UCUM", "no units")
SR_SERIES, SC_SERIES, PDF_SERIES = 9901, 9902, 9903
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
# The annotated image is written deflated (zlib over the whole dataset, lossless): about a fifth of its uncompressed
# size (reports/sc_compression.md). A sender whose peer accepts only uncompressed syntaxes still sends it: pynetdicom
# inflates a deflated dataset for an uncompressed context itself. The SR and the PDF stay uncompressed: a few kB.
SC_TRANSFER_SYNTAX = DeflatedExplicitVRLittleEndian
_STUDY_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
               "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")


@dataclass
class DicomExportInput:
    source: Dataset  # the source header (pixels not needed)
    findings: list[KneeFinding] = field(default_factory=list)
    out_of_scope_reason: str | None = None
    algorithm_name: str = "osteo-desktop"
    algorithm_version: str = ""
    model_sha256: str = ""
    annotated_rgb: np.ndarray | None = None  # (rows, cols, 3) uint8, already annotated
    pdf_bytes: bytes | None = None


_UID_SCHEME = "osteo-desktop derived object UID 1"  # changing how a UID is derived: change this too


def stable_uid(*parts: str) -> str:
    """A UID that is the same each time for the same ``parts`` (pydicom's generate_uid over their SHA-512).

    pydicom joins its entropy sources without a separator, so ("ab", "c") and ("a", "bc") would give one UID: each
    part is written with its length first."""
    return str(generate_uid(entropy_srcs=[_UID_SCHEME, *(f"{len(part)}:{part}" for part in parts)]))


def derived_uid(inp: DicomExportInput, kind: str, role: str) -> str:
    """The UID of one derived object (``kind``: "sr", "annotated", "report") in the role ``role`` ("series",
    "instance", ...), fixed by the source image and the exact model and the app's release.

    Re-sending the same film's result (the node given the same image again, Send results pressed twice) then stores
    the same instances again, which a PACS takes as the same objects rather than a further result set. The same model
    (model_sha256: card and every file, so also its threshold) on the same source gives the same result, so the same
    UIDs are right; another model is another result and gets new ones. Without a model digest or a source SOP
    Instance UID nothing says two exports are the same result: a fresh random UID, as every export had before.
    """
    source_uid = str(inp.source.get("SOPInstanceUID", "") or "")
    if not inp.model_sha256 or not source_uid:
        return str(generate_uid())
    # The app's version too: a release may read the same model differently (preprocessing, the knee regions), and a
    # PACS that keeps the first copy of a UID (Orthanc's default) would then keep the old release's result.
    return stable_uid(str(inp.source.get("StudyInstanceUID", "") or ""), source_uid, inp.model_sha256, __version__,
                      _findings_key(inp), kind, role)


def _findings_key(inp: DicomExportInput) -> str:
    """What the objects say, in a fixed form: the same UIDs must never carry other findings (a header corrected under
    its SOP Instance UID, a laterality fixed, would otherwise be dropped by a PACS keeping the first copy)."""
    knees = [(f.side, tuple(round(float(v), 1) for v in f.box), f.label, f"{f.probability:.6f}", f"{f.threshold:.6f}",
              f.side_source or "") for f in inp.findings]
    return repr((knees, inp.out_of_scope_reason or ""))


def _with_study_defaults(source: Dataset) -> Dataset:
    """A copy where missing Type 2 patient/study attributes are present and empty (highdicom copies them).

    A deep copy (of a header, read without its pixels): ``Dataset(source)`` shares the source's elements, so the
    defaults were written into the caller's header too."""
    copy = deepcopy(source)
    for keyword in _STUDY_TAGS:
        if keyword not in copy:
            setattr(copy, keyword, "")
    _default_repertoire_named(copy)
    return copy


def _default_repertoire_named(copy: Dataset) -> None:
    """Spell an empty Specific Character Set as the standard reads it (highdicom copies the value and refuses "").

    An empty value is the default repertoire, as when the element is absent (PS3.3 C.12.1.1.2); an empty first of
    several values is ISO 2022 IR 6, the default repertoire with code extensions. Other values are left as they are."""
    if "SpecificCharacterSet" not in copy:
        return
    value = copy.SpecificCharacterSet
    values = [str(item).strip() for item in value] if not isinstance(value, str) else [value.strip()]
    if not values[0]:
        del copy.SpecificCharacterSet
        if any(values):
            copy.SpecificCharacterSet = ["ISO 2022 IR 6", *values[1:]]


def read_source_header(path: str | Path) -> Dataset:
    return dcmread(str(path), stop_before_pixels=True)


def _algorithm(inp: DicomExportInput) -> hd.sr.AlgorithmIdentification:
    params = [f"model_sha256={inp.model_sha256}"] if inp.model_sha256 else None
    return hd.sr.AlgorithmIdentification(name=inp.algorithm_name, version=inp.algorithm_version or "unknown",
                                         parameters=params)


def _region(inp: DicomExportInput, box: tuple[float, float, float, float]) -> hd.sr.ImageRegion:
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
    source = hd.sr.SourceImageForRegion.from_source_image(inp.source)
    return hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=corners, source_image=source)


def _knee_group(inp: DicomExportInput, index: int, finding: KneeFinding) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    side = {"R": codes.SCT.Right, "L": codes.SCT.Left}.get(finding.side.upper()[:1])
    site = hd.sr.FindingSite(anatomic_location=codes.SCT.Knee, laterality=side)  # None: side unknown
    algorithm = _algorithm(inp)
    measurements = [
        hd.sr.Measurement(name=PROBABILITY, value=float(finding.probability), unit=UNITLESS, algorithm_id=algorithm),
        hd.sr.Measurement(name=THRESHOLD, value=float(finding.threshold), unit=UNITLESS, algorithm_id=algorithm),
    ]
    label = hd.sr.CodedConcept(f"osteo-label-{finding.label}"[:16], _SCHEME, finding.label[:64])
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        # The identifier says where the side came from: a side taken from the film's position is an assumption,
        # and the coded laterality alone would state it as fact (LO: at most 64 characters).
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid(inp, "sr", f"knee {index + 1}"), identifier=f"knee {index + 1} {_side_words(finding) if finding.side else 'side unknown'}"[:64]),
        referenced_region=_region(inp, finding.box), finding_type=codes.SCT.Knee, algorithm_id=algorithm,
        finding_sites=[site], measurements=measurements,
        qualitative_evaluations=_evaluations(label, finding))


def _evaluations(label: hd.sr.CodedConcept, finding: KneeFinding) -> list[hd.sr.QualitativeEvaluation]:
    """The knee's result and, when it is borderline (text.is_borderline), the borderline evaluation after it."""
    evaluations = [hd.sr.QualitativeEvaluation(name=RESULT, value=label)]
    if text.is_borderline(finding.probability, finding.threshold):
        evaluations.append(hd.sr.QualitativeEvaluation(name=BORDERLINE, value=UNDECIDED))
    return evaluations


def _code_meaning(text: str, limit: int = 64) -> str:
    """``text`` as a Code Meaning (LO: at most 64 characters): cut at the last whole word with "..." rather than
    mid-word ("... of another bone o"); the PDF in the same series carries the reason in full."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rstrip()
    if " " in cut:
        cut = cut[: cut.rindex(" ")].rstrip(" ,;:")
    return cut + "..."


def _scope_group(inp: DicomExportInput) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    reason = _code_meaning(inp.out_of_scope_reason or "out of scope")
    value = hd.sr.CodedConcept("osteo-out-of-scope", _SCHEME, reason)
    source = hd.sr.SourceImageForMeasurementGroup.from_source_image(inp.source)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=derived_uid(inp, "sr", "scope"), identifier="scope"),
        algorithm_id=_algorithm(inp), qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=SCOPE, value=value)],
        source_images=[source])


def build_sr(inp: DicomExportInput) -> hd.sr.Comprehensive3DSR:
    if inp.findings:
        groups = [_knee_group(inp, i, f) for i, f in enumerate(inp.findings)]
    else:
        groups = [_scope_group(inp)]
    context = hd.sr.ObservationContext(observer_person_context=None, observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            # the device is the exact model, whichever film it read
            uid=stable_uid(inp.model_sha256, "device observer") if inp.model_sha256 else generate_uid(),
            name=inp.algorithm_name, manufacturer_name=MANUFACTURER,
            model_name=inp.algorithm_version or "unknown")))
    report = hd.sr.MeasurementReport(observation_context=context,
                                     procedure_reported=hd.sr.CodedConcept("osteo-screen", _SCHEME, "Osteoporosis screening"),
                                     imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(evidence=[_with_study_defaults(inp.source)], content=report[0],
                                   series_instance_uid=derived_uid(inp, "sr", "series"), series_number=SR_SERIES,
                                   sop_instance_uid=derived_uid(inp, "sr", "instance"), instance_number=1,
                                   manufacturer=MANUFACTURER, is_complete=True, series_description="osteo-desktop SR")


def build_secondary_capture(inp: DicomExportInput) -> hd.sc.SCImage:
    if inp.annotated_rgb is None:
        raise ValueError("no annotated image to capture")
    with warnings.catch_warnings(record=True) as caught:  # highdicom warns on names it finds odd (a header's "ward")
        warnings.simplefilter("always")
        image = _secondary_capture(inp)
    for warning in caught:  # the source's own header text: logged, not printed over the user's terminal
        log.info("annotated image: %s", warning.message)
    if "Laterality" not in image:
        image.Laterality = ""  # Type 2C: present but empty when the side is not known (dciodvfy asks for it)
    # Every annotated image carries burnt-in text (the banner's result and research notice, the knees' tags): a
    # viewer or de-identification tool that trusts this flag must not take the pixels for a clean film.
    image.BurnedInAnnotation = "YES"
    # highdicom writes Secondary Capture as Implicit VR Little Endian and takes no deflated syntax itself; the pixels
    # are native either way, so only the file's encoding changes (pydicom deflates as it writes: to_bytes, save_as).
    image.file_meta.TransferSyntaxUID = SC_TRANSFER_SYNTAX
    return image


def _secondary_capture(inp: DicomExportInput) -> hd.sc.SCImage:
    return hd.sc.SCImage.from_ref_dataset(
        _with_study_defaults(inp.source), np.ascontiguousarray(inp.annotated_rgb, dtype=np.uint8), photometric_interpretation="RGB",
        bits_allocated=8, coordinate_system="PATIENT", series_instance_uid=derived_uid(inp, "annotated", "series"),
        series_number=SC_SERIES, sop_instance_uid=derived_uid(inp, "annotated", "instance"), instance_number=1, manufacturer=MANUFACTURER,
        patient_orientation=("L", "F"), laterality=_series_laterality(inp),
        series_description="osteo-desktop annotated (research use)")


def _series_laterality(inp: DicomExportInput) -> str | None:
    """General Series Laterality is R or L only: the source's, else the side when exactly one knee was found."""
    for keyword in ("Laterality", "ImageLaterality"):
        if str(inp.source.get(keyword, "")).upper() in ("R", "L"):
            return str(inp.source.get(keyword)).upper()
    sides = {f.side.upper()[:1] for f in inp.findings}
    return sides.pop() if len(sides) == 1 and sides <= {"R", "L"} else None


def build_encapsulated_pdf(inp: DicomExportInput) -> Dataset:
    """Encapsulated PDF IOD built with pydicom (highdicom has no PDF class)."""
    if not inp.pdf_bytes:
        raise ValueError("no PDF to encapsulate")
    ds = Dataset()
    for keyword in _STUDY_TAGS:
        ds.__setattr__(keyword, inp.source.get(keyword, ""))
    now = _dt.datetime.now()
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = derived_uid(inp, "report", "instance")
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = derived_uid(inp, "report", "series")
    ds.SeriesNumber = PDF_SERIES
    ds.InstanceNumber = 1
    ds.Manufacturer = MANUFACTURER
    ds.ContentDate = ds.AcquisitionDateTime = now.strftime("%Y%m%d")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "osteo-desktop report (research use, not for diagnosis)"
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    data = inp.pdf_bytes + (b"\0" if len(inp.pdf_bytes) % 2 else b"")
    ds.EncapsulatedDocument = data
    ds.EncapsulatedDocumentLength = len(inp.pdf_bytes)
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def to_bytes(dataset: Dataset) -> bytes:
    """``dataset`` as a DICOM file's bytes, made in memory: a full disk cannot interrupt it half way (pydicom wraps an
    error while writing an element in a message with a traceback, which reached the window's dialog)."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_all(inp: DicomExportInput, out_dir: Path, stem: str) -> list[Path]:
    """Write every object the input allows; return the paths written.

    All or nothing: the objects are made in memory first and written together (core.atomic.atomic_write_group), so
    a full disk leaves neither a temporary nor an SR whose annotated image was never written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = [("sr", build_sr(inp))]
    if inp.annotated_rgb is not None:
        objects.append(("annotated", build_secondary_capture(inp)))
    if inp.pdf_bytes:
        objects.append(("report", build_encapsulated_pdf(inp)))
    return atomic_write_group([(out_dir / f"{stem}.{suffix}.dcm", to_bytes(dataset)) for suffix, dataset in objects])
