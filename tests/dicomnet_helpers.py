"""Loopback-only helpers for the DICOM node tests: free ports, a receiving storage SCP, a test radiograph."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, AllStoragePresentationContexts, evt

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class Receiver:
    """A storage SCP standing in for a PACS: keeps every dataset it is sent."""

    def __init__(self, ae_title: str = "DEST", classes: list[str] | None = None) -> None:
        self.ae_title, self.port = ae_title, free_port()
        self.classes = classes  # the storage classes it takes (None: all), as an older PACS takes only some
        self.received: list[pydicom.Dataset] = []
        self.arrived = threading.Condition()
        self._server = None

    def _on_store(self, event):
        with self.arrived:
            self.received.append(event.dataset)
            self.arrived.notify_all()
        return 0x0000

    def start(self) -> "Receiver":
        ae = AE(ae_title=self.ae_title)
        if self.classes is None:
            ae.supported_contexts = AllStoragePresentationContexts
        else:
            for sop_class in self.classes:
                ae.add_supported_context(sop_class)
        self._server = ae.start_server((LOOPBACK, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        return self

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[pydicom.Dataset]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout_s)
            return list(self.received)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()


def cr_radiograph(sop_class: str = ComputedRadiographyImageStorage) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality, ds.BodyPartExamined = "Doe^Jane", "P-1", "CR", "KNEE"
    ds.StudyDate, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "20250301", "S1", "A1", ""
    ds.PatientBirthDate, ds.PatientSex, ds.ImageLaterality = "", "F", "R"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 64, 48, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64 * 48, dtype=np.uint16) % 4096).tobytes()
    return ds


def store(ds: pydicom.Dataset, port: int, calling: str, called: str = "OSTEO") -> tuple[bool, int | None]:
    """Send one dataset; (association established, C-STORE status or None)."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(LOOPBACK, port, ae_title=called)
    if not assoc.is_established:
        return False, None
    try:
        status = assoc.send_c_store(ds)
        return True, (int(status.Status) if status else None)
    finally:
        assoc.release()


def store_all(datasets: list[pydicom.Dataset], port: int, calling: str, called: str = "OSTEO") -> list[int | None]:
    """Send several datasets in one association, as a PACS routing a study does; the C-STORE status of each
    (None: no answer). Raises AssertionError when the association is not established."""
    ae = AE(ae_title=calling)
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(LOOPBACK, port, ae_title=called)
    assert assoc.is_established, "association refused"
    try:
        statuses = []
        for ds in datasets:
            status = assoc.send_c_store(ds)
            statuses.append(int(status.Status) if status else None)
        return statuses
    finally:
        assoc.release()


class Orthanc:
    """A real PACS for the tests: Debian's Orthanc on loopback, with its own configuration and storage in ``folder``.

    It accepts C-ECHO, C-STORE, C-FIND and C-GET from any calling AE; its REST API (``rest``, ``upload``) lets a test
    put studies in and look at what arrived without going through the code under test.
    """

    def __init__(self, folder, ae_title: str = "ORTHANC", modalities: dict | None = None) -> None:
        import json
        import subprocess

        self.ae_title, self.port, self.http_port = ae_title, free_port(), free_port()
        config = {"Name": "osteo-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
                  "DicomAet": ae_title, "DicomPort": self.port, "HttpPort": self.http_port,
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": False,
                  "Plugins": [], "HttpServerEnabled": True, "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True,
                  "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True,
                  "DicomModalities": modalities or {}}
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.process = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        import time

        deadline = time.monotonic() + 20
        while not self._up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("Orthanc did not start")
            time.sleep(0.1)

    def _up(self) -> bool:
        try:
            self.rest("/system")
            return True
        except OSError:
            return False

    def rest(self, path: str, data: bytes | None = None) -> bytes:
        import urllib.request

        request = urllib.request.Request(f"http://{LOOPBACK}:{self.http_port}{path}", data=data)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read()

    def upload(self, ds: pydicom.Dataset) -> None:
        import io

        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        self.rest("/instances", buffer.getvalue())

    def instances(self) -> list[pydicom.Dataset]:
        import io
        import json

        return [pydicom.dcmread(io.BytesIO(self.rest(f"/instances/{i}/file"))) for i in json.loads(self.rest("/instances"))]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
