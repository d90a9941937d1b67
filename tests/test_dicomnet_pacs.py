"""The PACS client (issue 14) against a real Orthanc on loopback: find studies by patient ID, accession number and
date (C-FIND, study root), fetch a study's radiographs (C-GET), send results back (C-STORE); an unreachable PACS is
an error in words."""

from __future__ import annotations

import shutil

import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomnet_helpers import LOOPBACK, Orthanc, cr_radiograph, free_port
from osteo_desktop.dicomnet.forward import Destination
from osteo_desktop.dicomnet.pacs import Pacs, PacsError, date_query, echo, fetch_study, find_studies, send_results

pytestmark = pytest.mark.skipif(shutil.which("Orthanc") is None, reason="Orthanc not installed (apt-get install -y orthanc)")


def _study(patient_id: str, accession: str, date: str, images: int = 1) -> list[pydicom.Dataset]:
    study, series = generate_uid(), generate_uid()
    out = []
    for _ in range(images):
        ds = cr_radiograph()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientID, ds.AccessionNumber, ds.StudyDate = patient_id, accession, date
        out.append(ds)
    return out


@pytest.fixture
def orthanc(tmp_path):
    server = Orthanc(tmp_path)
    yield server
    server.stop()


def test_find_fetch_and_send_back(orthanc, tmp_path):
    first = _study("P-1", "ACC-1", "20250301", images=2)
    second = _study("P-2", "ACC-2", "20250415")
    for ds in first + second:
        orthanc.upload(ds)
    # A report already in the first study: not a radiograph, so not fetched.
    sr_like = cr_radiograph("1.2.840.10008.5.1.4.1.1.104.1")  # Encapsulated PDF storage class, as stored by a PACS
    sr_like.StudyInstanceUID, sr_like.PatientID = first[0].StudyInstanceUID, "P-1"
    sr_like.MIMETypeOfEncapsulatedDocument, sr_like.EncapsulatedDocument = "application/pdf", b"%PDF-1.4\n%%EOF\n"
    del sr_like.PixelData
    orthanc.upload(sr_like)
    pacs = Pacs(Destination(orthanc.ae_title, LOOPBACK, orthanc.port), "OSTEOTEST")
    echo(pacs)

    by_patient = find_studies(pacs, patient_id="P-1")
    assert [m.study_instance_uid for m in by_patient] == [first[0].StudyInstanceUID]
    assert (by_patient[0].patient_name, by_patient[0].accession_number, by_patient[0].study_date) == ("Doe^Jane", "ACC-1", "20250301")
    assert [m.study_instance_uid for m in find_studies(pacs, accession_number="ACC-2")] == [second[0].StudyInstanceUID]
    assert [m.study_instance_uid for m in find_studies(pacs, study_date="2025-04-15")] == [second[0].StudyInstanceUID]
    assert {m.study_instance_uid for m in find_studies(pacs, study_date="20250101-20251231")} == {
        first[0].StudyInstanceUID, second[0].StudyInstanceUID}
    assert find_studies(pacs, patient_id="nobody") == []

    files = fetch_study(pacs, first[0].StudyInstanceUID, tmp_path / "fetched")
    assert sorted(pydicom.dcmread(p).SOPInstanceUID for p in files) == sorted(ds.SOPInstanceUID for ds in first)
    assert all(p.parent == tmp_path / "fetched" for p in files)

    before = len(orthanc.instances())
    result = second[0].copy()
    result.SOPInstanceUID = result.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    result.SOPClassUID = result.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
    path = tmp_path / "result.dcm"
    result.save_as(path, enforce_file_format=True)
    assert send_results(pacs, [path]) == [path]
    assert len(orthanc.instances()) == before + 1


def test_an_unreachable_pacs_is_an_error_in_words(tmp_path):
    port = free_port()  # nothing listens there: the connection is refused at once
    pacs = Pacs(Destination("PACS", LOOPBACK, port), "OSTEOTEST", timeout_s=2)
    with pytest.raises(PacsError) as caught:
        find_studies(pacs, patient_id="P-1")
    # Trial 22 read "the PACS PACS at ... did not accept a connection (no answer)" for a refused connection.
    assert str(caught.value) == (f"The PACS (AE title PACS) at {LOOPBACK}:{port} could not be reached: nothing "
                                 "listens on that port (connection refused).")


