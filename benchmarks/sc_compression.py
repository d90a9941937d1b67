"""Size and time of the annotated Secondary Capture as the app writes it (Deflated Explicit VR Little Endian, since
stop 23) against the uncompressed object it wrote before (Implicit VR Little Endian, highdicom's choice), and with
``--rle`` the RLE Lossless comparison of the first measurement.

The annotated image is the film as RGB with the boxes, tags and banner burnt in (core.results.annotated_image). Each
film is read as the app reads it, annotated with two knee boxes and the banner (the model's call only changes the
boxes' colours and the words, not the film that makes up nearly all the pixels), built as the app builds it
(build_secondary_capture) and written by the app's to_bytes; the uncompressed bytes are the same data set written
with the former transfer syntax. Every written form must decode to the drawn pixels exactly. The SR built from the
same input is measured too; ``--exports DIR`` adds the SRs and PDFs (*.sr.dcm, *.report.dcm) of a real
`osteo dicom-export` run, deflated for comparison.

    OSTEO_SHARED_DIR=/work/shared python benchmarks/sc_compression.py [--quick] [--rle] [--exports DIR]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import common  # noqa: F401 - sets up sys.path and the thread count first

import numpy as np
import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.results.annotated_image import KneeFinding, annotate
from osteo_desktop.core.results.dicom_objects import (DicomExportInput, build_secondary_capture, build_sr,
                                                      read_source_header, to_bytes)

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


def _with_syntax(data: bytes, syntax: str) -> bytes:
    copy = pydicom.dcmread(io.BytesIO(data))
    copy.file_meta.TransferSyntaxUID = syntax
    return _bytes(copy)


def _decode(data: bytes) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    pixels = pydicom.dcmread(io.BytesIO(data)).pixel_array
    return pixels, time.perf_counter() - start


def measure(path: Path, rle: bool = False) -> dict:
    radiograph = read_radiograph(path)
    gray = np.asarray(radiograph.pixels, dtype=np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=2)
    rows, columns = gray.shape
    findings = [KneeFinding("R", (columns * 0.1, rows * 0.35, columns * 0.45, rows * 0.75), "normal", 0.31, 0.5),
                KneeFinding("L", (columns * 0.55, rows * 0.35, columns * 0.9, rows * 0.75), "osteoporosis", 0.62, 0.5)]
    rgb = annotate(gray, findings, "Suspected osteoporosis (62 %)", "Probability 62 % - threshold 50 %")
    source = read_source_header(path) if radiograph.source_format.lower() == "dicom" else _synthetic_header(rows, columns)
    inp = DicomExportInput(source, findings, model_sha256="ab" * 32, algorithm_version="b", annotated_rgb=rgb)
    image = build_secondary_capture(inp)
    start = time.perf_counter()
    shipped = to_bytes(image)  # as write_all makes the file's bytes
    encode_s = time.perf_counter() - start
    shipped_syntax = str(pydicom.dcmread(io.BytesIO(shipped), stop_before_pixels=True).file_meta.TransferSyntaxUID)
    former = pydicom.dcmread(io.BytesIO(shipped))
    former.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # the object as written before stop 23
    start = time.perf_counter()
    plain = _bytes(former)
    plain_encode_s = time.perf_counter() - start
    shipped_pixels, shipped_decode_s = _decode(shipped)
    plain_pixels, plain_decode_s = _decode(plain)
    sr_plain = to_bytes(build_sr(inp))
    sr_deflated = _with_syntax(sr_plain, DeflatedExplicitVRLittleEndian)
    row = {"file": path.name, "pixels": f"{columns}x{rows}", "source_bytes": path.stat().st_size,
           "uncompressed_bytes": len(plain), "shipped_syntax": shipped_syntax,
           "shipped": {"bytes": len(shipped), "share": round(len(shipped) / len(plain), 3),
                       "encode_s": round(encode_s, 3), "decode_s": round(shipped_decode_s, 3),
                       "identical": bool(np.array_equal(shipped_pixels, rgb))},
           "uncompressed": {"encode_s": round(plain_encode_s, 3), "decode_s": round(plain_decode_s, 3),
                            "identical": bool(np.array_equal(plain_pixels, rgb))},
           "sr": {"bytes": len(sr_plain), "deflated_bytes": len(sr_deflated)}}
    if rle:
        for plugin in ("pylibjpeg", "pydicom"):  # pylibjpeg-rle (Rust) is a dependency already; pydicom's is numpy
            copy = pydicom.dcmread(io.BytesIO(plain))
            start = time.perf_counter()
            copy.compress(RLELossless, encoding_plugin=plugin)
            rle_encode_s = time.perf_counter() - start
            encoded = _bytes(copy)
            back, decode_s = _decode(encoded)
            row[plugin] = {"rle_bytes": len(encoded), "rle_share": round(len(encoded) / len(plain), 3),
                           "encode_s": round(rle_encode_s, 3), "decode_s": round(decode_s, 3),
                           "identical": bool(np.array_equal(back, rgb))}
    return row


def measure_exports(folder: Path) -> list[dict]:
    """The SRs and PDFs of a real export, as written and deflated (for comparison: they are written uncompressed)."""
    rows = []
    for path in sorted([*folder.glob("*.sr.dcm"), *folder.glob("*.report.dcm")]):
        data = path.read_bytes()
        start = time.perf_counter()
        deflated = _with_syntax(data, DeflatedExplicitVRLittleEndian)
        rows.append({"file": path.name, "bytes": len(data), "deflated_bytes": len(deflated),
                     "share": round(len(deflated) / len(data), 3), "encode_s": round(time.perf_counter() - start, 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two films only")
    parser.add_argument("--rle", action="store_true", help="also RLE Lossless with both encoders (slow)")
    parser.add_argument("--exports", type=Path, default=None, help="an osteo dicom-export folder: its SRs and PDFs")
    args = parser.parse_args()
    fullsize = common.DICOM_DIR.parent / "knee-xray-fullsize"
    rasters = sorted((p for p in fullsize.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")),
                     key=lambda p: -p.stat().st_size)[:4] if fullsize.is_dir() else []
    films = [common.DICOM_DIR / name for name in DICOM_FILMS if (common.DICOM_DIR / name).is_file()] + rasters
    if args.quick:
        films = films[:1] + rasters[:1]
    rows = []
    for path in films:
        row = measure(path, args.rle)
        rows.append(row)
        shipped, plain = row["shipped"], row["uncompressed"]
        line = (f"{row['file'][:40]:40} {row['pixels']:>9} {row['uncompressed_bytes'] / 1e6:6.2f} MB -> "
                f"{shipped['bytes'] / 1e6:5.2f} MB ({shipped['share']:.0%}, {row['shipped_syntax']}) "
                f"encode {shipped['encode_s']:.2f} s [uncompressed {plain['encode_s']:.2f} s] decode "
                f"{shipped['decode_s']:.2f} s [{plain['decode_s']:.2f} s] identical="
                f"{shipped['identical'] and plain['identical']}; SR {row['sr']['bytes']} -> {row['sr']['deflated_bytes']} B")
        if args.rle:
            fast, slow = row["pylibjpeg"], row["pydicom"]
            line += (f"; RLE {fast['rle_bytes'] / 1e6:.2f} MB ({fast['rle_share']:.0%}) encode {fast['encode_s']:.2f} s "
                     f"[pydicom {slow['encode_s']:.2f} s] identical={fast['identical'] and slow['identical']}")
        print(line)
    total_plain = sum(r["uncompressed_bytes"] for r in rows)
    total_shipped = sum(r["shipped"]["bytes"] for r in rows)
    print(f"all: {total_plain / 1e6:.1f} MB -> {total_shipped / 1e6:.1f} MB ({total_shipped / total_plain:.0%})")
    result = {"films": rows, "total_uncompressed_bytes": total_plain, "total_shipped_bytes": total_shipped}
    if args.rle:
        result["total_rle_bytes"] = sum(r["pylibjpeg"]["rle_bytes"] for r in rows)
    if args.exports is not None:
        result["exports"] = measure_exports(args.exports)
        for entry in result["exports"]:
            print(f"{entry['file'][:56]:56} {entry['bytes']:>9} B -> deflated {entry['deflated_bytes']:>9} B "
                  f"({entry['share']:.0%}) {entry['encode_s'] * 1000:.1f} ms")
    if not args.quick:
        common.write_result("sc_compression_shipped", result)


if __name__ == "__main__":
    main()
