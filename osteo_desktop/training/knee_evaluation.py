"""Out-of-fold evaluation of the per-knee model: per knee and per film, per source, on the QUS T-score subset,
calibration, framing invariance, and the same figures for model 1.1.0 on the same films and folds.

A film's result is its most suspicious knee (the highest probability). Knee-level intervals resample films, not
knees, because the two knees of a film share a label and a patient. All intervals: 95 % percentile bootstrap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from osteo_desktop.training.evaluation import CALIBRATION_RULE, ECE_RECALIBRATE, THRESHOLD_RULE
from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.metrics import confusion, fit_temperature, reliability, roc_auc, sigmoid, spearman, youden_threshold

FRAMING = {
    "mirrored": "the film mirrored (left-right)",
    "half": "the knee's half of a two-knee film, analysed alone",
    "bordered": "the film inside added black borders (10 % a side)",
    "grey_bordered": "the film inside added mid-grey borders (10 % a side)",
    "tight": "box side x 0.85 (cropped tighter)",
    "loose": "box side x 1.15 (cropped looser)",
}


def film_table(knees: list[Knee], probabilities: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per film: its label, target, source, T-score and its most suspicious knee's probability."""
    films: dict[str, dict[str, Any]] = {}
    for knee, p in zip(knees, probabilities):
        entry = films.setdefault(knee.film, {"label": knee.label, "target": knee.target, "source": knee.source,
                                             "t_score": knee.t_score, "probability": -np.inf, "knees": 0})
        entry["probability"] = max(entry["probability"], float(p))
        entry["knees"] += 1
    return films


