"""The File ▸ Open recent menu, drawn from the recent files kept in :class:`~osteo_desktop.gui.settings.AppSettings`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QMenu

from osteo_desktop.gui.settings import AppSettings
from osteo_desktop.gui.plain import action_text, tooltip


class RecentFiles:
    def __init__(self, settings: AppSettings, menu: QMenu, open_file: Callable[[str], None]) -> None:
        self.settings, self.menu, self.open_file = settings, menu, open_file
        self.rebuild()

    def paths(self) -> list[str]:
        return list(self.settings.recent_files)

    def add(self, path: str) -> None:
        self.settings.remember_recent(path)
        self.rebuild()

    def clear(self) -> None:
        self.settings.forget_recent()
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        recent = self.paths()
        for index, path in enumerate(recent):
            name = action_text(Path(path).name)
            action = self.menu.addAction(f"&{index + 1}  {name}" if index < 9 else name)
            action.setToolTip(tooltip(path))
            action.setStatusTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_file(p))
        if recent:
            self.menu.addSeparator()
            self.menu.addAction("Clear list", self.clear)
        self.menu.setEnabled(bool(recent))
