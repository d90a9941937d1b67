"""``osteo train-knee``: cross-validate the per-knee head for each target, ship the chosen one, write the report.

    osteo train-knee [--boxes annotations/knee_boxes.csv ...] [--model-dir model_weights] [--seed 0]

Needs no TensorFlow: the features come from the shipped ``.tflite`` (LiteRT) and the head is fitted in NumPy.
Only boxes marked ``checked_by_eye = yes`` are used unless ``--allow-unchecked`` (development only; the card then
says so). The target (binary, ordinal, qus) is chosen by the out-of-fold per-film ROC AUC over all binary films,
a rule fixed before looking at any subset; the QUS T-score subset is reported, never used to choose.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from osteo_desktop.core.paths import shared_knee_dir

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
KNEE_HEAD_NAME = "knee_head.npz"
KNEE_MODEL_VERSION = "2.0.0"  # this command's recipe; the shipped 2.1.0 head comes from scripts/knee_framing_study.py --stage ship


def _parser() -> argparse.ArgumentParser:
    knee_dir = shared_knee_dir()
    parser = argparse.ArgumentParser(prog="osteo train-knee", description="Train and cross-validate the per-knee head; ship it beside the model.")
    parser.add_argument("--data", type=Path, default=knee_dir, help="knee-xray folder with manifest.csv")
    parser.add_argument("--fullsize", type=Path, default=knee_dir.parent / "knee-xray-fullsize", help="full-size copies (read instead where present)")
    parser.add_argument("--boxes", type=Path, action="append", default=None,
                        help="knee box CSV (repeatable; later files replace earlier ones film by film); default annotations/knee_boxes.csv")
    parser.add_argument("--allow-unchecked", action="store_true", help="also use boxes not checked by eye (development only)")
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "model_weights", help="the shipped model (its .tflite gives the features); the head and card go here")
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "osteo-knee", help="cached knee features")
    parser.add_argument("--targets", default="binary,ordinal,qus", help="targets to cross-validate (comma-separated)")
    parser.add_argument("--copies", type=int, default=4, help="augmented (box-jittered) copies per knee")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples for the intervals")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "per_knee.json", help="JSON report (the Markdown goes beside it)")
    # Evaluate-only by default: this is the 2.0.0 recipe, and shipping it would replace the framing-robust 2.1.0 head
    # (scripts/knee_framing_study.py --stage ship) with an older one.
    parser.add_argument("--ship", action="store_true",
                        help="write this recipe's (2.0.0) head and card section; the shipped 2.1.0 head comes from "
                             "scripts/knee_framing_study.py --stage ship")
    parser.add_argument("--no-ship", action="store_true", help="evaluate only (the default; kept for old scripts)")
    parser.add_argument("--threads", type=int, default=2)
    return parser


def old_model_probabilities(report: Path) -> dict[str, float]:
    """Model 1.1.0's out-of-fold per-film probabilities from reports/evaluation.json (same folds, same films)."""
    if not report.is_file():
        return {}
    data = json.loads(report.read_text(encoding="utf-8"))
    shipped = data["results"]["shipped"]
    temperature = float(shipped["summary"]["temperature"])
    logits = np.asarray(shipped["logits"], dtype=np.float64)
    return {f: float(1.0 / (1.0 + np.exp(-z / temperature))) for f, z in zip(data["files"], logits)}


