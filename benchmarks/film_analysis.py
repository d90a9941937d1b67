#!/usr/bin/env python3
"""The whole analysis of a film as the app and `osteo predict` now run it, against the analysis before issue 11.

before:  preprocess the whole film, one interpreter pass, the scope gate on its activations (model 1.1.0's path).
now:     the same film through core.pipeline.film: the gate's look, the film input, the knee detector, each knee's
         region, one interpreter call for the film and its knees, the gate, the knee head (explanation off).

Both start from the decoded film (reading the file is the same for both and is reported apart; the ratio with the
read added is given too). Films: the shared
knee-xray set, as many single-knee as both-knee films (by the hand-checked boxes), plus their full-size versions.
Rounds alternate the two paths, so a busy machine slows both; the minimum over rounds is the undisturbed figure.
Target (issue 11): "now" at most 2x "before" per film.

With ``--other-head`` a third path is timed, "other": the same analysis with the knee head read the other way (a
card that averages each knee with its mirror image is timed reading each knee once in its canonical orientation,
and the other way round), so both ways are measured in the same rounds on the same films.

    .venv/bin/python benchmarks/film_analysis.py [--films 12] [--rounds 5] [--other-head]

Writes benchmarks/results/film_analysis.json.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_result  # noqa: E402 - before NumPy: sets its thread count

from osteo_desktop.core.paths import shared_knee_dir  # noqa: E402


def films(limit: int) -> list[tuple[str, Path, int]]:
    """(set, path, knees drawn by hand) for ``limit`` knee-xray films, half single- and half both-knee, and the
    full-size versions of those that have one."""
    counts: dict[str, int] = {}
    with open(REPO / "annotations" / "knee_boxes.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["source"] == "knee-xray" and row["x0"].strip():
                counts[row["file"]] = counts.get(row["file"], 0) + 1
    knee_dir = shared_knee_dir()
    singles = [f for f, n in sorted(counts.items()) if n == 1][: limit // 2]
    doubles = [f for f, n in sorted(counts.items()) if n == 2][: limit - len(singles)]
    chosen = [("knee-xray", knee_dir / f, counts[f]) for f in singles + doubles]
    full = knee_dir.parent / "knee-xray-fullsize"
    if (full / "manifest.csv").is_file():
        with open(full / "manifest.csv", newline="", encoding="utf-8") as handle:
            twins = {row["shared_file"]: row["file"] for row in csv.DictReader(handle)}
        chosen += [("fullsize", full / twins[f], counts[f]) for f in singles + doubles if f in twins]
    return [c for c in chosen if c[1].is_file()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--other-head", action="store_true", help="also time the knee head read the other way (see above)")
    args = parser.parse_args()

    from osteo_desktop.core.model.preprocessing import preprocess
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.model.scope import look
    from osteo_desktop.core.pipeline.analysis import analyse_radiograph
    from osteo_desktop.core.reading.reader import read_radiograph

    from dataclasses import replace

    classifier = Classifier.load()
    shipped_head = classifier.knee_head
    if shipped_head.orientation is None:
        other_head = replace(shipped_head, hflip_tta=False, orientation="centroid_p4")
        other_what = "each knee read once, in its canonical orientation (centroid_p4), instead of with its mirror image"
    else:
        other_head = replace(shipped_head, hflip_tta=True, orientation=None)
        other_what = "each knee read with its mirror image and the two averaged, instead of once in its canonical orientation"
    chosen = films(args.films)
    if not chosen:
        print("no shared knee films found", file=sys.stderr)
        return 1
    radiographs, read_ms = [], []
    for _, path, _ in chosen:
        start = time.perf_counter()
        radiographs.append(read_radiograph(path))
        read_ms.append((time.perf_counter() - start) * 1000.0)

    def before(radiograph) -> None:
        evidence = look(radiograph.pixels, radiograph.metadata)
        (prediction,) = classifier.predict_inputs(preprocess(radiograph.pixels, classifier.config)[None])
        classifier.scope_gate.judge(evidence, prediction.backbone)

    def now(radiograph) -> None:
        analyse_radiograph(radiograph, classifier, explain=False)

    def other(radiograph) -> None:
        classifier.knee_head = other_head
        try:
            analyse_radiograph(radiograph, classifier, explain=False)
        finally:
            classifier.knee_head = shipped_head

    paths = [("before", before), ("now", now)] + ([("other", other)] if args.other_head else [])
    for radiograph in radiographs[:2]:  # warm-up: interpreter shapes, caches
        for _, run in paths:
            run(radiograph)
    times: dict[str, list[list[float]]] = {name: [[] for _ in chosen] for name, _ in paths}
    stages: list[dict[str, list[float]]] = [{} for _ in chosen]
    load_start = os.getloadavg()[0]
    for _ in range(args.rounds):
        for i, radiograph in enumerate(radiographs):
            for name, run in paths:
                start = time.perf_counter()
                run(radiograph)
                times[name][i].append((time.perf_counter() - start) * 1000.0)
            for stage, ms in analyse_radiograph(radiograph, classifier, explain=False).timings_ms.items():
                stages[i].setdefault(stage, []).append(ms)
    rows = []
    for i, (group, path, drawn) in enumerate(chosen):
        knees = len(analyse_radiograph(radiographs[i], classifier, explain=False).knees)
        best_before, best_now = min(times["before"][i]), min(times["now"][i])
        rows.append({"set": group, "file": path.name, "pixels": list(radiographs[i].pixels.shape), "knees_drawn": drawn,
                     "knees_found": knees, "read_ms": round(read_ms[i], 1), "before_ms": round(best_before, 1),
                     "now_ms": round(best_now, 1), "ratio": round(best_now / best_before, 2),
                     "ratio_with_read": round((read_ms[i] + best_now) / (read_ms[i] + best_before), 2),
                     "stages_ms": {k: round(min(v), 1) for k, v in stages[i].items() if k != "read"}})
        if args.other_head:
            best_other = min(times["other"][i])
            rows[-1].update({"other_ms": round(best_other, 1), "other_ratio": round(best_other / best_before, 2)})
    print(f"{'set':<10} {'file':<32} {'size':>11} {'knees':>5} {'before':>7} {'now':>7} {'ratio':>6}  stages (ms, best)")
    for r in rows:
        size = "x".join(str(v) for v in r["pixels"])
        print(f"{r['set']:<10} {r['file'][:32]:<32} {size:>11} {r['knees_found']:>5} {r['before_ms']:>7.1f} "
              f"{r['now_ms']:>7.1f} {r['ratio']:>6.2f}  {r['stages_ms']}")
    summary = {}
    for group in sorted({r["set"] for r in rows}):
        ratios = [r["ratio"] for r in rows if r["set"] == group]
        summary[group] = {"films": len(ratios), "median_ratio": round(statistics.median(ratios), 2),
                          "max_ratio": max(ratios),
                          "median_ratio_with_read": round(statistics.median(r["ratio_with_read"] for r in rows if r["set"] == group), 2),
                          "median_before_ms": round(statistics.median(r["before_ms"] for r in rows if r["set"] == group), 1),
                          "median_now_ms": round(statistics.median(r["now_ms"] for r in rows if r["set"] == group), 1)}
        if args.other_head:
            summary[group]["median_other_ms"] = round(statistics.median(r["other_ms"] for r in rows if r["set"] == group), 1)
            summary[group]["median_other_ratio"] = round(statistics.median(r["other_ratio"] for r in rows if r["set"] == group), 2)
            summary[group]["max_other_ratio"] = max(r["other_ratio"] for r in rows if r["set"] == group)
            print(f"{group}: other ({other_what}): median {summary[group]['median_other_ms']} ms per film, ratio median "
                  f"{summary[group]['median_other_ratio']}x, max {summary[group]['max_other_ratio']}x")
        print(f"{group}: median {summary[group]['median_before_ms']} -> {summary[group]['median_now_ms']} ms per film, "
              f"ratio median {summary[group]['median_ratio']}x, max {summary[group]['max_ratio']}x (target <= 2x); "
              f"with reading the file: median {summary[group]['median_ratio_with_read']}x")
    write_result("film_analysis", {"model_version": classifier.version, "knee_model_version": shipped_head.version,
                                   "knee_reading": "canonical orientation, one pass per knee" if shipped_head.orientation else
                                   ("each knee and its mirror image, averaged" if shipped_head.hflip_tta else "one pass per knee"),
                                   "other": other_what if args.other_head else None, "rounds": args.rounds,
                                   "load_avg_1m_at_start": round(load_start, 2), "films": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
