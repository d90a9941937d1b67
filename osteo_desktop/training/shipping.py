"""Packaging a trained head with the backbone: ``.tflite`` + ``head.npz`` (+ ``.keras``), the card and its Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING
import datetime
import logging
from pathlib import Path
from typing import Any

import numpy as np

from osteo_desktop.core.model.card import write_model_card
from osteo_desktop.training.dataset import DevSet
from osteo_desktop.training.export import HEAD_NAME, KERAS_NAME, TFLITE_NAME, export_head, export_tflite
from osteo_desktop.training.recipe import Recipe

if TYPE_CHECKING:
    import keras

    from osteo_desktop.core.model.runtime import Classifier

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20_000_000
MODEL_VERSION = "2.1.0"  # the shipped bundle: this film head with the carried scope gate, knee detector and knee head (2.1.0)
INTENDED_USE = (
    "Research and second-reader screening aid: flags frontal knee radiographs of adults whose appearance resembles "
    "the osteoporosis class of the public Kaggle knee sets. Not a diagnostic device; it does not measure bone "
    "mineral density and must not replace DXA."
)
LIMITATIONS = [
    "Trained on 228 de-duplicated public radiographs (normal vs osteoporosis) from two public copies of the Kaggle knee sets, with labels of uneven quality; no external validation.",
    "Only 46 training images carry a QUS T-score; on that trustworthy subset the model ranks at chance (see metrics.dxa) and its probability barely tracks the T-score.",
    "Much of the overall score comes from how the larger source framed its classes (close-up joints for osteoporosis, long-leg views for normal): the image's aspect ratio alone scores ROC AUC 0.72. Expect weaker results on radiographs framed differently.",
    "Images with a grey (not black) background around the leg are scored too high: border trimming only removes dark margins.",
    "Osteopenia is not a class: such images get intermediate or either-side scores.",
    "Cross-validated figures come from fold models; the shipped model is retrained on all images with the same recipe, and the recipe was chosen on the same out-of-fold predictions (slightly optimistic).",
    "Frontal knee views only; other projections, children, implants and post-operative knees were not in the data.",
]


def export_model(backbone: keras.Model, heads: list[keras.Model], out_dir: Path) -> dict[str, dict[str, str]]:
    """Write the model files; returns the card's ``files`` entry. The Keras file is kept only under 20 MB."""
    import keras

    from osteo_desktop.training.architecture import build_inference_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Uncompiled copies: a compiled head would drag its optimiser state into the Keras file (2x its weights).
    heads = [_uncompiled(head) for head in heads]
    model = build_inference_model(backbone, heads)
    files = {"tflite": {"path": TFLITE_NAME}, "head": {"path": HEAD_NAME}}
    export_tflite(model, out_dir / TFLITE_NAME)
    export_head(heads, out_dir / HEAD_NAME)
    keras_path = out_dir / KERAS_NAME
    model.save(keras_path)
    if keras_path.stat().st_size < MAX_FILE_BYTES:
        files["keras"] = {"path": KERAS_NAME}
    else:
        log.info("Keras file %.1f MB is over the limit; not shipped", keras_path.stat().st_size / 1e6)
        keras_path.unlink()
    for entry in files.values():
        size = (out_dir / entry["path"]).stat().st_size
        if size >= MAX_FILE_BYTES:
            raise ValueError(f"{entry['path']} is {size / 1e6:.1f} MB, over the 20 MB limit for shipped files")
    del keras
    return files


def _uncompiled(head):
    """A fresh, never-compiled head with the trained weights (dropout has none, so the architecture matches)."""
    from osteo_desktop.training.architecture import build_head

    copy = build_head(name=head.name)
    copy.set_weights(head.get_weights())
    return copy


def build_card(
    devset: DevSet, recipe: Recipe, files: dict, summary: dict[str, Any] | None, seed: int, wall_s: float, version: str | None = None
) -> dict[str, Any]:
    binary = [e for e in devset.examples if e.target >= 0]
    card: dict[str, Any] = {
        "name": "osteo-mobilenetv2",
        "version": version or MODEL_VERSION,
        "date": datetime.date.today().isoformat(),
        "status": "cross-validated (5 folds, out-of-fold)" if summary else "not cross-validated (smoke or quick run)",
        "preprocessing": recipe.preprocessing.to_dict(),
        "labels": {"negative": "normal", "positive": "osteoporosis"},
        "threshold": summary["threshold"] if summary else 0.5,
        "threshold_rule": summary["threshold_rule"] if summary else "fixed 0.5 (no cross-validation run)",
        "calibration": {
            "temperature": summary["temperature"] if summary else 1.0,
            "method": summary["calibration_rule"] if summary else "none",
            "fitted_temperature": summary["fitted_temperature"] if summary else None,
            "fitted_temperature_ece": summary["fitted_temperature_ece"] if summary else None,
            "ece_uncalibrated": summary["ece_uncalibrated"] if summary else None,
            "ece": summary["ece"] if summary else None,
        },
        "hflip_tta": recipe.hflip_tta,
        "files": files,
        "training_data": {
            "manifest_sha256": devset.manifest_sha256,
            "counts": devset.counts(),
            "binary_images_used": len(binary),
            "sources": sorted({e.source for e in devset.examples}),
        },
        "recipe": {**recipe.to_dict(), "seed": seed, "backbone": "MobileNetV2 alpha 1.0, ImageNet, " + ("block_16 + Conv_1 fine-tuned (BN frozen)" if recipe.fine_tune else "frozen"), "head": "GAP-Dense1024-Dense512-Dense1"},
        "training_wall_s": round(wall_s, 1),
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS,
    }
    if summary:
        card["metrics"] = {
            "shipped": summary["metrics"],
            "protocol": f"5-fold cross-validation on the manifest folds, out-of-fold predictions of {summary['n_binary']} binary images, 95% bootstrap intervals, threshold {summary['threshold']:.3f}",
            "confusion": summary["confusion"],
            "per_source": summary["per_source"],
            "dxa": {k: v for k, v in summary["dxa"].items() if k != "points"},
            "osteopenia": summary["osteopenia"],
        }
    return card


