#!/usr/bin/env python3
"""Peak resident memory of a folder scan of 1,000 files against one of 200: it must not grow with the count.

The folders are made of symbolic links to the shared knee radiographs (cycled, largest files first), in a temporary
folder. Each scan
runs in a fresh child process (core.scanning.scan_folder, no history, rows consumed and dropped as a CSV writer
would) that reports its own peak RSS (``ru_maxrss``) at the end, and its RSS every 100 files on the way.

    .venv/bin/python benchmarks/memory.py [--small 200] [--large 1000]

Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import knee_images, write_result  # noqa: E402

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.pipeline.scanning import scan_folder
classifier = Classifier.load()
after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
def current_rss_mb():
    try:
        with open("/proc/self/statm") as handle:
            return round(int(handle.read().split()[1]) * resource.getpagesize() / 2**20, 1)
    except OSError:
        return None
count = failed = 0
samples = []
for row in scan_folder(sys.argv[1], classifier):
    count += 1
    failed += row.error is not None
    if count % 100 == 0:
        samples.append([count, current_rss_mb()])
elapsed = time.perf_counter() - start
print(json.dumps({"files": count, "failed": failed, "seconds": round(elapsed, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "rss_after_model_load_mb": round(after_load / 1024, 1), "rss_mb_every_100_files": samples}))
"""


def make_folder(root: Path, count: int, sources: list[Path]) -> Path:
    folder = root / f"scan-{count}"
    folder.mkdir()
    for i in range(count):
        source = sources[i % len(sources)]
        (folder / f"{i:05d}{source.suffix}").symlink_to(source)
    return folder


def measure(folder: Path) -> dict:
    repo = str(Path(__file__).resolve().parents[1])
    child = subprocess.run([sys.executable, "-c", CHILD, str(folder), repo], capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1000)
    args = parser.parse_args()
    # Largest first: both folders then hold the biggest radiographs, so a difference in peak is growth with the
    # number of files, not a bigger image that only the larger folder happens to reach.
    sources = sorted(knee_images(), key=lambda p: -p.stat().st_size)
    if not sources:
        print("no shared knee images (../shared/data/knee-xray); nothing to measure", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="osteo-bench-mem-") as scratch:
        small = measure(make_folder(Path(scratch), args.small, sources))
        large = measure(make_folder(Path(scratch), args.large, sources))
    growth = round(large["peak_rss_mb"] - small["peak_rss_mb"], 1)
    for r in (small, large):
        print(f"scan of {r['files']:5d} files: peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(after model load {r['rss_after_model_load_mb']:.0f} MB), {r['files'] / r['seconds']:.1f} files/s, {r['failed']} failed")
    print(f"growth from {args.small} to {args.large} files: {growth:+.1f} MB (should be about zero: allocator noise)")
    trace = [mb for _, mb in large["rss_mb_every_100_files"]]
    if trace and None not in trace:
        print(f"RSS every 100 files of the {args.large}-file scan: {', '.join(f'{mb:.0f}' for mb in trace)} MB")
    write_result("memory", {"small": small, "large": large, "growth_mb": growth})
    return 0


if __name__ == "__main__":
    sys.exit(main())
