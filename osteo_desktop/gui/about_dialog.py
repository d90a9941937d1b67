"""What the model is and how it was evaluated, read from its model card and written as a short document; and the
application's About box.

The card's raw JSON is for software; a reader wants its version and identity (the exact model's SHA-256, over the
card and every model file: the same digest every result, PDF and DICOM object names), what it
was trained on, how well it did with 95 % intervals, and where it fails. :func:`model_summary` writes exactly that.
"""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from osteo_desktop import DISCLAIMER, __version__
from osteo_desktop.core.errors import ModelIntegrityError
from osteo_desktop.core.model.card import ModelCard, model_sha256
from osteo_desktop.core.results import text
from osteo_desktop.gui.plain import PlainLabel

_METRICS = (("roc_auc", "ROC AUC"), ("recall", "Sensitivity"), ("specificity", "Specificity"),
            ("precision", "Positive predictive value"), ("accuracy", "Accuracy"), ("f1", "F1 score"))


def _is_estimate(value: Any) -> bool:
    return isinstance(value, dict) and {"value", "ci_low", "ci_high"} <= set(value)


def _range(low: float, high: float) -> str:
    """An interval's bounds: "0.774–0.880", but "-0.431 to -0.052" when a bound is negative (a dash between two
    minus signs, "-0.431–-0.052", read as a subtraction)."""
    return f"{low:.3f} to {high:.3f}" if min(low, high) < 0 else f"{low:.3f}–{high:.3f}"


def _estimate(value: dict) -> str:
    return f"{value['value']:.3f}  (95% CI {_range(value['ci_low'], value['ci_high'])})"


def _section(title: str, body: str) -> str:
    return f"<h4 style='margin-bottom: 2px'>{escape(title)}</h4>{body}"


