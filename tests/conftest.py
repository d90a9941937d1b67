"""Shared fixtures. Tests read the data in ../shared in place; nothing from there is copied into the repository."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from shared_paths import DICOM_DIR, KNEE_DIR


def _manifest() -> list[dict[str, str]]:
    with open(KNEE_DIR / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def knee_manifest() -> list[dict[str, str]]:
    if not (KNEE_DIR / "manifest.csv").is_file():
        pytest.skip(f"shared knee data not found at {KNEE_DIR}")
    return _manifest()


@pytest.fixture(scope="session")
def knee_images(knee_manifest) -> dict[str, list[Path]]:
    """A few real knee radiographs per label, chosen deterministically (first rows of fold 0)."""
    picked: dict[str, list[Path]] = {}
    for row in knee_manifest:
        if row["fold"] == "0" and len(picked.setdefault(row["label"], [])) < 3:
            picked[row["label"]].append(KNEE_DIR / row["file"])
    return picked


@pytest.fixture(scope="session")
def knee_png(knee_manifest) -> Path:
    return next(KNEE_DIR / r["file"] for r in knee_manifest if r["file"].endswith(".png"))


@pytest.fixture(scope="session")
def knee_jpeg(knee_manifest) -> Path:
    return next(KNEE_DIR / r["file"] for r in knee_manifest if r["file"].endswith(".jpg"))


@pytest.fixture(scope="session")
def dicom_dir() -> Path:
    if not DICOM_DIR.is_dir():
        pytest.skip(f"shared DICOM samples not found at {DICOM_DIR}")
    return DICOM_DIR


@pytest.fixture(scope="session")
def classifier():
    from osteo_desktop.core.model.runtime import Classifier

    return Classifier.load()


@pytest.fixture(scope="session")
def keras_model(classifier):
    """The shipped Keras model the .tflite was exported from (needs the training extra)."""
    pytest.importorskip("tensorflow")
    import keras

    if "keras" not in classifier.card.files:
        pytest.skip("the shipped model has no Keras file")
    return keras.models.load_model(classifier.card.verified_path("keras"), compile=False)


@pytest.fixture(autouse=True)
def logging_given_back():
    """Every test leaves the root logger as it found it: the CLI run in process (in many modules) sets its own handler
    on a stderr that pytest closes after the test, and a later test logging through it failed ("I/O operation on a
    closed file")."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("osteo_desktop").level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("osteo_desktop").setLevel(saved[2])


@pytest.fixture
def cli_isolated(tmp_path, monkeypatch):
    """For tests that run the CLI in process: the history in tmp_path (the root logger is given back by
    ``logging_given_back``). Test modules make it autouse through their own ``isolated`` fixture."""
    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
