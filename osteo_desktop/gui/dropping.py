"""Drag and drop of files from the desktop or a file manager."""

from __future__ import annotations

from PySide6.QtCore import QMimeData


def local_file_from_mime(mime: QMimeData) -> str | None:
    """The first local path (file or folder) in a drop, or None: web links and text are not images to open."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            return url.toLocalFile()
    return None
