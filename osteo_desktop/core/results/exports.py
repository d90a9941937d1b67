"""CSV and JSON exports of scan rows, written atomically and de-identified by default.

Columns and keys are the command line's JSON keys (``ROW_KEYS``), derived from the result's declaration
(:class:`~osteo_desktop.core.results.result.FileResult`). In CSV, ``warnings`` and ``timings_ms`` are JSON
text in their cell, so a script can read them back exactly. Patient name, ID and birth date appear only when the
caller passes ``include_patient=True`` (the user's explicit choice), as the extra ``patient_*`` columns or a
``patient`` object.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from osteo_desktop.core.atomic import atomic_writer
from osteo_desktop.core.results import text
from osteo_desktop.core.results.names import escape_undecodable_in
from osteo_desktop.core.results.result import PATIENT_COLUMNS, FileResult, csv_columns, patient_cells

__all__ = ["PATIENT_COLUMNS", "CsvRowWriter", "csv_columns", "csv_record", "open_csv_export", "patient_cells",
           "write_json_array", "write_rows_csv", "write_rows_json"]


# A spreadsheet takes a cell starting with one of these as a formula (OWASP "CSV injection"); tab and carriage
# return are on OWASP's list because some programs strip them and then see the formula behind.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """``value`` made inert for a spreadsheet: a text cell that would start a formula gets a leading apostrophe.

    Numbers (``-0.5``, ``+3``) are left as they are; a file named ``=HYPERLINK(...).png`` or an error message
    quoting it becomes ``'=HYPERLINK(...).png``, shown as text. The apostrophe is the only change, so a script
    reading the CSV recovers the original by removing it from cells that start with ``'`` followed by one of
    ``= + - @``, tab or carriage return.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def csv_record(row: FileResult, include_patient: bool = False, warnings_as_text: bool = False) -> dict[str, Any]:
    """One CSV row: numbers to 6 decimals, lists and timings as JSON text, an empty cell for a missing value, and
    every text cell that a spreadsheet would run as a formula neutralised (:func:`neutralise_cell`).

    ``warnings_as_text``: the warnings cell as words joined by "; " (the window's export, read by people in a
    spreadsheet) instead of the JSON list the command line writes for scripts.
    """
    record = row.csv_record(include_patient)
    if warnings_as_text:
        record["warnings"] = text.warnings_line(row.warnings)
    return {key: neutralise_cell(escape_undecodable_in(value)) for key, value in record.items()}



class CsvRowWriter:
    """Streams rows into an open CSV text stream."""

    def __init__(self, handle: IO[str], include_patient: bool = False, warnings_as_text: bool = False) -> None:
        self.include_patient = include_patient
        self.warnings_as_text = warnings_as_text
        self._writer = csv.DictWriter(handle, fieldnames=csv_columns(include_patient), lineterminator="\n")
        self._writer.writeheader()
        self.count = 0

    def write(self, row: FileResult) -> None:
        self._writer.writerow(csv_record(row, self.include_patient, self.warnings_as_text))
        self.count += 1


@contextmanager
def open_csv_export(path: Path, include_patient: bool = False, warnings_as_text: bool = False) -> Iterator[CsvRowWriter]:
    """A CSV writer whose file appears at ``path`` only, and completely, when the block ends without error."""
    with atomic_writer(path, newline="") as handle:
        yield CsvRowWriter(handle, include_patient, warnings_as_text)


def write_rows_csv(rows: Iterable[FileResult], path: Path, include_patient: bool = False, *,
                   warnings_as_text: bool = False) -> Path:
    """Write rows as CSV, in the order given, atomically: a crash or an exception mid-way leaves any earlier file at
    ``path`` intact."""
    with open_csv_export(Path(path), include_patient, warnings_as_text) as writer:
        for row in rows:
            writer.write(row)
    return Path(path)


def write_rows_json(rows: Iterable[FileResult], path: Path, include_patient: bool = False) -> Path:
    """Write rows as one JSON array, atomically, streaming so that memory does not grow with the row count."""
    with atomic_writer(Path(path), newline="") as handle:
        write_json_array(rows, handle, include_patient)
    return Path(path)


def write_json_array(rows: Iterable[FileResult], handle: IO[str], include_patient: bool = False) -> int:
    """Stream rows to ``handle`` as a JSON array, one object a line; returns how many were written."""
    count = 0
    handle.write("[")
    for row in rows:
        handle.write(",\n  " if count else "\n  ")
        handle.write(json.dumps(escape_undecodable_in(row.to_dict(include_patient=include_patient)), ensure_ascii=False))
        count += 1
    handle.write("\n]\n" if count else "]\n")
    return count
