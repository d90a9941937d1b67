"""Where the bundled model and resources live, in a source checkout and in a frozen (PyInstaller) bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def application_root() -> Path:
    """The folder that holds ``model_weights/`` and ``resources/``."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[2]


def default_model_dir() -> Path:
    override = os.environ.get("OSTEO_MODEL_DIR")
    return Path(override) if override else application_root() / "model_weights"


def resources_dir() -> Path:
    return application_root() / "resources"


def sample_image_path() -> Path:
    return resources_dir() / "samples" / "knee_sample.png"


def user_data_dir() -> Path:
    """Per-user writable folder (history database, settings), following each platform's convention."""
    override = os.environ.get("OSTEO_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "osteo-desktop"
