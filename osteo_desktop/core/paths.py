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


def shared_data_dir() -> Path:
    """The read-only shared data (knee radiographs, DICOM samples, ImageNet weights): ``OSTEO_SHARED_DIR``, else the
    ``shared`` folder beside the source checkout. The one place that location is decided (tests, benchmarks and
    ``osteo train`` all ask here); it may not exist, so callers check before use."""
    override = os.environ.get("OSTEO_SHARED_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2].parent / "shared"


def shared_knee_dir() -> Path:
    """The knee radiograph dataset (class folders and ``manifest.csv``) inside :func:`shared_data_dir`."""
    return shared_data_dir() / "data" / "knee-xray"


def shared_dicom_dir() -> Path:
    return shared_data_dir() / "data" / "dicom"


def shared_imagenet_dir() -> Path:
    """The Keras MobileNetV2 ImageNet weights (Keras cannot download them on an offline machine)."""
    return shared_data_dir() / "weights" / "imagenet"


def user_data_dir() -> Path:
    """Per-user writable folder (history database, settings), following each platform's convention."""
    override = os.environ.get("OSTEO_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = _absolute_from_environment("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = _absolute_from_environment("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return base / "osteo-desktop"


def _absolute_from_environment(name: str) -> Path | None:
    """The folder an environment variable names, or None when it is unset, empty or relative.

    The XDG Base Directory specification treats an empty value as unset and a relative one as invalid; taking
    either as given would put the history in whatever folder the app was started from.
    """
    value = os.environ.get(name, "")
    return Path(value) if value and os.path.isabs(value) else None
