"""The result of one image in words: the headline (borderline near the threshold), the probability of osteoporosis
against the screening threshold, the reader's own verdict when one is recorded, a line per knee, the probability on a scale with the threshold marked, probability,
threshold, model version, warnings.

No "confidence" is shown: the threshold is below 50 %, so a positive call's confidence (the JSON field) can be under
50 % and read as the model favouring normal. The probability and where it lies against the threshold say how sure the
result is, and the scale draws it."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.results import text
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.palette import ERROR_COLOUR, NO_RESULT_COLOUR, call_colour
from osteo_desktop.gui.probability_scale import ProbabilityScale
from osteo_desktop.gui.plain import PlainLabel


class ResultPanel(QFrame):
    """Shows exactly one state at a time (empty, busy, error, no result or result), so a stale result cannot linger."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(6)
        self.headline = PlainLabel()  # file names and error messages: plain text (gui.plain)
        self.headline.setObjectName("headline")
        self.headline.setWordWrap(True)
        # How sure the result is: the probability against the threshold (the scale below draws the same).
        self.probability_text = PlainLabel()
        self.probability_text.setObjectName("probabilityText")
        self.probability_text.setWordWrap(True)
        self.probability_text.setToolTip(text.PROBABILITY_EXPLAINED)
        # The reader's own verdict on this result, when one is recorded (Shift+A / Shift+D, or the scan window): coming
        # back to a marked film gave no sign that it had been read.
        self.reading = PlainLabel()
        self.reading.setObjectName("reading")
        self.reading.setWordWrap(True)
        self.reading.setToolTip("Your verdict on this result, kept in the history: Shift+A agree, Shift+D disagree "
                                "(the scan window's Clear mark clears it)")
        self.knee_lines = QLabel()  # one line per knee: side, call, probability and threshold
        self.knee_lines.setObjectName("kneeLines")
        self.knee_lines.setTextFormat(Qt.TextFormat.RichText)
        self.knee_lines.setWordWrap(True)
        self.scale = ProbabilityScale()
        self.details = QLabel()
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setWordWrap(True)
        self.warnings = PlainLabel()  # warnings quote DICOM tags
        self.warnings.setObjectName("warnings")
        self.warnings.setWordWrap(True)
        self.disclaimer = PlainLabel(text.DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        for widget in (self.headline, self.probability_text, self.reading, self.knee_lines, self.scale, self.details,
                       self.warnings, self.disclaimer):
            layout.addWidget(widget)
        self.prediction: Prediction | None = None
        self.knees: list[KneeResult] = []
        self.state = ""
        self.show_empty()

    def _reset(self) -> None:
        self.prediction = None
        self.knees = []
        for widget in (self.probability_text, self.reading, self.knee_lines, self.scale, self.details):
            widget.hide()
        self.reading.clear()
        self.scale.clear()
        self.warnings.hide()
        self.headline.setStyleSheet("")
        # A result claims the height of its lines (fit_height); the next state (busy, an error, no result) has fewer,
        # and kept that height as blank space around its few words, pushing the model input and image details down.
        self.setMinimumHeight(0)

    def show_empty(self, text: str = "Open a knee radiograph to screen it.") -> None:
        self._reset()
        self.state = "empty"
        self.headline.setText(text)

    def show_busy(self, name: str) -> None:
        self._reset()
        self.state = "busy"
        self.headline.setText(f"Analysing {name}…")

    def show_error(self, message: str) -> None:
        self._reset()
        self.state = "error"
        self.headline.setText(message)
        self.headline.setStyleSheet(f"color: {ERROR_COLOUR}; font-size: 11pt; font-weight: 600;")

    def show_no_result(self, reason: str | None, warnings: list[str] | None = None) -> None:
        """A file outside the model's scope: the "No result: <reason>" headline, and no number at all."""
        self._reset()
        self.state = "no result"
        self.headline.setText(text.no_result_headline(reason))
        self.headline.setStyleSheet(f"color: {NO_RESULT_COLOUR};")
        if warnings:
            self.warnings.setText("\n".join(f"⚠ {w}" for w in warnings))
            self.warnings.show()

    def show_result(self, prediction: Prediction, positive_label: str, knees: list[KneeResult] | None = None) -> None:
        """The file's result (its most suspicious knee's) and, under it, one line per knee and the scale."""
        self._reset()
        self.state = "result"
        self.prediction = prediction
        self.knees = list(knees or [])
        threshold = prediction.threshold
        colour = call_colour(prediction.probability, threshold, prediction.label == positive_label)
        self.headline.setText(text.verdict_headline(prediction, positive_label))
        self.headline.setStyleSheet(f"color: {colour};")
        self.probability_text.setText(text.probability_line(prediction.probability, threshold, positive_label))
        # The words come from core; here they are only laid out (escaped: a model version is text from a file).
        rows = []
        for index, (name, value) in enumerate(text.result_facts(prediction, positive_label)):
            shown = html.escape(value)
            if index == 0:  # the probability: the number the headline rests on
                shown = f"<b>{shown}</b>"
            rows.append(f"<tr><td>{html.escape(name)}&nbsp;&nbsp;</td><td>{shown}</td></tr>")
        self.details.setText(f"<table cellspacing='0' cellpadding='2'>{''.join(rows)}</table>")
        lines = []
        # The long borderline words once: the headline says them for a borderline file, its knees the short ones.
        summaries = text.knee_summaries(self.knees, positive_label, threshold, prediction.probability)
        for knee, summary in zip(self.knees, summaries):
            shade = call_colour(knee.probability, threshold, knee.label == positive_label)
            lines.append(f"<span style='color:{shade}'>■</span> <b>{html.escape(text.knee_title(knee))}</b>: "
                         f"{html.escape(summary)}")
        self.knee_lines.setText("<br>".join(lines))
        self.scale.set_values(threshold, [
            (text.knee_short(k.side), k.probability, call_colour(k.probability, threshold, k.label == positive_label))
            for k in self.knees] or [("", prediction.probability, colour)])
        for widget in (self.probability_text, self.knee_lines, self.scale, self.details):
            widget.show()
        self.knee_lines.setVisible(bool(self.knees))
        sentences = text.warning_sentences(prediction)
        if sentences:
            self.warnings.setText("\n".join(f"⚠ {w}" for w in sentences))
            self.warnings.show()
        self.fit_height()

    def show_reading(self, agreement: str | None) -> None:
        """Show the reader's recorded verdict on the result on screen ("Your reading: Agree"), or nothing when there
        is none; only a result can carry one (busy, error and no-result states show nothing)."""
        line = text.reading_line(agreement) if self.state == "result" else None
        self.reading.setText(line or "")
        self.reading.setVisible(line is not None)
        if self.state == "result":
            self.fit_height()

    def fit_height(self) -> None:
        """Claim the height the shown lines need at the panel's width: a result with a line per knee and the scale is
        taller than the panel was when the window was laid out, and the side splitter would otherwise clip it."""
        layout = self.layout()
        width = max(self.width(), 340)
        needed = layout.heightForWidth(width) if layout.hasHeightForWidth() else layout.sizeHint().height()
        self.setMinimumHeight(max(needed, layout.minimumSize().height()))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.state == "result":  # narrower means more wrapped lines, so more height
            self.fit_height()
