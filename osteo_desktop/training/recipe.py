"""A training recipe: every switch of the paper's method and of ours, recorded in the model card.

``model1`` and ``model2`` are the paper's variants (learning-rate schedule; schedule + class weights), both with
augmentation. ``shipped`` is the recipe chosen by the out-of-fold comparison in ``reports/``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from osteo_desktop.core.model.preprocessing import PreprocessConfig
from osteo_desktop.training.augment import AugmentConfig


@dataclass(frozen=True)
class Recipe:
    name: str = "model1"
    preprocessing: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: bool = True
    augment_copies: int = 5  # augmented versions of each training image, cached as features
    augment_config: AugmentConfig = field(default_factory=AugmentConfig)
    train_on_mirrors: bool = False  # add each image's mirror to the training set
    class_weights: bool = False
    lr_schedule: bool = True  # halve the rate when the inner-validation loss stalls (ReduceLROnPlateau)
    learning_rate: float = 3e-4
    max_epochs: int = 80
    patience: int = 12  # early stopping on the inner validation split, best weights restored
    stop_on: str = "loss"  # what early stopping watches on the inner split: "loss" (minimum) or "auc" (maximum)
    batch_size: int = 32
    dropout: float = 0.0
    l2: float = 0.0
    inner_validation: float = 0.15  # fraction of the training images held out for early stopping
    hflip_tta: bool = False  # average the logits of the image and its mirror at test time
    fine_tune: bool = False  # also train the backbone's last block and Conv_1 (on cached block_15 activations)
    ensemble: int = 1  # heads with different seeds, logits averaged (each full-width head adds 7.4 MB to the files)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_dict()
        data["augment_config"] = self.augment_config.to_dict()
        return data

    def with_changes(self, **changes: Any) -> "Recipe":
        return replace(self, **changes)


MODEL1 = Recipe(name="model1")
MODEL2 = Recipe(name="model2", class_weights=True)
# Chosen by the lever study (reports/levers.md), every change from Model_2 measured there out-of-fold: the
# geometric augmentation hurt this head (it overfits within an epoch either way, and 6x the rows per epoch made
# early stopping coarser), while mirrored images in training helped. Flip averaging at test time was dropped in
# 1.1.0: from this recipe it changed out-of-fold AUC by -0.005 / +0.003 on two seeds (0.805 / 0.785 with it,
# 0.800 / 0.788 without), noise, while it doubled inference (folder scan 79 -> 108 images/s without it).
SHIPPED = Recipe(name="shipped", class_weights=True, augment=False, train_on_mirrors=True, hflip_tta=False)

VARIANTS = {"model1": MODEL1, "model2": MODEL2, "shipped": SHIPPED}
