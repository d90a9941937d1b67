#!/usr/bin/env python3
"""Time and memory of knee detection per full-size film (1-6 MP, the shared knee-xray-fullsize set).

For each file: read once (not timed), then ``KneeDetector.detect`` on the pixels as read, ``--repeats`` times; the
film's figure is its median, wall-clock and CPU time (on a machine shared with other work the two differ). Peak memory: the largest extra allocation one ``detect`` call makes (tracemalloc, which
numpy reports to) and the process's peak RSS at the end.

    .venv/bin/python benchmarks/knee_detection.py [--repeats 3]

Writes benchmarks/results/knee_detection.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_result  # noqa: E402

from osteo_desktop.core.model.knee_detector import KneeDetector  # noqa: E402
from osteo_desktop.core.paths import default_model_dir  # noqa: E402
from osteo_desktop.core.reading.reader import read_radiograph  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = SHARED / "data" / "knee-xray-fullsize"
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        print(f"no full-size films in {folder}; set OSTEO_SHARED_DIR")
        return 1
    detector = KneeDetector.load(default_model_dir())
    per_film, per_film_cpu, peaks, sizes, counts = [], [], [], [], {}
    for path in files:
        pixels = read_radiograph(path).pixels
        detector.detect(pixels)  # warm-up
        times, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            knees = detector.detect(pixels)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        per_film.append(statistics.median(times))
        per_film_cpu.append(statistics.median(cpu))
        tracemalloc.start()
        detector.detect(pixels)
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        sizes.append(pixels.size / 1e6)
        counts[len(knees)] = counts.get(len(knees), 0) + 1
    result = {
        "films": len(files), "repeats": args.repeats,
        "megapixels": [round(min(sizes), 2), round(max(sizes), 2)],
        "ms_per_film": {"mean": round(statistics.mean(per_film), 1), "median": round(statistics.median(per_film), 1),
                        "max": round(max(per_film), 1)},
        # CPU time of this process: on a shared machine the wall time includes waiting for the CPU.
        "cpu_ms_per_film": {"mean": round(statistics.mean(per_film_cpu), 1),
                            "median": round(statistics.median(per_film_cpu), 1), "max": round(max(per_film_cpu), 1)},
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "peak_extra_mb_per_call": {"median": round(statistics.median(peaks), 1), "max": round(max(peaks), 1)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "knees_found": {str(k): v for k, v in sorted(counts.items())},
    }
    ms = result["ms_per_film"]
    print(f"{len(files)} full-size films ({result['megapixels'][0]}-{result['megapixels'][1]} MP): detect "
          f"mean {ms['mean']} ms, median {ms['median']} ms, max {ms['max']} ms per film (CPU time: mean "
          f"{result['cpu_ms_per_film']['mean']} ms, max {result['cpu_ms_per_film']['max']} ms); "
          f"peak extra memory per call {result['peak_extra_mb_per_call']['max']} MB; peak RSS {result['peak_rss_mb']} MB")
    write_result("knee_detection", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
