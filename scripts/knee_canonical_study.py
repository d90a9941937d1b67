"""Issue 11 items 4 and 8: canonical orientation (one backbone pass per knee) against 2.1.0's mirror averaging.

    OSTEO_SHARED_DIR=/work/shared python scripts/knee_canonical_study.py [--stage extract|study|ship]

Features are cached under .cache/osteo-knee (canonical/); figures go to reports/knee_canonical.json and a summary is
printed. See osteo_desktop/training/knee_canonical.py.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from osteo_desktop.core.paths import shared_data_dir, shared_knee_dir  # noqa: E402

log = logging.getLogger("knee_canonical_study")


def detector_boxes(args, knees, boxes, mirrored: bool):
    """The out-of-fold detector boxes (cached as JSON beside the features: finding them reads every film)."""
    from osteo_desktop.core.model.knee_detector import KneeDetector
    from osteo_desktop.training.knee_framing import out_of_fold_detector_boxes

    path = args.cache_dir / f"detector_boxes{'_mirrored' if mirrored else ''}.json"
    keys = [f"{k.film}|{k.position}|{[round(v, 2) for v in k.read_box]}" for k in knees]
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached["keys"] == keys:
            return [None if b is None else tuple(b) for b in cached["boxes"]]
    found = out_of_fold_detector_boxes(knees, boxes, shared_data_dir(), args.cache_dir, KneeDetector.load(REPO / "model_weights"), mirrored=mirrored)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": keys, "boxes": [None if b is None else list(b) for b in found]}))
    return found


def study_knees() -> tuple[list, list[Path]]:
    """The knees of the hand-checked boxes (full-size films where they exist) and the box files: every knee study's
    input."""
    from osteo_desktop.training.knee_data import load_knees

    boxes = [REPO / "annotations" / "knee_boxes.csv"]
    knee_dir = shared_knee_dir()
    knees = load_knees(knee_dir, knee_dir.parent / "knee-xray-fullsize", boxes)
    log.info("%d knees of %d films", len(knees), len({k.film for k in knees}))
    return knees, boxes


def load_all(args):
    from osteo_desktop.core.model.preprocessing import KneeRegionConfig
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.training.knee_canonical import extract_canonical_bank

    knees, boxes = study_knees()
    plain_boxes = detector_boxes(args, knees, boxes, False)
    mirror_boxes = detector_boxes(args, knees, boxes, True)
    classifier = Classifier.load(REPO / "model_weights", num_threads=args.threads)
    bank = extract_canonical_bank(knees, plain_boxes, mirror_boxes, classifier, KneeRegionConfig(), args.copies, 0, args.cache_dir)
    return knees, plain_boxes, mirror_boxes, bank


def _dummy(knees):
    import numpy as np

    from osteo_desktop.training.knee_features import KneeBank

    empty = np.zeros((len(knees), 0), np.float32)
    return KneeBank(empty, empty, empty[:, None], {}, np.full(len(knees), np.nan, np.float32))


FINE_STRENGTHS = (0.0, 10.0, 30.0, 100.0, 1000.0)


def label_changes(logits, evaluation):
    """Fraction of knees whose label (calibrated probability against the per-film threshold) changes when the box is
    drawn x 0.85 or x 1.15, by the detector, or the film is mirrored (detector boxes on each): a figure that a head
    squeezed towards one logit cannot pass by moving little (its threshold sits inside the same narrow band)."""
    import numpy as np

    from osteo_desktop.training.knee_head import sigmoid

    t, threshold = evaluation["temperature"], evaluation["threshold"]
    label = lambda name: sigmoid(logits["single"][name] / t) >= threshold  # noqa: E731
    out = {}
    for name, against in (("scale_0.85", "plain"), ("scale_1.15", "plain"), ("detector", "plain"), ("mirror_film_detector", "detector"),
                          ("mirror_film", "plain")):
        valid = ~np.isnan(logits["single"][name]) & ~np.isnan(logits["single"][against])
        out[name] = float(np.mean(label(name)[valid] != label(against)[valid]))
    return out


def fitted(knees, wide, framing, name, strengths=None):
    """The 2.1.0 recipe's out-of-fold heads on a bank: inner-CV choices per outer fold, then every input's logits."""
    from osteo_desktop.training.knee_canonical import refit_logits
    from osteo_desktop.training.knee_framing_study import STRENGTHS, out_of_fold

    t = time.perf_counter()
    study_logits, choices = out_of_fold(wide, framing, knees, strengths or STRENGTHS)
    logits = refit_logits(wide, framing, knees, choices)
    import numpy as np

    assert np.allclose(study_logits["rule"]["single"]["plain"], logits["single"]["plain"], equal_nan=True)
    log.info("%s: heads fitted in %.0f s; choices %s", name, time.perf_counter() - t, [(c["lambda"], c["strength"]) for c in choices])
    return logits, choices


def study(args, knees, bank, plain_boxes, mirror_boxes):
    import numpy as np

    from osteo_desktop.training.knee_canonical import (SCORES, canonical_framing_bank, framing_bank, mirror_figures, single_pass,
                                                       sign_stability)
    from osteo_desktop.training.knee_commands import old_model_probabilities
    from osteo_desktop.training.knee_evaluation import evaluate
    from osteo_desktop.training.knee_framing_study import STRENGTHS, summarise, wide_bank

    old = old_model_probabilities(REPO / "reports" / "evaluation.json")
    report = {"knees": len(knees), "films": len({k.film for k in knees}),
              "detector_boxes": {"matched": sum(b is not None for b in plain_boxes), "matched_on_mirrored_film": sum(b is not None for b in mirror_boxes)}}
    stability = {s: sign_stability(bank, s) for s in SCORES}
    report["score_stability"] = stability
    # The rule, fixed before any head was fitted on canonical inputs: the score whose sign changes least often under
    # the framing changes (mean over them), the labels unseen.
    score = min(SCORES, key=lambda s: (stability[s]["mean_over_framings"], SCORES.index(s)))
    report["score"] = score
    log.info("score stability %s -> %s", {s: round(v["mean_over_framings"], 3) for s, v in stability.items()}, score)
    dummy = _dummy(knees)
    reference_framing = framing_bank(bank)
    reference_logits, reference_choices = fitted(knees, wide_bank(dummy, reference_framing), reference_framing, "2.1.0 (mirror-averaged)")
    reference = summarise(knees, reference_logits, old, None, args.resamples, 0)
    t_ref = reference["evaluation"]["temperature"]
    reference["mirror"] = mirror_figures(reference_logits, t_ref, averaged=True)
    reference["mirror_single_pass"] = mirror_figures(reference_logits, t_ref, averaged=False)
    reference["choices"] = reference_choices
    reference_p = reference.pop("film_probability")
    averaged = {n: (reference_logits["single"][n] + reference_logits["mirrored"][n]) / 2 for n in reference_logits["single"]}
    reference["spread"] = spread(knees, None, {"single": averaged}, None, reference["evaluation"])
    # The 2.1.0 head read once, without its mirror (the single pass measured before): AUC and mirror figures.
    single = evaluate(knees, {"plain": reference_logits["single"]["plain"]}, old, args.resamples, 0)
    report["2.1.0 single pass"] = {"evaluation": single, "mirror": mirror_figures(reference_logits, single["temperature"], averaged=False),
                                   "label_changes": label_changes(reference_logits, single)}
    report["2.1.0"] = reference
    # Per knee, paired: the same knees, resampled by film.
    y = np.array([k.target for k in knees])
    binary = y >= 0
    film_of = np.array([k.film for k in knees])
    from osteo_desktop.training.knee_evaluation import _bootstrap
    from osteo_desktop.training.metrics import roc_auc

    a = (reference_logits["single"]["plain"] + reference_logits["mirrored"]["plain"]) / 2
    yb, ab, fb = y[binary], a[binary], film_of[binary]
    reference["label_changes"] = label_changes({"single": averaged}, reference["evaluation"])
    canonical_logits = {}
    # The variants, each read once per knee on its canonical input at run time:
    # - "2.1.0 head, canonical pass": the 2.1.0 fold heads unchanged, each knee read in its canonical orientation
    #   (inference only; temperature and threshold refitted by the same rules);
    # - "canonical only": the 2.1.0 recipe retrained on canonical inputs (its mirror row is the knee itself);
    # - "canonical + mirror rows": the same, keeping the knee's other orientation as a training row and in the penalty;
    # - "canonical only, strengths 0-10-30-100-1000": the first with a finer grid of penalty strengths (NOT 2.1.0's
    #   recipe: added after the 2.1.0 grid made its rule pick a squeezed head, see the report).
    variants = [("2.1.0 head, canonical pass", None, None), ("canonical only", False, STRENGTHS),
                ("canonical + mirror rows", True, STRENGTHS), ("canonical only, strengths 0-10-30-100-1000", False, FINE_STRENGTHS)]
    for variant, keep_mirror, strengths in variants:
        if keep_mirror is None:
            orientation = bank.scores[score]
            canon = {}
            for name in reference_logits["single"]:
                canon[name] = np.where(orientation[name] >= 0, reference_logits["single"][name], reference_logits["mirrored"][name])
                canon[name][np.isnan(orientation[name])] = np.nan
            logits, canonical_choices = {"single": canon, "mirrored": canon}, reference_choices
        else:
            canonical_framing = canonical_framing_bank(bank, score, keep_mirror)
            fitted_logits, canonical_choices = fitted(knees, wide_bank(dummy, canonical_framing), canonical_framing, f"{variant} ({score})", strengths)
            logits = single_pass(fitted_logits)  # run time: one pass on the canonical input
        canonical = summarise(knees, logits, old, reference_p, args.resamples, 0)
        canonical["auc_difference_vs_2_1_0"] = canonical.pop("auc_difference_vs_2_0_0")
        canonical["mirror"] = mirror_figures(logits, canonical["evaluation"]["temperature"], averaged=False)
        canonical["choices"] = canonical_choices
        canonical["film_probability"] = canonical.pop("film_probability")
        b = logits["single"]["plain"]
        bb = b[binary]
        diff = lambda i: roc_auc(yb[i], bb[i]) - roc_auc(yb[i], ab[i])  # noqa: E731
        low, high = _bootstrap(diff, fb, args.resamples, 0)
        canonical["knee_auc_difference_vs_2_1_0"] = {"value": diff(np.arange(len(yb))), "ci_low": low, "ci_high": high, "n": int(len(yb))}
        canonical["spread"] = spread(knees, reference_logits, logits, reference["evaluation"], canonical["evaluation"])
        canonical["label_changes"] = label_changes(logits, canonical["evaluation"])
        report[f"{variant} ({score})"] = canonical
        canonical_logits[variant] = logits
    def listed(logits):
        return {m: {n: [None if np.isnan(v) else float(v) for v in vals] for n, vals in logits[m].items()} for m in logits}

    report["logits"] = {"2.1.0": listed(reference_logits), **{k: listed(v) for k, v in canonical_logits.items()}}
    report["film_probability_2.1.0"] = reference_p
    return report


def spread(knees, reference_logits, logits, reference_evaluation, evaluation):
    """How far apart the knees' probabilities lie (a head squeezed towards one logit moves little under any change,
    framing included, and the card's calibration rule keeps T = 1 for it): quantiles of the calibrated per-knee
    probability, and the framing |dp| at the temperature fitted by minimum log loss."""
    import numpy as np

    from osteo_desktop.training.knee_head import sigmoid

    t = evaluation["temperature"]
    fitted = evaluation["calibration"]["fitted_temperature"]
    z = logits["single"]["plain"]
    out = {"logit_sd": float(np.nanstd(z)), "probability_p5_p25_p50_p75_p95": [float(v) for v in np.nanpercentile(sigmoid(z / t), [5, 25, 50, 75, 95])],
           "fitted_temperature": fitted}
    both = np.concatenate([np.abs(sigmoid(logits["single"][n] / fitted) - sigmoid(z / fitted)) for n in ("scale_0.85", "scale_1.15")])
    out["scale_0.85_and_1.15_median_dp_at_fitted_temperature"] = float(np.nanmedian(both))
    return out


def print_summary(report) -> None:
    print("score stability:", {s: {k: round(v, 3) for k, v in st.items()} for s, st in report["score_stability"].items()})
    print("score:", report["score"])
    for name in ("2.1.0", "2.1.0 single pass", *(k for k in report if k.startswith("canonical"))):
        r = report[name]
        e = r["evaluation"]
        film = e["film"]["subsets"]["all binary"]
        q = e["film"]["qus"]
        line = (f"{name}: film AUC {film['value']:.3f} ({film['ci_low']:.3f}-{film['ci_high']:.3f}) knee {e['knee']['roc_auc']['value']:.3f} "
                f"qusAUC {q['auc_t_le_minus_2_5']['value']:.3f} rho {q['spearman_probability_vs_t_score']['value']:.3f} ECE film {e['film']['ece']:.3f} "
                f"knee {e['knee']['ece']:.3f} T {e['temperature']:.3f}")
        if "film_auc_detector_boxes" in r:
            line += f" det-box AUC {r['film_auc_detector_boxes']['value']:.3f}"
        diff = r.get("auc_difference_vs_2_1_0", {}).get("all binary")
        if diff:
            line += f" diff {diff['value']:+.3f} ({diff['ci_low']:+.3f} {diff['ci_high']:+.3f})"
        print(line)
        print("    mirror", {k: round(v["median"], 4) for k, v in r["mirror"].items()})
        if "framing" in r:
            for mode in ("flip", "single"):
                print("   ", mode, " ".join(f"{k}={v['median']:.3f}/{v['p90']:.3f}" for k, v in r["framing"][mode].items()))
        if "choices" in r:
            print("    choices", [(c["lambda"], c["strength"]) for c in r["choices"]])
        if "spread" in r:
            print("    spread", r["spread"], "knee diff", r.get("knee_auc_difference_vs_2_1_0"))
        if "label_changes" in r:
            print("    label changes", {k: round(v, 3) for k, v in r["label_changes"].items()})


def write(args, report) -> None:
    from osteo_desktop.training.knee_canonical import compact, markdown

    report = compact(report)
    args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    bench_path = REPO / "benchmarks" / "results" / "film_analysis.json"
    bench = json.loads(bench_path.read_text()) if bench_path.is_file() else None
    if bench is not None and bench.get("other") is None:
        bench = None  # a run without --other-head has no canonical figures
    knee_benches = {name: json.loads((REPO / "benchmarks" / "results" / f"{name}.json").read_text())
                    for name in ("knee_inference", "knee_inference_stored") if (REPO / "benchmarks" / "results" / f"{name}.json").is_file()}
    args.out.with_suffix(".md").write_text(markdown(report, bench, knee_benches))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="study", choices=("extract", "study", "report"))
    parser.add_argument("--model-dir", type=Path, default=REPO / "model_weights")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "osteo-knee")
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "knee_canonical.json")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s", level=logging.INFO)
    start = time.perf_counter()
    if args.stage == "report":  # the Markdown again from the JSON (and the latest film_analysis benchmark)
        write(args, json.loads(args.out.read_text()))
        return 0
    knees, plain_boxes, mirror_boxes, bank = load_all(args)
    log.info("features ready in %.0f s", time.perf_counter() - start)
    if args.stage == "extract":
        return 0
    report = study(args, knees, bank, plain_boxes, mirror_boxes)
    write(args, report)
    print_summary(report)
    log.info("done in %.0f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
