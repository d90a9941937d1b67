"""The result of one file: declared once, here; the JSON keys, CSV columns and history columns derive from it.

Each field says how it appears in the outputs (see :mod:`osteo_desktop.core.results.columns`). The exported fields,
in this order, are the public JSON/CSV contract of ``osteo predict``/``osteo scan`` and the batch export: keys may
be added (at the end), never renamed or dropped. Fields planned by other issues and how each is added, in one line
here (plus the code that fills it):

- ``out_of_scope: str | None = declared(text(sql="TEXT"), None)``: why the image is outside what the model was
  trained on (the scope gate), or None;

``knees`` (issue 11) lists every knee found on the film (:mod:`osteo_desktop.core.results.knee`), a CSV column group
per side; the file's ``label``, ``probability`` and ``confidence`` are those of its most suspicious knee.

A stored field added later must accept NULL (no ``NOT NULL`` without a default): the history adds the column to an
existing database, whose earlier rows then read back as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from osteo_desktop.core.results import columns
from osteo_desktop.core.results import text as result_text
from osteo_desktop.core.results.columns import Output, declared, internal, number, text, text_list, timings
from osteo_desktop.core.results.knee import KNEES_OUTPUT, KneeResult

PATIENT_COLUMNS = ("patient_name", "patient_id", "patient_birth_date")
# Accepted spellings of the reader's patient keys, so the export does not depend on one naming.
_PATIENT_KEYS = {
    "patient_name": ("name", "patient_name", "PatientName"),
    "patient_id": ("id", "patient_id", "PatientID"),
    "patient_birth_date": ("birth_date", "patient_birth_date", "PatientBirthDate"),
}


def patient_cells(patient: dict[str, str]) -> dict[str, str]:
    """The opt-in patient columns of a CSV row, empty when the file carries no such identifier."""
    cells = {}
    for column, keys in _PATIENT_KEYS.items():
        cells[column] = next((str(patient[k]) for k in keys if patient.get(k)), "")
    return cells


class ModelVerdict(Protocol):
    """What the model says of one image (:class:`~osteo_desktop.core.model.runtime.Prediction` is one)."""

    label: str
    probability: float
    confidence: float
    threshold: float
    model_version: str
    model_sha256: str | None
    warnings: list[str]
    timings_ms: dict[str, float]


_STORED_NOT_NULL = "TEXT NOT NULL"


@dataclass
class FileResult:
    """One file's outcome: a result (label, probability, confidence, threshold), an ``error``, or no result because
    the file is outside what the model reads (``out_of_scope``, the scope gate's reason in words); one of the three.

    A declined file (:attr:`declined`) is an answer, not a failure: ``error`` stays None, and label, probability,
    confidence and threshold are None, because no result was given (the threshold belongs to a result).
    ``model_version`` and ``model_sha256`` are set on every row of a scan, failed and declined ones included: they
    say which model the row was meant for (the gate ships with the model). Declined rows are not recorded in the history (its result
    columns are NOT NULL); ``scope_gate`` (stored, not exported) names the gate that let a recorded result through,
    so that a result recorded before that gate judged the file is analysed again rather than reused. ``file_sha256`` (when a history is used) and ``from_history`` are not exported; ``patient`` holds the
    reader's patient identifiers only when the caller asked for them and is exported only on request.
    """

    path: str = declared(text(sql=_STORED_NOT_NULL))
    file_sha256: str | None = declared(internal(sql=_STORED_NOT_NULL), None)
    label: str | None = declared(text(sql=_STORED_NOT_NULL, from_model=True), None)
    probability: float | None = declared(number(sql="REAL NOT NULL", from_model=True), None)
    confidence: float | None = declared(number(sql="REAL NOT NULL", from_model=True), None)
    threshold: float | None = declared(number(sql="REAL NOT NULL", from_model=True), None)
    model_version: str | None = declared(text(sql=_STORED_NOT_NULL, from_model=True), None)
    warnings: list[str] = declared(text_list(sql="TEXT NOT NULL DEFAULT '[]'"), default_factory=list)
    error: str | None = declared(text(), None)
    timings_ms: dict[str, float] = declared(timings(), default_factory=dict)
    out_of_scope: str | None = declared(text(), None)
    scope_gate: str | None = declared(internal(sql="TEXT"), None)
    # The reader's verdict on the result ("agree" or "disagree"; None: not marked), set in the window's worklist.
    # Stored (nullable: earlier databases gain the column) and exported after out_of_scope; re-recording the same file and model
    # keeps it (see History.record_many).
    reader_agreement: str | None = declared(text(sql="TEXT"), None)
    # The exact model (card and every file: core.model.card.model_sha256); with file_sha256 it keys the history.
    model_sha256: str | None = declared(text(sql="TEXT", from_model=True), None)
    knees: list[KneeResult] = declared(KNEES_OUTPUT, default_factory=list)
    # The call in one word, as the terminal table prints it (text.short_call): the label, or "borderline-above" /
    # "borderline-below" / "borderline-at" within the borderline margin of the threshold, which the reader should
    # take as undecided; None without a result. Derived from probability and threshold, so not stored: it is set
    # when a result is built with a verdict (__post_init__) or takes one (apply_prediction, reuse), cleared by decline.
    # Each knee's call (KneeResult.call, same rule, the knee's probability against this threshold) is set with it.
    call: str | None = declared(text(), None)
    patient: dict[str, str] = declared(
        Output(identifying=True, to_json=dict, csv_names=PATIENT_COLUMNS, to_csv=patient_cells),
        default_factory=dict,
    )
    from_history: bool = False

    def __post_init__(self) -> None:
        # A result built whole (a history entry read back, a row rebuilt from its JSON, a test's row) carries its
        # call too, and so does each knee: one recorded before knees had calls gains it here.
        uncalled = self.call is None or any(knee.call is None for knee in self.knees)
        if uncalled and self.out_of_scope is None and self.error is None:
            self._set_call()

    @property
    def ok(self) -> bool:
        """A result was given: not failed, not declined."""
        return self.error is None and self.out_of_scope is None and self.label is not None

    @property
    def declined(self) -> bool:
        """The scope gate said the file is not a frontal knee radiograph: no result, and no failure either."""
        return self.error is None and self.out_of_scope is not None

    def decline(self, reason: str) -> None:
        """No result for this file, with the gate's reason: the model's verdict, if any was taken, is dropped."""
        for name in columns.model_fields(type(self)):
            if name not in ("model_version", "model_sha256"):
                setattr(self, name, None)
        self.knees = []
        self.call = None
        self.out_of_scope = reason

    def to_dict(self, include_patient: bool = False) -> dict[str, Any]:
        """The JSON object: exactly the contract's keys, in order (plus ``patient`` only on request)."""
        return columns.to_json(self, include_patient)

    def csv_record(self, include_patient: bool = False) -> dict[str, Any]:
        """The CSV row: numbers to 6 decimals, lists and timings as JSON text, an empty cell for a missing value."""
        return columns.to_csv(self, include_patient)

    def apply_prediction(self, prediction: ModelVerdict) -> None:
        """Take the model's verdict (label, probability, confidence, threshold, model version and digest) and, when it
        lies within the borderline margin of the threshold, the borderline sentence as one of the ``warnings``: the
        JSON, the CSVs, the history and every face then carry it, not only the window that used to add it."""
        for name in columns.model_fields(type(self)):
            setattr(self, name, getattr(prediction, name))
        self.warnings = result_text.with_borderline(self.warnings, self)
        self._set_call()

    def _set_call(self) -> None:
        """The file's call and each knee's (the knee's probability against the file's threshold): one rule, here."""
        have_verdict = self.label is not None and self.probability is not None and self.threshold is not None
        self.call = result_text.short_call(self.label, self.probability, self.threshold) if have_verdict else None
        self.knees = [knee.called(self.threshold if have_verdict else None) for knee in self.knees]

    def apply_knees(self, knees: list[KneeResult], verdict: ModelVerdict) -> None:
        """Take the knees found on the film and the verdict on the file: that of its most suspicious knee."""
        self.knees = list(knees)
        self.apply_prediction(verdict)  # after the knees: it gives each its call

    def reuse(self, recorded: "FileResult") -> None:
        """Take an earlier recorded result for the same content and model: every stored field but the path."""
        for name, _ in columns.history_columns(type(recorded)):
            if name != "path":
                setattr(self, name, getattr(recorded, name))
        # A result recorded before the borderline sentence was part of the warnings gains it here (once).
        self.warnings = result_text.with_borderline(self.warnings or [], self)
        self._set_call()
        self.knees = list(self.knees)
        self.from_history = True

    @classmethod
    def from_prediction(cls, path: Any, prediction: ModelVerdict, file_sha256: str | None = None) -> "FileResult":
        """The result of one analysed file (the app's single-image path): the verdict, its warnings and timings."""
        result = cls(path=str(path), file_sha256=file_sha256, warnings=list(prediction.warnings),
                     timings_ms=dict(prediction.timings_ms))
        result.apply_prediction(prediction)
        return result


ROW_KEYS: tuple[str, ...] = columns.json_keys(FileResult)
"""The JSON keys of a result, in order; the CSV columns are the same (README, "Command line")."""


def csv_columns(include_patient: bool = False) -> list[str]:
    return list(columns.csv_columns(FileResult, include_patient))
