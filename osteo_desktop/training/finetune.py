"""Fine-tuning the top of the backbone on cached activations.

MobileNetV2's last inverted-residual block (block_16) and its 1x1 expansion to 1280 channels (Conv_1) come after
``block_15_add`` with no skip connection around them, so the network splits there cleanly: the lower part runs
once per image (and per augmented copy) and is cached; only block_16 + Conv_1 + the head are trained. Batch
normalisation stays frozen (inference statistics), as usual when fine-tuning on a small set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Keras is imported where it is used: importing the module stays cheap
    import keras

CUT_LAYER = "block_15_add"


def upper_layers(backbone: keras.Model) -> list[keras.layers.Layer]:
    names = [layer.name for layer in backbone.layers]
    return backbone.layers[names.index(CUT_LAYER) + 1 :]


def lower_model(backbone: keras.Model, cut: str = CUT_LAYER) -> keras.Model:
    import keras

    return keras.Model(backbone.input, backbone.get_layer(cut).output, name="backbone_lower")


def trainable_top(backbone: keras.Model, head: keras.Model) -> keras.Model:
    """Model from cached ``CUT_LAYER`` activations to the logit, sharing (and so training) the backbone's top layers."""
    import keras

    layers = upper_layers(backbone)
    inputs = keras.Input(shape=tuple(backbone.get_layer(CUT_LAYER).output.shape[1:]), name="lower_activations")
    x = inputs
    for layer in layers:
        is_batch_norm = layer.__class__.__name__ == "BatchNormalization"
        layer.trainable = not is_batch_norm
        x = layer(x, training=False) if is_batch_norm else layer(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, head(pooled), name="trainable_top")
