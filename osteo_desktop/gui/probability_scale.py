"""The probability of osteoporosis on a horizontal 0-1 scale, with the decision threshold marked.

A bare "35 %" reads like a weak "no" even when the threshold is 0.34 and the result is positive; on the scale the
marker sits visibly past the threshold line, in the part of the scale tinted as "suspected". One marker per knee,
labelled with its side (R, L, ?). Two knees with close probabilities (0.41 and 0.43) have overlapping markers:
their labels are then set side by side, the lower probability's on the left, so each stays readable.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

TRACK = QColor("#3a4048")
POSITIVE_ZONE = QColor(232, 135, 58, 90)  # the result panel's positive colour, faint
THRESHOLD = QColor("#e8e8e8")
TEXT = QColor("#b8bec6")
LABEL_GAP = 8.0  # pixels between two side labels pushed apart


class ProbabilityScale(QWidget):
    """``set_values(threshold, [(mark, probability, colour), ...])``; ``clear()`` shows nothing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.threshold: float | None = None
        self.markers: list[tuple[str, float, str]] = []
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Probability of osteoporosis from 0 to 1; a knee is 'suspected' from the threshold line up.")

    def set_values(self, threshold: float, markers: list[tuple[str, float, str]]) -> None:
        self.threshold = float(threshold)
        self.markers = [(str(mark), min(1.0, max(0.0, float(p))), colour) for mark, p, colour in markers]
        self.update()

    def clear(self) -> None:
        self.threshold, self.markers = None, []
        self.update()

    def _x(self, value: float, track: QRectF) -> float:
        return track.left() + value * track.width()

    def _track(self) -> QRectF:
        return QRectF(10, 20, self.width() - 20, 8)

    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def label_rects(self) -> list[QRectF]:
        """Where each marker's side label is drawn, in ``markers`` order: centred over its marker unless that would
        overlap a neighbour's; labels that would overlap are set side by side (in probability order) around their
        markers' middle, kept inside the widget. The rectangles never intersect."""
        track = self._track()
        metrics = QFontMetricsF(self._font())
        height = metrics.height()
        top = track.top() - 8 - height
        order = sorted(range(len(self.markers)), key=lambda i: self.markers[i][1])
        widths = {i: metrics.horizontalAdvance(self.markers[i][0]) + 2 for i in order}
        centres = {i: self._x(self.markers[i][1], track) for i in order}
        # Clusters of labels that would touch when centred on their markers; each cluster is laid out as one row.
        clusters: list[list[int]] = []
        for i in order:
            if clusters:
                last = clusters[-1][-1]
                if centres[i] - widths[i] / 2 < centres[last] + widths[last] / 2 + LABEL_GAP:
                    clusters[-1].append(i)
                    continue
            clusters.append([i])
        rects: dict[int, QRectF] = {}
        right_limit = float(self.width())
        previous_right = 0.0
        for cluster in clusters:
            total = sum(widths[i] for i in cluster) + LABEL_GAP * (len(cluster) - 1)
            middle = sum(centres[i] for i in cluster) / len(cluster)
            left = min(max(middle - total / 2, previous_right), right_limit - total)
            left = max(left, previous_right)  # never back over the cluster before, even at the right edge
            for i in cluster:
                rects[i] = QRectF(left, top, widths[i], height)
                left += widths[i] + LABEL_GAP
            previous_right = left
        return [rects[i] for i in range(len(self.markers))]

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.threshold is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(self._font())
        track = self._track()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(TRACK)
        painter.drawRoundedRect(track, 3, 3)
        t = self._x(self.threshold, track)
        painter.setBrush(POSITIVE_ZONE)
        painter.drawRect(QRectF(t, track.top(), track.right() - t, track.height()))
        painter.setPen(QPen(THRESHOLD, 2))
        painter.drawLine(QPointF(t, track.top() - 4), QPointF(t, track.bottom() + 4))
        painter.setPen(TEXT)
        below = QRectF(track.left() - 10, track.bottom() + 4, track.width() + 20, 16)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, "0")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, "1")
        label = f"threshold {self.threshold:.2f}"
        width = painter.fontMetrics().horizontalAdvance(label)
        left = min(max(track.left() + 14, t - width / 2), track.right() - 14 - width)
        painter.drawText(QRectF(left, track.bottom() + 4, width + 2, 16), Qt.AlignmentFlag.AlignLeft, label)
        for (mark, probability, colour), rect in zip(self.markers, self.label_rects()):
            x = self._x(probability, track)
            path = QPainterPath()  # a downward triangle resting on the track, the side above it
            path.moveTo(x, track.top() + 2)
            path.lineTo(x - 6, track.top() - 8)
            path.lineTo(x + 6, track.top() - 8)
            path.closeSubpath()
            painter.setPen(QPen(QColor("#111"), 1))
            painter.setBrush(QColor(colour))
            painter.drawPath(path)
            painter.setPen(QColor(colour))
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, mark)
        painter.end()
