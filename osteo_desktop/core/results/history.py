"""The history of predictions: an SQLite database in the user's data folder.

Results are committed (one transaction per result, or per inference batch in a folder scan) with WAL journaling
and full disk syncs, so a crash, a kill or a power cut never loses a result that was reported as recorded and never
leaves a corrupt database. A result is keyed by the file's content (SHA-256) and the model
version: recording the same file again with the same model updates its entry instead of adding a second one, which
is what lets an interrupted folder scan be re-run without duplicating anything. No patient identifier is stored.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.paths import user_data_dir
from osteo_desktop.core.results.names import escape_undecodable
from osteo_desktop.core.results import columns
from osteo_desktop.core.results.result import FileResult

log = logging.getLogger(__name__)

HISTORY_FILENAME = "history.sqlite3"
SCHEMA_VERSION = 1

# The result's own columns come from its declaration (FileResult); the table adds where each row sits. A column
# added to FileResult later is added to an existing table when it is opened (ALTER TABLE ADD COLUMN).
_RESULT_COLUMNS = columns.history_columns(FileResult)
_NAMES = [name for name, _ in _RESULT_COLUMNS]
_KEY = ("file_sha256", "model_version")
_COLUMNS = ", ".join(["id", "recorded_at", *_NAMES])

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    id            INTEGER PRIMARY KEY,
    recorded_at   TEXT    NOT NULL,
    {", ".join(f"{name} {declaration}" for name, declaration in _RESULT_COLUMNS)},
    UNIQUE ({", ".join(_KEY)})
);
CREATE INDEX IF NOT EXISTS predictions_recorded_at ON predictions (recorded_at);
"""

# SQLite result codes that mean the file itself is damaged (SQLITE_CORRUPT, SQLITE_NOTADB), and their messages:
# Python 3.10 has no sqlite_errorcode on the exception, only the text.
_DAMAGED = (11, 26)
_DAMAGED_MESSAGES = ("file is not a database", "database disk image is malformed")

# Columns a new record leaves as they were when it brings no value: the reader's agreement belongs to the file and
# model (the key), so analysing the same file again with the same model keeps it.
_KEPT_WHEN_NULL = ("reader_agreement",)


def _update(name: str) -> str:
    if name in _KEPT_WHEN_NULL:
        return f"{name} = COALESCE(excluded.{name}, predictions.{name})"
    return f"{name} = excluded.{name}"


_UPSERT = f"""
INSERT INTO predictions (recorded_at, {", ".join(_NAMES)})
VALUES ({", ".join("?" * (len(_NAMES) + 1))})
ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET
    {", ".join(_update(name) for name in ["recorded_at", *_NAMES] if name not in _KEY)}
RETURNING {_COLUMNS}
"""
AGREEMENTS = ("agree", "disagree")


class HistoryError(OsteoError):
    """The history database cannot be opened or written."""


@dataclass
class HistoryEntry(FileResult):
    """A recorded result, and where it sits in the history: its row ``id`` and ``recorded_at`` (UTC, ISO 8601)."""

    id: int = 0
    recorded_at: str = ""

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "HistoryEntry":
        """An entry from a row selected as ``_COLUMNS`` (id, recorded_at, then the result's stored fields)."""
        values = dict(zip(["id", "recorded_at", *_NAMES], row))
        return cls(id=int(values["id"]), recorded_at=str(values["recorded_at"]), **columns.from_history(FileResult, values))


