#!/usr/bin/env python3
"""Start-up of the frozen app: from launch to the main window ready, and to the first result on screen.

Runs ``osteo-desktop --self-test`` of the bundle (dist/osteo-desktop, built by scripts/build-installer.sh) on its
bundled sample, offscreen, several times, and reads the times the self-test reports: ``process_start_to_launch``
(the process's age when the app's first line ran: loader, unpacking, interpreter start) plus ``window_ready`` and
``first_result`` (measured from that first line). The first run is reported apart: it is the nearest to a cold
start (the files may still be in the page cache from the build). Targets: window under 1.5 s, result under 2 s.

    .venv/bin/python benchmarks/startup.py [--runs 5] [--bundle dist/osteo-desktop]

Writes benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_result  # noqa: E402


def one_run(command: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="osteo-bench-start-") as scratch:
        out = Path(scratch) / "self-test.json"
        env = {"HOME": scratch, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen",
               "TMPDIR": scratch, "XDG_RUNTIME_DIR": scratch}
        start = time.perf_counter()
        subprocess.run([*command, "--self-test", "--self-test-output", str(out)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        wall = (time.perf_counter() - start) * 1000.0
        report = json.loads(out.read_text())
    marks = report["startup_ms"]
    offset = marks.get("process_start_to_launch") or 0.0
    return {
        "to_window_ms": round(offset + marks["window_ready"], 1),
        "to_first_result_ms": round(offset + marks["first_result"], 1),
        "model_loaded_ms": round(offset + marks.get("model_loaded", float("nan")), 1),
        "process_start_to_launch_ms": offset,
        "wall_until_exit_ms": round(wall, 1),
        "ok": report.get("ok"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundle", type=Path, default=REPO / "dist" / "osteo-desktop")
    args = parser.parse_args()
    executable = args.bundle / ("osteo-desktop.exe" if os.name == "nt" else "osteo-desktop")
    if not executable.exists():
        print(f"no bundle at {args.bundle}: run scripts/build-installer.sh first", file=sys.stderr)
        return 1
    runs = [one_run([str(executable)]) for _ in range(args.runs + 1)]
    first, rest = runs[0], runs[1:]
    summary = {key: {"median": round(statistics.median(r[key] for r in rest), 1), "min": round(min(r[key] for r in rest), 1)}
               for key in ("to_window_ms", "to_first_result_ms", "wall_until_exit_ms")}
    print(f"bundle {args.bundle}: {args.runs} runs after a first one")
    print(f"  launch -> main window ready: median {summary['to_window_ms']['median']:.0f} ms "
          f"(min {summary['to_window_ms']['min']:.0f}; first run {first['to_window_ms']:.0f}), target < 1500")
    print(f"  launch -> first result:      median {summary['to_first_result_ms']['median']:.0f} ms "
          f"(min {summary['to_first_result_ms']['min']:.0f}; first run {first['to_first_result_ms']:.0f}), target < 2000")
    write_result("startup", {"bundle": str(args.bundle), "first_run": first, "runs": rest, "summary": summary,
                             "targets_ms": {"to_window": 1500, "to_first_result": 2000}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
