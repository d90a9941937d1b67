"""The DICOM half of scripts/check-bundle.sh: make a knee DICOM, check what the frozen app wrote from it, and run a
short DICOM node smoke test against the frozen `osteo serve`.

    python packaging/check_bundle_dicom.py make-knee KNEE.jpg OUT.dcm
    python packaging/check_bundle_dicom.py check-export SOURCE.dcm FOLDER
    python packaging/check_bundle_dicom.py serve-smoke SOURCE.dcm WORK_DIR [--app-env KEY=VALUE ...] -- OSTEO [ARGS...]

It runs in the build machine's Python (pydicom, pynetdicom: the checker's, never the bundle's); the app under test is
only ever started as a separate process with exactly the environment given by --app-env. Prints one line per check;
exit status 0 when all pass, 1 (with the reason on stderr) when one fails. Written for Trial 22, where the installed
bundle could write no DICOM result (highdicom's data files missing) and had no DICOM networking (no pynetdicom), and
check-bundle.sh exercised neither.
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

LOOPBACK = "127.0.0.1"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SR_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.34"}  # Comprehensive SR, Comprehensive 3D SR


class CheckFailed(Exception):
    pass


def make_knee(jpeg: Path, out: Path) -> Dataset:
    """A shared knee radiograph wrapped as a 12-bit DX DICOM with a patient and a study, as a modality sends it."""
    pixels = np.asarray(Image.open(jpeg).convert("L"), dtype=np.uint16) * 16  # 8 -> 12 bits, the DX range
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = DX_FOR_PRESENTATION, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Check^Bundle", "CHECK22", "19500101", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20261203", "120000", "ACC22", "1"
    ds.SeriesNumber, ds.InstanceNumber, ds.ReferringPhysicianName = 1, 1, ""
    ds.Modality, ds.BodyPartExamined, ds.PresentationIntentType = "DX", "KNEE", "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return ds


def check_results(objects: list[Dataset], source: Dataset, where: str, *, want_pdf: bool, want_result: bool = True) -> str:
    """The app's DICOM results for ``source``: an SR, an annotated image and (when asked) an Encapsulated PDF, each
    readable, in the source's study and patient, and each what its class says it is. Returns a one-line summary."""
    by_class: dict[str, list[Dataset]] = {}
    for ds in objects:
        by_class.setdefault(str(ds.SOPClassUID), []).append(ds)
    srs = [ds for uid in SR_CLASSES for ds in by_class.get(uid, [])]
    annotated = by_class.get(SECONDARY_CAPTURE, [])
    pdfs = by_class.get(ENCAPSULATED_PDF, [])
    if len(srs) != 1 or len(annotated) != 1 or (want_pdf and len(pdfs) != 1):
        raise CheckFailed(f"{where}: expected 1 SR, 1 annotated image{', 1 PDF' if want_pdf else ''}; got "
                          f"{ {uid: len(v) for uid, v in by_class.items()} }")
    for ds in objects:
        if ds.StudyInstanceUID != source.StudyInstanceUID or ds.PatientID != source.PatientID:
            raise CheckFailed(f"{where}: {ds.SOPClassUID.name} is not in the source's study/patient")
        if ds.SOPInstanceUID == source.SOPInstanceUID:
            raise CheckFailed(f"{where}: a result reuses the source's SOP Instance UID")
    sr = srs[0]
    if sr.Modality != "SR" or sr.get("ValueType") != "CONTAINER" or not sr.get("ContentSequence"):
        raise CheckFailed(f"{where}: the SR has no content tree")
    # A knee radiograph of the shared set: the SR must carry the model's finding, not a "no result".
    if want_result and "Osteoporosis probability" not in str(sr):
        raise CheckFailed(f"{where}: the SR carries no osteoporosis probability:\n{str(sr)[:3000]}")
    image = annotated[0].pixel_array  # decodes: the burnt-in boxes and text are in the pixels
    if image.ndim < 2 or image.shape[:2] != (annotated[0].Rows, annotated[0].Columns) or int(image.max()) == int(image.min()):
        raise CheckFailed(f"{where}: the annotated image's pixels are empty or the wrong shape {image.shape}")
    summary = f"SR {sr.SOPClassUID.name}, annotated {image.shape}"
    if want_pdf:
        document = bytes(pdfs[0].EncapsulatedDocument)
        if not document.startswith(b"%PDF-") or b"%%EOF" not in document[-1024:]:
            raise CheckFailed(f"{where}: the Encapsulated PDF does not hold a whole PDF")
        summary += f", PDF {len(document)} bytes"
    return summary


