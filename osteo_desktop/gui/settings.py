"""Every setting the desktop app reads, typed and in one place: the user's choices (QSettings) and the environment.

The user's choices are remembered between sessions under the keys named by the fields (the same keys as before
this class existed, so nobody's recent files are lost). Changes go through :meth:`AppSettings.update`, which writes
them to the store at once: a crash later in the session keeps them. The folders come from the environment through
:mod:`osteo_desktop.core.paths` (``OSTEO_DATA_DIR``, ``OSTEO_MODEL_DIR``), which the command line shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from osteo_desktop.core.paths import default_model_dir, user_data_dir

MAX_RECENT_FILES = 10
# Fields that are read from the environment, never written to the user's settings.
_FROM_ENVIRONMENT = ("data_dir", "model_dir")


@dataclass
class AppSettings:
    store: QSettings = field(repr=False, compare=False)
    last_folder: str = field(default_factory=lambda: str(Path.home()))  # where File > Open starts
    open_filter: str = ""  # the file-type filter last chosen in File > Open
    recent_files: list[str] = field(default_factory=list)  # newest first, at most MAX_RECENT_FILES
    last_report_folder: str = ""  # where the last PDF report went ('' : beside the image)
    batch_folder: str = ""  # the folder last scanned
    batch_recursive: bool = False  # whether the last scan included subfolders
    # The PACS the user configured (File > PACS…); empty until then, and nothing connects anywhere while empty.
    pacs_ae_title: str = ""
    pacs_host: str = ""
    pacs_port: str = ""  # text, as QSettings stores it; checked when used
    pacs_calling_ae: str = "OSTEO"  # this app's AE title towards the PACS
    data_dir: Path = field(default_factory=user_data_dir)  # history database (OSTEO_DATA_DIR)
    model_dir: Path = field(default_factory=default_model_dir)  # the model and its card (OSTEO_MODEL_DIR)

    @classmethod
    def load(cls, store: QSettings | None = None) -> "AppSettings":
        """Read every field from ``store`` (the user's own settings by default), falling back to the defaults."""
        store = store if store is not None else QSettings()
        settings = cls(store)
        for f in fields(cls):
            if f.name == "store" or f.name in _FROM_ENVIRONMENT or not store.contains(f.name):
                continue
            setattr(settings, f.name, _typed(store.value(f.name), getattr(settings, f.name)))
        settings.recent_files = settings.recent_files[:MAX_RECENT_FILES]
        return settings

    @classmethod
    def coerce(cls, settings: "AppSettings | QSettings | None") -> "AppSettings":
        """Accept a ready AppSettings, a QSettings store (tests, the self-test), or nothing (the user's own)."""
        return settings if isinstance(settings, AppSettings) else cls.load(settings)

    def update(self, **changes: Any) -> None:
        """Change fields and write them to the store immediately."""
        for name, value in changes.items():
            if name in _FROM_ENVIRONMENT or name == "store" or name not in {f.name for f in fields(self)}:
                raise AttributeError(f"{name!r} is not a setting the user can change")
            setattr(self, name, value)
            self.store.setValue(name, value)
        self.store.sync()  # QSettings would otherwise write later, and a crash before then would lose the change

    def remember_recent(self, path: str) -> None:
        self.update(recent_files=([path] + [p for p in self.recent_files if p != path])[:MAX_RECENT_FILES])

    def forget_recent(self) -> None:
        self.update(recent_files=[])


def _typed(value: Any, default: Any) -> Any:
    """QSettings hands back strings from INI files and the registry; give each field its own type back."""
    if isinstance(default, bool):
        return value in (True, "true", "True", "1", 1)
    if isinstance(default, list):
        if value is None or value == "":
            return []
        if isinstance(value, str):  # QSettings flattens a one-item list to a string on some platforms
            return [value]
        return [str(v) for v in value]
    return default if value is None else str(value)
