#!/usr/bin/env python3
"""Does a reduced-precision backbone give the float32 model's answers? Every output that ships, on every shared film.

Each film goes through the app's own steps once (:func:`~osteo_desktop.core.pipeline.film.prepare_film`: the gate's
look, the film input, the knees, their regions and mirrors); those inputs then run through the shipped float32
``.tflite`` and through each candidate, and :func:`~osteo_desktop.core.pipeline.film.judge_film` turns each one's
activations into the answer with the shipped heads (scope gate, knee head). Compared per film:

- ``file``: the file's probability (its most suspicious knee's), when both in scope;
- ``knee``: each knee's probability (the knees are the same: the detector does not use the network);
- ``gate_score`` and the gate's decision (in scope or not), and knee labels against the knee head's threshold;
- ``film_head``: the 1.1.0 whole-film head's probability (not shipped in results since 2.0.0; for reference).

Sets: ``knee-xray`` (288), ``knee-xray-fullsize`` (83), ``scope`` (347), all under the shared data folder. The
candidates are made by ``--convert`` (``osteo_desktop/training/quantize.py``) from ``osteo_mobilenetv2.keras`` into
``.cache/quant/``. Shipping rule (issue 13): every probability within 0.01 of float32 and no gate decision changed.

    .venv/bin/python benchmarks/quantization_agreement.py [--convert] [--candidates fp16-forced,int8] [--limit N]

Re-run it after any change to the heads or the backbone file (it reads the card's files as they are). Writes
benchmarks/results/quantization_agreement.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, write_result  # noqa: E402 - before NumPy: sets its thread count

import numpy as np  # noqa: E402

CACHE = REPO / ".cache" / "quant"
TOLERANCE = 0.01
# name -> (file in CACHE or the shipped model, XNNPACK flags: None = LiteRT's Interpreter as the app runs it)
CANDIDATES = {
    "fp32-forced-fp16": ("shipped", 0x4),  # the float32 file, XNNPACK told to compute in fp16
    "fp16-forced": ("fp16.tflite", 0x4),  # fp16 weights, fp16 arithmetic
    "fp16": ("fp16.tflite", None),  # fp16 weights, dequantised to fp32 at load: the same arithmetic as fp32
    "int8": ("int8.tflite", None),  # full-integer (weights and activations)
    "dynamic": ("dynamic.tflite", None),  # int8 weights, activations quantised at run time
}
SETS = ("knee-xray", "knee-xray-fullsize", "scope")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".bmp", ".tif", ".tiff"}


def set_files(name: str) -> list[Path]:
    folder = SHARED / "data" / name
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def convert_candidates() -> None:
    """Write the candidates into .cache/quant/, calibrating int8 on every other knee-xray film (inputs only)."""
    from osteo_desktop.training.quantize import MODES, convert, representative_inputs

    CACHE.mkdir(parents=True, exist_ok=True)
    representative = representative_inputs(set_files("knee-xray")[::2], limit=300)
    for mode in MODES:
        convert(REPO / "model_weights" / "osteo_mobilenetv2.keras", mode, CACHE / f"{mode}.tflite", representative)


def film_outputs(classifier, work, outputs) -> dict:
    from osteo_desktop.core.pipeline.film import judge_film

    verdict = judge_film(classifier, work, outputs)
    logits = outputs[0] if outputs is not None else None
    film_head = None
    if logits is not None:
        film_head = float(1.0 / (1.0 + np.exp(-np.float64(logits[0]) / classifier.card.temperature)))
    knees = [k.probability for k in verdict.knees]
    return {"in_scope": bool(verdict.in_scope), "gate_score": verdict.decision.score, "knees": knees,
            "knee_labels": [k.label for k in verdict.knees], "file": max(knees) if knees else None, "film_head": film_head}


def compare(reference: dict, candidate: dict, diffs: dict[str, list[float]], counts: dict[str, int]) -> None:
    counts["films"] += 1
    if reference["in_scope"] != candidate["in_scope"]:
        counts["gate_decision_changed"] += 1
    if reference["gate_score"] is not None and candidate["gate_score"] is not None:
        diffs["gate_score"].append(abs(reference["gate_score"] - candidate["gate_score"]))
    if reference["film_head"] is not None:
        diffs["film_head"].append(abs(reference["film_head"] - candidate["film_head"]))
    if reference["file"] is not None and candidate["file"] is not None:
        diffs["file"].append(abs(reference["file"] - candidate["file"]))
    for a, b, la, lb in zip(reference["knees"], candidate["knees"], reference["knee_labels"], candidate["knee_labels"]):
        diffs["knee"].append(abs(a - b))
        counts["knee_label_changed"] += int(la != lb)


def summarise(diffs: list[float]) -> dict:
    if not diffs:
        return {"n": 0}
    values = np.asarray(diffs)
    return {"n": len(diffs), "max": round(float(values.max()), 5), "median": round(float(np.median(values)), 5),
            "p95": round(float(np.percentile(values, 95)), 5), "over_tolerance": int((values > TOLERANCE).sum())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convert", action="store_true", help="(re)make the candidates from the shipped .keras first")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--limit", type=int, default=0, help="at most this many files per set (0: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from osteo_desktop.core.errors import ImageReadError
    from osteo_desktop.core.model.card import sha256_of
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.film import prepare_film
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.training.quantize import Runner

    if args.convert:
        convert_candidates()
    classifier = Classifier.load()
    shipped = classifier.card.verified_path("tflite")
    names = [n for n in args.candidates.split(",") if n]
    runners = {}
    for name in names:
        file, flags = CANDIDATES[name]
        path = shipped if file == "shipped" else CACHE / file
        if not path.is_file():
            print(f"{name}: {path} missing (run with --convert)", file=sys.stderr)
            return 1
        runners[name] = Runner(path, xnnpack_flags=flags)
    result: dict = {"model_version": classifier.version, "model_sha256": classifier.model_sha256, "tolerance": TOLERANCE,
                    "candidates": {n: {"file": CANDIDATES[n][0], "xnnpack_flags": CANDIDATES[n][1],
                                       "sha256": sha256_of(runners[n].path)} for n in names},
                    "sets": {}}
    start = time.perf_counter()
    for set_name in [s for s in args.sets.split(",") if s]:
        files = set_files(set_name)
        if args.limit:
            files = files[: args.limit]
        diffs = {n: {k: [] for k in ("file", "knee", "gate_score", "film_head")} for n in names}
        counts = {n: {"films": 0, "gate_decision_changed": 0, "knee_label_changed": 0} for n in names}
        changed: dict[str, list[str]] = {n: [] for n in names}
        unreadable = 0
        for path in files:
            try:
                radiograph = read_radiograph(path)
            except ImageReadError:
                unreadable += 1
                continue
            work = prepare_film(radiograph, classifier)
            batch = work.inputs(classifier.knee_head)
            outputs = classifier.run(np.stack(batch)) if batch else None
            reference = film_outputs(classifier, work, outputs)
            for name, runner in runners.items():
                candidate = film_outputs(classifier, work, runner.run(np.stack(batch)) if batch else None)
                before = counts[name]["gate_decision_changed"]
                compare(reference, candidate, diffs[name], counts[name])
                if counts[name]["gate_decision_changed"] != before:
                    changed[name].append(str(path.relative_to(SHARED / "data")))
        per_set = {"files": len(files), "unreadable": unreadable, "candidates": {}}
        for name in names:
            stats = {k: summarise(v) for k, v in diffs[name].items()}
            shipped_outputs = ("file", "knee", "gate_score")
            qualifies = counts[name]["gate_decision_changed"] == 0 and all(
                stats[k].get("over_tolerance", 0) == 0 for k in shipped_outputs)
            per_set["candidates"][name] = {**counts[name], "gate_changed_files": changed[name], "abs_dp": stats,
                                           "qualifies": qualifies}
            line = ", ".join(f"{k} max {s['max']:.4f} med {s['median']:.5f} (n {s['n']}, >{TOLERANCE}: {s['over_tolerance']})"
                             for k, s in stats.items() if s["n"])
            print(f"{set_name:<19} {name:<17} gate changed {counts[name]['gate_decision_changed']}, knee labels changed "
                  f"{counts[name]['knee_label_changed']}; {line} -> {'qualifies' if qualifies else 'does NOT qualify'}",
                  flush=True)
        result["sets"][set_name] = per_set
    result["qualifies"] = {n: all(s["candidates"][n]["qualifies"] for s in result["sets"].values()) for n in names}
    result["seconds"] = round(time.perf_counter() - start, 1)
    print("overall:", ", ".join(f"{n} {'qualifies' if q else 'does NOT qualify'}" for n, q in result["qualifies"].items()))
    # A sample (--limit) or a subset of sets or candidates is a check, not the record: it goes to .cache/quant.
    partial = args.limit or set(result["sets"]) != set(SETS) or set(names) != set(CANDIDATES)
    write_result("quantization_agreement", {**result, "limit": args.limit},
                 path=CACHE / "quantization_agreement_partial.json" if partial else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
