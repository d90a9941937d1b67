"""The history of predictions: an SQLite database in the user's data folder.

Results are committed (one transaction per result, or per inference batch in a folder scan) with WAL journaling
and full disk syncs, so a crash, a kill or a power cut never loses a result that was reported as recorded and never
leaves a corrupt database. A result is keyed by the file's path, its content (SHA-256) and the exact model
(``model_sha256``, a digest of the card and every model file: a card edited by hand is another model and never
inherits rows): recording the same file again with the same model updates its entry instead of adding a second one,
which is what lets an interrupted folder scan be re-run without duplicating anything. A copy of a recorded file
elsewhere reuses its result (:meth:`History.find` looks up by content) and is listed as a row of its own, in its own
folder. A file moved elsewhere is recorded anew there and its old row stays: a row is never taken from a path that
may only be out of reach for now (an unmounted share, a drive offline), which would lose where it was read and the
reader's verdict kept with it. No patient identifier is stored.
"""

from __future__ import annotations

import contextlib
import logging
import os
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
# 2: keyed on (file_sha256, model_sha256) instead of (file_sha256, model_version); rows of version 1 are kept with
# no model digest, so they are listed but never reused (which card computed them cannot be known).
# 3: the path joins the key: copies of one content were one row, listed in whichever copy's folder was recorded last.
SCHEMA_VERSION = 3

# The result's own columns come from its declaration (FileResult); the table adds where each row sits. A column
# added to FileResult later is added to an existing table when it is opened (ALTER TABLE ADD COLUMN).
_RESULT_COLUMNS = columns.history_columns(FileResult)
_NAMES = [name for name, _ in _RESULT_COLUMNS]
_KEY = ("path", "file_sha256", "model_sha256")
_COLUMNS = ", ".join(["id", "recorded_at", *_NAMES])

_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id            INTEGER PRIMARY KEY,
    recorded_at   TEXT    NOT NULL,
    {columns},
    UNIQUE ({key})
);
"""
_TABLE_ARGUMENTS = {"columns": ", ".join(f"{name} {declaration}" for name, declaration in _RESULT_COLUMNS),
                    "key": ", ".join(_KEY)}
_INDEX = "CREATE INDEX IF NOT EXISTS predictions_recorded_at ON predictions (recorded_at);"
_SCHEMA = _TABLE.format(table="predictions", **_TABLE_ARGUMENTS) + _INDEX
# The lookup by content (find(), a copy's or a moved file's entry): the key starts with the path, so its index does
# not serve it, and a scan would read the whole table once per file. Made after any missing column is added.
_CONTENT_INDEX = "CREATE INDEX IF NOT EXISTS predictions_content ON predictions (file_sha256, model_sha256)"

# SQLite result codes that mean the file itself is damaged (SQLITE_CORRUPT, SQLITE_NOTADB), and their messages:
# Python 3.10 has no sqlite_errorcode on the exception, only the text.
_DAMAGED = (11, 26)
_DAMAGED_MESSAGES = ("file is not a database", "database disk image is malformed")

# Columns a new record leaves as they were when it brings no value: the reader's agreement belongs to the file and
# model (its path, content and model: the key), so analysing the same file again with the same model keeps it.
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


def _has_current_key(connection: sqlite3.Connection) -> bool:
    for index in connection.execute("PRAGMA index_list(predictions)").fetchall():
        unique, name = index[2], index[1]
        if unique and tuple(row[2] for row in connection.execute(f"PRAGMA index_info('{name}')")) == _KEY:
            return True
    return False


def _rekey(connection: sqlite3.Connection) -> None:
    """Rebuild a table keyed on an older key (SQLite cannot drop a UNIQUE constraint in place), keeping every row.

    Rows written before ``model_sha256`` existed have none (NULL): they stay listed and are never reused.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        if not _has_current_key(connection):  # another process may have done it while this one waited
            log.info("history database: re-keying on %s", ", ".join(_KEY))
            present = [row[1] for row in connection.execute("PRAGMA table_info(predictions)")]
            kept = ", ".join(name for name in ["id", "recorded_at", *_NAMES] if name in present)
            connection.execute(_TABLE.format(table="predictions_rekeyed", **_TABLE_ARGUMENTS))
            connection.execute(f"INSERT INTO predictions_rekeyed ({kept}) SELECT {kept} FROM predictions")
            connection.execute("DROP TABLE predictions")
            connection.execute("ALTER TABLE predictions_rekeyed RENAME TO predictions")
            connection.execute(_INDEX)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:  # SQLite may have rolled back already (a full disk)
            connection.execute("ROLLBACK")
        raise


def stored_path(path: str | Path) -> str:
    """A path as the history stores it: absolute (a relative path means nothing once the history is read from another
    working folder), and in UTF-8 as SQLite keeps text (a Linux name's undecodable bytes escaped)."""
    return escape_undecodable(os.path.abspath(path))


