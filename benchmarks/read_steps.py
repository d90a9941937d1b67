#!/usr/bin/env python3
"""The read path on full-size radiographs (issue 13), step by step, in CPU time as well as wall time.

For every film of ../shared/data/knee-xray-fullsize (JPEG and PNG, grey and colour-stored, 1-6 megapixels) and for
DICOM files of the same sizes written here (12-bit: uncompressed, JPEG 2000 lossless, JPEG-LS lossless):

- ``decode``: the decoder's own full decode of the file's bytes (Pillow in the file's own mode; pydicom's
  ``pixel_array`` for DICOM), bytes read from disk included, as the reader's figure includes them;
- ``read``: :func:`read_radiograph` of the path (read the bytes, sniff, decode, grey float32, window, grey levels);
  with ``--compact``, the compact read ``osteo scan`` makes (grey levels as uint8, no modality values);
- ``sha256``: hashing the bytes (what :func:`analyse_file` adds to every read so the history names the content);
- the ratio read / decode per file, and per kind the median and worst ratio.

Each is the best of ``--repeats`` calls, taken one after the other per file. Times are given as thread CPU time
(user + system, page faults included), which a machine crowded by other processes inflates far less than wall
time, and as wall time; the ratio is reported for both. ``--code DIR`` measures the reader of another checkout
(e.g. the main branch) with this same script, for before/after figures.

    .venv/bin/python benchmarks/read_steps.py [--repeats 7] [--every 1] [--no-dicom] [--code /path/to/checkout]

Writes benchmarks/results/read_steps.json (or read_steps_<label>.json with ``--label``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--every", type=int, default=1, help="measure every n-th film only")
    parser.add_argument("--no-dicom", action="store_true")
    parser.add_argument("--code", type=Path, help="checkout whose osteo_desktop is measured (default: this one)")
    parser.add_argument("--label", default="", help="suffix of the result file")
    parser.add_argument("--compact", action="store_true", help="time read_radiograph(..., compact=True), the scan's read")
    parser.add_argument("--scan-heap", action="store_true",
                        help="fix glibc's mmap threshold as osteo scan does (memory.return_freed_memory): every "
                             "full-size buffer then comes fresh from the system, page faults included")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_result  # noqa: E402

if ARGS is not None and ARGS.code is not None:
    # common imported this checkout's package; measure the other one's instead.
    for _name in [name for name in sys.modules if name == "osteo_desktop" or name.startswith("osteo_desktop.")]:
        del sys.modules[_name]
    sys.path.insert(0, str(ARGS.code.resolve()))

FULLSIZE = SHARED / "data" / "knee-xray-fullsize"


def best(fn, repeats: int) -> tuple[float, float]:
    """(best thread CPU ms, best wall ms) of ``repeats`` calls after one untimed call."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.thread_time(), time.perf_counter()
        fn()
        cpu.append((time.thread_time() - c0) * 1000.0)
        wall.append((time.perf_counter() - w0) * 1000.0)
    return round(min(cpu), 2), round(min(wall), 2)


