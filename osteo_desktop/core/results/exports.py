"""CSV and JSON exports of scan rows, written atomically and de-identified by default.

Columns and keys are the command line's JSON keys (``ROW_KEYS``). In CSV, ``warnings`` and ``timings_ms`` are JSON
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
from osteo_desktop.core.pipeline.scanning import ROW_KEYS, ScanRow

PATIENT_COLUMNS = ("patient_name", "patient_id", "patient_birth_date")
# Accepted spellings of the reader's patient keys, so the export does not depend on one naming.
_PATIENT_KEYS = {
    "patient_name": ("name", "patient_name", "PatientName"),
    "patient_id": ("id", "patient_id", "PatientID"),
    "patient_birth_date": ("birth_date", "patient_birth_date", "PatientBirthDate"),
}


def csv_columns(include_patient: bool = False) -> list[str]:
    return list(ROW_KEYS) + (list(PATIENT_COLUMNS) if include_patient else [])


def patient_cells(patient: dict[str, str]) -> dict[str, str]:
    cells = {}
    for column, keys in _PATIENT_KEYS.items():
        cells[column] = next((str(patient[k]) for k in keys if patient.get(k)), "")
    return cells


def csv_record(row: ScanRow, include_patient: bool = False) -> dict[str, Any]:
    """One CSV row: numbers to 6 decimals, lists and timings as JSON text, an empty cell for a missing value."""
    data = row.to_dict()
    record: dict[str, Any] = {key: "" if data[key] is None else data[key] for key in ROW_KEYS}
    for key in ("probability", "confidence", "threshold"):
        if data[key] is not None:
            record[key] = f"{data[key]:.6f}"
    record["warnings"] = json.dumps(data["warnings"], ensure_ascii=False)
    record["timings_ms"] = json.dumps(data["timings_ms"])
    if include_patient:
        record.update(patient_cells(row.patient))
    return record


class CsvRowWriter:
    """Streams rows into an open CSV text stream."""

    def __init__(self, handle: IO[str], include_patient: bool = False) -> None:
        self.include_patient = include_patient
        self._writer = csv.DictWriter(handle, fieldnames=csv_columns(include_patient), lineterminator="\n")
        self._writer.writeheader()
        self.count = 0

    def write(self, row: ScanRow) -> None:
        self._writer.writerow(csv_record(row, self.include_patient))
        self.count += 1


@contextmanager
def open_csv_export(path: Path, include_patient: bool = False) -> Iterator[CsvRowWriter]:
    """A CSV writer whose file appears at ``path`` only, and completely, when the block ends without error."""
    with atomic_writer(path, newline="") as handle:
        yield CsvRowWriter(handle, include_patient)


def write_rows_csv(rows: Iterable[ScanRow], path: Path, include_patient: bool = False) -> Path:
    """Write rows as CSV, atomically: a crash or an exception mid-way leaves any earlier file at ``path`` intact."""
    with open_csv_export(Path(path), include_patient) as writer:
        for row in rows:
            writer.write(row)
    return Path(path)


def write_rows_json(rows: Iterable[ScanRow], path: Path, include_patient: bool = False) -> Path:
    """Write rows as one JSON array, atomically, streaming so that memory does not grow with the row count."""
    with atomic_writer(Path(path), newline="") as handle:
        write_json_array(rows, handle, include_patient)
    return Path(path)


def write_json_array(rows: Iterable[ScanRow], handle: IO[str], include_patient: bool = False) -> int:
    """Stream rows to ``handle`` as a JSON array, one object a line; returns how many were written."""
    count = 0
    handle.write("[")
    for row in rows:
        handle.write(",\n  " if count else "\n  ")
        handle.write(json.dumps(row.to_dict(include_patient=include_patient), ensure_ascii=False))
        count += 1
    handle.write("\n]\n" if count else "]\n")
    return count
