"""Talking to a PACS as its user: find studies (C-FIND, study root), fetch a study's radiographs (C-GET) and send
results back (C-STORE, :mod:`~osteo_desktop.dicomnet.forward`).

Each call opens one association and closes it before returning; nothing here listens or stays connected. The
window calls these through its one worker mechanism, and only once the user has configured a PACS.
"""

from __future__ import annotations

from typing import Any

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.dicomnet.forward import Destination, send_files

log = logging.getLogger(__name__)

# What "a study's radiographs" are: the image storage classes the app reads (and the node accepts).
RADIOGRAPH_CLASSES = (ComputedRadiographyImageStorage, DigitalXRayImageStorageForPresentation,
                      DigitalXRayImageStorageForProcessing, SecondaryCaptureImageStorage)
_STUDY_KEYS = ("PatientName", "PatientID", "StudyDate", "AccessionNumber", "StudyDescription", "ModalitiesInStudy",
               "NumberOfStudyRelatedInstances", "StudyInstanceUID")
_UID = re.compile(r"[0-9]+(\.[0-9]+)+")


class PacsError(OsteoError):
    """The PACS could not be reached or refused the request; the message says which, in words."""


@dataclass(frozen=True)
class Pacs:
    """A configured PACS and the AE title this app calls it with."""

    destination: Destination
    calling_ae: str = "OSTEO"
    timeout_s: float = 10.0

    def _ae(self) -> AE:
        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        return ae

    def _where(self) -> str:
        d = self.destination
        return f"{d.ae_title} at {d.host}:{d.port}"

    def _associate(self, ae: AE, **kwargs):
        d = self.destination
        assoc = ae.associate(d.host, d.port, ae_title=d.ae_title, **kwargs)
        if not assoc.is_established:
            raise PacsError(f"the PACS {self._where()} did not accept a connection "
                            f"({'rejected' if assoc.is_rejected else 'no answer'})")
        return assoc


@dataclass(frozen=True)
class StudyMatch:
    """One study the PACS found: what a reader needs to pick it, and its UID to fetch it."""

    study_instance_uid: str
    patient_id: str = ""
    patient_name: str = ""  # as DICOM writes it (Family^Given); shown through core.results.text.person_name
    study_date: str = ""
    accession_number: str = ""
    description: str = ""
    modalities: str = ""
    instances: str = ""


def echo(pacs: Pacs) -> None:
    """C-ECHO: raises :class:`PacsError` unless the PACS answers."""
    ae = pacs._ae()
    ae.add_requested_context(Verification)
    assoc = pacs._associate(ae)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0x0000:
        raise PacsError(f"the PACS {pacs._where()} did not answer the echo")


def find_studies(pacs: Pacs, *, patient_id: str = "", accession_number: str = "", study_date: str = "") -> list[StudyMatch]:
    """Studies matching every criterion given (study root C-FIND); at least one must be given.

    ``study_date`` is YYYYMMDD or a DICOM range (``20250101-20250131``).
    """
    if not (patient_id.strip() or accession_number.strip() or study_date.strip()):
        raise ValueError("give a patient ID, an accession number or a study date")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    for keyword in _STUDY_KEYS:
        setattr(query, keyword, "")
    query.PatientID, query.AccessionNumber = patient_id.strip(), accession_number.strip()
    query.StudyDate = date_query(study_date) if study_date.strip() else ""
    ae = pacs._ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = pacs._associate(ae)
    matches: list[StudyMatch] = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status:
                raise PacsError(f"the PACS {pacs._where()} stopped answering the search")
            if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                matches.append(_match(identifier))
            elif status.Status != 0x0000:
                raise PacsError(f"the PACS {pacs._where()} refused the search (status 0x{status.Status:04X})")
    finally:
        assoc.release()
    log.info("C-FIND at %s: %d studies", pacs.destination.ae_title, len(matches))
    return sorted(matches, key=lambda m: (m.study_date, m.study_instance_uid), reverse=True)


