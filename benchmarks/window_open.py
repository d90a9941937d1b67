#!/usr/bin/env python3
"""Opening a 6-megapixel radiograph in the window: time from ``open_file`` to the result on screen (issue 13).

The real :class:`MainWindow` (offscreen unless a display is set), a throw-away history and settings, as
``osteo-desktop --self-test`` uses. Once the model has loaded, each film is opened with ``open_file`` (what File >
Open does) and timed until ``analysis_shown`` (emitted once the result, the model's input and the heat maps are
on screen). The first film is the cold figure (first analysis in the process: lazy initialisation, first
interpreter call, first Qt images); the others are warm. Films: the largest (5-6 MP) JPEG colour-stored, JPEG
grey and PNG of ../shared/data/knee-xray-fullsize, and a 12-bit uncompressed DICOM written from one of them; the
first film is opened again at the end.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/window_open.py [--rounds 2]

Target: result shown within 1 s. Writes benchmarks/results/window_open.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_result  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
FULLSIZE = SHARED / "data" / "knee-xray-fullsize"
TARGET_MS = 1000.0


def pick_films() -> list[tuple[str, Path]]:
    """The largest film of each kind (JPEG colour-stored, JPEG grey, PNG)."""
    from PIL import Image

    chosen: dict[str, tuple[int, Path]] = {}
    for path in sorted(FULLSIZE.glob("*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        with Image.open(path) as image:
            kind, pixels = f"{image.format} {image.mode}", image.width * image.height
        if kind not in chosen or pixels > chosen[kind][0]:
            chosen[kind] = (pixels, path)
    return [(kind, path) for kind, (_, path) in sorted(chosen.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each film is opened after the cold one")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args()
    films = pick_films()
    if not films:
        print(f"no full-size films in {FULLSIZE}", file=sys.stderr)
        return 1

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from fullsize import write_dicoms
    from osteo_desktop.core.results.history import History
    from osteo_desktop.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="osteo-bench-window-") as scratch:
        scratch_path = Path(scratch)
        dicom = next(p for p, syntax, _ in write_dicoms(scratch_path, [films[0][1]]) if syntax == "uncompressed")
        sequence = [*films, ("DICOM 12-bit uncompressed", dicom)]
        order = sequence + sequence * args.rounds  # the first is the cold open
        settings = QSettings(str(scratch_path / "settings.ini"), QSettings.Format.IniFormat)
        history = History(scratch_path / "history.sqlite3")
        window = MainWindow(settings=settings, history=history)
        state: dict = {}

        def done(key: str, value) -> None:
            state[key] = value
            state["at"] = time.perf_counter()
            app.quit()

        window.model_ready.connect(lambda: done("model", True))
        window.model_failed.connect(lambda message: done("error", message))
        window.analysis_shown.connect(lambda outcome: done("outcome", outcome))
        window.analysis_failed.connect(lambda message: done("error", message))
        window.show()
        start = time.perf_counter()
        if window.logic.classifier is None:
            QTimer.singleShot(int(args.timeout_s * 1000), lambda: done("error", "model not loaded in time"))
            app.exec()
        if "error" in state:
            print(state["error"], file=sys.stderr)
            return 1
        print(f"model ready {1000 * (time.perf_counter() - start):.0f} ms after the window was shown")
        for index, (kind, path) in enumerate(order):
            state.clear()
            from PIL import Image

            with Image.open(path) if kind[:5] != "DICOM" else _nullcontext() as image:
                megapixels = round(image.width * image.height / 1e6, 2) if image is not None else None
            cpu_start = time.process_time()
            QTimer.singleShot(0, lambda path=path: window.open_file(path))
            timer = QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(lambda: done("error", f"no result within {args.timeout_s:.0f} s"))
            timer.start(int(args.timeout_s * 1000))
            queued = time.perf_counter()
            app.exec()
            timer.stop()
            if "error" in state:
                print(f"{path.name}: {state['error']}", file=sys.stderr)
                return 1
            shown_ms = (state["at"] - queued) * 1000.0
            cpu_ms = (time.process_time() - cpu_start) * 1000.0
            outcome = state["outcome"]
            timings = {k: round(v, 1) for k, v in outcome.analysis.timings_ms.items()}
            row = {"file": path.name, "kind": kind, "megapixels": megapixels or round(
                outcome.analysis.radiograph.width * outcome.analysis.radiograph.height / 1e6, 2),
                   "cold": index == 0, "shown_ms": round(shown_ms, 1), "process_cpu_ms": round(cpu_ms, 1), "worker_elapsed_ms": round(outcome.elapsed_ms, 1),
                   "timings_ms": timings, "in_scope": outcome.analysis.prediction is not None}
            rows.append(row)
            print(f"{'cold' if row['cold'] else 'warm'}  {kind:26s} {row['megapixels']:4.1f} MP: result shown in "
                  f"{row['shown_ms']:6.0f} ms, process CPU {row['process_cpu_ms']:5.0f} ms (worker {row['worker_elapsed_ms']:.0f} ms; {timings})")
        window.close()
        history.close()
    warm = [r["shown_ms"] for r in rows if not r["cold"]]
    warm_cpu = [r["process_cpu_ms"] for r in rows if not r["cold"]]
    summary = {"cold_ms": rows[0]["shown_ms"], "cold_file": rows[0]["file"], "warm_median_ms": round(statistics.median(warm), 1),
               "warm_max_ms": max(warm), "cold_cpu_ms": rows[0]["process_cpu_ms"],
               "warm_cpu_median_ms": round(statistics.median(warm_cpu), 1), "warm_cpu_max_ms": max(warm_cpu), "target_ms": TARGET_MS,
               "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(f"open_file -> result shown: cold {summary['cold_ms']:.0f} ms, warm median {summary['warm_median_ms']:.0f} ms "
          f"(worst {summary['warm_max_ms']:.0f} ms) on 3-6 MP films (target {TARGET_MS:.0f} ms); load average "
          f"{summary['load_avg_1m']}. Process CPU time (all threads) per open: cold {summary['cold_cpu_ms']:.0f} ms, warm "
          f"median {summary['warm_cpu_median_ms']:.0f} ms (worst {summary['warm_cpu_max_ms']:.0f} ms)")
    write_result("window_open", {"summary": summary, "opens": rows})
    return 0


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
