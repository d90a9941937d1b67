"""Shared helpers of the benchmarks: where things are, the machine description, timing, and the JSON results.

Benchmarks are not tests: they print what they measured and write it to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# As the frozen app does (packaging/launchers): one BLAS thread for the small NumPy products of the explanation.
# Benchmarks import this module before NumPy; inference.py sets its own thread count for the matmul floor first.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from osteo_desktop.core.paths import shared_data_dir, shared_dicom_dir, shared_imagenet_dir, shared_knee_dir  # noqa: E402

SHARED = shared_data_dir()  # OSTEO_SHARED_DIR, else ../shared: decided in one place, core.paths
KNEE_DIR = shared_knee_dir()
DICOM_DIR = shared_dicom_dir()
IMAGENET_WEIGHTS = shared_imagenet_dir() / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def knee_images(suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg")) -> list[Path]:
    """The shared knee radiographs, in a stable order (empty when ../shared is not there)."""
    if not KNEE_DIR.is_dir():
        return []
    return sorted(p for p in KNEE_DIR.rglob("*") if p.suffix.lower() in suffixes)


def time_repeated(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock milliseconds of ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def summary_ms(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median": round(statistics.median(ordered), 2),
        "min": round(ordered[0], 2),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "n": len(ordered),
    }


def write_result(name: str, data: dict[str, Any], path: Path | None = None) -> Path:
    """Write the result to ``path`` (default: the committed record, benchmarks/results/<name>.json)."""
    path = Path(path) if path is not None else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "when_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    shown = path.resolve().relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
    print(f"-> {shown}")
    return path


def knee_dicom(values: Any, bits_stored: int, sop_class: str = "1.2.840.10008.5.1.4.1.1.7") -> Any:
    """An uncompressed MONOCHROME2 knee DICOM (DX, 16 bits allocated, ``bits_stored`` used) holding ``values``
    (rows x columns, unsigned), with its file meta: the benchmarks' own DICOM films (default: Secondary Capture)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.BodyPartExamined = "DX", "KNEE"
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    ds.PixelData = values.astype("<u2").tobytes()
    return ds
