#!/usr/bin/env python3
"""Full-size radiographs (issue 13): reading, scanning and memory on ../shared/data/knee-xray-fullsize.

Sections (all by default; ``--only read scan`` picks some), each measured in this one run so that a busy machine
slows every figure alike:

- ``read``: per file, the reader (:func:`read_radiograph`) against Pillow's own full decode of the same bytes and
  its JPEG draft decode (DCT scaling to a quarter a side); the best of ``--repeats``.
- ``dicom``: DICOM files of the same sizes that this benchmark writes itself (12-bit MONOCHROME2 from the films:
  uncompressed, JPEG 2000 lossless, JPEG-LS lossless), the reader against pydicom's own decode of the pixel data.
- ``scan``: ``osteo scan`` (the real command, a child process) of a folder of links to the films against a naive
  loop (full decode, Keras ``predict`` per image; TensorFlow in a child process), with the float32 matmul floor
  and LiteRT's time per image (benchmarks/inference.py) measured in the same run. Peak RSS of the scan process.
- ``memory``: peak RSS of ``osteo scan`` for ``--batch-size`` 1, 16 and 256, on the largest films and on a folder
  of very large files (24 and 48 megapixels, written here).
- ``sizes``: files/s and peak RSS of ``osteo scan`` against image size (one film resized, 0.5 to 24 megapixels);
  with ``--chart`` draws reports/fullsize_scaling.png.

    .venv/bin/python benchmarks/fullsize.py [--only read dicom scan memory sizes] [--chart]

Writes benchmarks/results/fullsize.json (sections not run keep their last figures).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, SHARED, time_repeated, write_result  # noqa: E402 - before NumPy: sets its thread count

import numpy as np  # noqa: E402

FULLSIZE = SHARED / "data" / "knee-xray-fullsize"
SECTIONS = ("read", "dicom", "scan", "memory", "sizes")


def films() -> list[Path]:
    return sorted(p for p in FULLSIZE.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def best_ms(fn, repeats: int) -> float:
    return min(time_repeated(fn, repeats))


# --- reading ---------------------------------------------------------------------------------------------------


def read_section(repeats: int) -> dict:
    from PIL import Image

    from osteo_desktop.core.reading.reader import read_radiograph

    rows = []
    for path in films():
        def pillow_full(path: Path = path) -> None:
            with Image.open(io.BytesIO(path.read_bytes())) as image:
                image.load()

        def pillow_draft(path: Path = path) -> None:
            with Image.open(io.BytesIO(path.read_bytes())) as image:
                image.draft(image.mode, (image.width // 4, image.height // 4))
                image.load()

        with Image.open(path) as image:
            info = {"file": path.name, "format": image.format, "mode": image.mode, "megapixels": round(image.width * image.height / 1e6, 2)}
        info["pillow_full_ms"] = round(best_ms(pillow_full, repeats), 2)
        info["pillow_draft_ms"] = round(best_ms(pillow_draft, repeats), 2) if info["format"] == "JPEG" else None
        info["read_ms"] = round(best_ms(lambda path=path: read_radiograph(path), repeats), 2)
        info["ratio"] = round(info["read_ms"] / info["pillow_full_ms"], 2)
        rows.append(info)
    summary = {}
    for key in sorted({(r["format"], r["mode"]) for r in rows}):
        group = [r for r in rows if (r["format"], r["mode"]) == key]
        summary[f"{key[0]} {key[1]}"] = {
            "files": len(group),
            "megapixels_median": statistics.median(r["megapixels"] for r in group),
            "pillow_full_ms_median": round(statistics.median(r["pillow_full_ms"] for r in group), 1),
            "read_ms_median": round(statistics.median(r["read_ms"] for r in group), 1),
            "ratio_median": round(statistics.median(r["ratio"] for r in group), 2),
            "ratio_max": max(r["ratio"] for r in group),
        }
    ratios = [r["ratio"] for r in rows]
    total = {"ratio_median": round(statistics.median(ratios), 2), "ratio_max": max(ratios),
             "read_s_total": round(sum(r["read_ms"] for r in rows) / 1000, 2),
             "pillow_full_s_total": round(sum(r["pillow_full_ms"] for r in rows) / 1000, 2)}
    total["ratio_of_totals"] = round(total["read_s_total"] / total["pillow_full_s_total"], 2)
    print(f"read vs Pillow full decode, {len(rows)} films: median {total['ratio_median']}x, worst {total['ratio_max']}x, "
          f"all files {total['read_s_total']} s vs {total['pillow_full_s_total']} s = {total['ratio_of_totals']}x (target <= 1.3x)")
    for key, s in summary.items():
        print(f"  {key:9s} {s['files']:3d} files, {s['megapixels_median']:.1f} MP median: read {s['read_ms_median']:.0f} ms, "
              f"Pillow {s['pillow_full_ms_median']:.0f} ms, ratio median {s['ratio_median']}x (worst {s['ratio_max']}x)")
    drafts = [r for r in rows if r["pillow_draft_ms"]]
    if drafts:
        print(f"  JPEG draft decode (quarter a side): median {statistics.median(r['pillow_draft_ms'] for r in drafts):.0f} ms "
              f"against {statistics.median(r['pillow_full_ms'] for r in drafts):.0f} ms full")
    return {"files": rows, "by_kind": summary, "total": total, "target_ratio": 1.3}


# --- DICOM -----------------------------------------------------------------------------------------------------


def write_dicoms(folder: Path, sources: list[Path]) -> list[tuple[Path, str, float]]:
    """12-bit MONOCHROME2 DICOM of each source film, in three transfer syntaxes; (path, syntax, megapixels)."""
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, SecondaryCaptureImageStorage, generate_uid

    written = []
    for index, source in enumerate(sources):
        with Image.open(source) as image:
            grey = np.asarray(image.convert("L"), dtype=np.uint16) * 16  # 12 bits stored
        for name, syntax in (("uncompressed", ExplicitVRLittleEndian), ("jpeg2000", JPEG2000Lossless), ("jpegls", JPEGLSLossless)):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
            ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
            ds.Modality, ds.BodyPartExamined = "DX", "KNEE"
            ds.Rows, ds.Columns = grey.shape
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.PixelData = grey.tobytes()
            if syntax != ExplicitVRLittleEndian:
                ds.compress(syntax, encoding_plugin="pylibjpeg" if syntax == JPEG2000Lossless else "pyjpegls")
            path = folder / f"{index:02d}_{name}.dcm"
            ds.save_as(path, enforce_file_format=True)
            written.append((path, name, round(grey.size / 1e6, 2)))
    return written


def dicom_section(repeats: int) -> dict:
    import pydicom

    from osteo_desktop.core.reading.reader import read_radiograph

    by_size = sorted(films(), key=lambda p: p.stat().st_size)
    sources = [by_size[0], by_size[len(by_size) // 2], by_size[-1]]  # small, middle, largest
    rows = []
    with tempfile.TemporaryDirectory(prefix="osteo-bench-dicom-") as scratch:
        for path, syntax, megapixels in write_dicoms(Path(scratch), sources):
            def decode(path: Path = path) -> None:
                pydicom.dcmread(io.BytesIO(path.read_bytes())).pixel_array

            row = {"syntax": syntax, "megapixels": megapixels, "bytes": path.stat().st_size,
                   "pydicom_decode_ms": round(best_ms(decode, repeats), 1),
                   "read_ms": round(best_ms(lambda path=path: read_radiograph(path), repeats), 1)}
            row["ratio"] = round(row["read_ms"] / row["pydicom_decode_ms"], 2)
            rows.append(row)
            print(f"DICOM {syntax:12s} {megapixels:4.1f} MP: read {row['read_ms']:6.0f} ms, pydicom decode "
                  f"{row['pydicom_decode_ms']:6.0f} ms = {row['ratio']}x")
    return {"files": rows}


# --- scanning --------------------------------------------------------------------------------------------------


def link_folder(root: Path, name: str, sources: list[Path], count: int) -> Path:
    folder = root / name
    folder.mkdir()
    for i in range(count):
        source = sources[i % len(sources)]
        (folder / f"{i:05d}{source.suffix.lower()}").symlink_to(source)
    return folder


# ``osteo scan`` itself (its main, in this interpreter), reporting its own peak RSS (VmHWM) when it exits. Not
# ru_maxrss from wait4: Linux folds the parent's high-water mark into a forked child's at exec, so a child of
# this (large) benchmark process would report at least the benchmark's own size.
_SCAN_CHILD = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(sys.argv[1], "w").write(line.split()[1])
atexit.register(_peak)
from osteo_desktop.cli import main
sys.exit(main(sys.argv[2:]))
"""


