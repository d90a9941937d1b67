"""The per-knee head: an L2-regularised linear model on the pooled backbone features, fitted in NumPy.

Why linear: about 380 knees (228 binary films) cannot support the 1.1.0 head's 1.8 M weights; a linear model on
1280 standardised features, with the strength of its penalty chosen by inner cross-validation (folds of the
training films), is what this much data supports. It is stored in the ``HeadWeights`` layout (see
:func:`linear_head_arrays`) so that the run time and grad-CAM need no new code path.

Targets (``TARGETS``), each measured out-of-fold:

- ``binary``: osteoporosis 1 vs normal 0; osteopenia knees are not trained on.
- ``ordinal``: cumulative-logit model of the three grades (normal < osteopenia < osteoporosis) with one shared
  weight vector and two intercepts; the shipped logit is the osteoporosis one (grade >= 2).
- ``qus``: the binary rows, with the films that carry a QUS T-score (osteopenia included) given a soft target
  sigmoid(-(T + 2.5) / 0.5) instead: the measured T-score instead of its WHO grade.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.knee_features import KneeBank

log = logging.getLogger(__name__)

TARGETS = ("binary", "ordinal", "qus")
LAMBDAS = (100.0, 1000.0, 10000.0, 100000.0)  # L2 strength on standardised features, per training row's unit weight
CONSISTENCY = 0.0  # strength of the framing-consistency penalty (consistency_penalty)
QUS_SCALE = 0.5  # T-score units over which the soft target goes from 0.27 to 0.73 around -2.5


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, lam: float, free: int = 1, iterations: int = 30,
                 consistency: np.ndarray | None = None) -> np.ndarray:
    """Weighted logistic regression with soft targets ``y`` in [0, 1] by Newton's method.

    ``x`` carries ``free`` intercept columns at its end, which are not penalised. ``consistency`` (d, d), when given,
    is a further quadratic penalty beta' Q beta / 2 (see :func:`consistency_penalty`). Returns the coefficients.
    """
    n, d = x.shape
    penalty = np.diag(np.r_[np.full(d - free, lam, np.float64), np.full(free, 1e-6)])
    if consistency is not None:
        penalty = penalty + consistency
    beta = np.zeros(d)
    total = weights.sum()
    for _ in range(iterations):
        p = sigmoid(x @ beta)
        gradient = x.T @ (weights * (p - y)) / total + penalty @ beta / total
        curvature = weights * p * (1 - p) / total
        hessian = (x * curvature[:, None]).T @ x + penalty / total
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return beta


@dataclass
class LinearKneeHead:
    """logit = ((features - mean) / scale) @ weights + bias."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    lam: float
    target: str

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.weights + self.bias


def training_rows(bank: KneeBank, knees: list[Knee], indices: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features, soft target, row weight, task) for the training knees: each knee's region, its mirror and its
    augmented copies. ``task`` is 0 for the grade >= 1 split of the ordinal model and 1 otherwise."""
    xs, ys, tasks, owners = [], [], [], []
    for i in indices:
        knee = knees[i]
        rows = np.concatenate([bank.plain[i : i + 1], bank.mirrored[i : i + 1], bank.augmented[i]])
        targets_tasks: list[tuple[float, int]] = []
        if target == "binary" and knee.target >= 0:
            targets_tasks = [(float(knee.target), 1)]
        elif target == "ordinal":
            targets_tasks = [(float(knee.grade >= 1), 0), (float(knee.grade >= 2), 1)]
        elif target == "qus":
            if knee.t_score is not None:
                targets_tasks = [(float(sigmoid(np.array(-(knee.t_score + 2.5) / QUS_SCALE))), 1)]
            elif knee.target >= 0:
                targets_tasks = [(float(knee.target), 1)]
        for y, task in targets_tasks:
            xs.append(rows)
            ys.append(np.full(len(rows), y))
            tasks.append(np.full(len(rows), task))
            owners.append(np.full(len(rows), i))
    x = np.concatenate(xs).astype(np.float64)
    y = np.concatenate(ys)
    task = np.concatenate(tasks)
    # Balanced weights per task: each task's positive and negative mass equal (hard or soft targets alike).
    weights = np.ones(len(y))
    for t in np.unique(task):
        members = task == t
        positive = y[members].sum()
        negative = members.sum() - positive
        weights[members] = np.where(y[members] > 0.5, members.sum() / (2 * max(positive, 1e-9)), members.sum() / (2 * max(negative, 1e-9)))
    return x, y, weights, task


COMPONENTS = 256  # principal components of the standardised features the model is fitted in


@dataclass
class Basis:
    """Standardisation and the leading principal directions of a set of training rows."""

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray  # (C, COMPONENTS), orthonormal columns

    def project(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.components


def fit_basis(x: np.ndarray) -> Basis:
    """Fitting in the leading principal components keeps Newton's method cheap (a 256-square system instead of a
    1280-square one, for the dozens of fits inner cross-validation needs); the penalty then acts within them."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    _, vectors = np.linalg.eigh(z.T @ z)
    return Basis(mean, scale, vectors[:, ::-1][:, :COMPONENTS].copy())


