"""The File ▸ Open recent menu, kept in the user's settings (QSettings)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 10
KEY = "recent_files"


class RecentFiles:
    def __init__(self, settings: QSettings, menu: QMenu, open_file: Callable[[str], None]) -> None:
        self.settings, self.menu, self.open_file = settings, menu, open_file
        self.rebuild()

    def paths(self) -> list[str]:
        value = self.settings.value(KEY, [])
        if isinstance(value, str):  # QSettings flattens a one-item list to a string on some platforms
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: str) -> None:
        recent = [path] + [p for p in self.paths() if p != path]
        self.settings.setValue(KEY, recent[:MAX_RECENT])
        self.rebuild()

    def clear(self) -> None:
        self.settings.setValue(KEY, [])
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        recent = self.paths()
        for index, path in enumerate(recent):
            action = self.menu.addAction(f"&{index + 1}  {Path(path).name}" if index < 9 else Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_file(p))
        if recent:
            self.menu.addSeparator()
            self.menu.addAction("Clear list", self.clear)
        self.menu.setEnabled(bool(recent))
