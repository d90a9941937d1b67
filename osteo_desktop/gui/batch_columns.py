"""The scan table's columns and how they share its width (the scan window, :mod:`osteo_desktop.gui.batch_dialog`).

Until the user sizes a column by hand, the columns are fitted to the table's width on showing, on resizing and at
the end of a scan: the numbers and the reading as wide as their headings, the file names within
:data:`FILE_WIDTH`, and the rest to Result, Warnings and Error. A cut cell ends in "…" and keeps its whole text in
its tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QStyle, QTableView

from osteo_desktop.core.results import text

# "Against threshold", not "Confidence": the threshold is below 0.5, so a positive call's confidence can be under 50 %
# and read as favouring normal; how far the probability lies from the threshold, and on which side, says how sure.
COLUMNS = ["File", "Result", "Probability", "Against threshold", "Right knee", "Left knee", "Knee (side ?)", "Warnings", "Error",
           "Reading"]
PROBABILITY_COLUMN, THRESHOLD_COLUMN, READING_COLUMN = 2, 3, 9
FILE_COLUMN, RESULT_COLUMN, WARNINGS_COLUMN, ERROR_COLUMN = 0, 1, 7, 8
NUMBER_COLUMNS = (2, 3, 4, 5, 6)  # probability, distance from the threshold, knees: as wide as their headings
TEXT_COLUMNS = (RESULT_COLUMN, WARNINGS_COLUMN, ERROR_COLUMN)  # share what the others leave
FILE_WIDTH = (140, 320)  # the File column's least and most, in pixels: long paths are in the tooltip
FILE_TIGHT_WIDTH = 260  # how far a long File column gives way when the calls and errors need the room (1500 px)
TEXT_MIN_WIDTH = 110
ERROR_MIN_WIDTH = 200  # an error's first words ("truncated or damaged image file") before the "…"


class ColumnFitter(QObject):
    """Fits ``table``'s columns to its width (see the module) until the user sizes one by hand; ``labels`` are the
    model card's (the calls the Result column can show)."""

    def __init__(self, table: QTableView, labels: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.labels = list(labels)
        self.sized_by_hand = False
        self._fitting = False
        table.horizontalHeader().sectionResized.connect(self._on_section_resized)
        table.viewport().installEventFilter(self)
        self.fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # The viewport, not the table: it also narrows when the vertical scroll bar appears.
        if watched is self.table.viewport() and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.fit()
        return super().eventFilter(watched, event)

    def _on_section_resized(self, *_: object) -> None:
        if not self._fitting:
            self.sized_by_hand = True  # the user's widths are kept from then on

    def fit(self) -> None:
        """Share the table's width out: the numbers and the reading as wide as their headings, the file names as
        wide as they need within FILE_WIDTH, and the rest to Result, Warnings and Error: each its floor
        (:meth:`_text_floors`), then what its text needs where there is room, else an even share (a column needing
        less gives its spare to the others)."""
        if self.sized_by_hand:
            return
        table = self.table
        header = table.horizontalHeader()
        padding = 6  # sizeHintForColumn holds the cell's margins; a little more keeps the text off the grid line

        def needed(column: int) -> int:  # the wider of the heading and the cells (Qt samples a big table's rows)
            return max(header.sectionSizeHint(column), table.sizeHintForColumn(column) + padding)

        widths = {column: header.sectionSizeHint(column) + 4 for column in NUMBER_COLUMNS}  # the hint has the sort arrow's room
        widths[READING_COLUMN] = max(header.sectionSizeHint(READING_COLUMN),
                                     table.fontMetrics().horizontalAdvance("disagree") + padding)
        widths[FILE_COLUMN] = min(max(needed(FILE_COLUMN), FILE_WIDTH[0]), FILE_WIDTH[1])
        room = table.viewport().width() - sum(widths.values())
        wants = {column: max(needed(column), TEXT_MIN_WIDTH) for column in TEXT_COLUMNS}
        floors = self._text_floors(wants)
        # Short of room, the File column gives way first to FILE_TIGHT_WIDTH (the whole path is in its tooltip), then
        # Error, then File down to its least, then Result. Without File's second step the scan window of a 1280x720
        # screen (150 % scaling of 1920x1080) cut every call ("Osteoporosis s…") and hid Reading behind a scroll.
        for column, least in ((FILE_COLUMN, FILE_TIGHT_WIDTH), (ERROR_COLUMN, TEXT_MIN_WIDTH),
                              (FILE_COLUMN, FILE_WIDTH[0]), (RESULT_COLUMN, TEXT_MIN_WIDTH)):
            short = sum(floors.values()) - room
            if short <= 0:
                break
            if column == FILE_COLUMN:
                given = min(short, max(0, widths[FILE_COLUMN] - least))
                widths[FILE_COLUMN] -= given
                room += given
            else:
                floors[column] -= min(short, max(0, floors[column] - least))
        room -= sum(floors.values())
        widths.update(floors)
        # Above the floors, max-min fair shares: the column needing least is given all it needs if that is under an
        # even share of what is left.
        for done, column in enumerate(sorted(TEXT_COLUMNS, key=lambda c: wants[c] - floors[c])):
            extra = max(0, min(wants[column] - floors[column], room // (len(TEXT_COLUMNS) - done)))
            widths[column] += extra
            room -= extra
        if room > 0:  # spare width after every text fits: to the Warnings, the longest text
            widths[WARNINGS_COLUMN] += room
        self._fitting = True
        try:
            for column, width in widths.items():
                table.setColumnWidth(column, width)
        finally:
            self._fitting = False

    def _cell_margins(self) -> int:
        """A column's width a cell's text does not get: the style's text margin on both sides (Qt's item delegate
        takes the focus frame's margin and one pixel), the grid line, and 2 px that Qt's elision keeps in hand (a
        text exactly as wide as the room was still cut)."""
        margin = self.table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self.table) + 1
        return 2 * margin + (1 if self.table.showGrid() else 0) + 2

    def _text_floors(self, wants: dict[int, int]) -> dict[int, int]:
        """The least each text column is given before the rest is shared, where there is room: the Result column
        its widest call whole (the short words, "Borderline (above)", and a declined file's "No result: not a knee
        radiograph…", its reason cut after them), the Error column :data:`ERROR_MIN_WIDTH`, the Warnings
        :data:`TEXT_MIN_WIDTH`; none more than its text needs."""
        metrics = self.table.fontMetrics()
        calls = max(metrics.horizontalAdvance(words) for words in self._call_words()) + self._cell_margins()
        return {RESULT_COLUMN: min(calls, wants[RESULT_COLUMN]), WARNINGS_COLUMN: TEXT_MIN_WIDTH,
                ERROR_COLUMN: min(ERROR_MIN_WIDTH, wants[ERROR_COLUMN])}

    def _call_words(self) -> list[str]:
        """Every call the Result column can show, whatever the rows (no pass over a big table's rows); a declined
        file's with the "…" its reason is cut to."""
        return ([text.headline(label, self.labels[1]) for label in self.labels]
                + [text.borderline_headline(where, short=True) for where in ("above", "at", "below")]
                + [text.no_result_headline(None) + "…"])
