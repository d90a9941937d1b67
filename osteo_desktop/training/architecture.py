"""The paper's network, built in one place.

MobileNetV2 (alpha 1.0, ImageNet, no top) → GlobalAveragePooling2D → Dense 1024 → Dense 512 → Dense 1. The last
Dense layer outputs a logit; the sigmoid is applied by the loss during training and by the runtime (after
temperature scaling) at inference, which keeps calibration out of the exported graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import logging
from pathlib import Path

if TYPE_CHECKING:  # Keras is imported where it is used: importing the module stays cheap
    import keras

log = logging.getLogger(__name__)

BACKBONE_OUTPUT = "out_relu"  # last convolutional block of Keras's MobileNetV2: (7, 7, 1280) at 224
FEATURE_CHANNELS = 1280


def build_backbone(input_size: int = 224, imagenet_weights: str | Path | None = None, trainable: bool = False) -> keras.Model:
    """MobileNetV2 without its top, loading ImageNet weights from a local file when one is given.

    With no file, Keras downloads the weights (needs a network). The weights do not depend on the input size, so
    a size other than 224 reuses the 224 file.
    """
    import keras

    weights: str | None
    if imagenet_weights is not None:
        path = Path(imagenet_weights)
        if path.is_dir():
            path = path / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
        if not path.is_file():
            raise FileNotFoundError(f"ImageNet weights not found: {path}")
        weights = str(path)
    else:
        weights = "imagenet"
    shape = (input_size, input_size, 3)
    if input_size == 224 or weights == "imagenet":
        backbone = keras.applications.MobileNetV2(input_shape=shape, alpha=1.0, include_top=False, weights=weights)
    else:
        backbone = keras.applications.MobileNetV2(input_shape=shape, alpha=1.0, include_top=False, weights=None)
        backbone.load_weights(weights)
    backbone.trainable = trainable
    return backbone


def build_head(name: str = "head", dropout: float = 0.0, l2: float = 0.0) -> keras.Model:
    """The paper's head on pooled features: Dense 1024 (ReLU) → Dense 512 (ReLU) → Dense 1 (logit)."""
    import keras

    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    inputs = keras.Input(shape=(FEATURE_CHANNELS,), name=f"{name}_pooled")
    x = inputs
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(1024, activation="relu", kernel_regularizer=regularizer, name=f"{name}_dense1024")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(512, activation="relu", kernel_regularizer=regularizer, name=f"{name}_dense512")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    logit = keras.layers.Dense(1, name=f"{name}_logit")(x)
    return keras.Model(inputs, logit, name=name)


def build_inference_model(backbone: keras.Model, heads: list[keras.Model]) -> keras.Model:
    """Backbone + one or more heads (logits averaged) with two outputs: last-block activations and the logit."""
    import keras

    inputs = keras.Input(shape=backbone.input_shape[1:], name="image")
    features = backbone(inputs, training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(features)
    logits = [head(pooled, training=False) for head in heads]
    logit = logits[0] if len(logits) == 1 else keras.layers.Average(name="ensemble_mean")(logits)
    return keras.Model(inputs, [features, logit], name="osteo_mobilenetv2")


def head_weight_arrays(heads: list) -> dict:
    """The heads' Dense weights stacked for ``osteo_desktop.core.model.explain.HeadWeights`` (saved as .npz)."""
    import numpy as np

    stacks: dict[str, list] = {k: [] for k in ("w1", "b1", "w2", "b2", "w3", "b3")}
    for head in heads:
        dense = [layer for layer in head.layers if layer.__class__.__name__ == "Dense"]
        if len(dense) != 3:
            raise ValueError(f"head {head.name} has {len(dense)} Dense layers, expected 3")
        for i, layer in enumerate(dense, start=1):
            kernel, bias = layer.get_weights()
            stacks[f"w{i}"].append(kernel.reshape(kernel.shape[0], -1).squeeze(-1) if i == 3 else kernel)
            stacks[f"b{i}"].append(bias.reshape(-1)[0] if i == 3 else bias)
    return {k: np.stack(v).astype(np.float32) for k, v in stacks.items()}
