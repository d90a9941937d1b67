#!/usr/bin/env python3
"""One file end to end, as the app and `osteo predict` do it: read, preprocess, predict, explain.

The test files are made here from a shared knee radiograph, upscaled onto a 2000x2000 detector-sized canvas:
a JPEG (quality 95), an 8-bit PNG, and a 12-bit MONOCHROME2 DICOM compressed as JPEG 2000 (lossless) with pydicom.
Each is analysed several times with :func:`osteo_desktop.core.pipeline.analysis.analyse_file`; the medians of its own
per-stage timings are reported. Files go to a temporary folder and are deleted afterwards.

    .venv/bin/python benchmarks/end_to_end.py [--repeats 5]

Writes benchmarks/results/end_to_end.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import knee_dicom, knee_images, write_result  # noqa: E402 - before NumPy: sets its thread count

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SIDE = 2000


def detector_image(source: Path) -> np.ndarray:
    """The knee radiograph scaled to fill a SIDE x SIDE canvas's height, centred on a dark background (8-bit)."""
    with Image.open(source) as image:
        grey = image.convert("L")
        scale = SIDE / max(grey.size)
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (SIDE, SIDE), 8)
    canvas.paste(grey, ((SIDE - grey.width) // 2, (SIDE - grey.height) // 2))
    return np.asarray(canvas)


def write_dicom_j2k(pixels8: np.ndarray, path: Path) -> None:
    from pydicom.uid import JPEG2000Lossless

    # 12 bits stored, like a CR/DX detector; Digital X-Ray Image Storage - For Presentation
    ds = knee_dicom(pixels8.astype(np.uint16) * 16, 12, sop_class="1.2.840.10008.5.1.4.1.1.1.1")
    ds.PatientName, ds.PatientID = "Benchmark^Synthetic", "BENCH0001"
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    ds.save_as(path, enforce_file_format=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sources = knee_images((".jpg",))
    if not sources:
        print("no shared knee images (../shared/data/knee-xray); nothing to measure", file=sys.stderr)
        return 1

    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.core.model.runtime import Classifier

    classifier = Classifier.load()
    results = {}
    with tempfile.TemporaryDirectory(prefix="osteo-bench-e2e-") as scratch:
        pixels = detector_image(sources[0])
        files = {
            "jpeg_2000x2000": Path(scratch) / "knee.jpg",
            "png_2000x2000": Path(scratch) / "knee.png",
            "dicom_j2k_2000x2000": Path(scratch) / "knee_j2k.dcm",
        }
        Image.fromarray(pixels).save(files["jpeg_2000x2000"], quality=95)
        Image.fromarray(pixels).save(files["png_2000x2000"])
        write_dicom_j2k(pixels, files["dicom_j2k_2000x2000"])
        for name, path in files.items():
            stages: dict[str, list[float]] = {}
            totals = []
            for _ in range(args.repeats + 1):  # the first run warms caches and is dropped
                start = time.perf_counter()
                analysis = analyse_file(path, classifier, explain=True)
                totals.append((time.perf_counter() - start) * 1000.0)
                for stage, ms in analysis.timings_ms.items():  # also there when the gate declines the file
                    stages.setdefault(stage, []).append(ms)
            full = []
            for _ in range(3):  # the decode alone, at full resolution, for comparison with the reader's path
                start = time.perf_counter()
                read_radiograph(path)
                full.append((time.perf_counter() - start) * 1000.0)
            results[name] = {
                "file_kb": round(path.stat().st_size / 1024),
                "stages_ms": {stage: round(statistics.median(v[1:]), 1) for stage, v in stages.items()},
                "total_ms": round(statistics.median(totals[1:]), 1),
                "total_min_ms": round(min(totals[1:]), 1),
                "read_full_resolution_ms": round(min(full), 1),
                "label": analysis.result.label or f"no result: {analysis.out_of_scope}",
            }
    print(f"{'file':<22} {'KB':>6} {'read':>7} {'prep':>7} {'infer':>7} {'explain':>8} {'total':>8}  (median ms)")
    for name, r in results.items():
        s = r["stages_ms"]
        print(f"{name:<22} {r['file_kb']:>6} {s.get('read', 0):>7.1f} {s.get('preprocess', 0):>7.1f} "
              f"{s.get('inference', 0):>7.1f} {s.get('explain', 0):>8.1f} {r['total_ms']:>8.1f}")
    write_result("end_to_end", {"model_version": classifier.version, "repeats": args.repeats, "files": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
