"""Which entries of a folder a scan reports: every file, and every entry that must get a row rather than vanish."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from osteo_desktop.core.reading.reader import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


def is_hidden(name: str) -> bool:
    """A dot file or dot folder: ``.DS_Store``, ``._knee.png`` (macOS AppleDouble), ``.complete`` markers, ``.git``."""
    return name.startswith(".")


def list_files(root: Path, recursive: bool = False, include_hidden: bool = False) -> Iterator[Path]:
    """Every entry under ``root`` that should get a row, sorted by path.

    That is every regular file, and also every entry a scan must report rather than silently skip: broken
    symlinks, symlink loops, devices and pipes, and (without ``recursive``) directories named like an image file
    such as ``x.dcm``. Ordinary sub-folders are descended only with ``recursive``; a folder reached twice (a
    symlink cycle) is descended once. Hidden entries (:func:`is_hidden`) and everything in hidden folders are left
    out unless ``include_hidden``: they are the file system's and other programs' bookkeeping, never radiographs a
    user put there, and reporting them as "not an image" would fail every scan of a folder copied from a Mac.
    ``root`` itself is scanned even when its own name is hidden.
    """
    yield from _walk(Path(root), recursive, set(), include_hidden)


def _walk(directory: Path, recursive: bool, visited: set[tuple[int, int]], include_hidden: bool) -> Iterator[Path]:
    try:
        info = directory.stat()
        key = (info.st_dev, info.st_ino)
        if key in visited:
            log.info("skipping %s: folder already scanned (symlink cycle)", directory)
            return
        visited.add(key)
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        log.warning("cannot list folder %s: %s", directory, exc.strerror or exc)
        return
    for entry in entries:
        if not include_hidden and is_hidden(entry.name):
            log.debug("skipping hidden %s", entry.path)
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks; False for a loop or a dangling link
        except OSError:
            is_dir = False
        path = Path(entry.path)
        if not is_dir:
            yield path
        elif recursive:
            yield from _walk(path, recursive, visited, include_hidden)
        elif path.suffix.lower() in IMAGE_SUFFIXES:  # a folder named x.dcm is a mistake worth a row
            yield path
