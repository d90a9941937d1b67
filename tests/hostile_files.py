"""Builders for the files a clinic's folders really hold besides radiographs, made in a test's tmp_path.

Used by the scanning, big-folder and command-line tests. Real images come from the shared knee set; everything
hostile is generated here so nothing needs to be committed.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

SR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR: a DICOM file with no pixels at all
CR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1"


def _dicom_base(path: Path, sop_class: str, **attributes: object) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


def write_structured_report(path: Path) -> Path:
    _dicom_base(path, SR_SOP_CLASS, Modality="SR", ValueType="CONTAINER", PatientName="Report^Only")
    return path


def write_knee_dicom(path: Path, knee_image: Path, *, patient_name: str = "", patient_id: str = "",
                     birth_date: str = "") -> Path:
    """A real knee radiograph wrapped into an 8-bit MONOCHROME2 CR DICOM, with optional patient identifiers."""
    pixels = np.asarray(Image.open(knee_image).convert("L"), dtype=np.uint8)
    attributes: dict[str, object] = dict(
        Modality="CR", BodyPartExamined="KNEE", Rows=pixels.shape[0], Columns=pixels.shape[1], SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2", BitsAllocated=8, BitsStored=8, HighBit=7, PixelRepresentation=0,
        PixelData=pixels.tobytes(),
    )
    if patient_name:
        attributes["PatientName"] = patient_name
    if patient_id:
        attributes["PatientID"] = patient_id
    if birth_date:
        attributes["PatientBirthDate"] = birth_date
    _dicom_base(path, CR_SOP_CLASS, **attributes)
    return path


def make_hostile_files(folder: Path, png: Path, jpeg: Path) -> dict[str, str | None]:
    """Create hostile entries in ``folder``; returns name -> a phrase its error must contain (None: any error).

    Every entry here must get a row with an error and must not stop a scan.
    """
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str | None] = {}
    png_bytes, jpeg_bytes = png.read_bytes(), jpeg.read_bytes()
    (folder / "truncated.png").write_bytes(png_bytes[: len(png_bytes) * 2 // 5])
    expected["truncated.png"] = None
    (folder / "truncated.jpg").write_bytes(jpeg_bytes[: len(jpeg_bytes) // 3])
    expected["truncated.jpg"] = None
    (folder / "notes.txt").write_text("Patient notes: nothing to see here.\n")
    expected["notes.txt"] = "not an image"
    (folder / "text_named.png").write_text("this is text with a .png name\n")
    expected["text_named.png"] = "not an image"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.png", png_bytes[:1000])
    (folder / "archive.zip").write_bytes(buffer.getvalue())
    expected["archive.zip"] = "not an image"
    (folder / "random.bin").write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expected["random.bin"] = "not an image"
    (folder / "empty.dcm").write_bytes(b"")
    expected["empty.dcm"] = None
    (folder / "preamble_only.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    expected["preamble_only.dcm"] = None
    write_structured_report(folder / "report_sr.dcm")
    expected["report_sr.dcm"] = None
    (folder / "folder_named.dcm").mkdir()
    expected["folder_named.dcm"] = "folder"
    os.symlink(folder / "loop_b.png", folder / "loop_a.png")
    os.symlink(folder / "loop_a.png", folder / "loop_b.png")
    expected["loop_a.png"] = None
    expected["loop_b.png"] = None
    os.symlink(folder / "no_such_target.png", folder / "dangling.png")
    expected["dangling.png"] = None
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.dcm")  # opening it would block a naive reader forever
        expected["pipe.dcm"] = "not a regular file"
    return expected