def raster_rows(read, repeats: int, every: int) -> list[dict]:
    from PIL import Image

    rows = []
    films = sorted(p for p in FULLSIZE.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[::every]
    for path in films:
        def decode(path: Path = path) -> None:
            with Image.open(io.BytesIO(path.read_bytes())) as image:
                image.load()

        with Image.open(path) as image:
            kind, megapixels = f"{image.format} {image.mode}", round(image.width * image.height / 1e6, 2)
        data = path.read_bytes()
        row = {"file": path.name, "kind": kind, "megapixels": megapixels}
        row["decode_cpu_ms"], row["decode_wall_ms"] = best(decode, repeats)
        row["read_cpu_ms"], row["read_wall_ms"] = best(lambda path=path: read(path), repeats)
        row["sha256_cpu_ms"], _ = best(lambda data=data: hashlib.sha256(data).digest(), repeats)
        rows.append(row)
    return rows


def dicom_rows(read, repeats: int) -> list[dict]:
    import pydicom

    from fullsize import films, write_dicoms

    by_size = sorted(films(), key=lambda p: p.stat().st_size)
    sources = [by_size[0], by_size[len(by_size) // 2], by_size[-1]]
    rows = []
    with tempfile.TemporaryDirectory(prefix="osteo-bench-read-") as scratch:
        for path, syntax, megapixels in write_dicoms(Path(scratch), sources):
            def decode(path: Path = path) -> None:
                pydicom.dcmread(io.BytesIO(path.read_bytes())).pixel_array

            row = {"file": path.name, "kind": f"DICOM {syntax}", "megapixels": megapixels}
            row["decode_cpu_ms"], row["decode_wall_ms"] = best(decode, repeats)
            row["read_cpu_ms"], row["read_wall_ms"] = best(lambda path=path: read(path), repeats)
            row["sha256_cpu_ms"], _ = best(lambda path=path: hashlib.sha256(path.read_bytes()).digest(), repeats)
            rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    for row in rows:
        row["ratio_cpu"] = round(row["read_cpu_ms"] / row["decode_cpu_ms"], 2)
        row["ratio_wall"] = round(row["read_wall_ms"] / row["decode_wall_ms"], 2)
    kinds = {}
    for kind in sorted({r["kind"] for r in rows}):
        group = [r for r in rows if r["kind"] == kind]
        kinds[kind] = {
            "files": len(group),
            "megapixels_median": statistics.median(r["megapixels"] for r in group),
            **{f"{key}_median": round(statistics.median(r[key] for r in group), 1)
               for key in ("decode_cpu_ms", "read_cpu_ms", "sha256_cpu_ms", "decode_wall_ms", "read_wall_ms")},
            "ratio_cpu_median": round(statistics.median(r["ratio_cpu"] for r in group), 2),
            "ratio_cpu_max": max(r["ratio_cpu"] for r in group),
            "ratio_wall_median": round(statistics.median(r["ratio_wall"] for r in group), 2),
            "sum_ratio_cpu": round(sum(r["read_cpu_ms"] for r in group) / sum(r["decode_cpu_ms"] for r in group), 2),
        }
    return kinds


def main() -> int:
    import os

    args = ARGS or _parse()
    from osteo_desktop.core.reading import reader

    if args.scan_heap:
        from osteo_desktop.core.pipeline.memory import return_freed_memory

        return_freed_memory()
    print(f"reader from {Path(reader.__file__).resolve().parents[3]}; heap: {'as osteo scan sets it' if args.scan_heap else 'glibc default'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    read = (lambda path: reader.read_radiograph(path, compact=True)) if args.compact else reader.read_radiograph
    rows = raster_rows(read, args.repeats, args.every) if FULLSIZE.is_dir() else []
    if not args.no_dicom and rows:
        rows += dicom_rows(read, args.repeats)
    if not rows:
        print(f"no full-size films in {FULLSIZE}; nothing to measure", file=sys.stderr)
        return 1
    kinds = summarise(rows)
    raster = [r for r in rows if not r["kind"].startswith("DICOM")]
    total = {"ratio_cpu_median": round(statistics.median(r["ratio_cpu"] for r in raster), 2),
             "ratio_wall_median": round(statistics.median(r["ratio_wall"] for r in raster), 2),
             "sum_ratio_cpu": round(sum(r["read_cpu_ms"] for r in raster) / sum(r["decode_cpu_ms"] for r in raster), 2)}
    print(f"read / decoder's own full decode, {len(raster)} raster films: CPU time median {total['ratio_cpu_median']}x "
          f"(sum {total['sum_ratio_cpu']}x), wall median {total['ratio_wall_median']}x (target <= 1.3x)")
    print(f"  {'kind':22s} {'n':>2s} {'MP':>4s} | {'decode':>7s} {'read':>7s} {'sha256':>6s} ms CPU | ratio CPU median (worst, sum) | wall ratio")
    for kind, s in kinds.items():
        print(f"  {kind:22s} {s['files']:2d} {s['megapixels_median']:4.1f} | {s['decode_cpu_ms_median']:7.1f} "
              f"{s['read_cpu_ms_median']:7.1f} {s['sha256_cpu_ms_median']:6.1f}        | {s['ratio_cpu_median']:.2f}x "
              f"({s['ratio_cpu_max']:.2f}x, {s['sum_ratio_cpu']:.2f}x)             | {s['ratio_wall_median']:.2f}x")
    name = "read_steps" + (f"_{args.label}" if args.label else "")
    write_result(name, {"code": str(Path(reader.__file__).resolve().parents[3]), "repeats": args.repeats,
                        "scan_heap": args.scan_heap, "compact": args.compact,
                        "load_avg_1m_end": round(os.getloadavg()[0], 2), "total": total, "by_kind": kinds, "files": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
