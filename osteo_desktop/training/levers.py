"""The lever study: each change to the recipe measured out-of-fold against the same base, over several seeds.

Every lever is one change from the base recipe (Model_2), so its effect is read off directly; the shipped recipe
combines the levers that helped and is then cross-validated on its own. Choosing levers by these out-of-fold
numbers makes the shipped recipe's own figure slightly optimistic; the report says so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

import numpy as np

from osteo_desktop.training.crossval import FeatureStore
from osteo_desktop.training.dataset import DevSet
from osteo_desktop.training.metrics import roc_auc, sigmoid, youden_threshold
from osteo_desktop.training.recipe import MODEL2, Recipe

log = logging.getLogger(__name__)


def _prep(**changes) -> Callable[[Recipe], Recipe]:
    return lambda r: replace(r, preprocessing=replace(r.preprocessing, **changes))


LEVERS: dict[str, tuple[str, Callable[[Recipe], Recipe]]] = {
    "no augmentation": ("train on the original images only", lambda r: replace(r, augment=False)),
    "no class weights (= Model_1)": ("unweighted loss", lambda r: replace(r, class_weights=False)),
    "no LR schedule": ("constant learning rate", lambda r: replace(r, lr_schedule=False)),
    "squash, no trim": ("whole image squashed to a square, borders kept", _prep(trim_borders=False, aspect="squash")),
    "no equalisation": ("trim + pad, no histogram equalisation", _prep(contrast="none")),
    "knee crop 1.0": ("tall images cropped to a square window around the joint", _prep(knee_crop_aspect=1.0)),
    "knee crop 1.5": ("tall images cropped to 1.5 widths around the joint", _prep(knee_crop_aspect=1.5)),
    "input 320": ("320 px input (224 ImageNet weights reused)", _prep(input_size=320)),
    "flip TTA": ("average logits of image and mirror at test time", lambda r: replace(r, hflip_tta=True)),
    "mirrors in training + flip TTA": ("mirrored images added to training, flip averaged at test", lambda r: replace(r, train_on_mirrors=True, hflip_tta=True)),
    "dropout 0.3": ("dropout before each dense layer", lambda r: replace(r, dropout=0.3)),
    "L2 1e-4": ("L2 weight penalty on the dense kernels", lambda r: replace(r, l2=1e-4)),
    "LR 1e-4": ("lower initial learning rate", lambda r: replace(r, learning_rate=1e-4)),
    "combo: no aug + mirrors + flip TTA": ("no augmentation; mirrors in training; flip TTA", lambda r: replace(r, augment=False, train_on_mirrors=True, hflip_tta=True)),
    "combo: no aug + mirrors + flip TTA + dropout 0.3": ("the above plus dropout 0.3", lambda r: replace(r, augment=False, train_on_mirrors=True, hflip_tta=True, dropout=0.3)),
    "early stop on AUC": ("early stopping keeps the epoch with the best inner-validation AUC, not loss", lambda r: replace(r, stop_on="auc")),
    "dropout 0.5": ("dropout 0.5 before each dense layer", lambda r: replace(r, dropout=0.5)),
    "ensemble of 3 heads": ("3 heads with different seeds, logits averaged (25 MB of head weights: over the 20 MB file limit, measured for information)", lambda r: replace(r, ensemble=3)),
    "fine-tune top block": ("block_16 + Conv_1 trained too (BN frozen), LR 1e-4", lambda r: replace(r, fine_tune=True, learning_rate=1e-4)),
}


def oof_scores(devset: DevSet, logits: np.ndarray) -> dict[str, float]:
    targets = devset.targets
    binary = targets >= 0
    dxa = binary & np.array([e.t_score is not None for e in devset.examples])
    p = sigmoid(logits)
    threshold = youden_threshold(targets[binary], p[binary])
    return {
        "roc_auc": roc_auc(targets[binary], p[binary]),
        "accuracy_youden": float(np.mean((p[binary] >= threshold) == (targets[binary] == 1))),
        "roc_auc_dxa": roc_auc(targets[dxa], p[dxa]),
    }


def run_levers(
    devset: DevSet, store: FeatureStore, seeds: list[int], names: list[str] | None = None, base: Recipe = MODEL2, include_base: bool = True
) -> dict:
    """Out-of-fold scores of the base and of each lever, mean and spread over ``seeds``."""
    base_name = f"base ({base.name})"
    chosen = {base_name: (f"the {base.name} recipe", lambda r: r)} if include_base else {}
    chosen.update({k: v for k, v in LEVERS.items() if names is None or k in names})
    results = {}
    for index, (name, (description, change)) in enumerate(chosen.items(), start=1):
        recipe = replace(change(base), name=name)
        runs = [oof_scores(devset, store.cross_validate(recipe, seed).logits) for seed in seeds]
        results[name] = {
            "description": description,
            **{key: float(np.mean([r[key] for r in runs])) for key in runs[0]},
            "roc_auc_sd": float(np.std([r["roc_auc"] for r in runs])),
            "runs": runs,
        }
        log.info("lever %d/%d %s: AUC %.3f (QUS %.3f)", index, len(chosen), name, results[name]["roc_auc"], results[name]["roc_auc_dxa"])
    base_auc = results[base_name]["roc_auc"] if include_base else float("nan")
    for result in results.values():
        result["delta_roc_auc"] = result["roc_auc"] - base_auc
    return results