def _rows(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td style='padding-right: 14px; color: #a0a4ab'>{escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing='0' cellpadding='2'>{cells}</table>"


def _identity(card: ModelCard) -> str:
    rows = [("Version", escape(card.version)), ("Dated", escape(card.date))]
    if card.raw.get("status"):
        rows.append(("Status", escape(str(card.raw["status"]))))
    try:  # the same digest as every result names (core.model.card.model_sha256), not a second definition
        digest = escape(model_sha256(card))
    except ModelIntegrityError as exc:  # a file went missing since the model was loaded: say so, do not guess
        digest = escape(f"cannot be computed: {exc}")
    rows.append(("Model SHA-256 (card and files)", f"<code>{digest}</code>"))
    knee = card.raw.get("knee_model")
    if isinstance(knee, dict) and "threshold" in knee:  # since 2.0.0 every result is a knee's: its threshold decides
        rule = f" ({escape(str(knee['threshold_rule']))})" if knee.get("threshold_rule") else ""
        rows.append(("Decision threshold (per knee)", f"{float(knee['threshold']):.3f}{rule}"))
    else:
        rule = f" ({escape(card.threshold_rule)})" if card.threshold_rule else ""
        rows.append(("Decision threshold", f"{card.threshold:.3f}{rule}"))
    size = card.preprocessing.input_size
    rows.append(("Input", f"{size}×{size} pixels; labels {escape(card.labels[0])} / {escape(card.labels[1])}"))
    recipe = card.raw.get("recipe", {})
    if isinstance(knee, dict) and knee.get("what"):  # the knee model gives the results: describe that network
        what = str(knee["what"])
        rows.append(("Network", escape(what[:1].upper() + what[1:])))
    elif isinstance(recipe, dict) and recipe.get("backbone"):
        rows.append(("Network", escape(f"{recipe['backbone']}; head {recipe.get('head', '?')}")))
    return _rows(rows)


def _training(card: ModelCard) -> str:
    data = card.raw.get("training_data")
    if not isinstance(data, dict):
        return "<p>Not recorded in the model card.</p>"
    rows = []
    counts = data.get("counts")
    if isinstance(counts, dict):
        rows.append(("Images by label", escape(", ".join(f"{label} {n}" for label, n in counts.items()))))
    if data.get("binary_images_used"):
        rows.append(("Used for training", f"{data['binary_images_used']} images ({escape(card.labels[0])} and {escape(card.labels[1])})"))
    if data.get("sources"):
        rows.append(("Sources", escape(", ".join(str(s) for s in data["sources"]))))
    return _rows(rows)


def _evaluation(card: ModelCard) -> str:
    metrics = card.raw.get("metrics", {})
    shipped = card.summary_metrics
    figures = [(label, f"<b>{_estimate(shipped[key])}</b>") for key, label in _METRICS if _is_estimate(shipped.get(key))]
    if not figures:
        return "<p><b>No evaluation is recorded for this model.</b> Treat every result with extra caution.</p>"
    html = f"<p><i>{escape(str(metrics['protocol']))}</i></p>" if metrics.get("protocol") else ""
    html += _rows(figures)
    confusion = metrics.get("confusion")
    if isinstance(confusion, dict) and {"tp", "fp", "tn", "fn"} <= set(confusion):
        html += (f"<p>At the threshold: {confusion['tp']} true positives, {confusion['fn']} missed, "
                 f"{confusion['fp']} false alarms, {confusion['tn']} true negatives.</p>")
    per_source = metrics.get("per_source")
    if isinstance(per_source, dict) and per_source:
        rows = [(str(name), f"ROC AUC {v['roc_auc']:.3f} on {v['n']} images") for name, v in per_source.items()
                if isinstance(v, dict) and "roc_auc" in v and "n" in v]
        html += "<p>By subset:</p>" + _rows(rows)
    dxa = metrics.get("dxa")
    if isinstance(dxa, dict) and "roc_auc" in dxa and isinstance(dxa.get("roc_auc_ci"), list):
        low, high = dxa["roc_auc_ci"]
        html += (f"<p>On the {dxa.get('n_binary', '?')} images with a measured QUS T-score: ROC AUC "
                 f"<b>{dxa['roc_auc']:.3f} (95% CI {_range(low, high)})</b>.</p>")
    return html


def _interval(entry: object) -> str:
    if not (isinstance(entry, dict) and {"value", "ci_low", "ci_high"} <= set(entry)):
        return "not recorded"
    n = f" (n = {entry['n']})" if "n" in entry else ""
    return f"<b>{entry['value']:.3f} (95% CI {_range(entry['ci_low'], entry['ci_high'])})</b>{n}"


def _at_threshold(entry: object, labels: tuple[str, str]) -> list[tuple[str, str]]:
    """Per-film sensitivity and specificity at the knee threshold, from the out-of-fold confusion counts: the figures a
    clinician quotes, which must be this model's and not the comparison head's. ``labels``: the card's (negative,
    positive), which name the films counted."""
    confusion = entry.get("confusion") if isinstance(entry, dict) else None
    if not (isinstance(confusion, dict) and {"tp", "fp", "tn", "fn"} <= set(confusion)):
        return []
    tp, fp, tn, fn = (int(confusion[k]) for k in ("tp", "fp", "tn", "fn"))
    negative, positive = (escape(label) for label in labels)
    rows = []
    if tp + fn:
        rows.append(("Sensitivity per film at the threshold", f"<b>{tp / (tp + fn):.2f}</b> ({tp} of {tp + fn} {positive} films)"))
    if tn + fp:
        rows.append(("Specificity per film at the threshold", f"<b>{tn / (tn + fp):.2f}</b> ({tn} of {tn + fp} {negative} films)"))
    return rows


def _knee_model(card: ModelCard) -> str:
    """The per-knee model that gives every result since 2.0.0, with its cross-validated figures and intervals."""
    knee = card.raw.get("knee_model")
    if not isinstance(knee, dict):
        return ""
    metrics = knee.get("metrics", {}) if isinstance(knee.get("metrics"), dict) else {}
    qus = metrics.get("qus", {}) if isinstance(metrics.get("qus"), dict) else {}
    subsets = metrics.get("per_subset", {}) if isinstance(metrics.get("per_subset"), dict) else {}
    rows = [("Version", escape(str(knee.get("version", "?"))))]  # what it reads, in the card's words: "Network" below
    rows.append(("ROC AUC per film (most suspicious knee)", _interval(metrics.get("film_roc_auc"))))
    rows += _at_threshold(metrics.get("film_roc_auc"), card.labels)
    rows.append(("ROC AUC per knee", _interval(metrics.get("knee_roc_auc"))))
    for name, entry in subsets.items():
        rows.append((f"ROC AUC, {name}", _interval(entry)))
    rows.append(("QUS T-score films: ROC AUC for T ≤ −2.5", _interval(qus.get("auc_t_le_minus_2_5"))))
    rows.append(("QUS T-score films: Spearman(probability, T)", _interval(qus.get("spearman_probability_vs_t_score"))))
    note = ("<p>Cross-validated out of fold on the manifest's 5 folds (both knees of a film in one fold), 95% "
            "intervals from resampling films. The T-score subset (quantitative ultrasound, QUS) is the one labelled "
            "from a measurement: there the model is far from reliable.</p>")
    return note + _rows(rows)


def _in_short(card: ModelCard) -> str:
    """What a radiologist needs first, in plain words: what it reads, the threshold, how often it is right per film,
    and where it is not to be trusted. Every figure comes from the card; the technical details follow further down."""
    knee = card.raw.get("knee_model")
    if not isinstance(knee, dict) or "threshold" not in knee:
        return ""
    negative, positive = (escape(label) for label in card.labels)
    threshold = float(knee["threshold"])
    lines = [f"Reads each knee found on a frontal knee radiograph and gives the probability of {positive}; a film's "
             f"result is its most suspicious knee.",
             f"A probability of <b>{threshold:.2f}</b> or more is called \"{positive} suspected\"; within "
             f"{text.BORDERLINE_MARGIN:.2f} of that threshold the result is borderline and should be read as undecided."]
    metrics = knee.get("metrics") if isinstance(knee.get("metrics"), dict) else {}
    film = metrics.get("film_roc_auc")
    confusion = film.get("confusion") if isinstance(film, dict) else None
    if isinstance(confusion, dict) and {"tp", "fp", "tn", "fn"} <= set(confusion):
        tp, fp, tn, fn = (int(confusion[k]) for k in ("tp", "fp", "tn", "fn"))
        lines.append(f"Tested by cross-validation on {tp + fn + tn + fp} films it had not seen: at the threshold "
                     f"itself (borderline results counted by their side) it flagged {tp} of {tp + fn} {positive} films "
                     f"and cleared {tn} of {tn + fp} {negative} films.")
    qus = metrics.get("qus") if isinstance(metrics.get("qus"), dict) else {}
    if _is_estimate(qus.get("auc_t_le_minus_2_5")):
        lines.append("On the films whose label comes from a measured bone-density T-score (quantitative ultrasound, "
                     "QUS) it is far from reliable (ROC AUC "
                     f"{qus['auc_t_le_minus_2_5']['value']:.2f}; 1.0 is perfect, 0.5 is chance).")
    return "<ul style='margin-left: -20px'>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"


def model_summary(card: ModelCard) -> str:
    """The model card as a reader wants it: in short, use and limits first; then the figures with intervals, and the
    technical identity (digest, threshold rule, network, status), training data and the comparison head last."""
    html = f"<h3>{escape(card.name)} — version {escape(card.version)}</h3>"
    short = _in_short(card)
    if short:
        html += _section("In short", short)
    if card.raw.get("intended_use"):
        html += _section("Intended use", f"<p>{escape(str(card.raw['intended_use']))}</p>")
    limits = card.raw.get("limitations")
    if isinstance(limits, list) and limits:
        # The limits (e.g. chance-level results on the T-score subset) matter as much as the headline figures.
        html += _section("Limits", "<ul style='margin-left: -20px'>" + "".join(f"<li>{escape(str(x))}</li>" for x in limits) + "</ul>")
    knee = _knee_model(card)
    if knee:
        html += _section("Results come from: the per-knee model", knee)
    html += _section("Technical details", _identity(card))
    html += _section("Training data", _training(card))
    html += _section("Whole-film head 1.1.0 (kept for comparison; not used for results)" if knee else "Evaluation",
                     _evaluation(card))
    return html


class ModelDialog(QDialog):
    def __init__(self, card: ModelCard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About the model")
        # Fits the screen also when Qt scales the interface (QT_SCALE_FACTOR=1.5 on 1920x1080 leaves 1280x720).
        available = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        self.resize(min(820, available.width() - 40), min(860, available.height() - 60))
        layout = QVBoxLayout(self)
        self.summary = QTextBrowser()  # scrolls, and its text can be selected and copied (the SHA-256, a figure)
        self.summary.setOpenLinks(False)
        self.summary.setHtml(model_summary(card))
        layout.addWidget(self.summary, 1)
        note = PlainLabel(DISCLAIMER)
        note.setWordWrap(True)
        note.setObjectName("disclaimer")
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def text(self) -> str:
        """What the dialog says, as plain text (for tests and accessibility tools)."""
        return self.summary.toPlainText()


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About Osteo Desktop",
        f"<h3>Osteo Desktop {__version__}</h3><p>Offline screening of knee radiographs for osteoporosis with a "
        f"MobileNetV2 model. Nothing leaves this computer unless you configure a PACS (File ▸ PACS…).</p><p><i>{DISCLAIMER}</i></p>",
    )
