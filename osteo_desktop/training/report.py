"""Figures and the Markdown/JSON report under ``reports/``. Figures are small PNGs (low dpi, few colours)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from osteo_desktop.core.model.preprocessing import model_input_to_preview
from osteo_desktop.training.dataset import DevSet, to_rgb
from osteo_desktop.training.metrics import reliability, roc_curve, sigmoid

log = logging.getLogger(__name__)

DPI = 80
PAPER = {  # Table 2 is missing from our copy; these are the figures the paper's text states.
    "model1": {"accuracy": 0.94, "f1": 0.8205},
    "model2": {"accuracy": 0.9647, "f1": 0.841},
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    _pyplot().close(fig)
    log.info("wrote %s (%.0f KB)", path, path.stat().st_size / 1024)


def plot_roc(results: dict[str, dict], devset: DevSet, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    binary = devset.targets >= 0
    for name, result in results.items():
        fpr, tpr, _ = roc_curve(devset.targets[binary], np.asarray(result["logits"])[binary])
        ax.plot(fpr, tpr, label=f"{name} (AUC {result['summary']['metrics']['roc_auc']['value']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="Out-of-fold ROC (5 folds)")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_confusions(results: dict[str, dict], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.2), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        c = result["summary"]["confusion"]
        matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", color="black", fontsize=12)
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["normal", "osteop."], yticklabels=["normal", "osteop."],
               xlabel="predicted", ylabel="true", title=f"{name} (t={result['summary']['threshold']:.2f})")
    _save(fig, path)


def plot_training_curves(histories: list[dict], name: str, path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for history in histories:
        epochs = np.arange(1, len(history["loss"]) + 1)
        line = axes[0].plot(epochs, history["loss"], alpha=0.6)[0]
        axes[0].plot(epochs, history["val_loss"], "--", color=line.get_color(), alpha=0.8)
        axes[1].plot(epochs, history["val_auc"], "--", color=line.get_color(), label=f"fold {history['fold']}")
    axes[0].set(xlabel="epoch", ylabel="loss", title=f"{name}: train (solid) / inner val (dashed)")
    axes[1].set(xlabel="epoch", ylabel="inner-validation AUC", ylim=(0.4, 1.0))
    axes[1].legend(fontsize=7)
    _save(fig, path)


def plot_reliability(y: np.ndarray, logits: np.ndarray, temperature: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for label, t in (("uncalibrated", 1.0), (f"T = {temperature:.2f}", temperature)):
        ece, bins = reliability(y, sigmoid(logits / t))
        ax.plot([b["mean_probability"] for b in bins], [b["observed_rate"] for b in bins], "o-", label=f"{label}, ECE {ece:.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="predicted probability", ylabel="observed osteoporosis rate", title="Reliability (out-of-fold)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_mistakes(devset: DevSet, inputs: np.ndarray, probabilities: np.ndarray, threshold: float, path: Path, count: int = 8) -> None:
    plt = _pyplot()
    targets = devset.targets
    wrong = np.flatnonzero((targets >= 0) & ((probabilities >= threshold) != (targets == 1)))
    wrong = wrong[np.argsort(-np.abs(probabilities[wrong] - threshold))][:count]
    fig, axes = plt.subplots(2, max(1, (count + 1) // 2), figsize=(2.0 * ((count + 1) // 2), 4.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(model_input_to_preview(to_rgb(inputs[i])), cmap="gray", vmin=0, vmax=255)
        e = devset.examples[i]
        ax.set_title(f"{e.label[:6]} p={probabilities[i]:.2f}\n{e.source.split('/')[0][:10]}", fontsize=7)
    fig.suptitle("Most confident out-of-fold mistakes (model input shown)", fontsize=9)
    _save(fig, path)


def plot_dxa(points: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    colours = {"normal": "tab:green", "osteopenia": "tab:orange", "osteoporosis": "tab:red"}
    for label, colour in colours.items():
        chosen = [p for p in points if p["label"] == label]
        ax.scatter([p["t_score"] for p in chosen], [p["probability"] for p in chosen], s=14, color=colour, label=label)
    for x in (-1.0, -2.5):
        ax.axvline(x, color="grey", ls=":")
    ax.set(xlabel="QUS T-score", ylabel="out-of-fold probability", title="Probability vs QUS T-score")
    ax.legend(fontsize=7)
    _save(fig, path)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=float) + "\n", encoding="utf-8")


def fmt(metric: dict[str, float]) -> str:
    return f"{metric['value']:.3f} ({metric['ci_low']:.3f}-{metric['ci_high']:.3f})"
