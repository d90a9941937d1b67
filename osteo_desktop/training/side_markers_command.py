"""``python -m osteo_desktop.training.side_markers_command``: cross-validate the side marker reader, fit the shipped
one, write it (listed in the model card only with ``--list-in-card``), and write its figures (reports/side_markers_tables.md and .json).

Steps: candidates and patches of the 288 knee-xray films (annotations/side_markers.csv) -> out-of-fold probabilities
of a three-network ensemble per manifest fold -> marker and film figures per threshold, and with the threshold itself
chosen out of fold -> the shipping threshold (no wrong read at all out of fold) -> the same radiographs at full size
read by the fold ensemble that did not see them -> markers read on the 120 knee-other images (none carries a
marker that the eye could see) -> the shipped ensemble on every film but the test hold-outs. numpy only; about
6 minutes on 2 busy cores.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.card import CARD_FILENAME, list_model_file
from osteo_desktop.core.model.knee_sides import assign_sides
from osteo_desktop.core.model.side_markers import CARD_ROLE, MARKER_FILE, MarkerReader
from osteo_desktop.core.paths import shared_data_dir
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.training.knee_detector import is_test_holdout
from osteo_desktop.training.metrics import wilson
from osteo_desktop.training.side_markers import (
    HIDDEN, IGNORE, SEEDS, THRESHOLDS, ensemble_out_of_fold, evaluate, extract, nested_evaluation, read_knee_centres,
    read_marker_labels, shipping_threshold, stack, synthetic_patches, train_network,
)

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]


def rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.3f} ({low:.3f}-{high:.3f})" if n else "-"


def fullsize_check(shared: Path, fold_readers: dict, threshold: float, labels: dict, folds: dict) -> dict:
    """The full-size copies read by the fold ensemble that never saw their radiograph, against the hand labels of
    the small copy (boxes scaled); sides against the sides the hand-read markers give on the full-size knee boxes."""
    root = shared / "data" / "knee-xray-fullsize"
    knees = read_knee_centres(REPO_ROOT / "annotations" / "knee_boxes.csv", source="knee-xray-fullsize")
    out = {"films": 0, "reads": 0, "reads_right": 0, "markers": 0, "markers_found": 0, "lone_films": 0, "lone_with_marker": 0, "sides_given": 0,
           "sides_wrong": 0, "ms": []}
    with open(root / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        small = row["shared_file"]
        if small not in labels:
            continue
        pixels = read_radiograph(root / row["file"]).pixels
        reader = fold_readers[folds[small]]
        start = time.perf_counter()
        read = reader.read(pixels, threshold)
        out["ms"].append((time.perf_counter() - start) * 1000)
        height, width = pixels.shape
        sw, sh = _small_size(shared, small)
        sx, sy = width / sw, height / sh
        truth = [(letter[0], (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)) for letter, b in labels[small]]
        out["films"] += 1
        for marker in read:
            out["reads"] += 1
            cx, cy = marker.centre
            out["reads_right"] += any(t[0] == marker.letter and _near((cx, cy), t[1]) for t in truth)
        for letter, b in truth:
            out["markers"] += 1
            out["markers_found"] += any(m.letter == letter and b[0] <= m.centre[0] <= b[2] and b[1] <= m.centre[1] <= b[3]
                                        for m in read)
        centres = knees.get(row["file"], [])
        if centres:
            predicted = assign_sides(centres, None, [(m.letter, *m.centre) for m in read])
            expected = assign_sides(centres, None, [(t[0], (t[1][0] + t[1][2]) / 2, (t[1][1] + t[1][3]) / 2)
                                                    for t in truth])
            if len(centres) == 1:
                out["lone_films"] += 1
                out["lone_with_marker"] += expected[0] != "unknown"
                out["sides_given"] += predicted[0] != "unknown"
            # Wrong: a side given that differs from the hand-read markers' (a side left unknown is not wrong).
            out["sides_wrong"] += any(p != "unknown" and p != e for p, e in zip(predicted, expected))
    out["ms"] = [float(np.median(out["ms"])), float(np.max(out["ms"]))] if out["ms"] else []
    return out


_SIZES: dict = {}


def _small_size(shared: Path, file: str) -> tuple[int, int]:
    if not _SIZES:
        with open(shared / "data" / "knee-xray" / "manifest.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                _SIZES[row["file"]] = (int(row["width"]), int(row["height"]))
    return _SIZES[file]


def _near(point, box, reach: float = 1.0) -> bool:
    grow = reach * max(box[2] - box[0], box[3] - box[1])
    return box[0] - grow <= point[0] <= box[2] + grow and box[1] - grow <= point[1] <= box[3] + grow


def other_source_reads(shared: Path, reader: MarkerReader) -> dict:
    """Markers the shipped reader finds on the knee-other images (other sources; none was seen to carry one)."""
    root = shared / "data" / "scope" / "knee-other"
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".dcm"))
    found = {}
    for path in files:
        read = reader.read(read_radiograph(path).pixels)
        if read:
            found[str(path.relative_to(root))] = [(m.letter, m.box, round(m.probability, 4)) for m in read]
    return {"files": len(files), "with_reads": found}


def tables(grid: list[dict], nested: dict, chosen: dict, threshold: float, full: dict, other: dict) -> str:
    def row(label: str, r: dict) -> str:
        m, f = r["markers"], r["films"]
        return (f"| {label} | {rate(m['R']['found'], m['R']['total'])} | {rate(m['R']['right'], m['R']['reads'])} | "
                f"{rate(m['L']['found'], m['L']['total'])} | {rate(m['L']['right'], m['L']['reads'])} | "
                f"{f.get('lone: side given', 0)}/{f.get('lone films', 0)} | {f.get('lone: side WRONG', 0)} | "
                f"{f.get('pair: convention confirmed', 0)}/{f.get('pair films', 0)} | "
                f"{f.get('pair: convention swapped', 0)} | {f.get('pair: sides WRONG', 0)} |")
    lines = ["| threshold | R markers found (recall) | R reads right (precision) | L markers found | L reads right | "
             "lone knees given a side | lone WRONG | pairs confirmed | pairs swapped | pair WRONG |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [row(f"{r['threshold']}", r) for r in grid]
    lines.append(row("chosen out of fold (" + ", ".join(f"fold {k}: {v}" for k, v in chosen.items()) + ")", nested))
    lone = nested["films"]
    lines += ["", f"Shipping threshold: {threshold}.",
              f"Nested wrong lone sides: {rate(lone.get('lone: side WRONG', 0), lone.get('lone: side given', 0))}.",
              "", f"Full-size copies ({full['films']} films, fold ensembles, threshold {threshold}): markers found "
              f"{rate(full['markers_found'], full['markers'])}, reads right {rate(full['reads_right'], full['reads'])}, "
              f"lone knees given a side {full['sides_given']} of {full['lone_films']} ({full['lone_with_marker']} carry "
              f"a marker read by eye), films with a side that differs from the hand-read markers' "
              f"{full['sides_wrong']}; read time median "
              f"{full['ms'][0]:.0f} ms, max {full['ms'][1]:.0f} ms." if full["ms"] else "",
              "", f"knee-other ({other['files']} images, shipped reader): {len(other['with_reads'])} with a marker read:",
              ""]
    lines += [f"- {name}: {reads}" for name, reads in other["with_reads"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=shared_data_dir())
    parser.add_argument("--labels", type=Path, default=REPO_ROOT / "annotations" / "side_markers.csv")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "model_weights")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "side_markers_tables.md")
    parser.add_argument("--synthetic", type=int, default=0,
                        help="rendered boxed glyphs (training.side_markers.synthetic_patches) added to every training set")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="hidden units of each network")
    parser.add_argument("--list-in-card", action="store_true",
                        help="also list side_markers.npz in model_card.json, which WIRES it into the app's sides "
                             "(left out by default: reports/side_markers.md says why)")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "side-markers" / "candidates.npz")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    films = extract(args.shared, args.labels, args.cache)
    labels = read_marker_labels(args.labels)
    knees = read_knee_centres(REPO_ROOT / "annotations" / "knee_boxes.csv")
    extra = synthetic_patches(args.synthetic, seed=7) if args.synthetic else None
    probs, fold_readers = ensemble_out_of_fold(films, extra=extra, hidden=args.hidden)
    grid = [evaluate(films, probs, labels, knees, t) for t in THRESHOLDS]
    nested, chosen = nested_evaluation(films, probs, labels, knees)
    threshold = shipping_threshold(films, probs, labels, knees)
    log.info("shipping threshold %s", threshold)
    folds = {f.file: f.fold for f in films}
    full = fullsize_check(args.shared, fold_readers, threshold, labels, folds)
    shipped = [f for f in films if not is_test_holdout(f"knee-xray/{f.file}")]
    x = np.concatenate([f.patches for f in shipped] + [f.extra_patches for f in shipped])
    y = np.concatenate([f.labels for f in shipped] + [f.extra_labels for f in shipped])
    keep = y != IGNORE
    x, y = x[keep], y[keep]
    if extra is not None:
        x, y = np.concatenate([x, extra[0]]), np.concatenate([y, extra[1]])
    final = stack([train_network(x, y, hidden=args.hidden, seed=seed) for seed in SEEDS], threshold)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / MARKER_FILE, **final.to_arrays())
    final = MarkerReader.load(args.out / MARKER_FILE)  # the written file must load as the app loads it
    if args.list_in_card and (args.out / CARD_FILENAME).is_file():
        list_model_file(args.out, CARD_ROLE, MARKER_FILE)
    other = other_source_reads(args.shared, final)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(tables(grid, nested, chosen, threshold, full, other))
    figures = {"synthetic": args.synthetic, "hidden": args.hidden, "grid": grid, "nested": nested, "nested_thresholds": chosen, "threshold": threshold,
               "fullsize": full, "knee_other": other, "shipped_films": len(shipped)}
    args.report.with_suffix(".json").write_text(json.dumps(figures, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
