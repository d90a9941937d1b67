"""How a field of a result appears in each output, declared once, beside the field.

A result type (:class:`~osteo_desktop.core.results.result.FileResult`) is a dataclass whose fields carry an
:class:`Output` in their metadata. Everything that lists a result's fields derives from those declarations, in
declaration order: the JSON keys and values, the CSV columns and cells, the history database's columns and the
mapping of a database row back to a result. Adding a field to the result type is therefore the whole change: it
appears in the JSON, the CSV and (when it declares ``sql``) the history, whose table gains the column on the next
open. The public contract allows adding keys and columns, never renaming or dropping one, so new fields go last.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


def _same(value: Any) -> Any:
    return value


def _cell(value: Any) -> Any:
    return "" if value is None else value


@dataclass(frozen=True)
class Output:
    """One field's place in the outputs.

    ``exported``: a JSON key and CSV column(s). ``identifying``: exported only when the user asks for patient
    identifiers, and then after every other field. ``csv_names``: the field's CSV columns when it spreads over several (a column group), in which
    case ``to_csv`` returns ``{column: cell}``; otherwise one column named like the field. ``sql``: the history
    column's declaration (None: not stored). ``from_model``: copied from the model's prediction of the image.
    ``csv_added``: ``(column, names)``, columns of this field published after later fields' columns were: they sit
    right after ``column`` (another field's), so that adding them moves no published column; ``to_csv`` writes
    their cells too.
    """

    exported: bool = True
    identifying: bool = False
    to_json: Callable[[Any], Any] = _same
    csv_names: tuple[str, ...] | None = None
    to_csv: Callable[[Any], Any] = _cell
    sql: str | None = None
    to_sql: Callable[[Any], Any] = _same
    from_sql: Callable[[Any], Any] = _same
    from_model: bool = False
    csv_added: tuple[str, tuple[str, ...]] | None = None


def declared(output: Output, default: Any = MISSING, *, default_factory: Any = MISSING) -> Any:
    """A dataclass field with its :class:`Output` (use as ``name: type = declared(Output(...), None)``).

    Identifying fields are left out of ``repr()``, so a logged or printed result never shows them.
    """
    return field(default=default, default_factory=default_factory, repr=not output.identifying,
                 metadata={"output": output})


# --- the usual kinds of field ------------------------------------------------------------------------------------


def _decimals(places: int) -> Callable[[Any], Any]:
    return lambda value: "" if value is None else f"{value:.{places}f}"


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _string_list_from_sql(value: Any) -> list[str]:
    try:
        return [str(item) for item in json.loads(value)]
    except (TypeError, ValueError):  # a damaged or missing cell costs the warnings, not the result
        return []


def text(*, sql: str | None = None, from_model: bool = False) -> Output:
    """A string or None: JSON as is, an empty CSV cell for None."""
    return Output(sql=sql, to_sql=_optional(str), from_sql=_optional(str), from_model=from_model)


def number(*, places: int = 6, sql: str | None = None, from_model: bool = False) -> Output:
    """A float or None: JSON as is, CSV to ``places`` decimals."""
    return Output(to_json=_optional(float), to_csv=_decimals(places), sql=sql, to_sql=_optional(float),
                  from_sql=_optional(float), from_model=from_model)


def text_list(*, sql: str | None = None) -> Output:
    """A list of strings: a JSON array, in CSV and in the history its JSON text (read back exactly)."""
    return Output(to_json=lambda value: [str(item) for item in value], to_csv=lambda value: _json_text(list(value)),
                  sql=sql, to_sql=lambda value: _json_text([str(item) for item in value]), from_sql=_string_list_from_sql)


def timings() -> Output:
    """Milliseconds per step: a JSON object rounded to the microsecond, in CSV its JSON text. Not stored."""
    rounded = lambda value: {str(k): round(float(v), 3) for k, v in value.items()}  # noqa: E731
    return Output(to_json=rounded, to_csv=lambda value: _json_text(rounded(value)))


def internal(*, sql: str | None = None) -> Output:
    """Kept on the result but never exported (the content hash, whether it came from the history)."""
    return Output(exported=False, sql=sql, to_sql=_optional(str), from_sql=_optional(str))


# --- what derives from the declarations -------------------------------------------------------------------------


def outputs(result_type: type) -> list[tuple[str, Output]]:
    """(field name, Output) of every declared field, in declaration order, identifying ones last.

    Identifying fields (patient name, ID, birth date) go last whatever their place in the class, so that a field
    added later never moves the opt-in patient columns away from the end of a CSV.
    """
    declared_fields = [(f.name, f.metadata["output"]) for f in fields(result_type) if "output" in f.metadata]
    return sorted(declared_fields, key=lambda item: item[1].identifying)


def _shown(output: Output, include_patient: bool) -> bool:
    return output.exported and (include_patient or not output.identifying)


def json_keys(result_type: type, include_patient: bool = False) -> tuple[str, ...]:
    return tuple(name for name, output in outputs(result_type) if _shown(output, include_patient))


def csv_columns(result_type: type, include_patient: bool = False) -> tuple[str, ...]:
    shown = [(name, output) for name, output in outputs(result_type) if _shown(output, include_patient)]
    columns = [column for name, output in shown for column in output.csv_names or (name,)]
    for _, output in shown:
        if output.csv_added is not None:
            after, names = output.csv_added
            at = columns.index(after) + 1  # ValueError: the declaration names a column that does not exist
            columns[at:at] = names
    return tuple(columns)


def history_columns(result_type: type) -> tuple[tuple[str, str], ...]:
    """(column, SQL declaration) of every stored field."""
    return tuple((name, output.sql) for name, output in outputs(result_type) if output.sql is not None)


def model_fields(result_type: type) -> tuple[str, ...]:
    """The fields a result copies from the model's prediction."""
    return tuple(name for name, output in outputs(result_type) if output.from_model)


def to_json(result: Any, include_patient: bool = False) -> dict[str, Any]:
    return {name: output.to_json(getattr(result, name)) for name, output in outputs(type(result))
            if _shown(output, include_patient)}


def to_csv(result: Any, include_patient: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, output in outputs(type(result)):
        if not _shown(output, include_patient):
            continue
        cells = output.to_csv(getattr(result, name))
        record.update(cells if output.csv_names else {name: cells})
    # In the header's order (a field's added columns, csv_added, sit after later fields' columns); the same cells.
    return {**{column: record[column] for column in csv_columns(type(result), include_patient) if column in record},
            **record}


def to_history(result: Any) -> tuple[Any, ...]:
    """The stored fields' SQL values, in :func:`history_columns` order."""
    return tuple(output.to_sql(getattr(result, name)) for name, output in outputs(type(result)) if output.sql)


def from_history(result_type: type, row: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments for ``result_type`` from a database row (column name -> value)."""
    return {name: output.from_sql(row[name]) for name, output in outputs(result_type) if output.sql and name in row}