def train_knee_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("osteo_desktop.training").setLevel(logging.INFO)
    np.random.seed(args.seed)  # nothing here draws from the global generator; set so that nothing can differ by accident
    from osteo_desktop.core.model.preprocessing import KneeRegionConfig
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.training.knee_data import load_knees
    from osteo_desktop.training.knee_evaluation import evaluate
    from osteo_desktop.training.knee_features import extract_knee_features
    from osteo_desktop.training.knee_head import choose_lambda, cross_validate, fit_head, linear_head_arrays
    from osteo_desktop.training.knee_report import write_report

    start = time.perf_counter()
    boxes = args.boxes or [REPO_ROOT / "annotations" / "knee_boxes.csv"]
    knees = load_knees(args.data, args.fullsize if args.fullsize.is_dir() else None, boxes, args.allow_unchecked)
    if not knees:
        raise SystemExit("no knee boxes to train on (only rows with checked_by_eye = yes count unless --allow-unchecked)")
    log.info("%d knees of %d films (%d read from full-size files)", len(knees), len({k.film for k in knees}), sum(k.fullsize for k in knees))
    classifier = Classifier.load(args.model_dir, num_threads=args.threads)
    config = KneeRegionConfig()
    bank = extract_knee_features(knees, classifier, config, args.copies, args.seed, args.cache_dir)
    old = old_model_probabilities(REPO_ROOT / "reports" / "evaluation.json")
    results: dict[str, Any] = {}
    for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
        logits, lambdas = cross_validate(bank, knees, target)
        # Shipped with flip averaging (the mirror gives exactly the same answer); the framing variants are measured
        # on single passes, the bank holding no mirror of each variant.
        flip = (logits["plain"] + logits["mirrored"]) / 2.0
        results[target] = {"lambdas": lambdas,
                           "evaluation": evaluate(knees, {"plain": flip}, old, args.resamples, args.seed),
                           "evaluation_single_pass": evaluate(knees, logits, old, args.resamples, args.seed),
                           "logits": {name: [None if np.isnan(v) else float(v) for v in values] for name, values in logits.items()}}
        e = results[target]["evaluation"]
        log.info("target %s: per-film AUC %.3f, per-knee AUC %.3f (flip-averaged)", target,
                 e["film"]["subsets"]["all binary"]["value"], e["knee"]["roc_auc"]["value"])
    chosen = max(results, key=lambda t: results[t]["evaluation"]["film"]["subsets"]["all binary"]["value"])
    evaluation = results[chosen]["evaluation"]
    report: dict[str, Any] = {
        "version": KNEE_MODEL_VERSION, "date": datetime.date.today().isoformat(), "seed": args.seed,
        "boxes": [str(b) for b in boxes], "checked_only": not args.allow_unchecked,
        "knees": [{"film": k.film, "position": k.position, "box": list(k.box), "read_from": k.read_path.name, "label": k.label,
                   "fold": k.fold, "source": k.source, "t_score": k.t_score} for k in knees],
        "region": config.to_dict(), "copies": args.copies, "chosen_target": chosen, "resamples": args.resamples,
        "choice_rule": "highest out-of-fold per-film ROC AUC over all binary films (fixed before any subset was seen)",
        "results": results,
    }
    if args.ship and not args.no_ship:
        all_knees = np.arange(len(knees))
        lam = choose_lambda(bank, knees, all_knees, chosen)
        head = fit_head(bank, knees, all_knees, chosen, lam)
        ship_knee_head(args.model_dir, head, linear_head_arrays(head), config, evaluation,
                       results[chosen]["evaluation_single_pass"]["framing"], chosen, lam, knees, args)
        report["shipped_lambda"] = lam
    report["wall_s"] = round(time.perf_counter() - start, 1)
    write_report(report, args.report)
    log.info("done in %.0f s; chosen target %s; report %s", report["wall_s"], chosen, args.report)
    return 0


def ship_knee_head(model_dir: Path, head, arrays: dict[str, np.ndarray], config, evaluation: dict[str, Any], framing: dict[str, Any],
                   target: str, lam: float, knees, args: argparse.Namespace, version: str = KNEE_MODEL_VERSION,
                   head_text: str | None = None, augmentation: str | None = None, extra_metrics: dict[str, Any] | None = None) -> None:
    """Write knee_head.npz and the card's knee_model section (checksums filled in by write_model_card).

    ``version``, ``head_text``, ``augmentation`` and ``extra_metrics`` let a head trained by another recipe (2.1.0,
    training/knee_framing_study.py) describe itself; train-knee's own defaults describe its recipe."""
    from osteo_desktop.core.model.card import CARD_FILENAME, write_model_card

    np.savez(model_dir / KNEE_HEAD_NAME, **arrays)
    card = json.loads((model_dir / CARD_FILENAME).read_text(encoding="utf-8"))
    card["files"]["knee_head"] = {"path": KNEE_HEAD_NAME}
    film = evaluation["film"]
    card["knee_model"] = {
        "version": version,
        "date": datetime.date.today().isoformat(),
        "status": "cross-validated (5 folds, out-of-fold, per knee and per film)",
        "what": "each knee read from a square region around its box at the file's own resolution; shipped backbone "
                "(this card's tflite, frozen) -> pooled out_relu -> linear head in knee_head.npz (HeadWeights layout); "
                "a file's result is its most suspicious knee",
        "region": config.to_dict(),
        "target": target,
        "head": head_text or f"L2 logistic regression on standardised features in their 256 leading principal components, lambda {lam:g} (inner CV)",
        "temperature": evaluation["temperature"],
        "calibration": evaluation["calibration"],
        "threshold": evaluation["threshold"],
        "threshold_rule": evaluation["threshold_rule"],
        "hflip_tta": True,
        "training_data": {"knees": len(knees), "films": len({k.film for k in knees}), "boxes_checked_by_eye": not args.allow_unchecked,
                          "full_size_films": len({k.film for k in knees if k.fullsize}), "augmented_copies": args.copies, "seed": args.seed,
                          **({"augmentation": augmentation} if augmentation else {}),
                          "knee_labels": "each knee carries its film's label (the manifest labels films, not knees)"},
        "metrics": {
            "film_roc_auc": film["subsets"]["all binary"],
            "knee_roc_auc": evaluation["knee"]["roc_auc"],
            "per_subset": {k: {m: v[m] for m in ("value", "ci_low", "ci_high", "n", "positives")} for k, v in film["subsets"].items()},
            "qus": film["qus"],
            "ece_film": film["ece"], "ece_knee": evaluation["knee"]["ece"],
            "framing_invariance_single_pass": framing,
            **(extra_metrics or {}),
        },
    }
    write_model_card(model_dir, card)