def date_query(text: str) -> str:
    """A study date as typed (YYYY-MM-DD, YYYYMMDD, or a DICOM range YYYYMMDD-YYYYMMDD) as C-FIND matches it."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value.replace("-", "")
    if re.fullmatch(r"\d{8}|\d{8}-|-\d{8}|\d{8}-\d{8}", value):
        return value
    raise ValueError("a study date is YYYY-MM-DD, YYYYMMDD or a range YYYYMMDD-YYYYMMDD")


def _match(identifier: Dataset) -> StudyMatch:
    def text(keyword: str) -> str:
        value = identifier.get(keyword, "")
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            return "\\".join(str(v) for v in value)
        return str(value if value is not None else "").strip()

    return StudyMatch(text("StudyInstanceUID"), text("PatientID"), text("PatientName"), text("StudyDate"),
                      text("AccessionNumber"), text("StudyDescription"), text("ModalitiesInStudy"),
                      text("NumberOfStudyRelatedInstances"))


def radiograph_instances(pacs: Pacs, study_instance_uid: str) -> list[tuple[str, str]]:
    """(series, SOP instance UID) of the study's radiographs (image-level C-FIND, study root): the objects of the
    classes in :data:`RADIOGRAPH_CLASSES`, not the reports, PDFs or other images the study may also hold."""
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = query.SOPInstanceUID = query.SOPClassUID = ""
    ae = pacs._ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = pacs._associate(ae)
    wanted = {str(uid) for uid in RADIOGRAPH_CLASSES}
    found: list[tuple[str, str]] = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status:
                raise PacsError(f"the PACS {pacs._where()} stopped answering the search")
            if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                if str(identifier.get("SOPClassUID", "")) in wanted:
                    found.append((str(identifier.get("SeriesInstanceUID", "")), str(identifier.SOPInstanceUID)))
            elif status.Status != 0x0000:
                raise PacsError(f"the PACS {pacs._where()} refused the search (status 0x{status.Status:04X})")
    finally:
        assoc.release()
    return found


def fetch_study(pacs: Pacs, study_instance_uid: str, folder: Path) -> list[Path]:
    """C-GET a study's radiographs (CR, DX, Secondary Capture) into ``folder``; returns the files written.

    The radiographs are listed first (:func:`radiograph_instances`) and fetched one by one: a study-level C-GET
    would also ask for the reports and PDFs in the study, which some PACS (Orthanc) then fail as a whole.
    """
    if not _UID.fullmatch(study_instance_uid):
        raise ValueError(f"not a study instance UID: {study_instance_uid!r}")
    instances = radiograph_instances(pacs, study_instance_uid)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def on_store(event: Any) -> int:  # a pynetdicom Event
        ds = event.dataset
        ds.file_meta = event.file_meta
        uid = str(ds.SOPInstanceUID)
        if not _UID.fullmatch(uid):  # the UID names the file: never let it be a path
            return 0xC210
        path = folder / f"{uid}.dcm"
        temp = path.with_suffix(".part")
        ds.save_as(temp, enforce_file_format=True)
        temp.replace(path)
        written.append(path)
        return 0x0000

    if not instances:
        return written
    ae = pacs._ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for sop_class in RADIOGRAPH_CLASSES:
        ae.add_requested_context(sop_class)
    roles = [build_role(sop_class, scp_role=True) for sop_class in RADIOGRAPH_CLASSES]
    assoc = pacs._associate(ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        for series, uid in instances:
            query = Dataset()
            query.QueryRetrieveLevel = "IMAGE"  # the unique keys of every level above, as hierarchical retrieval needs
            query.StudyInstanceUID, query.SeriesInstanceUID, query.SOPInstanceUID = study_instance_uid, series, uid
            for status, _identifier in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
                if not status:
                    raise PacsError(f"the PACS {pacs._where()} stopped answering while sending the study")
                if status.Status not in (0x0000, 0xFF00):
                    log.warning("C-GET of %s from %s: status 0x%04X", uid, pacs.destination.ae_title, status.Status)
    finally:
        assoc.release()
    if not written:
        raise PacsError(f"the PACS {pacs._where()} listed {len(instances)} radiographs but sent none")
    log.info("C-GET from %s: %d radiographs of study %s", pacs.destination.ae_title, len(written), study_instance_uid)
    return written


def send_results(pacs: Pacs, paths: list[Path]) -> list[Path]:
    """C-STORE result objects (SR, annotated image, PDF) to the PACS; returns those it confirmed."""
    confirmed = send_files(list(paths), pacs.destination, pacs.calling_ae, pacs.timeout_s)
    if paths and not confirmed:
        raise PacsError(f"the PACS {pacs._where()} did not accept the results")
    return confirmed