def write_card(out_dir: Path, card: dict[str, Any], before: list[str] | None = None, after: list[str] | None = None) -> None:
    """The card's JSON and its markdown; ``before``/``after``: hand-written sections carried from the reference card
    (:func:`companions.hand_written_sections`), put before "Intended use" and before "Limitations"."""
    write_model_card(out_dir, card)
    (Path(out_dir) / "MODEL_CARD.md").write_text(card_markdown(card, before, after), encoding="utf-8")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# The sections card_markdown writes; with a knee model the film head's own are marked as kept for comparison.
FILM_HEAD = " (whole-film head, kept for comparison)"
GENERATED_SECTIONS = ("Intended use", "Model" + FILM_HEAD, "Model", "Training data", "Recipe",
                      "Decision threshold and calibration" + FILM_HEAD, "Decision threshold and calibration",
                      "Cross-validated performance" + FILM_HEAD, "Cross-validated performance", "Limitations", "Files")


def card_markdown(card: dict[str, Any], before: list[str] | None = None, after: list[str] | None = None) -> str:
    """MODEL_CARD.md from the card, with the hand-written sections ``before`` "Intended use" and ``after`` the film
    head's sections (see :func:`write_card`)."""
    film = FILM_HEAD if "knee_model" in card else ""
    lines = [
        f"# Model card: {card['name']} {card['version']}" + (" (per-knee results; whole-film head kept for comparison)" if film else ""),
        "",
        f"Date: {card['date']}. Status: {card['status']}.",
        "",
        *(before or []),
        "## Intended use",
        card["intended_use"],
        "",
        f"## Model{film}",
        f"{card['recipe']['backbone']}; head {card['recipe']['head']}. Input {card['preprocessing']['input_size']} px, "
        f"preprocessing {card['preprocessing']}. Test-time flip averaging: {card['hflip_tta']}.",
        "",
        "## Training data",
        f"Manifest sha256 `{card['training_data']['manifest_sha256']}`; counts {card['training_data']['counts']}; "
        f"{card['training_data']['binary_images_used']} binary images used.",
        "",
        "## Recipe",
        "```json",
        __import__("json").dumps(card["recipe"], indent=1),
        "```",
        "",
        f"## Decision threshold and calibration{film}",
        f"Threshold {card['threshold']:.3f}: {card['threshold_rule']}. Temperature {card['calibration']['temperature']:.3f} "
        f"({card['calibration']['method']}); ECE {_number(card['calibration'].get('ece_uncalibrated'))} before, "
        f"{_number(card['calibration'].get('ece'))} after (10 equal-width bins, out-of-fold).",
        "",
    ]
    if "metrics" in card:
        lines += [f"## Cross-validated performance{film}", card["metrics"]["protocol"] + ".", "", "| metric | value (95% CI) |", "|---|---|"]
        for name, m in card["metrics"]["shipped"].items():
            lines.append(f"| {name} | {m['value']:.3f} ({m['ci_low']:.3f}-{m['ci_high']:.3f}) |")
        dxa = card["metrics"]["dxa"]
        lines += ["", f"QUS-labelled subset ({dxa['n_binary']} binary images): ROC AUC {dxa['roc_auc']:.3f} "
                  f"({dxa['roc_auc_ci'][0]:.3f}-{dxa['roc_auc_ci'][1]:.3f}); Spearman(probability, T-score) over all "
                  f"{dxa['n_with_t_score']} with a T-score: {dxa['spearman_probability_vs_t_score_all']:.3f}.", ""]
    lines += [*(after or []), "## Limitations", *[f"- {item}" for item in card["limitations"]], "",
              "## Files", *[f"- `{v['path']}` sha256 `{v.get('sha256', '')}`" for v in card["files"].values()], ""]
    return "\n".join(lines)


def max_probability_difference(keras_model: keras.Model, classifier: Classifier, inputs: np.ndarray) -> float:
    """Largest |p_keras - p_tflite| over ``inputs`` (no flip, temperature 1): the export check."""
    from osteo_desktop.training.metrics import sigmoid

    keras_logits = np.asarray(keras_model(inputs, training=False)[1]).reshape(-1)
    tflite_logits, _ = classifier.run(inputs)
    return float(np.max(np.abs(sigmoid(keras_logits) - sigmoid(tflite_logits))))
