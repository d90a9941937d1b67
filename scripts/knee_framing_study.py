"""Issue 11 item 3: the knee head's sensitivity to how its box is drawn, old head vs candidates, out-of-fold.

    OSTEO_SHARED_DIR=/work/shared python scripts/knee_framing_study.py [--stage extract|study]

Writes reports/knee_framing.json (figures) and prints a summary; the features are cached under .cache/osteo-knee.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from osteo_desktop.core.paths import shared_data_dir, shared_knee_dir  # noqa: E402

log = logging.getLogger("knee_framing_study")


def load_all(args):
    from osteo_desktop.core.model.knee_detector import KneeDetector
    from osteo_desktop.core.model.preprocessing import KneeRegionConfig
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.training.knee_data import load_knees
    from osteo_desktop.training.knee_features import extract_knee_features
    from osteo_desktop.training.knee_framing import extract_framing_bank, out_of_fold_detector_boxes

    boxes = [REPO / "annotations" / "knee_boxes.csv"]
    knee_dir = shared_knee_dir()
    knees = load_knees(knee_dir, knee_dir.parent / "knee-xray-fullsize", boxes)
    log.info("%d knees of %d films", len(knees), len({k.film for k in knees}))
    detector_boxes = out_of_fold_detector_boxes(knees, boxes, shared_data_dir(), args.cache_dir, KneeDetector.load(REPO / "model_weights"))
    classifier = Classifier.load(REPO / "model_weights", num_threads=args.threads)
    config = KneeRegionConfig()
    bank = extract_knee_features(knees, classifier, config, 4, 0, args.cache_dir)  # 2.0.0's own bank (plain, mirror, 4 copies)
    framing = extract_framing_bank(knees, detector_boxes, classifier, config, args.copies, 0, args.cache_dir)
    return knees, detector_boxes, bank, framing


def print_summary(report) -> None:
    print("detector boxes:", report["detector_boxes"])
    for name, r in report.items():
        if name == "detector_boxes":
            continue
        e = r["evaluation"]
        film = e["film"]["subsets"]["all binary"]
        f = r["framing"]
        diff = r.get("auc_difference_vs_2_0_0", {}).get("all binary")
        print(f"{name}: film AUC {film['value']:.3f} ({film['ci_low']:.3f}-{film['ci_high']:.3f}) knee {e['knee']['roc_auc']['value']:.3f} "
              f"T-subset {e['film']['subsets'].get('with QUS T-score', {}).get('value', float('nan')):.3f} "
              f"qusAUC {e['film']['qus']['auc_t_le_minus_2_5']['value']:.3f} rho {e['film']['qus']['spearman_probability_vs_t_score']['value']:.3f} "
              f"ECE {e['film']['ece']:.3f} det-box AUC {r['film_auc_detector_boxes']['value']:.3f}"
              + (f" diff {diff['value']:+.3f} ({diff['ci_low']:+.3f} {diff['ci_high']:+.3f})" if diff else ""))
        for mode in ("flip", "single"):
            print("   ", mode, " ".join(f"{k}={v['median']:.3f}/{v['p90']:.3f}" for k, v in f[mode].items()))
        if "choices" in r:
            print("    choices", [(c["lambda"], c["strength"]) for c in r["choices"]])


CANDIDATE = "wide+consistency(inner)"
VERSION = "2.1.0"


def ship(args, knees, bank, framing, start) -> int:
    """Ship the rule's head as knee model 2.1.0 if it clearly drops the framing sensitivity (median |dp| for a box
    x 0.85 / 1.15, flip-averaged, <= 0.03) and its per-film AUC is not worse than 2.0.0's beyond noise (the paired
    difference's 95 % interval reaches 0); rewrite the card's knee_model section and reports/per_knee.*."""
    from types import SimpleNamespace

    from osteo_desktop.core.model.preprocessing import KneeRegionConfig
    from osteo_desktop.training.knee_commands import old_model_probabilities, ship_knee_head
    from osteo_desktop.training.knee_evaluation import evaluate
    from osteo_desktop.training.knee_framing import WIDE_SCALE, WIDE_SHIFT
    from osteo_desktop.training.knee_framing_study import (
        TARGET, TARGET_DP, final_head, majority, refit_out_of_fold, single_pass_logits, wide_bank)
    from osteo_desktop.training.knee_head import linear_head_arrays
    from osteo_desktop.training.knee_report import write_report

    study = json.loads(args.out.read_text())
    r, reference = study[CANDIDATE], study["2.0.0"]
    dp = r["framing"]["flip"]["scale_0.85_and_1.15"]["median"]
    diff = r["auc_difference_vs_2_0_0"]["all binary"]
    print(f"{CANDIDATE}: median |dp| x0.85/x1.15 {dp:.3f} (2.0.0 {reference['framing']['flip']['scale_0.85_and_1.15']['median']:.3f}); "
          f"per-film AUC difference {diff['value']:+.3f} ({diff['ci_low']:+.3f} to {diff['ci_high']:+.3f})")
    if not (dp <= TARGET_DP and diff["ci_high"] >= 0):
        print("not shipped: the criteria are not met")
        return 1
    wide = wide_bank(bank, framing)
    logits = refit_out_of_fold(wide, framing, knees, r["choices"])
    old = old_model_probabilities(REPO / "reports" / "evaluation.json")
    flip = (logits["single"]["plain"] + logits["mirrored"]["plain"]) / 2
    evaluation = evaluate(knees, {"plain": flip}, old, args.resamples, 0)
    check = evaluation["film"]["subsets"]["all binary"]["value"], r["evaluation"]["film"]["subsets"]["all binary"]["value"]
    assert abs(check[0] - check[1]) < 1e-9, check  # the refitted fold heads are the study's
    single = evaluate(knees, single_pass_logits(logits), old, args.resamples, 0)
    lam, strength = majority(r["choices"])
    head = final_head(wide, knees, lam, strength)
    config = KneeRegionConfig()
    augmentation = (f"{args.copies} copies per knee with the box scaled by x{1 - WIDE_SCALE:.2f}-{1 + WIDE_SCALE:.2f} and moved by up to "
                    f"{WIDE_SHIFT:.0%} of its side (each mirrored with probability 1/2), the knee's mirror image, and the box the knee "
                    "detector's out-of-fold model drew (and its mirror)")
    head_text = (f"L2 logistic regression on standardised features in their 256 leading principal components, lambda {lam:g}, "
                 f"with a framing-consistency penalty of strength {strength:g} on the squared change of the logit between each "
                 "knee's region and its mirror, jittered copies and detector box (lambda and strength by inner CV: per strength "
                 f"the lambda with the best per-film AUC, then the best AUC among strengths whose median |dp| for a box x 0.85 / "
                 f"1.15 is <= {TARGET_DP}; the shipped pair is the one most outer folds chose)")
    extra = {"framing_flip_averaged": r["framing"]["flip"], "framing_2_0_0_flip_averaged": reference["framing"]["flip"],
             "framing_2_0_0_single_pass": reference["framing"]["single"],
             "film_roc_auc_detector_boxes": r["film_auc_detector_boxes"],
             "film_roc_auc_detector_boxes_2_0_0": reference["film_auc_detector_boxes"],
             "auc_difference_vs_2_0_0": r["auc_difference_vs_2_0_0"],
             "film_roc_auc_2_0_0_refitted": reference["evaluation"]["film"]["subsets"]["all binary"]}
    ship_knee_head(args.model_dir, head, linear_head_arrays(head), config, evaluation, single["framing"], TARGET, lam, knees,
                   SimpleNamespace(allow_unchecked=False, copies=args.copies, seed=0), version=VERSION, head_text=head_text,
                   augmentation=augmentation, extra_metrics=extra)
    # The bundle's version follows its knee model (the whole-film head, gate and detector are unchanged).
    from osteo_desktop.core.model.card import CARD_FILENAME, write_model_card

    card = json.loads((args.model_dir / CARD_FILENAME).read_text(encoding="utf-8"))
    card["version"] = VERSION
    write_model_card(args.model_dir, card)
    report = {
        "version": VERSION, "date": __import__("datetime").date.today().isoformat(), "seed": 0,
        "boxes": [str(REPO / "annotations" / "knee_boxes.csv")], "checked_only": True,
        "knees": [{"film": k.film, "position": k.position, "box": list(k.box), "read_from": k.read_path.name, "label": k.label,
                   "fold": k.fold, "source": k.source, "t_score": k.t_score} for k in knees],
        "region": config.to_dict(), "copies": args.copies, "chosen_target": TARGET, "resamples": args.resamples,
        "choice_rule": "kept from 2.0.0 (qus: the highest out-of-fold per-film ROC AUC over all binary films among binary, ordinal "
                       "and qus there); not re-run for 2.1.0",
        "results": {TARGET: {"lambdas": [c["lambda"] for c in r["choices"]], "strengths": [c["strength"] for c in r["choices"]],
                             "evaluation": evaluation, "evaluation_single_pass": single,
                             "logits": {m: {n: [None if np.isnan(v) else float(v) for v in values] for n, values in logits[m].items()}
                                        for m in logits}}},
        "shipped_lambda": lam, "shipped_strength": strength, "augmentation": augmentation, "head": head_text,
        "framing_study": {name: {"framing": v["framing"], "film_auc_detector_boxes": v["film_auc_detector_boxes"],
                                 "film_roc_auc": v["evaluation"]["film"]["subsets"]["all binary"],
                                 "auc_difference_vs_2_0_0": v.get("auc_difference_vs_2_0_0")}
                          for name, v in study.items() if name != "detector_boxes"},
        "detector_boxes": study["detector_boxes"],
    }
    report["wall_s"] = round(time.perf_counter() - start, 1)
    write_report(report, REPO / "reports" / "per_knee.json")
    print(f"shipped {VERSION}: lambda {lam:g}, strength {strength:g}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="study", choices=("extract", "study", "ship"))
    parser.add_argument("--model-dir", type=Path, default=REPO / "model_weights")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "osteo-knee")
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "knee_framing.json")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s", level=logging.INFO)
    start = time.perf_counter()
    knees, detector_boxes, bank, framing = load_all(args)
    log.info("features ready in %.0f s", time.perf_counter() - start)
    if args.stage == "extract":
        return 0
    if args.stage == "ship":
        return ship(args, knees, bank, framing, start)
    from osteo_desktop.training.knee_framing_study import run_study

    from osteo_desktop.training.knee_commands import old_model_probabilities

    report = run_study(knees, detector_boxes, bank, framing, old_model_probabilities(REPO / "reports" / "evaluation.json"), args.resamples)
    args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print_summary(report)
    log.info("done in %.0f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
