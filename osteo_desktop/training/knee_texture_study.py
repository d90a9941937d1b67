"""Texture-sensitive features against 2.1.0's last-block features: the pre-registered comparison (issue 11, item 3).

Every head here is fitted by the 2.1.0 recipe (:func:`~osteo_desktop.training.knee_framing_study.out_of_fold`: target
qus, wide jitter and detector boxes as rows, the framing-consistency penalty, lambda and strength by inner CV, the
card's calibration and threshold rules through :func:`~osteo_desktop.training.knee_framing_study.summarise`) on the
manifest's folds; only the features change (``VARIANTS``). The reference is the same recipe refitted on the last
block's features from the same extraction, so every difference is paired on the same knees, films and folds.

The rule (``RULE``) was written before the first run and is reproduced in the report.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from osteo_desktop.core.model.preprocessing import KneeRegionConfig
from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.knee_evaluation import _bootstrap, paired_auc_difference
from osteo_desktop.training.knee_features import KneeBank
from osteo_desktop.training.knee_head import sigmoid
from osteo_desktop.training.knee_texture import TextureBank, feature_set, region_side
from osteo_desktop.training.metrics import interval_text, roc_auc, spearman

log = logging.getLogger(__name__)

REFERENCE = "2.1.0 (last block)"
VARIANTS: dict[str, tuple[str, ...]] = {
    REFERENCE: ("final",),
    "multi-scale": ("final", "block_6", "block_13"),
    "hand-crafted": ("final", "texture"),
    "multi-scale + hand-crafted": ("final", "block_6", "block_13", "texture"),
}
CANDIDATES = tuple(v for v in VARIANTS if v != REFERENCE)
DECISION_LEVEL = 1.0 - 0.05 / len(CANDIDATES)  # Bonferroni over the candidates: 98.3 % for three
FRAMING_SLACK = 0.005  # how much worse a median |dp| may be and still count as "not worse"
LABEL_SLACK = 0.01  # the same for the fraction of knees whose label changes
RULE = (
    f"Fixed before the first run. Candidates: {', '.join(CANDIDATES)}; each is compared with the 2.1.0 recipe refitted on "
    "the last block's features of the same extraction (paired: same knees, films, folds, seed). A candidate is adopted "
    "only if (1) its out-of-fold per-film ROC AUC over all 228 binary films exceeds the reference's with a paired "
    f"bootstrap interval (2000 resamples of films) whose lower end is above 0 at the Bonferroni level for "
    f"{len(CANDIDATES)} candidates ({100 * DECISION_LEVEL:.1f} %; the 95 % interval is reported too), and (2) framing does not "
    f"get worse: flip-averaged median |dp| for the box x0.85 / x1.15 at most the reference's + {FRAMING_SLACK} and at most "
    f"0.03; single-pass mirror median |dp| at most the reference's + {FRAMING_SLACK}; halves of two-knee films median "
    f"|dp| at most 0.05; the fraction of knees whose label (per-film threshold) changes under x0.85 / x1.15 at most the "
    f"reference's + {LABEL_SLACK}. If several pass, the highest per-film AUC. The QUS T-score subset and the region-size "
    "shortcut check are reported and never used to choose."
)


def flip(logits: dict[str, dict[str, np.ndarray]], name: str) -> np.ndarray:
    """The knee's logit as the app computes it: the mean of its input's and its mirror's."""
    return (logits["single"][name] + logits["mirrored"][name]) / 2.0


def label_changes(logits: dict[str, dict[str, np.ndarray]], temperature: float, threshold: float) -> float:
    """Fraction of (knee, framing) pairs whose label at ``threshold`` (calibrated, flip-averaged) differs between the
    hand box and the box x 0.85 or x 1.15: a squeezed head cannot pass it by moving little."""
    base = sigmoid(flip(logits, "plain") / temperature) >= threshold
    changed = [(sigmoid(flip(logits, n) / temperature) >= threshold) != base for n in ("scale_0.85", "scale_1.15")]
    return float(np.mean(np.concatenate(changed)))


def size_shortcut(knees: list[Knee], logits: np.ndarray, config: KneeRegionConfig, resamples: int, seed: int,
                  reference: np.ndarray | None = None) -> dict[str, Any]:
    """Spearman between the knee's out-of-fold logit and its region's side in file pixels, within each class (normal,
    osteoporosis knees), with intervals resampling films; and, given ``reference`` logits, the paired difference."""
    side = np.array([region_side(k, config) for k in knees], np.float64)
    y = np.array([k.target for k in knees])
    film = np.array([k.film for k in knees])
    out: dict[str, Any] = {}
    for name, cls in (("normal", 0), ("osteoporosis", 1)):
        idx = np.flatnonzero(y == cls)
        s, z, f = side[idx], logits[idx], film[idx]
        low, high = _bootstrap(lambda i: spearman(z[i], s[i]), f, resamples, seed)
        entry = {"value": spearman(z, s), "ci_low": low, "ci_high": high, "n": int(idx.size)}
        if reference is not None:
            r = reference[idx]
            diff = lambda i: spearman(z[i], s[i]) - spearman(r[i], s[i])  # noqa: E731
            low, high = _bootstrap(diff, f, resamples, seed)
            entry["difference_vs_reference"] = {"value": diff(np.arange(idx.size)), "ci_low": low, "ci_high": high}
        out[name] = entry
    binary = y >= 0
    out["region_side_alone_knee_auc"] = roc_auc(y[binary], side[binary])
    return out