def check_export(source_path: Path, folder: Path, want_result: bool = True) -> str:
    source = pydicom.dcmread(source_path)
    files = sorted(folder.rglob("*.dcm"))
    objects = []
    for path in files:
        try:
            objects.append(pydicom.dcmread(path, force=False))
        except Exception as exc:  # noqa: BLE001 - say which file did not read back
            raise CheckFailed(f"dicom-export wrote {path.name}, which pydicom cannot read: {exc}") from exc
    return f"{len(files)} files: " + check_results(objects, source, "osteo dicom-export", want_pdf=True, want_result=want_result)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def serve_smoke(source_path: Path, work: Path, app_env: dict[str, str], osteo: list[str], timeout_s: float,
                want_result: bool = True) -> str:
    """Start the frozen node on a free loopback port with a storage SCP (this process) as its PACS, C-ECHO it, C-STORE
    the source, wait for the SR and annotated image to come back, stop it with SIGTERM and check it ends cleanly."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import Verification

    received: list[Dataset] = []
    arrived = threading.Condition()

    def on_store(event) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta  # so pydicom can decode the pixels it was sent
        with arrived:
            received.append(dataset)
            arrived.notify_all()
        return 0x0000

    pacs = AE(ae_title="CHECKPACS")
    pacs.supported_contexts = AllStoragePresentationContexts
    pacs_port = free_port()
    server = pacs.start_server((LOOPBACK, pacs_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    node_port = free_port()
    log_path = work / "serve.log"
    work.mkdir(parents=True, exist_ok=True)
    command = [*osteo, "serve", "--port", str(node_port), "--ae-title", "OSTEO", "--forward",
               f"CHECKPACS@{LOOPBACK}:{pacs_port}", "--work-dir", str(work / "node"), "--no-history"]
    started = time.monotonic()
    with open(log_path, "w+b") as log:
        node = subprocess.Popen(command, env=app_env, stdout=log, stderr=subprocess.STDOUT)

        def node_log() -> str:
            log.flush()
            return log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

        try:
            scu = AE(ae_title="CHECKMOD")
            scu.add_requested_context(Verification)
            source = pydicom.dcmread(source_path)
            scu.add_requested_context(source.SOPClassUID, source.file_meta.TransferSyntaxUID)
            scu.acse_timeout = scu.network_timeout = scu.dimse_timeout = 10
            deadline = started + timeout_s
            echo_status = None
            while echo_status is None:  # the node answers once it has loaded the model and bound its port
                if node.poll() is not None:
                    raise CheckFailed(f"osteo serve exited with {node.returncode} before answering:\n{node_log()}")
                if time.monotonic() > deadline:
                    raise CheckFailed(f"osteo serve did not answer C-ECHO within {timeout_s:.0f} s:\n{node_log()}")
                assoc = scu.associate(LOOPBACK, node_port, ae_title="OSTEO")
                if assoc.is_established:
                    echo_status = assoc.send_c_echo().get("Status")
                    assoc.release()
                else:
                    time.sleep(0.2)
            if echo_status != 0x0000:
                raise CheckFailed(f"osteo serve answered C-ECHO with status {echo_status!r}")
            echo_ms = (time.monotonic() - started) * 1000
            assoc = scu.associate(LOOPBACK, node_port, ae_title="OSTEO")
            if not assoc.is_established:
                raise CheckFailed(f"osteo serve refused the C-STORE association:\n{node_log()}")
            status = assoc.send_c_store(source).get("Status")
            assoc.release()
            if status != 0x0000:
                raise CheckFailed(f"osteo serve answered C-STORE with status {status!r}:\n{node_log()}")
            failed = work / "node" / "failed"  # where the node puts an image it could not analyse
            with arrived:
                while len(received) < 2 and node.poll() is None and time.monotonic() < deadline:
                    if failed.is_dir() and any(failed.iterdir()):
                        break
                    arrived.wait(timeout=0.25)
                got = list(received)
            if len(got) < 2:
                raise CheckFailed(f"the node forwarded {len(got)} of 2 results to the PACS:\n{node_log()}")
            results_ms = (time.monotonic() - started) * 1000
        finally:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
                try:
                    node.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    node.kill()
                    node.wait()
                    server.shutdown()
                    raise CheckFailed(f"osteo serve did not stop within 15 s of SIGTERM:\n{node_log()}") from None
            server.shutdown()
        if node.returncode not in (0, 143):
            raise CheckFailed(f"osteo serve ended with status {node.returncode} after SIGTERM:\n{node_log()}")
        text = node_log()
    if re.search(r"\bERROR\b|Traceback", text):
        raise CheckFailed(f"osteo serve logged an error:\n{text}")
    summary = check_results(got, source, "osteo serve (forwarded)", want_pdf=False, want_result=want_result)
    return (f"C-ECHO answered {echo_ms:.0f} ms after start, results at the PACS at {results_ms:.0f} ms, "
            f"stopped with status {node.returncode}: {summary}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-knee")
    make.add_argument("jpeg", type=Path)
    make.add_argument("out", type=Path)
    export = commands.add_parser("check-export")
    export.add_argument("source", type=Path)
    export.add_argument("folder", type=Path)
    smoke = commands.add_parser("serve-smoke")
    for command in (export, smoke):
        command.add_argument("--any-result", action="store_true",
                             help="accept an SR without a finding (a source the scope gate may decline)")
    smoke.add_argument("source", type=Path)
    smoke.add_argument("work", type=Path)
    smoke.add_argument("--app-env", action="append", default=[], metavar="KEY=VALUE")
    smoke.add_argument("--timeout", type=float, default=180.0, help="seconds from start to results (default 180)")
    smoke.add_argument("osteo", nargs="+", help="the frozen osteo command (after --)")
    args = parser.parse_args(argv)
    try:
        if args.command == "make-knee":
            ds = make_knee(args.jpeg, args.out)
            print(f"knee DICOM {args.out.name}: DX {ds.Rows}x{ds.Columns}, 12 bits, study {ds.StudyInstanceUID}")
        elif args.command == "check-export":
            print(check_export(args.source, args.folder, not args.any_result))
        else:
            env = dict(item.split("=", 1) for item in args.app_env)
            print(serve_smoke(args.source, args.work, env, args.osteo, args.timeout, not args.any_result))
    except CheckFailed as failure:
        print(str(failure), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