def osteo_scan(folder: Path, *extra: str) -> dict:
    """Run ``osteo scan`` on ``folder`` in a child process: wall seconds, peak RSS (MiB, VmHWM), rows."""
    with tempfile.TemporaryDirectory(prefix="osteo-bench-out-") as out:
        csv, peak = Path(out) / "rows.csv", Path(out) / "peak_kib"
        env = {**os.environ, "PYTHONPATH": str(REPO), "OSTEO_DATA_DIR": out}
        start = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", _SCAN_CHILD, str(peak), "scan", str(folder), "--csv", str(csv),
                                "--no-history", *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=REPO)  # python -c puts the working folder first on sys.path: REPO's code runs
        wall = time.perf_counter() - start
        stderr = child.stderr.decode(errors="replace")
        lines = csv.read_text(encoding="utf-8").splitlines() if csv.exists() else []
        peak_kib = int(peak.read_text()) if peak.exists() else 0
    if child.returncode not in (0, 1):
        raise RuntimeError(f"osteo scan exited {child.returncode}: {stderr[-1500:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(peak_kib / 1024, 1), "rows": max(0, len(lines) - 1),
            "exit": child.returncode, "stderr_tail": stderr[-300:] if child.returncode else ""}


def scan_rate(folder: Path, count: int, warm: Path, *extra: str) -> dict:
    """Files/s of ``osteo scan`` with the start-up (model load, imports) taken out: (N - n) / (t_N - t_n)."""
    small = osteo_scan(warm, *extra)
    large = osteo_scan(folder, *extra)
    small_count = small["rows"]
    rate = (count - small_count) / max(large["wall_s"] - small["wall_s"], 1e-6)
    return {"files": count, "wall_s": large["wall_s"], "startup_files": small_count, "startup_wall_s": small["wall_s"],
            "files_per_s": round(rate, 1), "files_per_s_with_startup": round(count / large["wall_s"], 1),
            "peak_rss_mib": large["peak_rss_mib"], "exit": large["exit"]}


