#!/usr/bin/env python3
"""Run every benchmark and print a Markdown table of the figures for the README (about 2-3 minutes).

    .venv/bin/python benchmarks/run_all.py [--skip NAME ...]

Runs, each in its own process: inference, end_to_end, scan_throughput, memory, and, when the bundle has been built
(scripts/build-installer.sh), startup and bundle_size. Each writes benchmarks/results/<name>.json; this script
reads them back and writes benchmarks/results/summary.md too. On a machine shared with other work the figures are
pessimistic: run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS, machine  # noqa: E402

BENCHMARKS = ["inference", "end_to_end", "film_analysis", "scan_throughput", "memory", "startup", "bundle_size"]
NEEDS_BUNDLE = {"startup", "bundle_size"}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def table(results: dict[str, dict | None]) -> str:
    rows = []
    inf = results.get("inference")
    if inf:
        floor = inf["floor_ms_per_image"]
        for batch in (1, 32):
            stats = inf["litert"][f"batch{batch}_ms_per_image"]
            rows.append((f"Inference per image, batch {batch} (LiteRT, {inf['litert']['threads']} threads)",
                         f"{stats['median']:.1f} ms median, {stats['min']:.1f} min = {stats['min'] / floor:.2f}x the floor "
                         f"({floor:.1f} ms: 0.6 GFLOP at {inf['matmul_gflops']:.0f} GFLOP/s matmul)",
                         "within 1.6x of the floor"))
    e2e = results.get("end_to_end")
    if e2e:
        for name, r in e2e["files"].items():
            s = r["stages_ms"]
            label = {"jpeg_2000x2000": "JPEG", "png_2000x2000": "PNG", "dicom_j2k_2000x2000": "JPEG 2000 DICOM"}.get(name, name)
            rows.append((f"One file end to end, 2000x2000 {label}",
                         f"{r['total_ms']:.0f} ms (read {s.get('read', 0):.0f}, preprocess {s.get('preprocess', 0):.0f}, "
                         f"predict {s.get('inference', 0):.0f}, explain {s.get('explain', 0):.0f})", ""))
    film = results.get("film_analysis")
    if film:
        for group, r in film["summary"].items():
            rows.append((f"Whole analysis of a film ({group}, {r['films']} films: gate, knees, per-knee model; no explanation)",
                         f"{r['median_before_ms']:.0f} ms before -> {r['median_now_ms']:.0f} ms now (median); "
                         f"ratio median {r['median_ratio']:.2f}x, max {r['max_ratio']:.2f}x", "<= 2x before"))
    scan = results.get("scan_throughput")
    if scan:
        naive = scan.get("naive")
        rows.append((f"Folder scan, {scan['scan']['files']} knee PNG/JPEG",
                     f"{scan['scan']['images_per_s']:.0f} images/s"
                     + (f"; naive loop {naive['images_per_s']:.1f} images/s = {scan['speedup']:.0f}x" if naive else ""),
                     ">= 40 images/s, >= 10x naive"))
    mem = results.get("memory")
    if mem:
        rows.append((f"Peak memory of a scan, {mem['small']['files']} vs {mem['large']['files']} files",
                     f"{mem['small']['peak_rss_mb']:.0f} MB vs {mem['large']['peak_rss_mb']:.0f} MB", "flat"))
    start = results.get("startup")
    if start:
        s = start["summary"]
        rows.append(("Start-up of the bundle to the main window", f"{s['to_window_ms']['median']:.0f} ms "
                     f"(first run {start['first_run']['to_window_ms']:.0f} ms)", "< 1.5 s"))
        rows.append(("Start-up of the bundle to the first result", f"{s['to_first_result_ms']['median']:.0f} ms "
                     f"(first run {start['first_run']['to_first_result_ms']:.0f} ms)", "< 2 s"))
    size = results.get("bundle_size")
    if size:
        top = list(size["by_component_mb"].items())[:4]
        rows.append(("Bundle size (one folder)", f"{size['total_mb']:.0f} MB (" + ", ".join(f"{k.split(' (')[0]} {v:.0f}" for k, v in top) + ")",
                     "< 250 MB"))
    m = machine()
    lines = [f"Measured on {m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']} "
             f"(load average {m['load_avg_1m']} at the end of the run).", "",
             "| Measure | Result | Target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=BENCHMARKS)
    args = parser.parse_args()
    bundle = REPO / "dist" / "osteo-desktop"
    failures = []
    started = time.perf_counter()
    for name in BENCHMARKS:
        if name in args.skip:
            continue
        if name in NEEDS_BUNDLE and not bundle.is_dir():
            print(f"== {name}: skipped (no bundle; run scripts/build-installer.sh)")
            continue
        print(f"== {name}", flush=True)
        step = time.perf_counter()
        code = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py")]).returncode
        print(f"   ({time.perf_counter() - step:.0f} s)", flush=True)
        if code != 0:
            failures.append(name)
    results = {name: load(name) for name in BENCHMARKS if name not in args.skip}
    markdown = table(results)
    (RESULTS / "summary.md").write_text(markdown + "\n", encoding="utf-8")
    print(f"\n{markdown}\n\n(all benchmarks in {time.perf_counter() - started:.0f} s; table in benchmarks/results/summary.md)")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
