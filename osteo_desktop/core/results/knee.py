"""One knee's result (issue 11): where the knee is on the film, its side, and what the model says of it.

:data:`KNEES_OUTPUT` is how the ``knees`` field of :class:`~osteo_desktop.core.results.result.FileResult` appears:
a JSON array of objects ``{side, box, label, probability, confidence, side_source, call}``; in CSV a group of columns
per side (``knee_right_*``, ``knee_left_*``, then ``knee_unknown_*`` for a knee whose side nothing on the film or in
its header tells), empty when there is no such knee; in the history the JSON text (NULL, in a database written before
knees existed, reads back as no knees).

``side_source`` says where the side came from: one of :data:`~osteo_desktop.core.model.knee_sides.SIDE_SOURCES`
("dicom_header", "film_marker", "hanging_convention"), or null when the side is unknown. A knee recorded before
sources were kept (history, JSON written by an earlier version) reads back with None: its source was not recorded.

``call`` is the knee's call in one word, by the file's rule (:func:`~osteo_desktop.core.results.text.short_call`:
the label, or "borderline-above" / "borderline-below" / "borderline-at") applied to the knee's probability against the
file's threshold. A knee does not know the threshold, so the file sets it (:meth:`KneeResult.called`, from
``FileResult``); a knee recorded before calls were kept reads back with None and gains it from the file it belongs to.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from osteo_desktop.core.model.knee_sides import SIDE_SOURCES, UNKNOWN
from osteo_desktop.core.results import text as result_text
from osteo_desktop.core.results.columns import Output

# The patient's right and left, in the order radiologists read a bilateral film; "unknown" for a lone knee whose
# side neither the DICOM header nor the film tells (the detector never guesses one). New sides go at the end: the
# CSV column groups follow this order and columns are only ever added.
SIDES = ("right", "left", "unknown")
# The cells of a side's column group, as first published. Each cell is a KneeResult field written by knee_cells.
_KNEE_CELLS = ("label", "probability", "confidence", "box")
# Cells added later go after every group, so that no published column moves (a script may read by position):
# side_source (where the side came from) for the two sides that have one; an unknown side never has a source.
_ADDED_CELLS = tuple(f"knee_{side}_side_source" for side in SIDES if side != UNKNOWN)
KNEE_CSV_COLUMNS = tuple(f"knee_{side}_{name}" for side in SIDES for name in _KNEE_CELLS) + _ADDED_CELLS
# Each knee's call, one column per side group: after the file's ``call`` column, which was itself published after the
# groups and side sources, so these go after every published column (the opt-in patient columns stay last).
KNEE_CALL_COLUMNS = tuple(f"knee_{side}_call" for side in SIDES)
KNEE_CALLS_AFTER = "call"


@dataclass(frozen=True)
class KneeResult:
    """``box`` is (x0, y0, x1, y1) in the file's own pixels, x1 and y1 exclusive; ``side`` is the patient's side."""

    side: str
    box: tuple[int, int, int, int]
    label: str
    probability: float
    confidence: float
    side_source: str | None = None  # where the side came from (module docstring); None: unknown side, or not recorded
    call: str | None = None  # the call against the file's threshold (module docstring); None: not set yet, or no result

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"a knee's side is one of {SIDES}, not {self.side!r}")
        if self.side_source is not None and self.side_source not in SIDE_SOURCES:
            raise ValueError(f"a knee's side source is one of {SIDE_SOURCES} or None, not {self.side_source!r}")
        if self.side == UNKNOWN and self.side_source is not None:
            raise ValueError(f"an unknown side has no source, got {self.side_source!r}")
        x0, y0, x1, y1 = self.box
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"a knee's box must have x1 > x0 and y1 > y0, got {self.box}")

    def called(self, threshold: float | None) -> "KneeResult":
        """This knee with its call against ``threshold`` (the file's), by the file's own rule; None without one."""
        call = None if threshold is None else result_text.short_call(self.label, self.probability, threshold)
        return self if call == self.call else replace(self, call=call)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["box"] = [int(v) for v in self.box]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KneeResult":
        source = data.get("side_source")  # absent in knees recorded before sources were kept
        call = data.get("call")  # absent in knees recorded before calls were kept: the file derives it (FileResult)
        return cls(str(data["side"]), tuple(int(v) for v in data["box"]), str(data["label"]),  # type: ignore[arg-type]
                   float(data["probability"]), float(data["confidence"]), None if source is None else str(source),
                   None if call is None else str(call))


def knee_cells(knees: list[KneeResult]) -> dict[str, str]:
    """The CSV column group: one set of cells per side, empty for a side without a knee.

    Two knees of one side (two knees whose sides cannot be told apart: both "unknown") share a group: it holds the
    more suspicious of them, the one the file's result is about; the JSON lists both. A CSV row must never fail.
    """
    cells = dict.fromkeys(KNEE_CSV_COLUMNS + KNEE_CALL_COLUMNS, "")
    shown: dict[str, KneeResult] = {}
    for knee in knees:
        if knee.side not in shown or knee.probability > shown[knee.side].probability:
            shown[knee.side] = knee
    for knee in shown.values():
        prefix = f"knee_{knee.side}_"
        cells[prefix + "label"] = knee.label
        cells[prefix + "probability"] = f"{knee.probability:.6f}"
        cells[prefix + "confidence"] = f"{knee.confidence:.6f}"
        cells[prefix + "box"] = json.dumps([int(v) for v in knee.box])
        if knee.side != UNKNOWN:
            cells[prefix + "side_source"] = knee.side_source or ""
        cells[prefix + "call"] = knee.call or ""
    return cells


def _knees_from_sql(value: Any) -> list[KneeResult]:
    try:
        return [KneeResult.from_dict(item) for item in json.loads(value)]
    except (TypeError, ValueError, KeyError):  # NULL (recorded before knees existed) or damaged: no knees
        return []


KNEES_OUTPUT = Output(
    to_json=lambda knees: [knee.to_dict() for knee in knees],
    csv_names=KNEE_CSV_COLUMNS,
    csv_added=(KNEE_CALLS_AFTER, KNEE_CALL_COLUMNS),
    to_csv=knee_cells,
    sql="TEXT",
    to_sql=lambda knees: json.dumps([knee.to_dict() for knee in knees]),
    from_sql=_knees_from_sql,
)