def default_history_path() -> Path:
    return user_data_dir() / HISTORY_FILENAME


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Bring a database written before a result field existed up to date: the new column, NULL in earlier rows."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(predictions)")}
    for name, declaration in _RESULT_COLUMNS:
        if name not in present:
            log.info("history database: adding column %s", name)
            try:
                connection.execute(f"ALTER TABLE predictions ADD COLUMN {name} {declaration}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another process added it a moment ago: fine
                    raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class History:
    """The prediction history. Safe to share between threads; several processes may use one database at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = self._open()
        except sqlite3.DatabaseError as exc:
            damaged = getattr(exc, "sqlite_errorcode", None) in _DAMAGED or any(m in str(exc) for m in _DAMAGED_MESSAGES)
            if not damaged:
                # Locked by another program, read-only, out of space: not damage, so leave the file alone.
                raise HistoryError(f"cannot open the history database {self.path}: {exc}") from exc
            # A damaged file must not lock the user out of the app: keep it aside for inspection and start afresh.
            self._connection = self._open_after_setting_aside(exc)
        except OSError as exc:
            raise HistoryError(f"cannot open the history database {self.path}: {exc.strerror or exc}") from exc

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed result survives a power cut too, not only a crash of this process.
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(f"the history database {self.path} was written by a newer version of osteo-desktop")
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.execute("SELECT count(*) FROM predictions").fetchone()
        except BaseException:
            connection.close()
            raise
        return connection

    def _open_after_setting_aside(self, cause: Exception) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        log.warning("history database %s is damaged (%s); moved it to %s and started a new one", self.path, cause, aside)
        try:
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").replace(Path(f"{aside}{suffix}"))
            return self._open()
        except (OSError, sqlite3.DatabaseError) as exc:
            raise HistoryError(f"the history database {self.path} is damaged and cannot be replaced: {exc}") from exc

    def record(self, path: str | Path, prediction_or_row: Any, file_sha256: str | None = None) -> HistoryEntry:
        """Commit one result (a successful :class:`FileResult`, or a model's
        :class:`~osteo_desktop.core.model.runtime.Prediction` of the file at ``path``)."""
        return self.record_many([(path, prediction_or_row, file_sha256)])[0]

    def record_many(self, results: list[tuple[str | Path, Any, str | None]]) -> list[HistoryEntry]:
        """Commit several results (path, result, sha256 or None) in one transaction: all of them or none.

        A folder scan commits each inference batch this way before it reports any row of it: one disk sync per
        batch instead of one per file, with the same guarantee that a reported result is a recorded one.
        """
        try:
            values = [self._values(path, result, sha) for path, result, sha in results]
        except OSError as exc:  # the file was moved or emptied since it was read: its hash is the key, so say so
            raise HistoryError(f"cannot record {Path(exc.filename or '').name or 'a file'} in the history: "
                               f"its content cannot be read to identify it ({exc.strerror or exc})") from exc
        entries = []
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    for value in values:
                        row = self._connection.execute(_UPSERT, value).fetchone()
                        entries.append(HistoryEntry.from_row(row))
                    self._connection.execute("COMMIT")
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot write to the history database {self.path}: {exc}") from exc
        return entries

    @staticmethod
    def _values(path: str | Path, result: Any, file_sha256: str | None) -> tuple[Any, ...]:
        if getattr(result, "error", None) is not None or getattr(result, "label", None) is None:
            raise ValueError("only a successful result can be recorded")
        if file_sha256 is None:
            file_sha256 = sha256_of(Path(path))
        if isinstance(result, FileResult):
            result = replace(result, path=str(path), file_sha256=file_sha256)
        else:
            result = FileResult.from_prediction(path, result, file_sha256)
        # SQLite stores UTF-8: a file name that is not (Linux names are bytes) is kept with its bytes escaped.
        return (_now(), *(escape_undecodable(v) if isinstance(v, str) else v for v in columns.to_history(result)))

    def set_agreement(self, file_sha256: str, model_version: str, agreement: str | None) -> bool:
        """Store the reader's verdict on a recorded result ("agree", "disagree", or None to clear it).

        Returns False when no result of that file and model is recorded (nothing to agree with).
        """
        if agreement is not None and agreement not in AGREEMENTS:
            raise ValueError(f"agreement must be one of {AGREEMENTS} or None, not {agreement!r}")
        with self._lock:
            try:
                cursor = self._connection.execute(
                    "UPDATE predictions SET reader_agreement = ? WHERE file_sha256 = ? AND model_version = ?",
                    (agreement, file_sha256, model_version))
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot write to the history database {self.path}: {exc}") from exc
        return cursor.rowcount > 0

    def entries(self, limit: int = 500) -> list[HistoryEntry]:
        """The most recent entries, newest first."""
        rows = self._fetch(f"SELECT {_COLUMNS} FROM predictions ORDER BY recorded_at DESC, id DESC LIMIT ?", (int(limit),))
        return [HistoryEntry.from_row(row) for row in rows]

    def find(self, file_sha256: str, model_version: str) -> HistoryEntry | None:
        rows = self._fetch(f"SELECT {_COLUMNS} FROM predictions WHERE file_sha256 = ? AND model_version = ?",
                           (file_sha256, model_version))
        return HistoryEntry.from_row(rows[0]) if rows else None

    def count(self) -> int:
        return int(self._fetch("SELECT count(*) FROM predictions", ())[0][0])

    def _fetch(self, query: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        # A locked, vanished or closed database is a HistoryError like any other, never a raw sqlite3 exception.
        with self._lock:
            try:
                return self._connection.execute(query, parameters).fetchall()
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot read the history database {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
