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
from osteo_desktop.core.model.scope import made_by_osteo_desktop
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

    def where(self) -> str:
        """How every message names this PACS: "(AE title X) at host:port" (after "The PACS"); the AE title alone
        read "The PACS PACS at ..." when the title was PACS."""
        d = self.destination
        return f"(AE title {d.ae_title}) at {d.host}:{d.port}"

    def _associate(self, ae: AE, **kwargs):
        d = self.destination
        assoc = ae.associate(d.host, d.port, ae_title=d.ae_title, **kwargs)
        if not assoc.is_established:
            if assoc.is_rejected:
                raise PacsError(f"The PACS {self.where()} refused the connection: check that it knows this app's "
                                f"AE title {self.calling_ae} and its address.")
            raise PacsError(f"The PACS {self.where()} {_why_unreachable(d.host, d.port, self.timeout_s)}.")
        return assoc


def _why_unreachable(host: str, port: int, timeout_s: float) -> str:
    """Why no association came about, in words: pynetdicom only says that none did. One plain TCP connection tells a
    port nobody listens on (refused at once) from a host that does not answer."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=min(timeout_s, 5.0)):
            return "accepted the network connection but did not answer as a DICOM node"
    except ConnectionRefusedError:
        return "could not be reached: nothing listens on that port (connection refused)"
    except socket.gaierror:
        return "could not be reached: the host name is not known"
    except OSError as exc:
        return f"could not be reached ({exc.strerror or 'no answer'})"


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
        raise PacsError(f"The PACS {pacs.where()} did not answer the echo.")


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
                raise PacsError(f"The PACS {pacs.where()} stopped answering the search.")
            if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                matches.append(_match(identifier))
            elif status.Status != 0x0000:
                raise PacsError(f"The PACS {pacs.where()} refused the search (status 0x{status.Status:04X}).")
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


@dataclass
class FetchedStudy:
    """What :func:`fetch_study_objects` brought: the radiographs written, and how many of the study's images were the
    app's own annotated results (not fetched, or fetched and dropped: never analysed as a film again)."""

    files: list[Path]
    skipped_own: int = 0


def _own(identifier: Dataset) -> bool:
    return made_by_osteo_desktop(identifier.get("Manufacturer", ""))


def radiograph_instances(pacs: Pacs, study_instance_uid: str) -> list[tuple[str, str]]:
    """(series, SOP instance UID) of the study's radiographs (image-level C-FIND, study root): the objects of the
    classes in :data:`RADIOGRAPH_CLASSES`, not the reports, PDFs or other images the study may also hold."""
    return _radiograph_instances(pacs, study_instance_uid)[0]


def _radiograph_instances(pacs: Pacs, study_instance_uid: str) -> tuple[list[tuple[str, str]], int]:
    """:func:`radiograph_instances`, and how many of the study's images the PACS said this app made (its
    Manufacturer, when the PACS answers it at image level; those that come without it are caught as they arrive)."""
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = query.SOPInstanceUID = query.SOPClassUID = query.Manufacturer = ""
    ae = pacs._ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = pacs._associate(ae)
    wanted = {str(uid) for uid in RADIOGRAPH_CLASSES}
    found: list[tuple[str, str]] = []
    own = 0
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status:
                raise PacsError(f"The PACS {pacs.where()} stopped answering the search.")
            if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                if str(identifier.get("SOPClassUID", "")) not in wanted:
                    continue
                if _own(identifier):
                    own += 1
                else:
                    found.append((str(identifier.get("SeriesInstanceUID", "")), str(identifier.SOPInstanceUID)))
            elif status.Status != 0x0000:
                raise PacsError(f"The PACS {pacs.where()} refused the search (status 0x{status.Status:04X}).")
    finally:
        assoc.release()
    return found, own


def fetch_study(pacs: Pacs, study_instance_uid: str, folder: Path) -> list[Path]:
    """C-GET a study's radiographs (CR, DX, Secondary Capture) into ``folder``; returns the files written (the app's
    own annotated images are left out: :func:`fetch_study_objects`)."""
    return fetch_study_objects(pacs, study_instance_uid, folder).files


def fetch_study_objects(pacs: Pacs, study_instance_uid: str, folder: Path) -> FetchedStudy:
    """C-GET a study's radiographs (CR, DX, Secondary Capture) into ``folder``, without the app's own output.

    The radiographs are listed first (:func:`radiograph_instances`) and fetched one by one: a study-level C-GET
    would also ask for the reports and PDFs in the study, which some PACS (Orthanc) then fail as a whole. An
    annotated image this app made (its Manufacturer) is not a film: it is skipped when the search says so, else
    dropped as it arrives, and counted in ``skipped_own``.
    """
    if not _UID.fullmatch(study_instance_uid):
        raise ValueError(f"not a study instance UID: {study_instance_uid!r}")
    instances, skipped = _radiograph_instances(pacs, study_instance_uid)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    dropped: list[str] = []
    failures: list[str] = []

    def on_store(event: Any) -> int:  # a pynetdicom Event
        ds = event.dataset
        ds.file_meta = event.file_meta
        uid = str(ds.SOPInstanceUID)
        if not _UID.fullmatch(uid):  # the UID names the file: never let it be a path
            return 0xC210
        if made_by_osteo_desktop(ds.get("Manufacturer", "")):  # success, so the PACS goes on; nothing kept
            dropped.append(uid)
            return 0x0000
        path = folder / f"{uid}.dcm"
        temp = path.with_suffix(".part")
        try:
            ds.save_as(temp, enforce_file_format=True)
            temp.replace(path)
        except OSError as exc:  # a full disk: no half file left behind, and the cause said once, in words
            temp.unlink(missing_ok=True)
            failures.append(_write_cause(exc))
            return 0xA700
        written.append(path)
        return 0x0000

    if not instances:
        return FetchedStudy(written, skipped)
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
                    raise PacsError(f"The PACS {pacs.where()} stopped answering while sending the study.")
                if status.Status not in (0x0000, 0xFF00):
                    log.warning("C-GET of %s from %s: status 0x%04X", uid, pacs.destination.ae_title, status.Status)
    finally:
        assoc.release()
    skipped += len(dropped)
    if failures:
        raise PacsError(f"The study's radiographs could not be kept in {folder}: {failures[0]}.")
    if not written and not dropped:
        raise PacsError(f"The PACS {pacs.where()} listed {len(instances)} radiographs but sent none.")
    if skipped:
        log.info("C-GET from %s: %d images of study %s skipped: made by osteo-desktop", pacs.destination.ae_title,
                 skipped, study_instance_uid)
    log.info("C-GET from %s: %d radiographs of study %s", pacs.destination.ae_title, len(written), study_instance_uid)
    return FetchedStudy(written, skipped)


def _write_cause(exc: BaseException) -> str:
    """The root cause of a write error: pydicom re-raises it with the whole traceback in its message."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]


def send_results(pacs: Pacs, paths: list[Path]) -> list[Path]:
    """C-STORE result objects (SR, annotated image, PDF) to the PACS; returns those it confirmed."""
    confirmed = send_files(list(paths), pacs.destination, pacs.calling_ae, pacs.timeout_s)
    if paths and not confirmed:
        raise PacsError(f"The PACS {pacs.where()} did not accept the results.")
    return confirmed