def _bootstrap(statistic, groups: np.ndarray, resamples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (``level``, 95 % unless told) of ``statistic(indices)`` resampling the unique ``groups``
    (films) with replacement."""
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in unique}
    values = []
    for _ in range(resamples):
        picked = rng.choice(unique, len(unique))
        value = statistic(np.concatenate([members[g] for g in picked]))
        if not math.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    tail = 100.0 * (1.0 - level) / 2.0
    return float(np.percentile(values, tail)), float(np.percentile(values, 100.0 - tail))


def auc_with_interval(y: np.ndarray, scores: np.ndarray, groups: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    value = roc_auc(y, scores)
    low, high = _bootstrap(lambda idx: roc_auc(y[idx], scores[idx]), groups, resamples, seed)
    return {"value": value, "ci_low": low, "ci_high": high, "n": int(len(y)), "positives": int(np.sum(y))}


def spearman_with_interval(p: np.ndarray, t: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    value = spearman(p, t)
    low, high = _bootstrap(lambda idx: spearman(p[idx], t[idx]), np.arange(len(p)), resamples, seed)
    return {"value": value, "ci_low": low, "ci_high": high, "n": int(len(p))}


def film_metrics(films: dict[str, dict[str, Any]], threshold: float, resamples: int, seed: int) -> dict[str, Any]:
    """Per-film figures: overall, per source, with/without T-score, the T-score subset, osteopenia."""
    names = list(films)
    y = np.array([films[f]["target"] for f in names])
    p = np.array([films[f]["probability"] for f in names])
    t = np.array([films[f]["t_score"] if films[f]["t_score"] is not None else np.nan for f in names])
    source = np.array([films[f]["source"] for f in names])
    binary = y >= 0
    groups = {"all binary": binary, "without T-score": binary & np.isnan(t), "with QUS T-score": binary & ~np.isnan(t)}
    for s in sorted(set(source)):
        groups[s] = binary & (source == s)
    out: dict[str, Any] = {"subsets": {}}
    for name, members in groups.items():
        idx = np.flatnonzero(members)
        if not idx.size:
            continue
        entry = auc_with_interval(y[idx], p[idx], idx, resamples, seed)
        entry["accuracy"] = float(np.mean((p[idx] >= threshold) == (y[idx] == 1)))
        entry["confusion"] = confusion(y[idx], p[idx] >= threshold)
        out["subsets"][name] = entry
    has_t = ~np.isnan(t)
    idx = np.flatnonzero(has_t)
    out["qus"] = {
        "n_with_t_score": int(has_t.sum()),
        "auc_t_le_minus_2_5": auc_with_interval((t[idx] <= -2.5).astype(int), p[idx], idx, resamples, seed),
        "spearman_probability_vs_t_score": spearman_with_interval(p[idx], t[idx], resamples, seed),
    }
    ece, bins = reliability(y[binary], p[binary])
    out["ece"], out["reliability_bins"] = ece, bins
    out["osteopenia"] = {
        label: {"n": int(m.sum()), "median_probability": float(np.median(p[m])), "quartiles": [float(np.percentile(p[m], 25)), float(np.percentile(p[m], 75))],
                "fraction_called_osteoporosis": float(np.mean(p[m] >= threshold))}
        for label in ("normal", "osteopenia", "osteoporosis")
        for m in [np.array([films[f]["label"] == label for f in names])] if m.any()
    }
    return out


def calibrate(knees: list[Knee], logits: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Temperature from the binary knees' out-of-fold logits (the 1.1.0 rule); returns it and the record."""
    y = np.array([k.target for k in knees])
    binary = y >= 0
    raw_ece, _ = reliability(y[binary], sigmoid(logits[binary]))
    fitted = fit_temperature(y[binary], logits[binary])
    temperature = fitted if raw_ece > ECE_RECALIBRATE else 1.0
    ece, _ = reliability(y[binary], sigmoid(logits[binary] / temperature))
    return temperature, {"temperature": temperature, "fitted_temperature": fitted, "method": CALIBRATION_RULE,
                         "ece_uncalibrated_knee": raw_ece, "ece_knee": ece}


def framing_invariance(knees: list[Knee], logits: dict[str, np.ndarray], temperature: float) -> dict[str, Any]:
    """|dp| between each knee's probability as filmed and under each framing change (out-of-fold heads)."""
    base = sigmoid(logits["plain"] / temperature)
    out: dict[str, Any] = {}
    for name, what in FRAMING.items():
        if name not in logits:
            continue
        other = sigmoid(logits[name] / temperature)
        valid = ~np.isnan(other)
        d = np.abs(other[valid] - base[valid])
        if not d.size:
            continue
        out[name] = {"what": what, "n_knees": int(valid.sum()), "median": float(np.median(d)),
                     "p90": float(np.percentile(d, 90)), "max": float(d.max())}
    return out


def paired_auc_difference(y: np.ndarray, new: np.ndarray, old: np.ndarray, resamples: int, seed: int, level: float = 0.95) -> dict[str, float]:
    idx = np.arange(len(y))
    diff = lambda i: roc_auc(y[i], new[i]) - roc_auc(y[i], old[i])  # noqa: E731
    low, high = _bootstrap(diff, idx, resamples, seed, level)
    return {"value": diff(idx), "ci_low": low, "ci_high": high, "n": int(len(y))}


def evaluate(knees: list[Knee], logits: dict[str, np.ndarray], old_film_probability: dict[str, float], resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every figure of reports/per_knee.md from out-of-fold logits (``logits['plain']`` etc., one per knee)."""
    temperature, calibration = calibrate(knees, logits["plain"])
    p = sigmoid(logits["plain"] / temperature)
    films = film_table(knees, p)
    names = list(films)
    film_y = np.array([films[f]["target"] for f in names])
    film_p = np.array([films[f]["probability"] for f in names])
    binary = film_y >= 0
    threshold = youden_threshold(film_y[binary], film_p[binary])
    y_knee = np.array([k.target for k in knees])
    film_of = np.array([k.film for k in knees])
    knee_binary = y_knee >= 0
    knee_ece, knee_bins = reliability(y_knee[knee_binary], p[knee_binary])
    result: dict[str, Any] = {
        "n_knees": len(knees), "n_films": len(films), "n_binary_films": int(binary.sum()), "n_binary_knees": int(knee_binary.sum()),
        "temperature": temperature, "calibration": calibration, "threshold": threshold,
        "threshold_rule": THRESHOLD_RULE.replace("probabilities", "per-film (most suspicious knee) probabilities"),
        "knee": {"roc_auc": auc_with_interval(y_knee[knee_binary], p[knee_binary], film_of[knee_binary], resamples, seed),
                 "ece": knee_ece, "reliability_bins": knee_bins},
        "film": film_metrics(films, threshold, resamples, seed),
        "framing": framing_invariance(knees, logits, temperature),
    }
    old_films = {f: dict(v, probability=old_film_probability[f]) for f, v in films.items() if f in old_film_probability}
    if old_films:
        old_threshold = youden_threshold(np.array([v["target"] for v in old_films.values() if v["target"] >= 0]),
                                         np.array([v["probability"] for v in old_films.values() if v["target"] >= 0]))
        result["old_model"] = {"threshold": old_threshold, "film": film_metrics(old_films, old_threshold, resamples, seed)}
        common = [f for f in names if f in old_film_probability and films[f]["target"] >= 0]
        y = np.array([films[f]["target"] for f in common])
        new = np.array([films[f]["probability"] for f in common])
        old = np.array([old_film_probability[f] for f in common])
        has_t = np.array([films[f]["t_score"] is not None for f in common])
        result["auc_difference"] = {"all binary": paired_auc_difference(y, new, old, resamples, seed),
                                    "with QUS T-score": paired_auc_difference(y[has_t], new[has_t], old[has_t], resamples, seed),
                                    "without T-score": paired_auc_difference(y[~has_t], new[~has_t], old[~has_t], resamples, seed)}
    return result