def consistency_penalty(bank: KneeBank, indices: np.ndarray, basis: Basis, strength: float, free: int) -> np.ndarray | None:
    """Quadratic penalty ``strength`` x the mean squared change of the logit between each training knee's region and
    its mirror and its jittered copies (scaled to the loss's weighting in :func:`fit_logistic`, hence x total later).

    This asks the head to give a knee the same answer however the film was mirrored or the box drawn, which a
    linear head can learn only by ignoring the feature directions that those changes move."""
    if strength <= 0:
        return None
    plain = basis.project(bank.plain[indices])
    differences = [plain - basis.project(bank.mirrored[indices])]
    for copy in range(bank.augmented.shape[1]):
        differences.append(basis.project(bank.augmented[indices, copy]) - plain)
    d = np.concatenate(differences)
    q = strength * (d.T @ d) / len(d)
    return np.pad(q, ((0, free), (0, free)))


def fit_head(bank: KneeBank, knees: list[Knee], indices: np.ndarray, target: str, lam: float, basis: Basis | None = None,
             consistency: float = CONSISTENCY) -> LinearKneeHead:
    x, y, weights, task = training_rows(bank, knees, indices, target)
    basis = basis or fit_basis(x)
    z = basis.project(x)
    free = 2 if target == "ordinal" else 1
    q = consistency_penalty(bank, indices, basis, consistency, free)
    q = None if q is None else q * weights.sum()
    if target == "ordinal":
        design = np.column_stack([z, task == 0, task == 1]).astype(np.float64)
        beta = fit_logistic(design, y, weights, lam, free=2, consistency=q)
        bias = float(beta[-1])  # the osteoporosis (grade >= 2) intercept
        coefficients = beta[:-2]
    else:
        design = np.column_stack([z, np.ones(len(z))])
        beta = fit_logistic(design, y, weights, lam, free=1, consistency=q)
        bias, coefficients = float(beta[-1]), beta[:-1]
    return LinearKneeHead(basis.mean, basis.scale, basis.components @ coefficients, bias, lam, target)


def _binary_auc_by_film(knees: list[Knee], indices: np.ndarray, logits: np.ndarray) -> float:
    from osteo_desktop.training.metrics import roc_auc

    films: dict[str, tuple[int, float]] = {}
    for i, z in zip(indices, logits):
        k = knees[i]
        if k.target >= 0:
            films[k.film] = (k.target, max(z, films.get(k.film, (0, -np.inf))[1]))
    y = np.array([v[0] for v in films.values()])
    s = np.array([v[1] for v in films.values()])
    return roc_auc(y, s)


def choose_lambda(bank: KneeBank, knees: list[Knee], indices: np.ndarray, target: str, consistency: float = CONSISTENCY) -> float:
    """The penalty with the best mean per-film ROC AUC (binary films) over leave-one-fold-out inner splits."""
    folds = np.array([knees[i].fold for i in indices])
    basis = fit_basis(training_rows(bank, knees, indices, target)[0])
    scores = {}
    for lam in LAMBDAS:
        values = []
        for fold in np.unique(folds):
            inner_train, inner_test = indices[folds != fold], indices[folds == fold]
            head = fit_head(bank, knees, inner_train, target, lam, basis, consistency)
            values.append(_binary_auc_by_film(knees, inner_test, head.logits(bank.plain[inner_test])))
        scores[lam] = float(np.nanmean(values))
    best = max(LAMBDAS, key=lambda lam: (scores[lam], lam))
    log.info("target %s: inner-CV per-film AUC by lambda %s -> %g", target, {k: round(v, 3) for k, v in scores.items()}, best)
    return best


def cross_validate(bank: KneeBank, knees: list[Knee], target: str, fixed_lambda: float | None = None, consistency: float = CONSISTENCY) -> tuple[dict[str, np.ndarray], list[float]]:
    """Out-of-fold logits of every knee (osteopenia included) for each input the bank holds: ``plain``,
    ``mirrored`` and every framing variant. Returns them by name and the penalty chosen per fold."""
    folds = np.array([k.fold for k in knees])
    names = ["plain", "mirrored", *bank.variants]
    out = {name: np.full(len(knees), np.nan) for name in names}
    chosen = []
    for fold in np.unique(folds):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        lam = fixed_lambda if fixed_lambda is not None else choose_lambda(bank, knees, train, target, consistency)
        chosen.append(lam)
        head = fit_head(bank, knees, train, target, lam, consistency=consistency)
        for name in names:
            source = bank.plain if name == "plain" else bank.mirrored if name == "mirrored" else bank.variants[name]
            rows = source[test]
            valid = ~np.isnan(rows).any(axis=1)
            out[name][test[valid]] = head.logits(rows[valid])
    return out, chosen


def linear_head_arrays(head: LinearKneeHead) -> dict[str, np.ndarray]:
    """The linear head in ``HeadWeights`` layout (K=1), exactly: with z = features @ w + b (standardisation folded
    in), layer 1 gives [relu(z), relu(-z)], layer 2 recombines them into [relu(z), relu(-z)] again, and the output
    is relu(z) - relu(-z) = z. The gradient of the logit with respect to the features is then w, as for the
    linear model itself, so grad-CAM is the linear model's class-activation map."""
    w = (head.weights / head.scale).astype(np.float64)
    b = float(head.bias - (head.mean / head.scale) @ head.weights)
    w1 = np.stack([w, -w], axis=1)[None]  # (1, C, 2)
    b1 = np.array([[b, -b]])
    w2 = np.array([[[1.0, -1.0], [-1.0, 1.0]]])  # (1, 2, 2)
    b2 = np.zeros((1, 2))
    w3 = np.array([[1.0, -1.0]])
    b3 = np.zeros(1)
    return {k: v.astype(np.float32) for k, v in {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "w3": w3, "b3": b3}.items()}
