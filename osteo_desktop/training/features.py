"""Frozen-backbone features, computed once and cached.

With the backbone frozen, the head only ever sees the pooled 1280-vector of each image, so the expensive
forward pass is done once per image, per mirrored image and per augmented copy, and cached on disk keyed by
everything it depends on (manifest, preprocessing, augmentation, seed, weights file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.training.augment import AugmentConfig, augmented_copies
from osteo_desktop.training.dataset import cache_key, to_rgb

if TYPE_CHECKING:  # Keras is imported where it is used: importing the module stays cheap
    import keras

log = logging.getLogger(__name__)


@dataclass
class FeatureBank:
    """Pooled features: ``plain`` (N, C), ``mirrored`` (N, C) and ``augmented`` (N, K, C)."""

    plain: np.ndarray
    mirrored: np.ndarray
    augmented: np.ndarray


class Progress:
    """Logs progress with an ETA from the mean time per item so far."""

    def __init__(self, what: str, total: int, every_s: float = 15.0) -> None:
        self.what, self.total, self.every_s = what, total, every_s
        self.start = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / max(done, 1) * (self.total - done)
        log.info("%s: %d/%d, %.0f s elapsed, ETA %.0f s", self.what, done, self.total, elapsed, eta)


def pooled_model(backbone: keras.Model) -> keras.Model:
    import keras

    inputs = keras.Input(shape=backbone.input_shape[1:])
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(backbone(inputs, training=False)))


def _predict(model, batch: np.ndarray) -> np.ndarray:
    return np.asarray(model(to_rgb(batch), training=False), dtype=np.float32)


def extract_features(
    inputs: np.ndarray,
    model: keras.Model,
    copies: int,
    augment: AugmentConfig,
    seed: int,
    cache_dir: Path | None,
    key_parts: tuple,
    kind: str = "pooled",
    batch_size: int = 16,
) -> FeatureBank:
    """``model``'s output for every input, its mirror and ``copies`` augmented versions (augmentation seeded per
    image). ``kind`` names what ``model`` computes ("pooled", or the layer a fine-tuned top starts from)."""
    extra = () if kind == "pooled" else (kind,)
    key = cache_key("features", key_parts, copies, augment.to_dict(), seed, *extra)
    path = cache_dir / f"features-{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return FeatureBank(data["plain"], data["mirrored"], data["augmented"])
    n = len(inputs)
    shape = tuple(int(d) for d in model.output_shape[1:])
    plain = np.empty((n, *shape), np.float32)
    mirrored = np.empty((n, *shape), np.float32)
    augmented = np.empty((n, copies, *shape), np.float32)
    progress = Progress(f"backbone features ({kind})", n)
    per_step = max(1, batch_size // (2 + copies))
    for start in range(0, n, per_step):
        stop = min(n, start + per_step)
        batch = [inputs[start:stop], inputs[start:stop, :, ::-1]]
        batch += [augmented_copies(inputs[i], copies, seed * 100_003 + i, augment) for i in range(start, stop)]
        out = _predict(model, np.concatenate(batch))
        m = stop - start
        plain[start:stop], mirrored[start:stop] = out[:m], out[m : 2 * m]
        augmented[start:stop] = out[2 * m :].reshape(m, copies, *shape)
        progress.update(stop)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, plain=plain, mirrored=mirrored, augmented=augmented)
    return FeatureBank(plain, mirrored, augmented)


def weights_identity(imagenet_weights: Path | None) -> str:
    return sha256_of(Path(imagenet_weights))[:16] if imagenet_weights and Path(imagenet_weights).is_file() else "keras-imagenet"