def naive_child(paths_file: Path, out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scan_throughput import naive_rate

    paths = [Path(line) for line in paths_file.read_text().splitlines()]
    out.write_text(json.dumps(naive_rate(paths)))


def scan_section(files: int, naive_files: int) -> dict:
    from inference import bench, model_gflop

    sources = films()
    with tempfile.TemporaryDirectory(prefix="osteo-bench-scan-") as scratch:
        root = Path(scratch)
        folder = link_folder(root, "scan", sources, files)
        warm = link_folder(root, "warm", sources, 8)
        scan = scan_rate(folder, files, warm)
        print(f"osteo scan, {files} full-size films ({len(sources)} distinct, 1-6 MP): {scan['files_per_s']} files/s "
              f"after start-up ({scan['files_per_s_with_startup']} with it), peak RSS {scan['peak_rss_mib']:.0f} MiB")
        paths_file, out = root / "naive.txt", root / "naive.json"
        paths_file.write_text("\n".join(str(p) for p in sources[:naive_files]))
        child = subprocess.run([sys.executable, __file__, "--naive-child", str(paths_file), str(out)],
                               capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        naive = json.loads(out.read_text()) if child.returncode == 0 else None
        if naive is None:
            print(f"naive loop failed (TensorFlow missing?): {child.stderr[-800:]}", file=sys.stderr)
        else:
            print(f"naive loop (full decode + Keras predict per image), {naive['files']} films: {naive['images_per_s']} files/s "
                  f"-> scan is {scan['files_per_s'] / naive['images_per_s']:.1f}x")
    litert = bench(threads=2, rounds=3)
    floor_ms = model_gflop(litert["input_size"]) / litert["matmul_gflops"] * 1000.0
    best = min(litert["batch1_ms_per_image"]["min"], litert["batch32_ms_per_image"]["min"])
    print(f"float32 matmul {litert['matmul_gflops']:.0f} GFLOP/s -> floor {floor_ms:.2f} ms/image; LiteRT best "
          f"{best:.2f} ms/image = {best / floor_ms:.2f}x (median batch 32: {litert['batch32_ms_per_image']['median']:.2f} ms)")
    return {"scan": scan, "naive": naive,
            "speedup": round(scan["files_per_s"] / naive["images_per_s"], 1) if naive else None,
            "matmul_gflops": litert["matmul_gflops"], "floor_ms_per_image": round(floor_ms, 2),
            "litert_ms_per_image": {"batch1": litert["batch1_ms_per_image"], "batch32": litert["batch32_ms_per_image"]},
            "litert_best_ratio_to_floor": round(best / floor_ms, 2),
            "targets": {"files_per_s": 50, "speedup": 10, "ratio_to_floor": 1.6}}


# --- memory and size -------------------------------------------------------------------------------------------


def resized_film(source: Path, megapixels: float, path: Path, fmt: str = "JPEG") -> Path:
    from PIL import Image

    with Image.open(source) as image:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR).save(
            path, format=fmt, quality=92)
    return path


def memory_section() -> dict:
    largest = sorted(films(), key=lambda p: -p.stat().st_size)[:20]
    result = {}
    with tempfile.TemporaryDirectory(prefix="osteo-bench-memory-") as scratch:
        root = Path(scratch)
        folder = link_folder(root, "largest", largest, 120)
        for batch in (1, 16, 256):
            run = osteo_scan(folder, "--batch-size", str(batch))
            result[f"largest_films_batch{batch}"] = run
            print(f"osteo scan, 120 of the 20 largest films (5-6 MP), --batch-size {batch:3d}: peak RSS {run['peak_rss_mib']:.0f} MiB")
        big = root / "big"
        big.mkdir()
        for megapixels in (24, 48):
            resized_film(largest[0], megapixels, big / f"film_{megapixels}mp.jpg")
        for i in range(4):
            (big / f"copy{i}_24mp.jpg").symlink_to(big / "film_24mp.jpg")
        run = osteo_scan(big, "--batch-size", "256")
        result["very_large_24_48mp_batch256"] = run
        print(f"osteo scan, 6 files of 24 and 48 MP, --batch-size 256: peak RSS {run['peak_rss_mib']:.0f} MiB")
    result["target_mib"] = 300
    return result


def sizes_section(files: int) -> dict:
    source = sorted(films(), key=lambda p: -p.stat().st_size)[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="osteo-bench-sizes-") as scratch:
        root = Path(scratch)
        warm_file = resized_film(source, 0.5, root / "warm.jpg")
        warm = link_folder(root, "warm", [warm_file], 4)
        for megapixels in (0.5, 1, 2.5, 6, 12, 24):
            film = resized_film(source, megapixels, root / f"film_{megapixels}.jpg")
            folder = link_folder(root, f"size_{megapixels}", [film], files)
            run = scan_rate(folder, files, warm)
            rows.append({"megapixels": megapixels, "files_per_s": run["files_per_s"], "peak_rss_mib": run["peak_rss_mib"]})
            print(f"  {megapixels:5.1f} MP JPEG x {files}: {run['files_per_s']:6.1f} files/s, peak RSS {run['peak_rss_mib']:.0f} MiB")
    return {"source": source.name, "files_per_size": files, "rows": rows}


def chart(data: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["sizes"]["rows"]
    mp = [r["megapixels"] for r in rows]
    fig, left = plt.subplots(figsize=(6.4, 3.8), dpi=120)
    left.plot(mp, [r["files_per_s"] for r in rows], "o-", color="tab:blue", label="files/s")
    left.set_xscale("log")
    left.set_xlabel("image size (megapixels, JPEG)")
    left.set_ylabel("osteo scan throughput (files/s)", color="tab:blue")
    right = left.twinx()
    right.plot(mp, [r["peak_rss_mib"] for r in rows], "s--", color="tab:red", label="peak RSS")
    right.axhline(300, color="tab:red", linewidth=0.8, linestyle=":")
    right.set_ylabel("peak RSS (MiB; dotted: 300 MiB target)", color="tab:red")
    right.set_ylim(0, max(320, max(r["peak_rss_mib"] for r in rows) * 1.1))
    when = data.get("sizes_when", "")
    load = data.get("sizes_load_avg_1m")
    left.set_title(f"osteo scan vs image size ({data['machine']['cores']} cores shared, load average {load} at the end, "
                   f"{when[:10]})", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"-> {out.relative_to(REPO)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scan-files", type=int, default=166, help="files in the scanned folder (links, cycled)")
    parser.add_argument("--naive-files", type=int, default=30)
    parser.add_argument("--size-files", type=int, default=30)
    parser.add_argument("--chart", action="store_true", help="draw reports/fullsize_scaling.png from the sizes section")
    parser.add_argument("--naive-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child:
        naive_child(*args.naive_child)
        return 0
    if not films():
        print(f"no full-size films in {FULLSIZE}; nothing to measure", file=sys.stderr)
        return 1
    previous = RESULTS / "fullsize.json"
    data = json.loads(previous.read_text()) if previous.exists() else {}
    data = {k: v for k, v in data.items() if k not in ("benchmark", "when_utc", "machine")}
    import datetime as dt

    for section in args.only:
        print(f"== {section}")
        if section == "read":
            data["read"] = read_section(args.repeats)
        elif section == "dicom":
            data["dicom"] = dicom_section(args.repeats)
        elif section == "scan":
            data["scan"] = scan_section(args.scan_files, args.naive_files)
        elif section == "memory":
            data["memory"] = memory_section()
        elif section == "sizes":
            data["sizes"] = sizes_section(args.size_files)
        data[f"{section}_when"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        data[f"{section}_load_avg_1m"] = round(os.getloadavg()[0], 2)
    path = write_result("fullsize", data)
    if args.chart and "sizes" in data:
        data = json.loads(path.read_text())
        chart(data, REPO / "reports" / "fullsize_scaling.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
