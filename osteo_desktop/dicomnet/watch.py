"""`osteo watch DIR`: analyse each new file once it has stopped growing (a modality's export folder)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


class FolderWatch:
    """Polls ``folder``; a file is ready when its size and mtime are unchanged across two polls."""

    def __init__(self, folder: Path, handle: Callable[[Path], None], poll_s: float = 1.0) -> None:
        self.folder, self.handle, self.poll_s = folder, handle, poll_s
        self._seen: dict[Path, tuple[int, int]] = {}
        self._done: set[Path] = set()

    def poll_once(self) -> list[Path]:
        """One look at the folder; returns the files handled now."""
        handled = []
        for path in sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            if path in self._done:
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(path) == signature and stat.st_size > 0:
                self._done.add(path)
                try:
                    self.handle(path)
                except Exception as exc:  # noqa: BLE001 - one bad file must not stop the watch
                    log.error("%s: %s", path.name, exc)
                handled.append(path)
            self._seen[path] = signature
        return handled

    def run(self, stopping: threading.Event) -> None:
        log.info("watching %s", self.folder)
        while not stopping.is_set():
            self.poll_once()
            stopping.wait(self.poll_s)
