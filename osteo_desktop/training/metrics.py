"""Evaluation arithmetic in NumPy: ROC, threshold metrics, bootstrap intervals, calibration, rank correlation."""

from __future__ import annotations

import math

import numpy as np

METRIC_NAMES = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U); NaN when only one class is present."""
    y = np.asarray(y).astype(bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[y].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def roc_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold (descending), starting at (0, 0)."""
    y = np.asarray(y).astype(bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    s, t = np.asarray(scores, dtype=np.float64)[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(t)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / max(1, t.sum())]
    fpr = np.r_[0.0, fps / max(1, (~t).sum())]
    return fpr, tpr, np.r_[np.inf, s[distinct]]


def confusion(y: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    y, predicted = np.asarray(y).astype(bool), np.asarray(predicted).astype(bool)
    return {
        "tn": int((~y & ~predicted).sum()),
        "fp": int((~y & predicted).sum()),
        "fn": int((y & ~predicted).sum()),
        "tp": int((y & predicted).sum()),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def threshold_metrics(y: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    c = confusion(y, np.asarray(probabilities) >= threshold)
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    return {
        "accuracy": _ratio(c["tp"] + c["tn"], sum(c.values())),
        "precision": precision,
        "recall": recall,
        "specificity": _ratio(c["tn"], c["tn"] + c["fp"]),
        "f1": _ratio(2 * precision * recall, precision + recall) if not math.isnan(precision + recall) else float("nan"),
        "roc_auc": roc_auc(y, probabilities),
    }


def bootstrap_intervals(
    y: np.ndarray, probabilities: np.ndarray, threshold: float, resamples: int = 2000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Point estimate and 95% percentile interval of each metric, resampling images with replacement."""
    y, probabilities = np.asarray(y), np.asarray(probabilities)
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in METRIC_NAMES}
    for _ in range(resamples):
        index = rng.integers(0, len(y), len(y))
        for name, value in threshold_metrics(y[index], probabilities[index], threshold).items():
            if not math.isnan(value):
                draws[name].append(value)
    point = threshold_metrics(y, probabilities, threshold)
    return {
        name: {
            "value": point[name],
            "ci_low": float(np.percentile(draws[name], 2.5)) if draws[name] else float("nan"),
            "ci_high": float(np.percentile(draws[name], 97.5)) if draws[name] else float("nan"),
        }
        for name in METRIC_NAMES
    }


def reliability(y: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over equal-width bins, and the bins (mean confidence, observed rate, count)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = index == b
        if not members.any():
            continue
        mean_p, rate = float(p[members].mean()), float(y[members].mean())
        ece += members.mean() * abs(mean_p - rate)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "mean_probability": mean_p, "observed_rate": rate, "count": int(members.sum())})
    return float(ece), table


def log_loss(y: np.ndarray, logits: np.ndarray) -> float:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(y: np.ndarray, logits: np.ndarray) -> float:
    """Temperature T > 0 minimising the log loss of sigmoid(logit / T) (golden-section search on log T)."""
    low, high = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    loss = lambda log_t: log_loss(y, np.asarray(logits) / math.exp(log_t))  # noqa: E731
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    for _ in range(80):
        if loss(a) < loss(b):
            high = b
        else:
            low = a
        a, b = high - ratio * (high - low), low + ratio * (high - low)
    return float(math.exp((low + high) / 2))


def youden_threshold(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1; among ties the one closest to 0.5.

    Returned as the midpoint between the chosen score and the next lower one, so it does not sit on a training
    prediction.
    """
    fpr, tpr, thresholds = roc_curve(y, probabilities)
    j = tpr - fpr
    candidates = np.flatnonzero(np.isclose(j, j.max()))
    finite = [i for i in candidates if np.isfinite(thresholds[i])]
    best = min(finite, key=lambda i: abs(thresholds[i] - 0.5))
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else 0.0
    return float((thresholds[best] + lower) / 2.0)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return float((rx * ry).sum() / denominator) if denominator else float("nan")


def bootstrap_auc_interval(y: np.ndarray, scores: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    y, scores = np.asarray(y), np.asarray(scores)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        index = rng.integers(0, len(y), len(y))
        value = roc_auc(y[index], scores[index])
        if not math.isnan(value):
            values.append(value)
    return roc_auc(y, scores), float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (nan, nan for n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def interval_text(entry: dict | None, signed: bool = False) -> str:
    """An estimate with its interval for a study's tables: "0.831 (0.774 to 0.880)", signed "+0.014 (-0.010 to
    +0.038)" for a difference; "-" when there is none."""
    if not entry:
        return "-"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(entry['value'])} ({f.format(entry['ci_low'])} to {f.format(entry['ci_high'])})"
