"""Fitting the paper's dense head on cached backbone features, with the recipe's schedule, weights and stopping."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from osteo_desktop.training.architecture import build_head
from osteo_desktop.training.features import FeatureBank
from osteo_desktop.training.finetune import trainable_top
from osteo_desktop.training.recipe import Recipe

log = logging.getLogger(__name__)


def inner_split(targets: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of positions 0..n-1 into (fit, validation) for early stopping."""
    rng = np.random.default_rng(seed)
    validation = []
    for value in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == value))
        validation.extend(members[: max(1, round(fraction * len(members)))])
    validation_mask = np.zeros(len(targets), bool)
    validation_mask[validation] = True
    return np.flatnonzero(~validation_mask), np.flatnonzero(validation_mask)


def training_matrix(bank: FeatureBank, indices: np.ndarray, targets: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """Rows the head trains on: each image, plus its augmented copies and mirror when the recipe says so."""
    parts, labels = [bank.plain[indices]], [targets[indices]]
    if recipe.augment and recipe.augment_copies:
        copies = bank.augmented[indices, : recipe.augment_copies]
        parts.append(copies.reshape(-1, *copies.shape[2:]))
        labels.append(np.repeat(targets[indices], copies.shape[1]))
    if recipe.train_on_mirrors:
        parts.append(bank.mirrored[indices])
        labels.append(targets[indices])
    return np.concatenate(parts), np.concatenate(labels).astype(np.float32)


def class_weight_vector(targets: np.ndarray) -> dict[int, float]:
    """Balanced weights n / (2 n_c), from the original images (augmentation does not change the ratio)."""
    counts = np.bincount(targets.astype(int), minlength=2)
    return {c: float(len(targets) / (2.0 * counts[c])) for c in (0, 1)}


@dataclass
class Fitted:
    """``scorer`` maps bank rows to logits; ``backbone`` is set (with its trained top) when the recipe fine-tunes."""

    scorer: Any
    head: Any
    backbone: Any
    history: dict


def fit_head(
    bank: FeatureBank, train_indices: np.ndarray, targets: np.ndarray, recipe: Recipe, seed: int,
    fresh_backbone: Callable[[], Any] | None = None,
) -> Fitted:
    """Train one head (and the backbone's top, when the recipe fine-tunes) on ``train_indices``."""
    import keras

    keras.utils.set_random_seed(seed)
    fit_pos, val_pos = inner_split(targets[train_indices], recipe.inner_validation, seed)
    fit_idx, val_idx = train_indices[fit_pos], train_indices[val_pos]
    x, y = training_matrix(bank, fit_idx, targets, recipe)
    weights = None
    if recipe.class_weights:
        table = class_weight_vector(targets[fit_idx])
        weights = np.where(y > 0.5, table[1], table[0]).astype(np.float32)
    head = build_head(dropout=recipe.dropout, l2=recipe.l2)
    backbone = None
    scorer = head
    if recipe.fine_tune:
        if fresh_backbone is None:
            raise ValueError("a fine-tuning recipe needs a backbone to fine-tune")
        backbone = fresh_backbone()
        scorer = trainable_top(backbone, head)
    scorer.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.AUC(from_logits=True, name="auc")],
    )
    if recipe.stop_on not in ("loss", "auc"):
        raise ValueError(f"stop_on must be 'loss' or 'auc', not {recipe.stop_on!r}")
    monitor, mode = ("val_auc", "max") if recipe.stop_on == "auc" else ("val_loss", "min")
    callbacks = [keras.callbacks.EarlyStopping(monitor, mode=mode, patience=recipe.patience, restore_best_weights=True)]
    if recipe.lr_schedule:
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=4, min_lr=1e-6))
    history = scorer.fit(
        x, y, sample_weight=weights, batch_size=recipe.batch_size, epochs=recipe.max_epochs, verbose=0, shuffle=True,
        validation_data=(bank.plain[val_idx], targets[val_idx].astype(np.float32)), callbacks=callbacks,
    )
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    watched = np.asarray(record[monitor])
    record["best_epoch"] = int(np.argmax(watched) if mode == "max" else np.argmin(watched)) + 1
    return Fitted(scorer, head, backbone, record)


def _predict(scorer, rows: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return np.concatenate([np.asarray(scorer(rows[i : i + batch_size], training=False)).reshape(-1) for i in range(0, len(rows), batch_size)])


def head_logits(scorer, bank: FeatureBank, indices: np.ndarray, hflip_tta: bool) -> np.ndarray:
    logits = _predict(scorer, bank.plain[indices])
    if hflip_tta:
        logits = (logits + _predict(scorer, bank.mirrored[indices])) / 2.0
    return logits
