"""Turning out-of-fold logits into the numbers a reviewer asks for: calibration, threshold, metrics with
intervals, per-source and QUS-subset results, and how osteopenia images are scored."""

from __future__ import annotations

from typing import Any

import numpy as np

from osteo_desktop.training.dataset import DevSet
from osteo_desktop.training.metrics import (
    bootstrap_auc_interval,
    bootstrap_intervals,
    confusion,
    fit_temperature,
    log_loss,
    reliability,
    roc_auc,
    sigmoid,
    spearman,
    youden_threshold,
)

THRESHOLD_RULE = "maximum Youden J (sensitivity + specificity - 1) on out-of-fold calibrated probabilities; ties broken towards 0.5"
ECE_RECALIBRATE = 0.05  # above this out-of-fold ECE the fitted temperature is used
# Log loss is the proper scoring rule the temperature is fitted on (Guo et al. 2017); a 10-bin ECE over ~230 images
# moves by a few hundredths with the binning alone, so it decides whether to recalibrate, not how.
CALIBRATION_RULE = (
    "temperature fitted on out-of-fold logits by minimum log loss, used when the out-of-fold ECE at T=1 exceeds 0.05"
)


def summarise(devset: DevSet, logits: np.ndarray, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    targets = devset.targets
    binary = targets >= 0
    y, z = targets[binary], logits[binary]
    raw_ece, _ = reliability(y, sigmoid(z))
    fitted = fit_temperature(y, z)
    fitted_ece, _ = reliability(y, sigmoid(z / fitted))
    temperature = fitted if raw_ece > ECE_RECALIBRATE else 1.0
    probabilities = sigmoid(logits / temperature)
    p = probabilities[binary]
    ece, bins = reliability(y, p)
    threshold = youden_threshold(y, p)
    summary: dict[str, Any] = {
        "n_binary": int(binary.sum()),
        "temperature": temperature,
        "fitted_temperature": fitted,
        "fitted_temperature_ece": fitted_ece,
        "calibration_rule": CALIBRATION_RULE,
        "log_loss_uncalibrated": log_loss(y, z),
        "log_loss_fitted_temperature": log_loss(y, z / fitted),
        "ece_uncalibrated": raw_ece,
        "ece": ece,
        "reliability_bins": bins,
        "threshold": threshold,
        "threshold_rule": THRESHOLD_RULE,
        "metrics": bootstrap_intervals(y, p, threshold, resamples, seed),
        "metrics_at_0_5": bootstrap_intervals(y, p, 0.5, resamples, seed),
        "confusion": confusion(y, p >= threshold),
        "confusion_at_0_5": confusion(y, p >= 0.5),
    }
    summary["per_source"] = per_source(devset, probabilities, threshold)
    summary["dxa"] = dxa_subset(devset, probabilities, resamples, seed)
    summary["osteopenia"] = osteopenia_scores(devset, probabilities, threshold)
    return summary


def per_source(devset: DevSet, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    targets = devset.targets
    groups = {
        "all binary": np.ones(len(targets), bool),
        "without T-score": np.array([e.t_score is None for e in devset.examples]),
        "with QUS T-score": np.array([e.t_score is not None for e in devset.examples]),
    }
    for source in sorted({e.source for e in devset.examples}):
        groups[source] = np.array([e.source == source for e in devset.examples])
    for name, members in groups.items():
        members = members & (targets >= 0)
        if not members.any():
            continue
        y, p = targets[members], probabilities[members]
        auc = roc_auc(y, p)
        out[name] = {
            "n": int(members.sum()),
            "positives": int(y.sum()),
            "roc_auc": auc,
            "accuracy": float(np.mean((p >= threshold) == (y == 1))),
            "confusion": confusion(y, p >= threshold),
        }
    return out


def dxa_subset(devset: DevSet, probabilities: np.ndarray, resamples: int, seed: int) -> dict[str, Any]:
    has_t = np.array([e.t_score is not None for e in devset.examples])
    t = np.array([e.t_score if e.t_score is not None else np.nan for e in devset.examples])
    targets = devset.targets
    binary = has_t & (targets >= 0)
    auc, low, high = bootstrap_auc_interval(targets[binary], probabilities[binary], resamples, seed)
    # Lower T-score means less bone, so a useful probability correlates negatively with it.
    return {
        "n_with_t_score": int(has_t.sum()),
        "n_binary": int(binary.sum()),
        "roc_auc": auc,
        "roc_auc_ci": [low, high],
        "spearman_probability_vs_t_score_all": spearman(probabilities[has_t], t[has_t]),
        "spearman_probability_vs_t_score_binary": spearman(probabilities[binary], t[binary]),
        "points": [
            {"file": e.file, "label": e.label, "t_score": e.t_score, "probability": float(probabilities[i])}
            for i, e in enumerate(devset.examples) if e.t_score is not None
        ],
    }


def framing_shortcut(devset: DevSet) -> dict[str, Any]:
    """ROC AUC of the image's aspect ratio alone, per subset: how much a model could score without looking at bone.

    In the larger source, osteoporosis images are mostly close-ups of the joint and normal ones long-leg views, so
    the shape of the picture predicts the label there; in the QUS-labelled images it does not.
    """
    targets = devset.targets
    aspect = np.array([e.aspect for e in devset.examples])
    has_t = np.array([e.t_score is not None for e in devset.examples])
    subsets = {"all binary": targets >= 0, "without T-score": (targets >= 0) & ~has_t, "with QUS T-score": (targets >= 0) & has_t}
    return {name: {"n": int(m.sum()), "aspect_roc_auc": roc_auc(targets[m], aspect[m])} for name, m in subsets.items()}


def osteopenia_scores(devset: DevSet, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ("normal", "osteopenia", "osteoporosis"):
        members = np.array([e.label == label for e in devset.examples])
        if members.any():
            p = probabilities[members]
            out[label] = {
                "n": int(members.sum()),
                "median_probability": float(np.median(p)),
                "quartiles": [float(np.percentile(p, 25)), float(np.percentile(p, 75))],
                "fraction_called_osteoporosis": float(np.mean(p >= threshold)),
            }
    return out