def _move_aside(path: Path, name: Path) -> Path:
    """Move ``path`` to ``name``, or to ``name-2``, ``name-3``... when that is taken; the name used.

    Never over an earlier file: a set-aside database holds the results recorded before the damage, and two set aside
    within the same second (two programs opening the same damaged history at once) must both be kept."""
    for number in range(1, 1000):
        aside = name if number == 1 else name.with_name(f"{name.name}-{number}")
        try:
            os.link(path, aside)  # fails when the name is taken, atomically
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: checked, then renamed
            if aside.exists():
                continue
            path.replace(aside)
            return aside
        path.unlink()
        return aside
    raise FileExistsError(f"no free name to set {path.name} aside")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class History:
    """The prediction history. Safe to share between threads; several processes may use one database at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self._lock = threading.Lock()
        # Where a damaged database was moved when this one was opened (None: it was sound). Every face tells the
        # user (the command line prints a line, the app shows a message), from this attribute.
        self.set_aside: Path | None = None
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
            if not _has_current_key(connection):
                _rekey(connection)
            connection.execute(_CONTENT_INDEX)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.execute("SELECT count(*) FROM predictions").fetchone()
            # A damaged page that the queries above do not touch (an index, a page deep in the table) would only
            # show, as "malformed", in the middle of some later scan: check the whole file once, here.
            problems = connection.execute("PRAGMA quick_check").fetchall()
            if problems != [("ok",)]:
                raise sqlite3.DatabaseError(f"database disk image is malformed ({problems[0][0]})")
        except BaseException:
            connection.close()
            raise
        return connection

    def damage_notice(self) -> str | None:
        """What to tell the user when a damaged database was set aside on opening (None when it was sound)."""
        if self.set_aside is None:
            return None
        return (f"the history database was damaged: it was moved to {self.set_aside} (the earlier results are "
                f"there) and a new, empty history was started")

    def _open_after_setting_aside(self, cause: Exception) -> sqlite3.Connection:
        try:
            aside = _move_aside(self.path, self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"))
            log.warning("history database %s is damaged (%s); moved it to %s and started a new one", self.path, cause, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").replace(Path(f"{aside}{suffix}"))
            self.set_aside = aside
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
                    # SQLite has already rolled back after some errors (SQLITE_FULL: a full disk), and then ROLLBACK
                    # itself fails ("no transaction is active"), which would hide the real cause.
                    if self._connection.in_transaction:
                        self._connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot write to the history database {self.path}: {exc}") from exc
        return entries

    @staticmethod
    def _values(path: str | Path, result: Any, file_sha256: str | None) -> tuple[Any, ...]:
        if getattr(result, "error", None) is not None or getattr(result, "label", None) is None:
            raise ValueError("only a successful result can be recorded")
        if not getattr(result, "model_sha256", None):
            raise ValueError("a result without its model's digest (model_sha256) cannot be recorded")
        if file_sha256 is None:  # the hash of the bytes that were analysed, when the caller kept it
            file_sha256 = getattr(result, "file_sha256", None) or sha256_of(Path(path))
        path = os.path.abspath(path)  # stored absolute: see stored_path
        if isinstance(result, FileResult):
            result = replace(result, path=str(path), file_sha256=file_sha256)
        else:
            result = FileResult.from_prediction(path, result, file_sha256)
        # SQLite stores UTF-8: a file name that is not (Linux names are bytes) is kept with its bytes escaped.
        return (_now(), *(escape_undecodable(v) if isinstance(v, str) else v for v in columns.to_history(result)))

    def set_agreement(self, file_sha256: str, model_sha256: str, agreement: str | None) -> bool:
        """Store the reader's verdict on a recorded result ("agree", "disagree", or None to clear it).

        The result is the one of this content by exactly this model (card and files); every copy's row carries it
        (the same content and model give the same result, so a verdict on one is a verdict on all). Returns False
        when no such result is recorded (nothing to agree with).
        """
        if agreement is not None and agreement not in AGREEMENTS:
            raise ValueError(f"agreement must be one of {AGREEMENTS} or None, not {agreement!r}")
        with self._lock:
            try:
                cursor = self._connection.execute(
                    "UPDATE predictions SET reader_agreement = ? WHERE file_sha256 = ? AND model_sha256 = ?",
                    (agreement, file_sha256, model_sha256))
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot write to the history database {self.path}: {exc}") from exc
        return cursor.rowcount > 0

    def entries(self, limit: int = 500) -> list[HistoryEntry]:
        """The most recent entries, newest first."""
        rows = self._fetch(f"SELECT {_COLUMNS} FROM predictions ORDER BY recorded_at DESC, id DESC LIMIT ?", (int(limit),))
        return [HistoryEntry.from_row(row) for row in rows]

    def find(self, file_sha256: str, model_sha256: str, path: str | Path | None = None) -> HistoryEntry | None:
        """The result recorded for this content by exactly this model (card and files), if any: the entry of ``path``
        when it has one, else the newest of the content's copies (its ``path`` then differs from :func:`stored_path`
        of ``path``, which tells a caller the file has no entry of its own yet)."""
        rows = self._fetch(f"SELECT {_COLUMNS} FROM predictions WHERE file_sha256 = ? AND model_sha256 = ? "
                           "ORDER BY path = ? DESC, recorded_at DESC, id DESC LIMIT 1",
                           (file_sha256, model_sha256, None if path is None else stored_path(path)))
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