def paired_knee_difference(knees: list[Knee], new: np.ndarray, old: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    """Per-knee ROC AUC difference over the binary knees, resampling films."""
    y = np.array([k.target for k in knees])
    b = y >= 0
    yb, nb, ob, fb = y[b], new[b], old[b], np.array([k.film for k in knees])[b]
    diff = lambda i: roc_auc(yb[i], nb[i]) - roc_auc(yb[i], ob[i])  # noqa: E731
    low, high = _bootstrap(diff, fb, resamples, seed)
    return {"value": diff(np.arange(len(yb))), "ci_low": low, "ci_high": high, "n": int(len(yb))}


def film_probabilities(knees: list[Knee], p: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in zip(knees, p):
        out[k.film] = max(float(v), out.get(k.film, -1.0))
    return out


def decide(report: dict[str, Any]) -> dict[str, Any]:
    """The rule (RULE) applied to the figures: per candidate, which conditions hold; the adopted one or None."""
    ref = report[REFERENCE]
    ref_framing = ref["framing"]
    verdicts = {}
    for name in CANDIDATES:
        r = report[name]
        fr = r["framing"]
        checks = {
            "auc_interval_above_0": r["auc_difference_decision"]["ci_low"] > 0,
            "scale_x0.85_x1.15": fr["flip"]["scale_0.85_and_1.15"]["median"] <= min(ref_framing["flip"]["scale_0.85_and_1.15"]["median"] + FRAMING_SLACK, 0.03),
            "mirror_single_pass": fr["single"]["mirror"]["median"] <= ref_framing["single"]["mirror"]["median"] + FRAMING_SLACK,
            "halves": fr["flip"]["half"]["median"] <= 0.05,
            "label_changes": r["label_changes"] <= ref["label_changes"] + LABEL_SLACK,
        }
        verdicts[name] = {"checks": checks, "passes": all(checks.values())}
    passing = [n for n in CANDIDATES if verdicts[n]["passes"]]
    adopted = max(passing, key=lambda n: report[n]["evaluation"]["film"]["subsets"]["all binary"]["value"]) if passing else None
    return {"rule": RULE, "verdicts": verdicts, "adopted": adopted}


def run_study(knees: list[Knee], bank: TextureBank, old: dict[str, float], config: KneeRegionConfig,
              resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every variant's figures (module docstring), paired against the reference, and the decision."""
    import time

    from osteo_desktop.training.knee_framing_study import STRENGTHS, out_of_fold, summarise, wide_bank

    dummy = KneeBank(np.zeros((len(knees), 0), np.float32), np.zeros((len(knees), 0), np.float32),
                     np.zeros((len(knees), 1, 0), np.float32), {}, np.full(len(knees), np.nan, np.float32))
    report: dict[str, Any] = {"rule": RULE, "knees": len(knees), "films": len({k.film for k in knees}),
                              "variants": {k: list(v) for k, v in VARIANTS.items()}}
    reference_flip = reference_p = None
    y_films: dict[str, int] = {k.film: k.target for k in knees}
    for name, groups in VARIANTS.items():
        started = time.perf_counter()
        framing = feature_set(bank, groups)
        logits, choices = out_of_fold(wide_bank(dummy, framing), framing, knees, STRENGTHS)
        rule = logits["rule"]
        result = summarise(knees, rule, old, None, resamples, seed)
        evaluation = result["evaluation"]
        t, threshold = evaluation["temperature"], evaluation["threshold"]
        z = flip(rule, "plain")
        result["choices"] = choices
        result["features"] = int(framing.single["plain"].shape[1])
        result["label_changes"] = label_changes(rule, t, threshold)
        result["logit_sd"] = float(np.nanstd(z))
        result["probability_p5_p95"] = [float(v) for v in np.nanpercentile(sigmoid(z / t), [5, 95])]
        result["size_shortcut"] = size_shortcut(knees, z, config, resamples, seed, reference_flip)
        film_p = result.pop("film_probability")
        if reference_p is not None:
            common = [f for f in film_p if y_films[f] >= 0]
            yy = np.array([y_films[f] for f in common])
            has_t = np.array([next(k.t_score for k in knees if k.film == f) is not None for f in common])
            new, ref = np.array([film_p[f] for f in common]), np.array([reference_p[f] for f in common])
            result["auc_difference"] = {
                "all binary": paired_auc_difference(yy, new, ref, resamples, seed),
                "with QUS T-score": paired_auc_difference(yy[has_t], new[has_t], ref[has_t], resamples, seed),
                "without T-score": paired_auc_difference(yy[~has_t], new[~has_t], ref[~has_t], resamples, seed)}
            result["auc_difference_decision"] = paired_auc_difference(yy, new, ref, resamples, seed, DECISION_LEVEL)
            result["knee_auc_difference"] = paired_knee_difference(knees, z, reference_flip, resamples, seed)
        else:
            reference_flip, reference_p = z, film_p
        result["film_probability"] = film_p
        result["knee_logit"] = [None if np.isnan(v) else round(float(v), 5) for v in z]
        result["fit_seconds"] = time.perf_counter() - started
        log.info("%s: %d features, film AUC %.3f, choices %s, %.0f s", name, result["features"],
                 evaluation["film"]["subsets"]["all binary"]["value"], [(c["lambda"], c["strength"]) for c in choices], result["fit_seconds"])
        report[name] = result
    report["decision"] = decide(report)
    return report


# --- the report --------------------------------------------------------------------------------------------------------

def markdown(report: dict[str, Any]) -> str:
    names = list(report["variants"])
    ev = {n: report[n]["evaluation"] for n in names}
    lines = ["# Texture-sensitive features for the per-knee head (issue 11, item 3): a pre-registered study", ""]
    lines += [f"{report['knees']} knees of {report['films']} films (hand-checked boxes), out-of-fold on the manifest's 5 folds (both knees "
              "and every copy of a patient in one fold), seed 0, 2000 bootstrap resamples of films for every interval. Every head is "
              "fitted by the 2.1.0 recipe (training/knee_framing_study.py: target qus, wide jitter x0.80-1.20 / ±10 %, detector boxes as "
              "rows, framing-consistency penalty, lambda and strength by inner CV, the card's calibration and threshold rules, flip-averaged "
              "as the app runs); only the features differ. The reference is that recipe refitted on the last block's features of the same "
              "extraction, so every difference is paired. Code: training/knee_texture.py (features), training/knee_texture_study.py "
              "(study), scripts/knee_texture_study.py (command; features cached under .cache/osteo-knee/texture).", ""]
    lines += ["## Feature sets", "",
              "- **2.1.0 (last block)**: out_relu (7x7x1280) mean-pooled: what 2.1.0 reads (1280 features).",
              "- **multi-scale**: that plus block_6_expand_relu (28x28x192) and block_13_expand_relu (14x14x576), mean-pooled, "
              "from the same forward pass (2048).",
              "- **hand-crafted**: the last block plus 32 texture statistics of the model input's grey values: uniform LBP "
              "histograms (8 neighbours, radius 1 and 2, 10 bins each) and GLCM contrast / homogeneity / energy / correlation "
              "(16 levels, distances 1, 2, 4; horizontal and vertical averaged). All exactly mirror-invariant (1312).",
              "- **multi-scale + hand-crafted**: all of them (2080).", "",
              "Native-resolution tiles (the knee read as several 224 px tiles of the film's own pixels) were not tried: every tile "
              "is a further backbone pass per knee (the film analysis is already over the 2x speed target), and a tile of fixed "
              "pixel size covers more anatomy on a long-leg view than on a close-up, which is the resolution shortcut below.", ""]
    lines += ["## The rule (written before the first run)", "", report["rule"], ""]
    lines += ["## Discrimination, T-score subset, calibration (per film: the most suspicious knee)", "",
              "| features | film ROC AUC (228 binary films) | paired difference vs 2.1.0, 95 % | the same at the decision level | knee ROC AUC | paired knee difference | ECE film / knee | T | threshold |",
              "|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        e, r = ev[n], report[n]
        lines.append(f"| {n} | {interval_text(e['film']['subsets']['all binary'])} | {interval_text(r.get('auc_difference', {}).get('all binary'), True)} | "
                     f"{interval_text(r.get('auc_difference_decision'), True)} | {interval_text(e['knee']['roc_auc'])} | {interval_text(r.get('knee_auc_difference'), True)} | "
                     f"{e['film']['ece']:.3f} / {e['knee']['ece']:.3f} | {e['temperature']:.3f} | {e['threshold']:.3f} |")
    lines += ["", "Per subset (per film ROC AUC, 95 % intervals; the T-score rows are reported, never used to choose):", "",
              "| subset | n (osteoporosis) | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for subset, entry in ev[names[0]]["film"]["subsets"].items():
        lines.append(f"| {subset} | {entry['n']} ({entry['positives']}) | " + " | ".join(interval_text(ev[n]['film']['subsets'][subset]) for n in names) + " |")
    lines.append("| detector boxes (as the app reads knees), all binary | 228 | " + " | ".join(interval_text(report[n]["film_auc_detector_boxes"]) for n in names) + " |")
    q0 = ev[names[0]]["film"]["qus"]
    lines.append(f"| QUS T-score films, T <= -2.5 vs not | {q0['n_with_t_score']} | " + " | ".join(interval_text(ev[n]['film']['qus']['auc_t_le_minus_2_5']) for n in names) + " |")
    lines.append(f"| Spearman(probability, T) | {q0['n_with_t_score']} | " + " | ".join(interval_text(ev[n]['film']['qus']['spearman_probability_vs_t_score'], True) for n in names) + " |")
    lines += ["", "Paired per-film differences against 2.1.0 by subset (95 %):", "", "| features | all binary | without T-score | with QUS T-score |", "|---|---|---|---|"]
    for n in CANDIDATES:
        d = report[n]["auc_difference"]
        lines.append(f"| {n} | {interval_text(d['all binary'], True)} | {interval_text(d['without T-score'], True)} | {interval_text(d['with QUS T-score'], True)} |")
    lines += ["", "## Framing (out-of-fold, |change of the knee's calibrated probability|, median / 90th percentile)", "",
              "| features | box x0.85 and x1.15 (flip-averaged) | box moved 10 % | detector box vs hand box | half of a two-knee film | borders black / grey | mirror, single pass | labels changed under x0.85 / x1.15 | logit SD | probability 5th-95th pct |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        fr, r = report[n]["framing"], report[n]
        f, s = fr["flip"], fr["single"]
        lines.append(f"| {n} | {f['scale_0.85_and_1.15']['median']:.3f} / {f['scale_0.85_and_1.15']['p90']:.3f} | {f['shift_all']['median']:.3f} / {f['shift_all']['p90']:.3f} | "
                     f"{f['detector']['median']:.3f} / {f['detector']['p90']:.3f} | {f['half']['median']:.3f} / {f['half']['p90']:.3f} | "
                     f"{f['bordered']['median']:.3f} / {f['grey_bordered']['median']:.3f} | {s['mirror']['median']:.3f} / {s['mirror']['p90']:.3f} | "
                     f"{r['label_changes']:.3f} | {r['logit_sd']:.3f} | {r['probability_p5_p95'][0]:.2f}-{r['probability_p5_p95'][1]:.2f} |")
    lines += ["", "Penalty choices per outer fold (lambda, strength):", ""]
    for n in names:
        lines.append(f"- {n}: {[(c['lambda'], c['strength']) for c in report[n]['choices']]}")
    lines += ["", "## The region-size shortcut", "",
              "Spearman between the knee's out-of-fold logit (flip-averaged) and its region's side in file pixels, within a class "
              "(intervals resample films; the paired difference is against 2.1.0 on the same knees). The region's side alone scores "
              f"knee ROC AUC {report[names[0]]['size_shortcut']['region_side_alone_knee_auc']:.3f}.", "",
              "| features | normal knees | difference vs 2.1.0 | osteoporosis knees | difference vs 2.1.0 |", "|---|---|---|---|---|"]
    for n in names:
        sc = report[n]["size_shortcut"]
        lines.append(f"| {n} | {interval_text(sc['normal'], True)} (n={sc['normal']['n']}) | {interval_text(sc['normal'].get('difference_vs_reference'), True)} | "
                     f"{interval_text(sc['osteoporosis'], True)} (n={sc['osteoporosis']['n']}) | {interval_text(sc['osteoporosis'].get('difference_vs_reference'), True)} |")
    d = report["decision"]
    lines += ["", "## Decision", ""]
    for n, v in d["verdicts"].items():
        failed = [k for k, ok in v["checks"].items() if not ok]
        lines.append(f"- {n}: {'passes' if v['passes'] else 'fails: ' + ', '.join(failed)}")
    lines += ["", f"**Adopted: {d['adopted']}.**" if d["adopted"] else "**Not adopted: 2.1.0 stays (no candidate meets the rule).**", ""]
    if report.get("notes"):
        lines += ["## What the figures say (written by hand after the run; a re-run regenerates everything above, not this)", "",
                  *report["notes"], ""]
    lines += [f"Study interpreter (no delegate, tensors preserved) against the app's (XNNPACK) on the last block: max |difference| "
              f"{report.get('delegate_agreement_max_abs', float('nan')):.1e}. Wall time of the run: {report.get('wall_time_s', float('nan')):.0f} s "
              "(features from the cache).", ""]
    return "\n".join(lines)
