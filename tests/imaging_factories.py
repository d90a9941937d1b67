"""Builders for the image files the reader tests need, written with pydicom and Pillow at test time."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

PATIENT = {"PatientName": "Doe^Jane", "PatientID": "PID-8812", "PatientBirthDate": "19470312"}


def make_dicom(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    modality: str = "DX",
    body_part: str | None = "KNEE",
    window: tuple[float, float] | None = None,
    compress_to: UID | None = None,
    **tags: Any,
) -> Dataset:
    """A DICOM dataset holding ``pixels`` (uint8/uint16/int16 2-D, or uint8 RGB) with patient identifiers set."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    if body_part:
        ds.BodyPartExamined = body_part
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value)
    ds.set_pixel_data(pixels, photometric, bits_stored or 8 * pixels.dtype.itemsize)
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    if compress_to is not None:
        ds.compress(compress_to)
    return ds


def dicom_bytes(ds: Dataset, *, bare: bool = False) -> bytes:
    """The file bytes; ``bare`` writes the dataset alone, without preamble and file meta header."""
    buffer = io.BytesIO()
    if bare:
        ds = ds.copy()
        del ds.file_meta
        ds.preamble = None
        ds.save_as(buffer, implicit_vr=False, little_endian=True, enforce_file_format=False)
    else:
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def gradient(height: int = 160, width: int = 200, maximum: int = 4095, dtype: Any = np.uint16) -> np.ndarray:
    """A deterministic image with every grey level present and a bright 'bone' block, no two rows alike."""
    rows = np.linspace(0, maximum, height)[:, None]
    cols = np.linspace(0, maximum // 4, width)[None, :]
    image = np.clip(rows * 0.75 + cols, 0, maximum)
    image[height // 4 : height // 2, width // 3 : width // 2] = maximum
    return image.astype(dtype)


class CountingFiles:
    """An endless round of the given files that counts how many a consumer pulled: a scan must read only a bounded
    window ahead of the rows it has handed out, however long the input."""

    def __init__(self, files: list[Path]) -> None:
        self.files, self.pulled = list(files), 0

    def __iter__(self):
        while True:
            for path in self.files:
                self.pulled += 1
                yield path


def grey_film(path, seed: int, side: int = 128):
    """A small grey PNG with structure (a gradient and noise: not blank, so the scope gate's look does not decline
    it), distinct content per seed; for tests whose model is a stand-in."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 200, side)[None, :] + np.linspace(0, 40, side)[:, None]
    Image.fromarray(np.clip(gradient + rng.normal(0, 10, (side, side)), 0, 255).astype(np.uint8)).save(path)
    return path
