"""``osteo train-knee-detector``: cross-validate the knee detector, fit the shipped one, write it and its figures.

Steps: films with checked boxes -> 5-fold out-of-fold candidates -> per-fold thresholds from the other folds ->
hit rate (IoU >= 0.5, centre inside), knee-count confusion per source -> time per full-size film -> knees "found"
on the not-knee scope folder -> final fit on every checked film -> ``knee_detector.npz`` listed in the model card ->
``reports/knee_detection_tables.md`` and ``.json``. numpy only (no TensorFlow); about 6 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.card import CARD_FILENAME, list_model_file
from osteo_desktop.core.model.knee_detector import CARD_ROLE, DETECTOR_FILE, KneeDetector
from osteo_desktop.core.paths import shared_data_dir
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.training.knee_detector import (
    SET_FOLDERS, TRAIN_SOURCES, Film, choose_thresholds, cross_validate, evaluate, load_films, train_classifier,
    is_test_holdout, wilson, working_image,
)

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]


def twin_fullsize_films(films: list[Film], shared: Path) -> list[Film]:
    """Full-size films without checked rows of their own get their knee-xray twin's checked boxes, scaled by the
    width and height ratios (the same radiograph; annotations/README.md does the same for the proposals)."""
    import csv

    have = {f.file for f in films if f.source == "knee-xray-fullsize"}
    by_file = {f.file: f for f in films if f.source == "knee-xray"}
    out = []
    with open(shared / SET_FOLDERS["knee-xray-fullsize"] / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            twin = by_file.get(row["shared_file"])
            if row["file"] in have or twin is None:
                continue
            width, height = int(row["width"]), int(row["height"])
            sx, sy = width / twin.width, height / twin.height
            boxes = [(round(b[0] * sx), round(b[1] * sy), min(width, round(b[2] * sx)), min(height, round(b[3] * sy)))
                     for b in twin.boxes]
            out.append(Film("knee-xray-fullsize", row["file"], shared / SET_FOLDERS["knee-xray-fullsize"] / row["file"],
                            twin.repo, twin.fold, width, height, twin.count, boxes))
    return out


def time_fullsize(shared: Path, detectors: dict[int, KneeDetector], folds: dict[str, int]) -> dict:
    """Wall time of ``detect`` per full-size file (read excluded), with the fold model that did not see it."""
    import csv

    rows = list(csv.DictReader(open(shared / SET_FOLDERS["knee-xray-fullsize"] / "manifest.csv", newline="")))
    times, cpu, pixels_mp = [], [], []
    for row in rows:
        pixels = read_radiograph(shared / SET_FOLDERS["knee-xray-fullsize"] / row["file"]).pixels
        detector = detectors[folds.get(row["shared_file"], 0)]
        detector.detect(pixels)  # warm the caches once per film; the second call is timed
        start, start_cpu = time.perf_counter(), time.process_time()
        detector.detect(pixels)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        pixels_mp.append(pixels.size / 1e6)
    t = np.array(times)
    return {"films": len(t), "mean_ms": float(t.mean()), "median_ms": float(np.median(t)), "max_ms": float(t.max()),
            "p90_ms": float(np.percentile(t, 90)), "megapixels": [float(min(pixels_mp)), float(max(pixels_mp))],
            "cpu_mean_ms": float(np.mean(cpu)), "cpu_max_ms": float(np.max(cpu)), "load_avg_1m": os.getloadavg()[0]}


def not_knee_counts(shared: Path, detector: KneeDetector) -> dict:
    """How many knees the detector 'finds' on each not-knee category (the scope gate declines these first)."""
    import csv

    counts: dict[str, dict[str, int]] = {}
    for row in csv.DictReader(open(shared / "data/scope/manifest.csv", newline="")):
        if row["in_scope"] == "1":
            continue
        try:
            pixels = read_radiograph(shared / "data/scope" / row["file"]).pixels
        except Exception as exc:  # noqa: BLE001 - an unreadable file is declined by the reader, not counted here
            log.debug("%s unreadable: %s", row["file"], exc)
            found = "unreadable"
        else:
            found = str(len(detector.detect(pixels)))
        counts.setdefault(row["category"], {}).setdefault(found, 0)
        counts[row["category"]][found] += 1
    return counts


def _rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.3f} ({low:.3f}-{high:.3f})" if n else "-"


def tables(summary: dict, timing: dict | None, not_knee: dict | None, final: KneeDetector, n_films: int) -> str:
    lines = ["| films from | films | knees | hit IoU>=0.5 (95% Wilson) | centre inside | median IoU | extra boxes | "
             "knee count right (95% Wilson) | count confusion (truth->found) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in summary["table"].items():
        confusion = ", ".join(f"{k}: {v}" for k, v in row["confusion"].items())
        lines.append(f"| {name} | {row['films']} | {row['knees']} | {_rate(row['hit_iou50'], row['knees'])} | "
                     f"{_rate(row['centre_inside'], row['knees'])} | {row['median_iou']:.3f} | {row['extra_boxes']} | "
                     f"{_rate(row['count_correct'], row['films'])} | {confusion} |")
    misses = [item for item in summary["per_film"]
              if len(item["predicted"]) != item["film"].count or any(m[0] < 0.5 for m in item["matches"])]
    lines += ["", "Box geometry of the hits: found/checked size (median, quartiles); centre distance in checked-box "
                  "sides (median, 90th percentile):", ""]
    for name, row in summary["table"].items():
        if row["size_ratio"]:
            r, o = row["size_ratio"], row["centre_offset"]
            lines.append(f"- {name}: size {r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f}); centre {o[0]:.3f} (90%: {o[1]:.3f})")
    lines += ["", "Films with a wrong count or a knee missed (IoU < 0.5):", ""]
    for item in misses:
        ious = ", ".join(f"{m[0]:.2f}" for m in item["matches"])
        lines.append(f"- {item['film'].key}: {item['film'].count} knee(s), found {len(item['predicted'])}; IoU {ious or '-'}")
    if timing:
        lines += ["", f"Time of `detect` per full-size film ({timing['films']} files, "
                      f"{timing['megapixels'][0]:.1f}-{timing['megapixels'][1]:.1f} MP, read excluded): mean "
                      f"{timing['mean_ms']:.1f} ms, median {timing['median_ms']:.1f} ms, 90th percentile "
                      f"{timing['p90_ms']:.1f} ms, max {timing['max_ms']:.1f} ms; CPU time mean {timing['cpu_mean_ms']:.1f} ms, "
                      f"max {timing['cpu_max_ms']:.1f} ms (1-minute load average {timing['load_avg_1m']:.1f} on "
                      f"{os.cpu_count()} cores at the end: wall time includes waiting for the CPU)."]
    if not_knee:
        lines += ["", "| not-knee category | files | 0 knees | 1 knee | 2 knees | unreadable |", "| --- | --- | --- | --- | --- | --- |"]
        for category, found in sorted(not_knee.items()):
            lines.append(f"| {category} | {sum(found.values())} | {found.get('0', 0)} | {found.get('1', 0)} | "
                         f"{found.get('2', 0)} | {found.get('unreadable', 0)} |")
    lines += ["", f"Shipped detector: trained on {n_films} films; min_score {final.min_score:.3f}, "
                  f"pair_score {final.pair_score:.3f} (from all out-of-fold scores)."]
    return "\n".join(lines) + "\n"


def train_knee_detector_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="osteo train-knee-detector",
                                     description="Cross-validate and train the knee detector on hand-checked boxes.")
    parser.add_argument("--boxes", type=Path, action="append", default=None,
                        help="box CSV (annotations/README.md columns); repeat to add files whose rows replace a film's "
                             "earlier rows (default: annotations/knee_boxes.csv)")
    parser.add_argument("--shared", type=Path, default=shared_data_dir(), help="shared data folder (holds data/)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "model_weights", help="model folder (with model_card.json)")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "knee_detection_tables.md")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "knee-detector")
    parser.add_argument("--include-unchecked", action="store_true",
                        help="also use rows not checked by eye (development only: proposals are often wrong)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cv", action="store_true", help="no cross-validation: fixed thresholds, no figures")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("osteo_desktop.training").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    start = time.perf_counter()
    boxes = args.boxes or [REPO_ROOT / "annotations" / "knee_boxes.csv"]
    films = load_films(boxes, args.shared, checked_only=not args.include_unchecked)
    films += twin_fullsize_films(films, args.shared)
    train_films = [f for f in films if f.source in TRAIN_SOURCES]
    if not train_films:
        raise SystemExit("no checked boxes found: nothing to train on (see annotations/README.md)")
    log.info("%d films (%d to train on)", len(films), len(train_films))
    for film in films:
        working_image(film, args.cache_dir)
    shipped_films = [f for f in train_films if not is_test_holdout(f.key)]
    weights, bias = train_classifier(shipped_films, args.cache_dir, args.seed)
    template = KneeDetector(weights, bias, 0.0, 0.0)
    summary = timing = not_knee = None
    if args.skip_cv:
        final = template
    else:
        outcomes, fold_models = cross_validate(films, args.cache_dir, args.seed)
        summary = evaluate(outcomes, template)
        min_score, pair_score = choose_thresholds([o for o in outcomes if o.film.source in TRAIN_SOURCES], template)
        final = KneeDetector(weights, bias, min_score, pair_score)
        folds = {f.file: f.fold for f in films if f.source == "knee-xray"}
        fold_detectors = {fold: KneeDetector(w, b, min_score, pair_score) for fold, (w, b) in fold_models.items()}
        timing = time_fullsize(args.shared, fold_detectors, folds)
        not_knee = not_knee_counts(args.shared, final)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / DETECTOR_FILE, **final.to_arrays())
    KneeDetector.load(args.out / DETECTOR_FILE)  # the written file must load as the app loads it
    if (args.out / CARD_FILENAME).is_file():
        list_model_file(args.out, CARD_ROLE, DETECTOR_FILE)
    if summary is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(tables(summary, timing, not_knee, final, len(shipped_films)))
        figures = {"table": summary["table"], "timing": timing, "not_knee": not_knee,
                   "min_score": final.min_score, "pair_score": final.pair_score, "train_films": len(shipped_films),
                   "test_holdout": sorted(f.key for f in train_films if is_test_holdout(f.key)),
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "wall_s": time.perf_counter() - start}
        args.report.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
        log.info("figures written to %s", args.report)
    log.info("wrote %s in %.0f s", args.out / DETECTOR_FILE, time.perf_counter() - start)
    return 0
