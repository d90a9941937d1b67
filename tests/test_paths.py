"""Where the shared, read-only data lives is decided once (core.paths) and every user honours OSTEO_SHARED_DIR."""

from __future__ import annotations

import importlib
from pathlib import Path

from osteo_desktop.core import paths

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_shared_folder_defaults_to_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("OSTEO_SHARED_DIR", raising=False)
    assert paths.shared_data_dir() == REPO_ROOT.parent / "shared"
    assert paths.shared_knee_dir() == REPO_ROOT.parent / "shared" / "data" / "knee-xray"


def test_osteo_shared_dir_overrides_it_for_tests_and_training(monkeypatch, tmp_path):
    monkeypatch.setenv("OSTEO_SHARED_DIR", str(tmp_path))
    assert paths.shared_data_dir() == tmp_path
    assert paths.shared_dicom_dir() == tmp_path / "data" / "dicom"
    assert paths.shared_imagenet_dir() == tmp_path / "weights" / "imagenet"
    import shared_paths

    try:
        assert importlib.reload(shared_paths).KNEE_DIR == tmp_path / "data" / "knee-xray"
    finally:
        monkeypatch.undo()
        importlib.reload(shared_paths)
    # training/commands.py used to ignore the variable; its defaults now come from the same function.
    source = (REPO_ROOT / "osteo_desktop" / "training" / "commands.py").read_text()
    assert "shared_knee_dir()" in source and '"shared"' not in source
