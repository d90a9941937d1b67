"""Grad-CAM without TensorFlow.

The classification head after the last convolutional block is GlobalAveragePooling → Dense(ReLU) → Dense(ReLU) →
Dense (logit), possibly an ensemble of such heads whose logits are averaged. The gradient of the logit with respect
to the pooled features is therefore a short chain of matrix products, computed here exactly in NumPy from the head
weights (``head.npz``). Because pooling is an average, d logit / d A[i, j, k] = d logit / d g[k] / (H * W) at every
position, so the Grad-CAM channel weights are that gradient and the map is ReLU(sum_k alpha_k A[:, :, k]).
``tests/test_explain_tf.py`` checks this against a Grad-CAM computed by TensorFlow's autodiff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class HeadWeights:
    """Dense layers of K ensemble heads: w1 (K, C, D1), b1 (K, D1), w2 (K, D1, D2), b2 (K, D2), w3 (K, D2), b3 (K,)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray

    @classmethod
    def load(cls, path: Path) -> "HeadWeights":
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name], dtype=np.float32) for name in ("w1", "b1", "w2", "b2", "w3", "b3")}
        arrays["w3"] = arrays["w3"].reshape(arrays["w3"].shape[0], -1)
        arrays["b3"] = arrays["b3"].reshape(-1)
        return cls(**arrays)

    def logit_and_gradient(self, pooled: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean logit over the heads and its gradient with respect to the pooled feature vector ``pooled`` (C,)."""
        pooled = pooled.astype(np.float32)
        logits = []
        gradient = np.zeros_like(pooled)
        for k in range(self.w1.shape[0]):
            pre1 = pooled @ self.w1[k] + self.b1[k]
            h1 = np.maximum(pre1, 0.0)
            pre2 = h1 @ self.w2[k] + self.b2[k]
            h2 = np.maximum(pre2, 0.0)
            logits.append(float(h2 @ self.w3[k] + self.b3[k]))
            d_h2 = self.w3[k] * (pre2 > 0)
            d_h1 = (self.w2[k] @ d_h2) * (pre1 > 0)
            gradient += self.w1[k] @ d_h1
        count = self.w1.shape[0]
        return float(np.mean(logits)), gradient / count


def grad_cam(features: np.ndarray, head: HeadWeights, positive: bool = True) -> np.ndarray:
    """Grad-CAM map (H, W) in [0, 1] for one image's last-block activations ``features`` (H, W, C).

    ``positive`` explains the osteoporosis logit; False explains the opposite decision (the negated logit).
    """
    height, width, _ = features.shape
    pooled = features.reshape(-1, features.shape[2]).mean(axis=0)
    _, gradient = head.logit_and_gradient(pooled)
    if not positive:
        gradient = -gradient
    alpha = gradient / (height * width)
    cam = np.maximum(features.astype(np.float32) @ alpha, 0.0)
    peak = float(cam.max())
    return (cam / peak).astype(np.float32) if peak > 0 else np.zeros_like(cam, dtype=np.float32)


def upsample_map(cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear upsampling of a coarse map to an image size, values kept in [0, 1]."""
    image = Image.fromarray(cam.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of grey values in [0, 1]: the level that best splits them into two classes (max between-class
    variance). Used to tell bone (bright on a radiograph) from soft tissue and background inside a knee's region."""
    histogram, edges = np.histogram(np.clip(values, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    weights = histogram.astype(np.float64)
    total = weights.sum()
    if total == 0:
        return 0.5
    centres = (edges[:-1] + edges[1:]) / 2.0
    below = np.cumsum(weights)
    below_sum = np.cumsum(weights * centres)
    above = total - below
    mean_below = np.divide(below_sum, below, out=np.zeros_like(below_sum), where=below > 0)
    mean_above = np.divide(below_sum[-1] - below_sum, above, out=np.zeros_like(below_sum), where=above > 0)
    between = below * above * (mean_below - mean_above) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def share_on_bone(heat: np.ndarray, pixels: np.ndarray) -> float | None:
    """The fraction of a heat map's weight that lies on bone, "bone" being the pixels above the Otsu threshold of
    ``pixels`` (the film's pixels under the map: a knee's region, bone bright). None when the map is empty."""
    weight = float(np.sum(heat, dtype=np.float64))
    if weight <= 0:
        return None
    bone = pixels > otsu_threshold(pixels)
    return float(np.sum(heat[bone], dtype=np.float64)) / weight
