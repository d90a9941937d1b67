"""Whether a path may receive an export (CSV, JSON, PDF): the one check the command line and the app both use.

An export replaces its target (:mod:`osteo_desktop.core.atomic` renames a new file over it), so a wrong target is
destroyed, not appended to. A target is accepted only when it is a new name in an existing folder, or an existing
regular file that is none of the inputs and not the history database. Refused: folders, symlinks (the rename
would replace the link, not write through it), FIFOs, sockets and devices such as ``/dev/sda``, any file being
analysed (also under another name: a hard link or a path through a symlinked folder), and the history database
with its ``-wal``/``-shm`` companions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from osteo_desktop.core.errors import OsteoError

__all__ = ["UnsafeOutputError", "check_output_target"]


class UnsafeOutputError(OsteoError):
    """The export target would destroy something that is not a previous export; the message says what."""


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def check_output_target(target: str | Path, *, inputs: Iterable[str | Path] = (),
                        protected: Iterable[str | Path] = ()) -> Path:
    """``target`` as a Path when an export may be written there, else :class:`UnsafeOutputError` saying why.

    ``inputs`` are the files being analysed (only consulted when the target already exists, one ``stat`` each);
    ``protected`` are further files that must never be replaced (the history database: its ``-wal`` and ``-shm``
    files are protected with it).
    """
    path = Path(target)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UnsafeOutputError(f"{path}: cannot be checked ({exc.strerror or exc})") from exc
    if info is None:
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise UnsafeOutputError(f"{path}: folder {parent} does not exist")
        return path
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        raise UnsafeOutputError(f"{path} is a symbolic link; writing would replace the link (give its target instead)")
    if stat.S_ISDIR(mode):
        raise UnsafeOutputError(f"{path} is a folder, not a file name")
    if not stat.S_ISREG(mode):
        raise UnsafeOutputError(f"{path} is not a regular file (a pipe, socket or device); refusing to replace it")
    identity = (info.st_dev, info.st_ino)
    for guarded in protected:
        for companion in (str(guarded), f"{guarded}-wal", f"{guarded}-shm", f"{guarded}-journal"):
            if _identity(companion) == identity:
                raise UnsafeOutputError(f"{path} is the history database; refusing to overwrite it")
    for source in inputs:
        if _identity(source) == identity:
            raise UnsafeOutputError(f"{path} is one of the files being analysed; refusing to overwrite it")
    return path


# A header row is far shorter than this; a file without a line break in it is no export of ours.
_HEADER_BYTES = 64 * 1024
# The columns every export has opened with since the first version (path, label, probability).
_OPENING = 3


def is_previous_csv_export(path: str | Path) -> bool:
    """Whether ``path`` is an existing regular file that starts like one of our CSV exports (its header row), of this
    version or an earlier one.

    A scan leaves its CSV out of the files it analyses only then; any other file in the folder is an input. Columns
    are only ever added (README), so an earlier export's header is one that opens with the first published columns
    and names no column this version does not know; matching today's header byte for byte refused, after an
    upgrade, the export a nightly scan had written the night before.
    """
    import csv
    import io

    from osteo_desktop.core.results.result import csv_columns

    known = csv_columns(include_patient=True)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            first_line = handle.readline(_HEADER_BYTES)
    except OSError:
        return False
    try:
        header = next(csv.reader(io.StringIO(first_line.decode("utf-8"))), [])
    except (UnicodeDecodeError, csv.Error):
        return False
    return header[:_OPENING] == known[:_OPENING] and set(header) <= set(known)
