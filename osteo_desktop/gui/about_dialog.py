"""What the model is and how it was evaluated, straight from its model card; and the application's About box."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMessageBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from osteo_desktop import DISCLAIMER, __version__
from osteo_desktop.core.model.card import ModelCard, model_sha256
from osteo_desktop.gui.plain import PlainLabel, tooltip

# Checksums and file lists are for the software, not for the reader of this dialog.
_HIDDEN_KEYS = {"files", "format"}


def _is_estimate(value: Any) -> bool:
    return isinstance(value, dict) and {"value", "ci_low", "ci_high"} <= set(value)


def _estimate(value: dict) -> str:
    return f"{value['value']:.3f}  (95% CI {value['ci_low']:.3f}–{value['ci_high']:.3f})"


def _fill(parent: QTreeWidgetItem | QTreeWidget, key: str, value: Any) -> None:
    if _is_estimate(value):
        value = _estimate(value)
    item = QTreeWidgetItem([key.replace("_", " "), "" if isinstance(value, (dict, list)) else _text(value)])
    item.setToolTip(1, tooltip(item.text(1)))
    if isinstance(parent, QTreeWidget):
        parent.addTopLevelItem(item)
    else:
        parent.addChild(item)
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(item, str(k), v)
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value) and sum(len(_text(v)) for v in value) < 80:
            item.setText(1, ", ".join(_text(v) for v in value))
        else:
            for i, v in enumerate(value):
                _fill(item, str(i + 1), v)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_HEADLINE_METRICS = (("roc_auc", "ROC AUC"), ("recall", "Sensitivity"), ("specificity", "Specificity"), ("accuracy", "Accuracy"))


def model_summary(card: ModelCard) -> str:
    """The card's essentials in a few lines: identity, decision rule, evaluation, intended use."""
    html = (
        f"<h3>{escape(card.name)} — version {escape(card.version)}</h3>"
        f"<p>Dated {escape(card.date)}. Decision threshold {card.threshold:.3f}"
        + (f" ({escape(card.threshold_rule)})" if card.threshold_rule else "")
        + f". Input {card.preprocessing.input_size}×{card.preprocessing.input_size} pixels.</p>"
        f"<p>Model SHA-256 (card and files): <code>{escape(model_sha256(card))}</code></p>"
    )
    shipped = card.summary_metrics
    figures = [f"{label} <b>{_estimate(shipped[key])}</b>" for key, label in _HEADLINE_METRICS if _is_estimate(shipped.get(key))]
    if figures:
        protocol = card.raw.get("metrics", {}).get("protocol", "")
        html += "<p>Evaluation: " + "<br>".join(figures) + (f"<br><i>{escape(str(protocol))}</i>" if protocol else "") + "</p>"
    else:
        html += "<p><b>No evaluation is recorded for this model.</b></p>"
    if card.raw.get("intended_use"):
        html += f"<p>Intended use: {escape(str(card.raw['intended_use']))}</p>"
    limits = card.raw.get("limitations")
    if isinstance(limits, list) and limits:
        # The limits (e.g. chance-level results on the QUS-labelled images) matter as much as the headline figures,
        # so they are shown here rather than left in a collapsed branch at the bottom of the tree.
        html += "<p><b>Limits</b></p><ul style='margin-left: -20px'>" + "".join(f"<li>{escape(str(x))}</li>" for x in limits) + "</ul>"
    return html


class ModelDialog(QDialog):
    def __init__(self, card: ModelCard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About the model")
        # Fits the screen also when Qt scales the interface (QT_SCALE_FACTOR=1.5 on 1920x1080 leaves 1280x720).
        available = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        self.resize(min(820, available.width() - 40), min(860, available.height() - 60))
        layout = QVBoxLayout(self)
        summary = QLabel(model_summary(card))
        summary.setWordWrap(True)
        layout.addWidget(summary)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Item", "Value"])
        self.tree.setColumnWidth(0, 260)
        raw = card.raw
        # The evaluation first: it is what a reader of this dialog most wants to know.
        ordered = [k for k in ("metrics", "evaluation", "status", "training", "data") if k in raw]
        ordered += [k for k in raw if k not in ordered and k not in _HIDDEN_KEYS]
        if not any(k in raw for k in ("metrics", "evaluation")):
            _fill(self.tree, "evaluation", "not recorded in the model card: treat every result with extra caution")
        for key in ordered:
            _fill(self.tree, key, raw[key])
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(0) in ("metrics", "evaluation"):
                item.setExpanded(True)
                for j in range(item.childCount()):
                    if item.child(j).text(0) == "shipped":
                        item.child(j).setExpanded(True)
        layout.addWidget(self.tree, 1)
        note = PlainLabel(DISCLAIMER)
        note.setWordWrap(True)
        note.setObjectName("disclaimer")
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def items(self) -> list[tuple[str, str]]:
        """Every (item, value) row of the tree, depth first; for tests and accessibility tools."""
        rows: list[tuple[str, str]] = []

        def walk(item: QTreeWidgetItem) -> None:
            rows.append((item.text(0), item.text(1)))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return rows


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About Osteo Desktop",
        f"<h3>Osteo Desktop {__version__}</h3><p>Offline screening of knee radiographs for osteoporosis with a "
        f"MobileNetV2 model. Nothing leaves this computer.</p><p><i>{DISCLAIMER}</i></p>",
    )
