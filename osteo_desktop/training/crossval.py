"""Five-fold cross-validation on the manifest's ``fold`` column, with out-of-fold predictions for every image.

Each fold's head trains on the binary images of the other four folds (early stopping on a split of those), then
predicts every image of its own fold, osteopenia included, so every image gets exactly one out-of-fold logit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from osteo_desktop.core.model.preprocessing import PreprocessConfig
from osteo_desktop.training.augment import AugmentConfig
from osteo_desktop.training.dataset import DevSet, config_identity, load_inputs
from osteo_desktop.training.features import FeatureBank, Progress, extract_features, pooled_model, weights_identity
from osteo_desktop.training.finetune import CUT_LAYER, lower_model
from osteo_desktop.training.heads import fit_head, head_logits
from osteo_desktop.training.recipe import Recipe

if TYPE_CHECKING:  # Keras is imported where it is used: importing the module stays cheap
    import keras

log = logging.getLogger(__name__)


@dataclass
class CrossValidation:
    recipe: Recipe
    logits: np.ndarray  # (N,) out-of-fold logit of every image
    histories: list[dict] = field(default_factory=list)
    wall_s: float = 0.0


class FeatureStore:
    """Backbones and feature banks by preprocessing settings, so that recipes sharing inputs share features."""

    def __init__(self, devset: DevSet, imagenet_weights: Path | None, cache_dir: Path | None, seed: int) -> None:
        self.devset, self.imagenet_weights, self.cache_dir, self.seed = devset, imagenet_weights, cache_dir, seed
        self._backbones: dict[int, object] = {}
        self._banks: dict[tuple, FeatureBank] = {}

    def backbone(self, input_size: int) -> keras.Model:
        if input_size not in self._backbones:
            self._backbones[input_size] = self.fresh_backbone(input_size)
        return self._backbones[input_size]

    def fresh_backbone(self, input_size: int) -> keras.Model:
        from osteo_desktop.training.architecture import build_backbone

        return build_backbone(input_size, self.imagenet_weights)

    def cross_validate(self, recipe: Recipe, seed: int) -> "CrossValidation":
        return cross_validate(self.devset, self.bank_for(recipe), recipe, seed, lambda: self.fresh_backbone(recipe.preprocessing.input_size))

    def bank(self, config: PreprocessConfig, copies: int, augment: AugmentConfig, kind: str = "pooled") -> FeatureBank:
        key = (tuple(sorted(config.to_dict().items())), copies, tuple(sorted(augment.to_dict().items())), kind)
        if key not in self._banks:
            inputs = load_inputs(self.devset, config, self.cache_dir)
            key_parts = (self.devset.manifest_sha256, [e.file for e in self.devset.examples], config_identity(config), weights_identity(self.imagenet_weights))
            backbone = self.backbone(config.input_size)
            model = lower_model(backbone, kind) if kind != "pooled" else pooled_model(backbone)
            self._banks[key] = extract_features(inputs, model, copies, augment, self.seed, self.cache_dir, key_parts, kind)
        return self._banks[key]

    def bank_for(self, recipe: Recipe) -> FeatureBank:
        kind = CUT_LAYER if recipe.fine_tune else "pooled"
        return self.bank(recipe.preprocessing, recipe.augment_copies if recipe.augment else 0, recipe.augment_config, kind)


def cross_validate(devset: DevSet, bank: FeatureBank, recipe: Recipe, seed: int, fresh_backbone: Callable[[], object] | None = None) -> CrossValidation:
    """Out-of-fold logits; ``fresh_backbone`` builds an untouched backbone per fold when the recipe fine-tunes."""
    targets, folds = devset.targets, devset.folds
    logits = np.full(len(targets), np.nan, dtype=np.float64)
    histories = []
    start = time.perf_counter()
    fold_ids = sorted(set(folds.tolist()))
    progress = Progress(f"cross-validation {recipe.name}", len(fold_ids), every_s=0.0)
    for done, fold in enumerate(fold_ids, start=1):
        train = np.flatnonzero((targets >= 0) & (folds != fold))
        test = np.flatnonzero(folds == fold)
        members = []
        for member in range(recipe.ensemble):
            fitted = fit_head(bank, train, targets, recipe, seed + fold + 1000 * member, fresh_backbone)
            members.append(head_logits(fitted.scorer, bank, test, recipe.hflip_tta))
        logits[test] = np.mean(members, axis=0)
        history = fitted.history
        history["fold"] = fold
        histories.append(history)
        progress.update(done)
    return CrossValidation(recipe, logits, histories, time.perf_counter() - start)
