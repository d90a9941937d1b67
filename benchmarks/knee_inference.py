#!/usr/bin/env python3
"""Whole-film analysis with the per-knee model against today's per-image inference, on shared films.

today:  read the file, preprocess the whole film, one interpreter pass (the 1.1.0 head).
2.0.0:  read the file, preprocess the whole film (for the gate / whole-film pass), cut each knee's region, and run
        the film and every knee region (and, as shipped, each region's mirror) in one interpreter call, then the
        knee head in NumPy. Explanation off. Boxes are the hand-checked ones (the detector is timed elsewhere).
Also timed: the knee model without the mirror images (single pass, as cut) and read once per knee in its canonical
orientation (centroid_p4; reports/knee_canonical.md), whichever way the card reads it.

Target (issue 11): 2.0.0 at most 2x today's time per film. Rounds alternate the two, so a busy machine slows both;
the minimum over rounds is the undisturbed figure.

    .venv/bin/python benchmarks/knee_inference.py [--threads 2] [--rounds 5] [--boxes FILE ...]

Writes benchmarks/results/knee_inference.json.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, summary_ms, write_result  # noqa: E402

from osteo_desktop.core.paths import shared_knee_dir  # noqa: E402


def checked_films(box_files: list[Path], limit: int, fullsize: bool = True) -> list[tuple[Path, list[tuple[float, ...]]]]:
    """Full-size films (both sources, one and two knees) with their checked boxes scaled to the full-size file, or
    (``fullsize`` False) the same films as stored in knee-xray (at most 1024 pixels a side)."""
    knee_dir = shared_knee_dir()
    full = knee_dir.parent / "knee-xray-fullsize"
    boxes: dict[str, list] = {}
    for path in box_files:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["source"] == "knee-xray" and row.get("checked_by_eye", "").lower() == "yes":
                    boxes.setdefault(row["file"], []).append((tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1")), int(row["width"])))
    films = []
    with open(full / "manifest.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["shared_file"] in boxes:
                ratio = int(row["width"]) / boxes[row["shared_file"]][0][1]
                if fullsize:
                    films.append((full / row["file"], [tuple(v * ratio for v in b) for b, _ in boxes[row["shared_file"]]]))
                else:
                    films.append((knee_dir / row["shared_file"], [b for b, _ in boxes[row["shared_file"]]]))
    singles = [f for f in films if len(f[1]) == 1][: limit // 2]
    doubles = [f for f in films if len(f[1]) == 2][: limit - len(singles)]
    return singles + doubles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--films", type=int, default=12)
    parser.add_argument("--boxes", type=Path, action="append", default=None)
    parser.add_argument("--stored", action="store_true", help="the knee-xray copies (<= 1024 px) instead of the full-size files")
    args = parser.parse_args()

    from osteo_desktop.core.model.knee_model import KneeHead, analyse_film
    from osteo_desktop.core.model.preprocessing import preprocess
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.reading.reader import read_radiograph

    classifier = Classifier.load(num_threads=args.threads)
    head = KneeHead.from_card(classifier.card)
    films = checked_films(args.boxes or [REPO / "annotations" / "knee_boxes.csv"], args.films, not args.stored)
    if not films:
        print("no full-size films with hand-checked boxes found")
        return 1
    single_pass = replace(head, hflip_tta=False, orientation=None)
    canonical = replace(head, hflip_tta=False, orientation="centroid_p4")

    def today(path: Path) -> None:
        pixels = read_radiograph(path).pixels
        classifier.predict_inputs(preprocess(pixels, classifier.config)[None])

    def knees(path: Path, boxes, knee_head) -> None:
        pixels = read_radiograph(path).pixels
        analyse_film(classifier, knee_head, pixels, boxes, film_input=preprocess(pixels, classifier.config))

    modes = {"today": lambda f: today(f[0]), "knee_model": lambda f: knees(f[0], f[1], head),
             "knee_model_single_pass": lambda f: knees(f[0], f[1], single_pass),
             "knee_model_canonical": lambda f: knees(f[0], f[1], canonical)}
    times: dict[str, dict[str, list[float]]] = {m: {str(f[0].name): [] for f in films} for m in modes}
    for film in films:  # warm-up: interpreter shapes, file cache
        for fn in modes.values():
            fn(film)
    for _ in range(args.rounds):
        for film in films:
            for mode, fn in modes.items():
                start = time.perf_counter()
                fn(film)
                times[mode][film[0].name].append((time.perf_counter() - start) * 1000.0)
    per_film = {m: {name: min(values) for name, values in t.items()} for m, t in times.items()}
    ratios = {m: [per_film[m][n] / per_film["today"][n] for n in per_film["today"]] for m in modes if m != "today"}
    result = {
        "knee_model_version": head.version, "knee_model_reads": "canonical orientation, one pass per knee" if head.orientation else
        ("each knee and its mirror image, averaged" if head.hflip_tta else "one pass per knee"),
        "files": "knee-xray (<= 1024 px)" if args.stored else "knee-xray-fullsize",
        "threads": args.threads, "rounds": args.rounds, "films": len(films),
        "knees": sum(len(b) for _, b in films), "two_knee_films": sum(len(b) == 2 for _, b in films),
        "ms_per_film": {m: summary_ms(list(v.values())) for m, v in per_film.items()},
        "ratio_to_today": {m: {"median": round(statistics.median(r), 2), "max": round(max(r), 2)} for m, r in ratios.items()},
        "target_ratio": 2.0,
    }
    result["meets_target"] = result["ratio_to_today"]["knee_model"]["median"] <= 2.0
    for mode, stats in result["ms_per_film"].items():
        print(f"{mode:24s} median {stats['median']:7.1f} ms/film (min {stats['min']:.1f})")
    for mode, r in result["ratio_to_today"].items():
        print(f"{mode:24s} {r['median']:.2f}x today (worst film {r['max']:.2f}x)")
    write_result("knee_inference_stored" if args.stored else "knee_inference", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
