"""``python -m osteo_desktop.training.side_markers_guard``: measure the side marker reader's guard
(core/model/side_markers.py, ``passes_guard``) with and without it, and its cost; writes
reports/side_markers_guard_tables.md and .json (reports/side_markers.md says what was decided from them).

1. The 288 knee-xray films out of fold: each film read by the fold ensemble trained without it (three networks per
   fold, trained as side_markers_command trains them; kept in .cache/side-markers/fold_readers.npz), the product's
   own ``MarkerReader.read`` with the guard on and off, sides from the hand-checked knee boxes, judged against the
   markers read by eye (annotations/side_markers.csv).
2. Boxed glyphs drawn in typefaces the reader never saw (it was trained on real films only, so every typeface is
   unseen): R, L and 34 other letters and digits, 5 sizes, the films' two box styles, plain and mirrored, at two
   places: 40 drawings per glyph, 1360 of other glyphs per typeface. Pillow's built-in font is the one
   tests/test_side_markers.py draws with.
3. The other-source knees of the scope set (knee-other, 120 images, no marker seen by eye): reads of the shipped
   reader.
4. Time per full-size film (the 83 knee-xray-fullsize films): the reader with the guard, median and largest.

numpy and Pillow only; about 10-20 minutes on 2 busy cores (the fold networks are trained once and cached).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.knee_sides import assign_sides, sides_from_markers
from osteo_desktop.core.model.side_markers import MARKER_FILE, MIRROR_FLOOR, STEADY_FLOOR, VETO_FLOOR, MarkerReader, prepare
from osteo_desktop.core.paths import shared_data_dir
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.training.metrics import wilson
from osteo_desktop.training.side_markers import (
    ensemble_out_of_fold, extract, near_marker, read_knee_centres, read_marker_labels,
)

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
OTHER_GLYPHS = "ABCDEFGHIJKMNOPQSTUVWXYZ0123456789"
# Typefaces for the drawings (None: Pillow's built-in font); each is skipped when the machine lacks it.
TYPEFACES = {"Pillow built-in": None,
             "DejaVu Sans Bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
             "Nimbus Roman": "/usr/share/fonts/opentype/urw-base35/NimbusRoman-Regular.otf",
             "Nimbus Mono PS Bold": "/usr/share/fonts/opentype/urw-base35/NimbusMonoPS-Bold.otf",
             "URW Bookman Demi": "/usr/share/fonts/opentype/urw-base35/URWBookman-Demi.otf"}
SIZES = (18, 24, 30, 36, 44)
PLACES = ((40, 60), (340, 880))


def rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} ({low:.4f}-{high:.4f})" if n else "-"


def film_with_glyph(letter: str | None, font: str | None, mirrored: bool = False, light_box: bool = True, side: int = 30,
                    at: tuple[int, int] = (40, 60), size: tuple[int, int] = (420, 1000), seed: int = 0) -> np.ndarray:
    """A dim film (a bright leg band down the middle, noise) with a boxed glyph drawn at ``at`` (top-left), box
    ``side`` px: a light box with a dark letter, or a grey box with a white letter, as on the project's films; no
    glyph for ``letter`` None. ``font``: a TrueType file, or None for Pillow's own (the tests' unseen typeface)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    width, height = size
    film = np.full((height, width), 0.08, np.float32)
    film[:, width // 3: 2 * width // 3] = 0.45  # the leg
    film += rng.normal(0, 0.01, film.shape).astype(np.float32)
    if letter is None:
        return np.clip(film, 0, 1)
    glyph = Image.new("L", (side, side), 215 if light_box else 105)
    face = ImageFont.load_default(size=int(side * 0.75)) if font is None else ImageFont.truetype(font, int(side * 0.75))
    ImageDraw.Draw(glyph).text((side / 2, side / 2), letter, fill=95 if light_box else 250, font=face, anchor="mm")
    array = np.asarray(glyph, np.float32) / 255
    if mirrored:
        array = array[:, ::-1]
    x, y = at
    film[y:y + side, x:x + side] = array
    return np.clip(film, 0, 1)


def reads_both_ways(reader: MarkerReader, pixels: np.ndarray, threshold: float | None = None,
                    lone: bool = False) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """(letter, box in the film's pixels) of the reads with and without the guard, from one proposal search (what
    :meth:`MarkerReader.read` returns, less the rounding of the boxes)."""
    image, scale = prepare(pixels)
    candidates, probs = reader.scored(image)
    out = {}
    for name, guarded in (("unguarded", False), ("guarded", True)):
        out[name] = [(letter, tuple(v / scale for v in candidate.box))
                     for candidate, letter, _, _ in reader.accepted(image, candidates, probs, threshold, guarded, lone)]
    return out


def drawings(reader: MarkerReader, font: str | None) -> dict:
    """Reads on every drawing of one typeface, with and without the guard (read as a lone knee's film would be)."""
    counts = {name: {"other_read": 0, "which": Counter(), "rl_read": 0, "rl_wrong_letter": 0} for name in ("unguarded", "guarded")}
    for glyph in "RL" + OTHER_GLYPHS:
        for side in SIZES:
            for light in (True, False):
                for mirrored in (False, True):
                    for at in PLACES:
                        film = film_with_glyph(glyph, font, mirrored, light, side, at)
                        for name, read in reads_both_ways(reader, film, lone=True).items():
                            letters = {letter for letter, _ in read}
                            c = counts[name]
                            if glyph in "RL":
                                c["rl_read"] += glyph in letters
                                c["rl_wrong_letter"] += bool(letters - {glyph})
                            elif letters:
                                c["other_read"] += 1
                                c["which"][glyph] += 1
    per = len(SIZES) * 2 * 2 * len(PLACES)
    for c in counts.values():
        c.update(which=dict(c["which"]), other_total=len(OTHER_GLYPHS) * per, rl_total=2 * per)
    return counts


def fold_readers(films: list, cache: Path) -> dict[int, MarkerReader]:
    """Each fold's three-network ensemble, trained once as side_markers_command trains them, then cached."""
    if cache.is_file():
        with np.load(cache) as data:
            folds = sorted({int(key.split("_")[0]) for key in data.files})
            return {k: MarkerReader(data[f"{k}_w1"], data[f"{k}_b1"], data[f"{k}_w2"], data[f"{k}_b2"], 0.5) for k in folds}
    _, readers = ensemble_out_of_fold(films)
    np.savez(cache, **{f"{k}_{name}": getattr(r, name) for k, r in readers.items() for name in ("w1", "b1", "w2", "b2")})
    return readers


def out_of_fold(shared: Path, films: list, readers: dict, threshold: float, labels: dict, knees: dict) -> dict:
    """Marker and side figures of the product's read with and without the guard, each film by the ensemble that
    never saw it (a lone knee's film read as the detector reads it, ``lone=True``)."""
    results = {name: {"markers": {letter: {"found": 0, "total": 0, "reads": 0, "right": 0} for letter in ("R", "L")},
                      "sides": Counter()} for name in ("unguarded", "guarded")}
    for film in films:
        pixels = read_radiograph(shared / "data" / "knee-xray" / film.file).pixels
        centres = knees.get(film.file, [])
        truth = [(letter[0], box) for letter, box in labels[film.file]]
        for name, read in reads_both_ways(readers[film.fold], pixels, threshold, lone=len(centres) == 1).items():
            marker, sides = results[name]["markers"], results[name]["sides"]
            middle = [(letter, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for letter, b in read]
            for letter, box in read:
                marker[letter]["reads"] += 1
                marker[letter]["right"] += any(t == letter and near_marker(box, b) for t, b in truth)
            for letter, b in truth:
                marker[letter]["total"] += 1
                marker[letter]["found"] += any(m == letter and b[0] <= x <= b[2] and b[1] <= y <= b[3] for m, x, y in middle)
            if not centres:
                continue
            predicted = assign_sides(centres, None, middle)
            expected = assign_sides(centres, None, [(t, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for t, b in truth])
            if len(centres) == 1:
                sides["lone films"] += 1
                sides["lone: a marker read by eye"] += expected[0] != "unknown"
                sides["lone: side given"] += predicted[0] != "unknown"
                # Wrong: a side other than the hand-read markers give (a film with both letters gives none).
                sides["lone: side WRONG"] += predicted[0] not in ("unknown", expected[0])
            else:
                sides["pair films"] += 1
                sides["pair: markers decided"] += bool(read) and predicted == expected and sides_from_markers(centres, middle) is not None
                sides["pair: sides WRONG"] += predicted != expected
    for result in results.values():
        result["sides"] = dict(result["sides"])
    return results


def other_sources(shared: Path, reader: MarkerReader) -> dict:
    """Reads on the knee-other images (read as a lone knee's film: the stricter case is the guarded lone read)."""
    root = shared / "data" / "scope" / "knee-other"
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".dcm"))
    found: dict = {"guarded": {}, "unguarded": {}}
    for path in files:
        for name, read in reads_both_ways(reader, read_radiograph(path).pixels).items():
            if read:
                found[name][str(path.relative_to(root))] = [letter for letter, _ in read]
    return {"files": len(files), **found}


def timing(shared: Path, reader: MarkerReader) -> dict:
    root = shared / "data" / "knee-xray-fullsize"
    with open(root / "manifest.csv", newline="") as handle:
        names = [row["file"] for row in csv.DictReader(handle)]
    times = []
    for name in names:
        pixels = read_radiograph(root / name).pixels
        start = time.perf_counter()
        reader.read(pixels)
        times.append((time.perf_counter() - start) * 1000)
    return {"films": len(times), "median_ms": float(np.median(times)), "max_ms": float(np.max(times))}


def tables(figures: dict) -> str:
    lines = [f"Guard: mirror image read as the mirror-image letter >= {MIRROR_FLOOR}, every jittered crop >= "
             f"{STEADY_FLOOR}, and on a lone knee's film no candidate reading the other letter >= {VETO_FLOOR}; "
             f"threshold {figures['threshold']}. Intervals: 95 % Wilson.", ""]
    lines += ["## Real films out of fold (288 knee-xray films, fold ensembles)", "",
              "| | R found | R reads right | L found | L reads right | lone knees given a side | lone WRONG | "
              "pairs decided by markers | pair WRONG |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in ("unguarded", "guarded"):
        r = figures["out_of_fold"][name]
        m, s = r["markers"], r["sides"]
        lines.append(f"| {name} | {rate(m['R']['found'], m['R']['total'])} | {rate(m['R']['right'], m['R']['reads'])} | "
                     f"{rate(m['L']['found'], m['L']['total'])} | {rate(m['L']['right'], m['L']['reads'])} | "
                     f"{s.get('lone: side given', 0)}/{s.get('lone films', 0)} ({s.get('lone: a marker read by eye', 0)} "
                     f"carry one) | {rate(s.get('lone: side WRONG', 0), s.get('lone: side given', 0))} | "
                     f"{s.get('pair: markers decided', 0)}/{s.get('pair films', 0)} | "
                     f"{rate(s.get('pair: sides WRONG', 0), s.get('pair films', 0))} |")
    lines += ["", "## Boxed glyphs drawn in unseen typefaces (shipped reader)", "",
              "| typeface | | other letters/digits read as R or L | which | R/L glyphs read | R/L read as the other letter |",
              "| --- | --- | --- | --- | --- | --- |"]
    for face, result in figures["drawings"].items():
        for name in ("unguarded", "guarded"):
            r = result[name]
            lines.append(f"| {face} | {name} | {rate(r['other_read'], r['other_total'])} | {r['which']} | "
                         f"{r['rl_read']}/{r['rl_total']} | {r['rl_wrong_letter']} |")
    o = figures["knee_other"]
    lines += ["", f"knee-other ({o['files']} images): read unguarded on {len(o['unguarded'])} "
              f"{o['unguarded'] or ''}, guarded on {len(o['guarded'])} {o['guarded'] or ''}."]
    t = figures["timing"]
    if t:
        lines += ["", f"Time per full-size film ({t['films']} films, guarded read): median {t['median_ms']:.0f} ms, "
                      f"largest {t['max_ms']:.0f} ms."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=shared_data_dir())
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "side_markers_guard_tables.md")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "side-markers")
    parser.add_argument("--typefaces", nargs="*", default=list(TYPEFACES), help="names from TYPEFACES to draw with")
    parser.add_argument("--skip", nargs="*", default=[], choices=["oof", "drawings", "other", "timing"])
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    args.cache.mkdir(parents=True, exist_ok=True)
    labels_csv = REPO_ROOT / "annotations" / "side_markers.csv"
    shipped = MarkerReader.load(REPO_ROOT / "model_weights" / MARKER_FILE)
    figures: dict = {"threshold": shipped.threshold, "out_of_fold": {}, "drawings": {}, "knee_other": {}, "timing": {}}
    if "oof" not in args.skip:
        films = extract(args.shared, labels_csv, args.cache / "candidates.npz")
        readers = fold_readers(films, args.cache / "fold_readers.npz")
        labels, knees = read_marker_labels(labels_csv), read_knee_centres(REPO_ROOT / "annotations" / "knee_boxes.csv")
        figures["out_of_fold"] = out_of_fold(args.shared, films, readers, shipped.threshold, labels, knees)
        log.info("out of fold: %s", figures["out_of_fold"])
    if "drawings" not in args.skip:
        for face in args.typefaces:
            font = TYPEFACES[face]
            if font is not None and not Path(font).is_file():
                continue
            figures["drawings"][face] = drawings(shipped, font)
            log.info("%s: %s", face, figures["drawings"][face])
    if "other" not in args.skip:
        figures["knee_other"] = other_sources(args.shared, shipped)
    else:
        figures["knee_other"] = {"files": 0, "guarded": {}, "unguarded": {}}
    if "timing" not in args.skip:
        figures["timing"] = timing(args.shared, shipped)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(tables(figures))
    args.report.with_suffix(".json").write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
