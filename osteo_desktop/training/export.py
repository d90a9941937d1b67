"""Export a trained Keras model to the files the app ships: ``.tflite``, ``head.npz`` and the model card."""

from __future__ import annotations

from typing import TYPE_CHECKING
import logging
from pathlib import Path

import numpy as np

if TYPE_CHECKING:  # Keras is imported where it is used: importing the module stays cheap
    import keras

log = logging.getLogger(__name__)

TFLITE_NAME = "osteo_mobilenetv2.tflite"
HEAD_NAME = "head.npz"
KERAS_NAME = "osteo_mobilenetv2.keras"


def export_tflite(model: keras.Model, path: Path) -> Path:
    """Convert the two-output inference model to a float32 ``.tflite`` with a dynamic batch dimension.

    Goes through a SavedModel: converting a Keras 3 model from a concrete function drops its variables (the
    result runs but returns NaN), which the agreement test would catch.
    """
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved_model_dir:
        model.export(saved_model_dir, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        path = Path(path)
        path.write_bytes(converter.convert())
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def export_head(heads: list, path: Path) -> Path:
    from osteo_desktop.training.architecture import head_weight_arrays

    np.savez(path, **head_weight_arrays(heads))
    return Path(path)