def test_a_pacs_that_rejects_this_app_says_so():
    """An association the PACS rejects (here: the called AE title is not its own, and it checks) is not "unreachable"."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="REALNAME")
    ae.add_supported_context(Verification)
    ae.require_called_aet = True
    port = free_port()
    server = ae.start_server((LOOPBACK, port), block=False)
    try:
        pacs = Pacs(Destination("WRONGNAME", LOOPBACK, port), "OSTEOTEST", timeout_s=2)
        with pytest.raises(PacsError) as caught:
            echo(pacs)
    finally:
        server.shutdown()
    assert str(caught.value) == (f"The PACS (AE title WRONGNAME) at {LOOPBACK}:{port} refused the connection: "
                                 "check that it knows this app's AE title OSTEOTEST and its address.")


def test_a_search_needs_a_criterion_and_dates_are_checked():
    pacs = Pacs(Destination("X", LOOPBACK, 1))
    with pytest.raises(ValueError, match="patient ID"):
        find_studies(pacs)
    assert date_query("2025-03-01") == "20250301" and date_query("20250301-20250331") == "20250301-20250331"
    with pytest.raises(ValueError):
        date_query("March 2025")


def _own_annotated_image(film: pydicom.Dataset) -> pydicom.Dataset:
    """The annotated Secondary Capture the app writes for ``film`` (core.results.dicom_objects), in the film's study."""
    import numpy as np

    from osteo_desktop.core.results.dicom_objects import DicomExportInput, KneeFinding, build_secondary_capture

    header = pydicom.Dataset(film)
    del header.PixelData
    inp = DicomExportInput(header, [KneeFinding("R", (0, 0, 47, 63), "normal", 0.25, 0.5)],
                           annotated_rgb=np.zeros((64, 48, 3), np.uint8))
    return build_secondary_capture(inp)


@pytest.mark.parametrize("pacs_names_the_manufacturer", [True, False])
def test_fetch_leaves_out_the_apps_own_annotated_image(orthanc, tmp_path, monkeypatch, pacs_names_the_manufacturer):
    """A study the app already answered holds its annotated image (a Secondary Capture, a class the app reads): it is
    not a second film. Skipped whether the PACS's search names its Manufacturer or it is only seen on arrival."""
    from osteo_desktop.dicomnet import pacs as pacs_module

    film = _study("P-7", "ACC-7", "20250301")[0]
    own = _own_annotated_image(film)
    orthanc.upload(film)
    orthanc.upload(own)
    if not pacs_names_the_manufacturer:  # a PACS that answers no Manufacturer at image level
        monkeypatch.setattr(pacs_module, "_own", lambda identifier: False)
    pacs = Pacs(Destination(orthanc.ae_title, LOOPBACK, orthanc.port), "OSTEOTEST")
    fetched = pacs_module.fetch_study_objects(pacs, film.StudyInstanceUID, tmp_path / "fetched")
    assert [pydicom.dcmread(p).SOPInstanceUID for p in fetched.files] == [film.SOPInstanceUID]
    assert fetched.skipped_own == 1
    assert sorted(p.name for p in (tmp_path / "fetched").iterdir()) == [f"{film.SOPInstanceUID}.dcm"]


def test_a_full_disk_while_fetching_leaves_no_part_file_and_says_so(orthanc, tmp_path, monkeypatch):
    import errno
    import os

    from pydicom import filewriter

    film = _study("P-9", "ACC-9", "20250301")[0]
    orthanc.upload(film)
    real_write = filewriter.write_data_element

    def full_at_pixels(fp, element, *args, **kwargs):  # only the fetched file (the C-GET itself encodes in memory)
        if element.tag == 0x7FE00010 and str(getattr(fp, "name", "")).endswith(".part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fp, element, *args, **kwargs)

    monkeypatch.setattr(filewriter, "write_data_element", full_at_pixels)
    pacs = Pacs(Destination(orthanc.ae_title, LOOPBACK, orthanc.port), "OSTEOTEST")
    with pytest.raises(PacsError) as caught:
        fetch_study(pacs, film.StudyInstanceUID, tmp_path / "fetched")
    assert str(caught.value) == f"The study's radiographs could not be kept in {tmp_path / 'fetched'}: No space left on device."
    assert list((tmp_path / "fetched").iterdir()) == []
