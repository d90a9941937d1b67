"""Size and time of the annotated Secondary Capture uncompressed (Explicit VR Little Endian) and as RLE Lossless.

The annotated image is the film as RGB with the boxes, tags and banner burnt in (core.results.annotated_image). Each
film is read as the app reads it, annotated with two knee boxes and the banner (the model's call only changes the
boxes' colours and the words, not the film that makes up nearly all the pixels), built as the app builds it
(build_secondary_capture) and written both ways. RLE is pydicom's own encoder (numpy, no other package). Decoding
the RLE object must give the uncompressed pixels exactly.

    OSTEO_SHARED_DIR=/work/shared python benchmarks/sc_compression.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import common  # noqa: F401 - sets up sys.path and the thread count first

import numpy as np
import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.results.annotated_image import KneeFinding, annotate
from osteo_desktop.core.results.dicom_objects import DicomExportInput, build_secondary_capture, read_source_header

DICOM_FILMS = ("CR_hip_RG2_JPLL_MONO2_10bit_jpeg-lossless-sv1.dcm", "DX_JPEG2KLossless_MONO2_16bit_j2k-lossless.dcm",
               "CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm", "CR_chest_RG1_J2KI_MONO1_15bit_j2k-lossy.dcm")


def _synthetic_header(rows: int, columns: int) -> pydicom.Dataset:
    from pydicom.uid import generate_uid

    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.AccessionNumber = "Doe^Jane", "P-1", "20250301", "A1"
    ds.Modality, ds.Rows, ds.Columns = "OT", rows, columns
    return ds


def _bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def measure(path: Path) -> dict:
    radiograph = read_radiograph(path)
    gray = np.asarray(radiograph.pixels, dtype=np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=2)
    rows, columns = gray.shape
    findings = [KneeFinding("R", (columns * 0.1, rows * 0.35, columns * 0.45, rows * 0.75), "normal", 0.31, 0.5),
                KneeFinding("L", (columns * 0.55, rows * 0.35, columns * 0.9, rows * 0.75), "osteoporosis", 0.62, 0.5)]
    rgb = annotate(gray, findings, "Suspected osteoporosis (62 %)", "Probability 62 % - threshold 50 %")
    source = read_source_header(path) if radiograph.source_format.lower() == "dicom" else _synthetic_header(rows, columns)
    image = build_secondary_capture(DicomExportInput(source, findings, model_sha256="ab" * 32, algorithm_version="b",
                                                     annotated_rgb=rgb))
    plain = _bytes(image)
    row = {"file": path.name, "pixels": f"{columns}x{rows}", "source_bytes": path.stat().st_size,
           "uncompressed_bytes": len(plain)}
    for plugin in ("pylibjpeg", "pydicom"):  # pylibjpeg-rle (Rust) is a dependency already; pydicom's is numpy
        copy = pydicom.dcmread(io.BytesIO(plain))
        start = time.perf_counter()
        copy.compress(RLELossless, encoding_plugin=plugin)
        encode_s = time.perf_counter() - start
        rle = _bytes(copy)
        start = time.perf_counter()
        back = pydicom.dcmread(io.BytesIO(rle)).pixel_array
        decode_s = time.perf_counter() - start
        row[plugin] = {"rle_bytes": len(rle), "rle_share": round(len(rle) / len(plain), 3),
                       "encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3),
                       "identical": bool(np.array_equal(back, rgb))}
    # For comparison only: Deflated Explicit VR Little Endian (zlib over the whole dataset; fewer PACS accept it).
    copy = pydicom.dcmread(io.BytesIO(plain))
    copy.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    start = time.perf_counter()
    deflated = _bytes(copy)
    encode_s = time.perf_counter() - start
    row["deflate"] = {"bytes": len(deflated), "share": round(len(deflated) / len(plain), 3),
                      "encode_s": round(encode_s, 3),
                      "identical": bool(np.array_equal(pydicom.dcmread(io.BytesIO(deflated)).pixel_array, rgb))}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two films only")
    args = parser.parse_args()
    fullsize = common.DICOM_DIR.parent / "knee-xray-fullsize"
    rasters = sorted((p for p in fullsize.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")),
                     key=lambda p: -p.stat().st_size)[:4] if fullsize.is_dir() else []
    films = [common.DICOM_DIR / name for name in DICOM_FILMS if (common.DICOM_DIR / name).is_file()] + rasters
    if args.quick:
        films = films[:1] + rasters[:1]
    rows = []
    for path in films:
        row = measure(path)
        rows.append(row)
        fast, slow, deflate = row["pylibjpeg"], row["pydicom"], row["deflate"]
        print(f"{row['file'][:40]:40} {row['pixels']:>9} {row['uncompressed_bytes'] / 1e6:6.2f} MB -> RLE "
              f"{fast['rle_bytes'] / 1e6:6.2f} MB ({fast['rle_share']:.0%}) encode {fast['encode_s']:.2f} s "
              f"[pydicom {slow['encode_s']:.2f} s, {slow['rle_bytes'] / 1e6:.2f} MB] decode {fast['decode_s']:.2f} s "
              f"identical={fast['identical'] and slow['identical']}; deflate {deflate['share']:.0%} "
              f"{deflate['encode_s']:.2f} s identical={deflate['identical']}")
    total_plain = sum(r["uncompressed_bytes"] for r in rows)
    total_rle = sum(r["pylibjpeg"]["rle_bytes"] for r in rows)
    total_deflate = sum(r["deflate"]["bytes"] for r in rows)
    print(f"all: {total_plain / 1e6:.1f} MB -> RLE {total_rle / 1e6:.1f} MB ({total_rle / total_plain:.0%}); "
          f"deflate {total_deflate / 1e6:.1f} MB ({total_deflate / total_plain:.0%})")
    if not args.quick:
        common.write_result("sc_compression", {"films": rows, "total_uncompressed_bytes": total_plain,
                                               "total_rle_bytes": total_rle, "total_deflate_bytes": total_deflate})


if __name__ == "__main__":
    main()
