"""The deflated annotated image on the wire: to a real Orthanc, to a peer that takes Secondary Capture uncompressed
only, and from the node's outbox. pynetdicom proposes Deflated Explicit VR Little Endian among its default syntaxes
for every class the senders request, and inflates a deflated file itself where the peer accepted only uncompressed
(Association._get_valid_context: "deflated <-> inflated" is a convertible pair). These tests check that against real
peers rather than trusting it."""

from __future__ import annotations

import io
import json
import shutil
import threading

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import (Comprehensive3DSRStorage, EncapsulatedPDFStorage, SecondaryCaptureImageStorage)

from dicomnet_helpers import LOOPBACK, Orthanc, free_port
from osteo_desktop.core.results.annotated_image import annotate
from osteo_desktop.core.results.dicom_objects import (DicomExportInput, KneeFinding, build_secondary_capture, build_sr,
                                                      write_all)
from osteo_desktop.dicomnet.forward import Destination, send_files
from osteo_desktop.dicomnet.outbox import Outbox
from osteo_desktop.dicomnet.pacs import Pacs, send_results

DEFLATED = "1.2.840.10008.1.2.1.99"
KNEES = [KneeFinding("R", (20, 60, 150, 200), "osteoporosis", 0.81, 0.42),
         KneeFinding("L", (170, 60, 300, 200), "normal", 0.12, 0.42)]


def _input() -> DicomExportInput:
    source = pydicom.Dataset()
    source.PatientName, source.PatientID, source.PatientSex = "Doe^Jane", "P-17", "F"
    source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    source.SOPClassUID, source.Modality = "1.2.840.10008.5.1.4.1.1.1", "CR"
    source.StudyDate, source.StudyTime, source.StudyID, source.AccessionNumber = "20250301", "101500", "S1", "ACC-9"
    source.ReferringPhysicianName, source.PatientBirthDate, source.Rows, source.Columns = "", "", 240, 320
    rows, cols = 240, 320
    gray = np.add.outer(np.linspace(0, 0.7, rows), np.linspace(0, 0.3, cols)).astype(np.float32)
    return DicomExportInput(source, KNEES, None, "osteo-mobilenetv2", "2.1", "ab" * 32,
                            annotate(gray, KNEES, "headline", "detail"), b"%PDF-1.4\n%%EOF\n")


def _annotated(paths):
    path = next(p for p in paths if p.name.endswith(".annotated.dcm"))
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == DEFLATED  # as the app writes it
    return path


class UncompressedOnlyPeer:
    """A storage SCP that takes the three result classes in Implicit or Explicit VR Little Endian only, as a PACS
    without deflate support does; it keeps each dataset with the transfer syntax of the context it came on."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, pydicom.Dataset]] = []
        self._lock = threading.Lock()
        ae = AE(ae_title="PLAIN")
        for sop_class in (SecondaryCaptureImageStorage, Comprehensive3DSRStorage, EncapsulatedPDFStorage):
            ae.add_supported_context(sop_class, [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
        self._server = ae.start_server((LOOPBACK, self.port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._on_store)])

    def _on_store(self, event) -> int:
        with self._lock:
            self.received.append((str(event.context.transfer_syntax), event.dataset))
        return 0x0000

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def plain_peer():
    peer = UncompressedOnlyPeer()
    yield peer
    peer.stop()


def test_a_peer_taking_only_uncompressed_secondary_capture_gets_the_deflated_image_inflated(tmp_path, plain_peer):
    inp = _input()
    paths = write_all(inp, tmp_path / "out", "film")
    sc_path = _annotated(paths)
    pacs = Pacs(Destination("PLAIN", LOOPBACK, plain_peer.port), "OSTEOTEST")
    assert send_results(pacs, paths) == paths  # all three confirmed: none refused as unsendable
    by_class = {str(ds.SOPClassUID): (syntax, ds) for syntax, ds in plain_peer.received}
    syntax, sc = by_class[SecondaryCaptureImageStorage]
    assert syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian)  # sent over an uncompressed context
    sc.file_meta = pydicom.dataset.FileMetaDataset()
    sc.file_meta.TransferSyntaxUID = syntax
    assert np.array_equal(sc.pixel_array, inp.annotated_rgb)
    assert sc.SOPInstanceUID == pydicom.dcmread(sc_path, stop_before_pixels=True).SOPInstanceUID


def test_the_node_s_outbox_queues_the_image_deflated_and_its_sender_delivers_it_to_an_uncompressed_peer(tmp_path,
                                                                                                   plain_peer):
    # The node queues the datasets the analysis built (Outbox.put_all, save_as), not write_all's bytes.
    inp = _input()
    outbox = Outbox(tmp_path / "outbox")
    queued = outbox.put_all([build_sr(inp), build_secondary_capture(inp)])
    sc_path = queued[1]
    assert pydicom.dcmread(sc_path, stop_before_pixels=True).file_meta.TransferSyntaxUID == DEFLATED
    assert sc_path.stat().st_size < inp.annotated_rgb.nbytes / 2
    confirmed = send_files(outbox.due(), Destination("PLAIN", LOOPBACK, plain_peer.port), "OSTEO")
    assert sorted(confirmed) == sorted(queued)
    syntax, sc = next((s, ds) for s, ds in plain_peer.received if ds.SOPClassUID == SecondaryCaptureImageStorage)
    sc.file_meta = pydicom.dataset.FileMetaDataset()
    sc.file_meta.TransferSyntaxUID = syntax
    assert np.array_equal(sc.pixel_array, inp.annotated_rgb)


@pytest.mark.skipif(shutil.which("Orthanc") is None, reason="Orthanc not installed (apt-get install -y orthanc)")
def test_orthanc_stores_the_deflated_image_and_gives_back_the_same_pixels(tmp_path):
    inp = _input()
    paths = write_all(inp, tmp_path / "out", "film")
    sc_path = _annotated(paths)
    orthanc = Orthanc(tmp_path)
    try:
        assert send_results(Pacs(Destination(orthanc.ae_title, LOOPBACK, orthanc.port), "OSTEOTEST"), paths) == paths
        stored = {}
        for instance in json.loads(orthanc.rest("/instances")):
            ds = pydicom.dcmread(io.BytesIO(orthanc.rest(f"/instances/{instance}/file")))
            stored[str(ds.SOPClassUID)] = ds
    finally:
        orthanc.stop()
    assert set(stored) == {SecondaryCaptureImageStorage, Comprehensive3DSRStorage, EncapsulatedPDFStorage}
    sc = stored[SecondaryCaptureImageStorage]
    assert sc.SOPInstanceUID == pydicom.dcmread(sc_path, stop_before_pixels=True).SOPInstanceUID
    assert sc.Manufacturer == "osteo-desktop"
    assert np.array_equal(sc.pixel_array, inp.annotated_rgb)
