"""What is wrong with a path before any byte of it is read, in the scan's words: ``osteo predict``, ``osteo scan``,
the scan window and ``osteo dicom-export`` name a missing file, a folder or a pipe the same way."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def failure(path: Path, cause: str) -> str:
    """A file's error as every face shows it: "knee.png: <cause>"."""
    return f"{path.name}: {cause}"


def os_cause(exc: OSError) -> str:
    """The cause of an operating-system error: "cannot be read (No such file or directory)"."""
    return f"cannot be read ({exc.strerror or exc})"


def path_fault(path: Path) -> str | None:
    """Why ``path`` cannot be an image file (missing, unreachable, a folder, a pipe, socket or device), as
    :func:`failure` words it; None when it is a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return failure(path, os_cause(exc))
    if stat.S_ISDIR(mode):
        return failure(path, "is a folder, not an image file")
    if not stat.S_ISREG(mode):
        # Opening a pipe would block for ever; a device is never an image.
        return failure(path, "not a regular file (a pipe, socket or device); not read")
    return None
